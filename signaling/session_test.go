package signaling

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	wsclient "parley/client"
	"parley/configs"
	"parley/sfu"
)

func testHub(t testing.TB) *Hub {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine, err := sfu.NewEngine(sfu.Config{ListenIP: "127.0.0.1", UDPPortMin: 43000, UDPPortMax: 43999}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	rooms, err := configs.LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	return NewHub(Config{Signaling: configs.Default().Signaling}, rooms, engine, log)
}

// replies runs messages (one per line) through a fresh session and returns
// what the server queued in answer.
func replies(h *Hub, input []byte) []map[string]any {
	s := newSession(h, nil, "test", netip.MustParseAddr("127.0.0.1"))
	defer s.leave()
	for _, line := range bytes.Split(input, []byte("\n")) {
		if s.handle(line) {
			break
		}
	}
	var out []map[string]any
	for b, ok := s.send.pop(); ok; b, ok = s.send.pop() {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic("the server queued invalid JSON: " + string(b))
		}
		out = append(out, m)
	}
	return out
}

func TestHandleReplies(t *testing.T) {
	h := testHub(t)
	cases := []struct {
		in   string
		want []string // reply types, or error codes as "error:code"
	}{
		{`{"type":"ping","req":1}`, []string{"pong"}},
		{`{"type":"join","room":"chat","name":"ann"}`, []string{"joined"}},
		{`{"type":"join","room":"chat","name":"ann"}` + "\n" + `{"type":"chat","text":"hi"}`, []string{"joined", "chat"}},
		{`{"type":"join","room":"nope","name":"ann"}`, []string{"error:no-room"}},
		{`{"type":"join","room":"chat","name":"<b>"}`, []string{"error:bad-name"}},
		{`{"type":"chat","text":"hi"}`, []string{"error:not-joined"}},
		{`{"type":"ping","req":"` + strings.Repeat("x", 100) + `"}`, []string{"error:bad-request"}},
		{`not json`, []string{"error:bad-json"}},
		{`{"type":"zap"}`, []string{"error:unknown-type"}},
	}
	for _, c := range cases {
		got := replies(h, []byte(c.in))
		var types []string
		for _, m := range got {
			typ, _ := m["type"].(string)
			if typ == "error" {
				typ += ":" + m["code"].(string)
			}
			types = append(types, typ)
		}
		if strings.Join(types, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: replies %v, want %v", c.in, types, c.want)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(3)
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !b.allow(now, 10, 3) {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if b.allow(now, 10, 3) {
		t.Fatal("a message beyond the burst allowed")
	}
	if !b.allow(now.Add(100*time.Millisecond), 10, 3) {
		t.Fatal("no token after a refill period")
	}
	if b.allow(now.Add(100*time.Millisecond), 10, 3) {
		t.Fatal("two tokens after one refill period")
	}
	later := now.Add(time.Hour)
	allowed := 0
	for i := 0; i < 10; i++ {
		if b.allow(later, 10, 3) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("after a long pause %d messages allowed at once, want the burst of 3", allowed)
	}
}

// TestTokenBucketLimitsChange: a rate and burst changed while a bucket
// runs apply from its next event: a lowered burst caps the tokens it
// holds, a raised rate refills faster from the last event on.
func TestTokenBucketLimitsChange(t *testing.T) {
	b := newTokenBucket(10)
	now := time.Unix(1000, 0)
	for i := range 2 {
		if !b.allow(now, 1, 2) {
			t.Fatalf("message %d of the lowered burst of 2 refused", i)
		}
	}
	if b.allow(now, 1, 2) {
		t.Fatal("a third message allowed under a burst of 2 (the bucket started with 10)")
	}
	if b.allow(now.Add(100*time.Millisecond), 1, 2) {
		t.Fatal("a token refilled in 100 ms at 1 a second")
	}
	if !b.allow(now.Add(200*time.Millisecond), 10, 2) {
		t.Fatal("no token in 100 ms at a rate raised to 10 a second")
	}
}

// FuzzHandle feeds arbitrary messages (one per line) to a session: the
// server must never panic, and must answer only with valid protocol JSON.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping","req":1}`,
		`{"type":"join","room":"walkie","name":"ann"}`,
		"{\"type\":\"join\",\"room\":\"walkie\",\"name\":\"ann\"}\n{\"type\":\"offer\",\"pc\":\"publish\",\"sdp\":\"v=0\\r\\n\"}",
		"{\"type\":\"join\",\"room\":\"walkie\",\"name\":\"ann\"}\n{\"type\":\"candidate\",\"pc\":\"publish\",\"candidate\":{\"candidate\":\"x\"}}",
		"{\"type\":\"join\",\"room\":\"chat\",\"name\":\"ann\"}\n{\"type\":\"chat\",\"text\":\"hi\",\"to\":\"p1\"}",
		`{"type":"answer","pc":"subscribe","sdp":""}`,
		`{"type":"leave"}`,
		`[]`, `null`, `{"type":5}`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	h := testHub(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, m := range replies(h, in) {
			if _, ok := m["type"].(string); !ok {
				t.Fatalf("reply without a type: %v", m)
			}
		}
	})
}

// TestVideoSize: video-size is taken from a member of a room, and a
// message without its fields or with a size out of bounds is refused.
func TestVideoSize(t *testing.T) {
	ts := serve(t, testHub(t))
	ann := wsJoin(t, wsURL(ts), "live", "ann", wsclient.Options{})
	for _, m := range []map[string]any{
		{"type": "video-size", "track": "x"},
		{"type": "video-size", "width": 10, "height": 10},
		{"type": "video-size", "track": "x", "width": -1, "height": 10},
		{"type": "video-size", "track": "x", "width": 10, "height": 16385},
	} {
		if err := ann.Send(m); err != nil {
			t.Fatal(err)
		}
		expectError(t, ann, ErrBadRequest)
	}
	// A track not received (yet) is taken, and answered by nothing: the
	// ping's pong comes next.
	if err := ann.Send(map[string]any{"type": "video-size", "track": "x", "width": 640, "height": 360}); err != nil {
		t.Fatal(err)
	}
	if err := ann.Send(map[string]any{"type": "ping", "req": 1}); err != nil {
		t.Fatal(err)
	}
	expectMsg(t, ann, TypePong)
	// Nothing received: no estimate, no videos.
	if err := ann.Send(map[string]any{"type": "downlink", "req": 2}); err != nil {
		t.Fatal(err)
	}
	d := expectMsg(t, ann, TypeDownlink)
	if v, ok := d["videos"].([]any); d["req"] != float64(2) || d["estimate"] != float64(0) || !ok || len(v) != 0 {
		t.Fatalf("downlink %v", d)
	}
}

// TestOutbox: messages come out in order; the queue refuses the one
// beyond sendQueue, and keeps no room once emptied.
func TestOutbox(t *testing.T) {
	o := outbox{ready: make(chan struct{}, 1)}
	if _, ok := o.pop(); ok {
		t.Fatal("an empty outbox gave a message")
	}
	for i := range sendQueue {
		if !o.push([]byte{byte(i)}) {
			t.Fatalf("message %d refused", i)
		}
	}
	if o.push([]byte{0}) {
		t.Fatalf("message %d accepted", sendQueue)
	}
	select {
	case <-o.ready:
	default:
		t.Fatal("the writer was not woken")
	}
	for i := range sendQueue {
		b, ok := o.pop()
		if !ok || b[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, b, ok)
		}
	}
	if _, ok := o.pop(); ok || o.msgs != nil {
		t.Fatalf("after the last message: %d left, room %d", len(o.msgs), cap(o.msgs))
	}
}
