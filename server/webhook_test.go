package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/client"
	"parley/configs"
	"parley/webhook"
)

// hookReceiver is a webhook receiver on 127.0.0.1 that checks each
// delivery's signature and refuses every delivery (503) while down.
type hookReceiver struct {
	srv    *httptest.Server
	secret string

	mu      sync.Mutex
	down    bool
	refused int
	got     []webhook.Event // accepted, in order, each id once
	seen    map[string]bool
	bad     []string
}

func startHookReceiver(t *testing.T, secret string) *hookReceiver {
	r := &hookReceiver{secret: secret, down: true, seen: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get(webhook.HeaderTimestamp), 10, 64)
		var ev webhook.Event
		err := json.Unmarshal(body, &ev)
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case req.Header.Get(webhook.HeaderSignature) != webhook.Sign(r.secret, ts, body):
			r.bad = append(r.bad, "bad signature: "+string(body))
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			r.bad = append(r.bad, "bad body: "+string(body))
			w.WriteHeader(http.StatusBadRequest)
		case r.down:
			r.refused++
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			if !r.seen[ev.ID] {
				r.seen[ev.ID] = true
				r.got = append(r.got, ev)
			}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestWebhooks: a room's events reach a webhook signed and in the order
// they happened, though the receiver refuses them at first and parley
// restarts in between: what waited is delivered by the next start. A
// published clip that its owner deletes is told as clip.deleted.
func TestWebhooks(t *testing.T) {
	const secret = "webhook-test-secret-0123"
	rcv := startHookReceiver(t, secret)
	dir := t.TempDir()
	configure := func(cfg *configs.Server, _ []configs.Room) {
		cfg.Storage.DataDir = dir
		cfg.Webhooks = []configs.Webhook{{URL: rcv.srv.URL + "/parley", Secret: secret}}
		cfg.WebhookDelivery.Attempts = 50
		cfg.WebhookDelivery.RetryDelay = configs.Duration(10 * time.Millisecond)
		cfg.WebhookDelivery.MaxRetryDelay = configs.Duration(100 * time.Millisecond)
	}
	srv := startServer(t, configure)
	_, j := srv.join(t, "chat", "ann", client.Options{})
	bob, _ := srv.join(t, "chat", "bob", client.Options{})
	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	clip := srv.upload(t, "/api/rooms/chat/clips", j.OwnerKey, "audio/webm", media)
	if resp, body := srv.fetch(t, "DELETE", "/api/rooms/chat/clips/"+clip.ID, j.OwnerKey, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the owner deletes the clip: %s %s", resp.Status, body)
	}
	bob.Close()
	eventually(t, 0, "bob has left", func() bool {
		for _, r := range srv.Rooms() {
			if r.Name == "chat" {
				return r.Participants == 1
			}
		}
		return false
	})
	eventually(t, 0, "the receiver refused deliveries", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.refused >= 3
	})
	ctx, cancel := context.WithTimeout(context.Background(), minWait)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()
	startServer(t, configure)
	want := []string{"room.started ann", "participant.joined ann", "participant.joined bob", "clip.published ann",
		"clip.deleted ann deleted", "participant.left bob", "participant.left ann", "room.finished ann"}
	var got []string
	eventually(t, 0, "every event delivered", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		got = got[:0]
		for _, ev := range rcv.got {
			var d struct {
				Participant struct{ Name string }
				Clip        struct{ ID, Author string }
				Reason      string
			}
			b, _ := json.Marshal(ev.Data)
			_ = json.Unmarshal(b, &d)
			who := d.Participant.Name
			switch ev.Type {
			case "clip.published", "clip.deleted":
				who = strings.TrimSpace(d.Clip.Author + " " + d.Reason)
				if d.Clip.ID != clip.ID {
					t.Errorf("%s names clip %q, want %q", ev.Type, d.Clip.ID, clip.ID)
				}
			}
			if ev.Room != "chat" {
				t.Errorf("event %+v of room %q", ev, ev.Room)
			}
			got = append(got, ev.Type+" "+who)
		}
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("bad deliveries: %q", rcv.bad)
	}
}
