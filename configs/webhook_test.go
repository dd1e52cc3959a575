package configs

import (
	"strings"
	"testing"
)

func TestWebhooks(t *testing.T) {
	const good = "[[webhooks]]\nurl = \"http://10.0.0.5:9000/hook\"\nsecret = \"0123456789abcdef\"\nevents = [\"clip.published\", \"call.ended\"]\n"
	s, err := parseServer("x.toml", []byte(good))
	if err != nil {
		t.Fatalf("a webhook on a private address: %v", err)
	}
	if len(s.Webhooks) != 1 || !s.Webhooks[0].Wants("call.ended") || s.Webhooks[0].Wants("room.started") {
		t.Errorf("parsed %+v", s.Webhooks)
	}
	if all := (Webhook{}); !all.Wants("room.started") {
		t.Error("no events listed should mean all")
	}
	for _, c := range []struct{ file, want string }{
		{"[[webhooks]]\nsecret = \"0123456789abcdef\"\n", "url is required"},
		{"[[webhooks]]\nurl = \"ftp://x.org/\"\nsecret = \"0123456789abcdef\"\n", "absolute http or https"},
		{"[[webhooks]]\nurl = \"https://ann:pw@x.org/\"\nsecret = \"0123456789abcdef\"\n", "no user or password"},
		{"[[webhooks]]\nurl = \"https://x.org/\"\nsecret = \"short\"\n", "at least 16"},
		{"[[webhooks]]\nurl = \"https://x.org/\"\nsecret = \"0123456789abcdef\"\nevents = [\"clip.publish\"]\n", "unknown event \"clip.publish\""},
		{"[[webhooks]]\nurl = \"https://x.org/\"\nsecret = \"0123456789abcdef\"\nevents = [\"call.ended\", \"call.ended\"]\n", "listed twice"},
		{"[webhook_delivery]\nattempts = 0\n", "webhook_delivery.attempts"},
		{"[webhook_delivery]\nretry_delay = \"10m\"\n", "webhook_delivery.max_retry_delay"},
		{"[webhook_delivery]\ntimeout = \"1ms\"\n", "webhook_delivery.timeout"},
	} {
		_, err := parseServer("x.toml", []byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want an error with %q, got %v", c.file, c.want, err)
		}
	}
}
