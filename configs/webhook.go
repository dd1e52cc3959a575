package configs

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Webhook is one [[webhooks]] entry: events POSTed, signed, to an address
// the operator chose (package webhook).
type Webhook struct {
	// URL is the receiver, an absolute http or https URL. It may be a
	// private address: webhooks are the operator's, not users'.
	URL string `toml:"url" json:"url"`
	// Secret signs every delivery (HMAC-SHA256); at least 16 characters.
	Secret string `toml:"secret" json:"-"`
	// Events are the event types sent (WebhookEvents); empty means all.
	Events []string `toml:"events" json:"events"`
}

// WebhookDelivery tunes the delivery of every webhook.
type WebhookDelivery struct {
	// Attempts is how often one event is tried before it is given up; 1-50.
	Attempts int `toml:"attempts" json:"attempts"`
	// RetryDelay is the wait before the first retry; each next wait is
	// twice the last, up to MaxRetryDelay. More than 0, at most 1h.
	RetryDelay    Duration `toml:"retry_delay" json:"retry_delay"`
	MaxRetryDelay Duration `toml:"max_retry_delay" json:"max_retry_delay"`
	// Timeout bounds one attempt, connection to response; 1s-5m.
	Timeout Duration `toml:"timeout" json:"timeout"`
}

// WebhookEvents are the event types a webhook may receive.
var WebhookEvents = []string{
	"clip.published", "clip.deleted",
	"participant.joined", "participant.left",
	"room.started", "room.finished",
	"call.ended",
}

// MaxWebhooks bounds the [[webhooks]] entries.
const MaxWebhooks = 20

// Wants reports whether the webhook receives events of type typ.
func (w Webhook) Wants(typ string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, typ)
}

func defaultWebhookDelivery() WebhookDelivery {
	return WebhookDelivery{
		Attempts:      10,
		RetryDelay:    Duration(time.Second),
		MaxRetryDelay: Duration(5 * time.Minute),
		Timeout:       Duration(10 * time.Second),
	}
}

func webhookProblems(p *problems, hooks []Webhook, d WebhookDelivery) {
	if len(hooks) > MaxWebhooks {
		p.add("webhooks", "at most %d entries, got %d", MaxWebhooks, len(hooks))
	}
	for i, w := range hooks {
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			p.add("webhooks", "entry %d: url is required: the receiver, e.g. \"https://hooks.example.org/parley\"", i+1)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || u.Fragment != "" || !validHost(u.Hostname()):
			p.add("webhooks", "entry %d: url: want an absolute http or https URL like \"https://hooks.example.org/parley\", got %q", i+1, w.URL)
		case u.User != nil:
			p.add("webhooks", "entry %d: url: no user or password in the URL (the secret signs each delivery), got %q", i+1, u.Redacted())
		}
		if len(w.Secret) < 16 || strings.TrimSpace(w.Secret) != w.Secret {
			p.add("webhooks", "entry %d: secret must be at least 16 characters, without leading or trailing spaces (e.g. the output of `openssl rand -hex 32`)", i+1)
		}
		for j, e := range w.Events {
			if !slices.Contains(WebhookEvents, e) {
				p.add("webhooks", "entry %d: events: unknown event %q; known: %s", i+1, e, strings.Join(WebhookEvents, ", "))
			} else if slices.Index(w.Events, e) != j {
				p.add("webhooks", "entry %d: events: %q is listed twice", i+1, e)
			}
		}
	}
	checkRange(p, "webhook_delivery.attempts", int64(d.Attempts), 1, 50)
	if d.RetryDelay <= 0 || d.RetryDelay.D() > time.Hour {
		p.add("webhook_delivery.retry_delay", "must be more than 0s and at most 1h, got %s", d.RetryDelay)
	}
	if d.MaxRetryDelay < d.RetryDelay || d.MaxRetryDelay.D() > 24*time.Hour {
		p.add("webhook_delivery.max_retry_delay", "must be at least retry_delay (%s) and at most 24h, got %s", d.RetryDelay, d.MaxRetryDelay)
	}
	if d.Timeout.D() < time.Second || d.Timeout.D() > 5*time.Minute {
		p.add("webhook_delivery.timeout", "must be between 1s and 5m, got %s", d.Timeout)
	}
}
