package webhook

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/configs"
	"parley/internal/leakcheck"
)

const secret = "0123456789abcdef-test"

// receiver is a webhook receiver on 127.0.0.1 that checks signatures and
// answers 503 to the first failFirst requests.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	failFirst int
	requests  int
	got       []Event // accepted, in order
	ids       map[string]bool
	arrived   chan struct{}
}

func newReceiver(t testing.TB, failFirst int) *receiver {
	r := &receiver{t: t, failFirst: failFirst, ids: map[string]bool{}, arrived: make(chan struct{}, 1000)}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts, err := strconv.ParseInt(req.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil || req.Header.Get(HeaderSignature) != Sign(secret, ts, body) {
		r.t.Errorf("a delivery with a bad signature: %q at %q", req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if d := time.Since(time.Unix(ts, 0)); d > time.Minute || d < -time.Minute {
		r.t.Errorf("timestamp %d is not now", ts)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("body %q: %v", body, err)
	}
	if req.Header.Get(HeaderEvent) != ev.Type || req.Header.Get(HeaderDelivery) != ev.ID || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("headers %v do not match the event %+v", req.Header, ev)
	}
	r.mu.Lock()
	r.requests++
	fail := r.requests <= r.failFirst
	if !fail && !r.ids[ev.ID] { // a repeat after a restart is allowed, once seen
		r.ids[ev.ID] = true
		r.got = append(r.got, ev)
	}
	r.mu.Unlock()
	if fail {
		http.Error(w, "not yet", http.StatusServiceUnavailable)
		return
	}
	r.arrived <- struct{}{}
}

// wait waits until n distinct events have arrived.
func (r *receiver) wait(n int) []Event {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		got := append([]Event(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.arrived:
		case <-deadline:
			r.t.Fatalf("%d events arrived, want %d", len(got), n)
		}
	}
}

// eventually polls cond until it holds, for at most 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: not yet %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, not waiting for time to pass
	}
}

func retries(attempts int) configs.WebhookDelivery {
	return configs.WebhookDelivery{Attempts: attempts, RetryDelay: configs.Duration(5 * time.Millisecond),
		MaxRetryDelay: configs.Duration(20 * time.Millisecond), Timeout: configs.Duration(5 * time.Second)}
}

func newSender(t *testing.T, hooks []configs.Webhook, cfg configs.WebhookDelivery, dir string) *Sender {
	t.Helper()
	s, err := New(hooks, cfg, dir, Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type joined struct {
	N int `json:"n"`
}

// Events arrive signed, each once and in the order they were emitted,
// through a receiver that refuses the first attempts and a restart of the
// sender in the middle; a webhook that wants other events gets none.
func TestDeliveredInOrderAcrossRestart(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	rcv := newReceiver(t, 3)
	other := newReceiver(t, 0)
	hooks := []configs.Webhook{
		{URL: rcv.srv.URL + "/hook?token=x", Secret: secret},
		{URL: other.srv.URL, Secret: secret, Events: []string{"clip.deleted"}},
	}
	s := newSender(t, hooks, retries(50), dir)
	for i := range 10 {
		s.Emit("participant.joined", "lobby", joined{N: i})
	}
	s.Start()
	rcv.wait(4)
	s.Close()

	// The rest waits on disk; the receiver now also fails again once.
	rcv.mu.Lock()
	rcv.failFirst = rcv.requests + 1
	rcv.mu.Unlock()
	s = newSender(t, hooks, retries(50), dir)
	s.Start()
	for i := 10; i < 20; i++ {
		s.Emit("participant.joined", "lobby", joined{N: i})
	}
	got := rcv.wait(20)
	eventually(t, "the sender is done", func() bool { return s.Waiting() == 0 })
	s.Close()
	for i, ev := range got {
		var d joined
		b, _ := json.Marshal(ev.Data)
		_ = json.Unmarshal(b, &d)
		if d.N != i || ev.Type != "participant.joined" || ev.Room != "lobby" || ev.ID == "" || ev.Time.IsZero() {
			t.Fatalf("event %d is %+v: out of order or incomplete", i, ev)
		}
	}
	if len(got) != 20 {
		t.Errorf("%d events, want 20", len(got))
	}
	other.mu.Lock()
	if other.requests != 0 {
		t.Errorf("a webhook for clip.deleted got %d requests", other.requests)
	}
	other.mu.Unlock()
	if left, _ := filepath.Glob(filepath.Join(dir, "webhooks", "outbox", "*")); len(left) != 0 {
		t.Errorf("outbox after delivery: %v", left)
	}
}

// An event the receiver keeps refusing is given up after the attempts,
// and the next one is delivered; a receiver that redirects is not
// followed.
func TestGiveUp(t *testing.T) {
	leakcheck.Check(t)
	rcv := newReceiver(t, 3)
	moved := httptest.NewServer(http.RedirectHandler(rcv.srv.URL, http.StatusTemporaryRedirect))
	defer moved.Close()
	s := newSender(t, []configs.Webhook{{URL: rcv.srv.URL, Secret: secret}, {URL: moved.URL, Secret: secret}}, retries(3), "")
	s.Start()
	s.Emit("room.started", "lobby", nil)
	s.Emit("room.finished", "lobby", nil)
	got := rcv.wait(1)
	if got[0].Type != "room.finished" {
		t.Errorf("delivered %+v, want room.finished (room.started given up)", got[0])
	}
	// Both webhooks have given up room.started; the redirecting one both.
	eventually(t, "room.started given up, room.finished delivered", func() bool {
		sent, failed, waiting := s.Stats()
		return sent[0] == 1 && failed[0] == 1 && failed[1] == 2 && waiting[0]+waiting[1] == 0
	})
	s.Close()
	s.Close()
}

// Events emitted before Start and never started are kept for the next
// start; a file in the outbox that is not an event is set aside.
func TestKeptWithoutStart(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	rcv := newReceiver(t, 0)
	hooks := []configs.Webhook{{URL: rcv.srv.URL, Secret: secret}}
	s := newSender(t, hooks, retries(5), dir)
	s.Emit("call.ended", "lobby", map[string]string{"reason": "hangup"})
	s.Close()
	bad := filepath.Join(dir, "webhooks", "outbox", "00000000000000000001.json")
	if err := os.WriteFile(bad, []byte(`{"url":""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s = newSender(t, hooks, retries(5), dir)
	s.Start()
	got := rcv.wait(1)
	s.Close()
	if got[0].Type != "call.ended" {
		t.Errorf("got %+v", got[0])
	}
	if _, err := os.Stat(bad + ".bad"); err != nil {
		t.Errorf("the bad file was not set aside: %v", err)
	}
	var nilSender *Sender
	nilSender.Emit("x", "y", nil)
	nilSender.Start()
	nilSender.Close()
}

func TestBackoff(t *testing.T) {
	s := &Sender{cfg: configs.WebhookDelivery{RetryDelay: configs.Duration(time.Second), MaxRetryDelay: configs.Duration(5 * time.Second)}}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 40: 5 * time.Second} {
		if got := s.backoff(attempts); got != want {
			t.Errorf("after %d attempts: %s, want %s", attempts, got, want)
		}
	}
}

// The signature is the one the docs' openssl snippet computes.
func TestSignKnownValue(t *testing.T) {
	got := Sign("0123456789abcdef", 1700000000, []byte(`{"a":1}`))
	// printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef
	const want = "v1=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// The shell snippet of docs/operating.md, run with openssl, accepts the
// signature Sign makes and refuses another.
func TestDocsShellSnippet(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing (scripts/install-deps.sh installs it)")
		}
		t.Skip("openssl is missing")
	}
	doc, err := os.ReadFile("../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "```sh\nexpected=")
	snippet, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("docs/operating.md has no shell snippet that starts with expected=")
	}
	snippet = "expected=" + snippet
	dir := t.TempDir()
	body := []byte(`{"id":"x","type":"room.started","room":"lobby"}`)
	if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	for sig, want := range map[string]string{Sign(secret, 1700000000, body): "valid\n", Sign(secret, 1700000001, body): ""} {
		cmd := exec.Command("sh", "-c", snippet)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TIMESTAMP=1700000000", "SECRET="+secret, "SIGNATURE="+sig)
		out, _ := cmd.Output()
		if string(out) != want {
			t.Errorf("signature %s: the snippet says %q, want %q", sig, out, want)
		}
	}
}

// BenchmarkDelivery: events emitted, kept on disk (each written, synced
// and removed) and delivered one at a time to a receiver on loopback.
func BenchmarkDelivery(b *testing.B) {
	rcv := newReceiver(b, 0)
	s, err := New([]configs.Webhook{{URL: rcv.srv.URL, Secret: secret}}, retries(5), b.TempDir(), Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer s.Close()
	b.ResetTimer()
	for i := range b.N {
		s.Emit("participant.joined", "lobby", joined{N: i})
	}
	for {
		rcv.mu.Lock()
		n := len(rcv.got)
		rcv.mu.Unlock()
		if n == b.N {
			break
		}
		<-rcv.arrived // one for each event got
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
