package signaling

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// logTo makes the session log to a buffer of the test's, as JSON lines.
func logTo(c *client) *bytes.Buffer {
	var buf bytes.Buffer
	c.s.log = slog.New(slog.NewJSONHandler(&buf, nil))
	return &buf
}

// TestClientError: a report of a known kind is logged at warn with the
// room and the participant, its message cut to 500 bytes and cleaned of
// control characters, its source stripped of scheme, host and query, and
// counted by kind; a kind outside the set is bad-request and neither
// logged nor counted; a report before joining is logged without a room.
func TestClientError(t *testing.T) {
	h := testHub(t)
	ann := newClient(t, h)
	logs := logTo(ann)

	ann.do(map[string]any{"type": "client-error", "kind": "getusermedia", "message": "NotReadableError: Could not start video source"})
	ann.expect()
	if !strings.Contains(logs.String(), `"msg":"client error"`) || strings.Contains(logs.String(), `"room"`) {
		t.Errorf("a report before joining was logged as %s", logs)
	}
	logs.Reset()

	ann.join("chat", "ann", nil)
	long := "TypeError: x is undefined\n\tat line\x1b[31m " + strings.Repeat("é", 400)
	ann.do(map[string]any{"type": "client-error", "kind": "error", "message": long, "source": "https://chat.example.org/app.js?token=secret#x:120:7"})
	ann.expect()
	line := logs.String()
	for _, want := range []string{`"level":"WARN"`, `"msg":"client error"`, `"kind":"error"`, `"room":"chat"`, `"participant":"` + ann.s.id + `"`, `"source":"/app.js:120:7"`, `"message":"TypeError: x is undefined  at line [31m é`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
	if strings.Contains(line, "secret") || strings.Contains(line, "example.org") || strings.Contains(line, `\u001b`) || strings.Contains(line, `\n`) {
		t.Errorf("log line keeps what it should not: %s", line)
	}
	msg := line[strings.Index(line, `"message":"`)+len(`"message":"`):]
	msg = msg[:strings.Index(msg, `"`)]
	if len(msg) > maxReportMessage || len(msg) < maxReportMessage-2 {
		t.Errorf("the message logged has %d bytes; want it cut to at most %d", len(msg), maxReportMessage)
	}

	logs.Reset()
	for _, kind := range []string{"", "Error", "window", strings.Repeat("x", 5000)} {
		ann.do(map[string]any{"type": "client-error", "kind": kind, "message": "m", "req": 3})
		ann.expect("error:" + ErrBadRequest)
	}
	if logs.Len() != 0 {
		t.Errorf("reports of unknown kinds were logged: %s", logs)
	}
	byKind, dropped := h.ClientErrors()
	if byKind["error"] != 1 || byKind["getusermedia"] != 1 || byKind["playback"] != 0 || dropped != 0 || len(byKind) != len(ClientErrorKinds) {
		t.Errorf("counted %v, %d dropped; want error 1, getusermedia 1", byKind, dropped)
	}
}

// TestClientErrorRate: a session may send reportBurst reports at once and
// reportsPerMinute a minute after that; the one over the allowance is
// dropped silently and counted, the session goes on, and another session
// has an allowance of its own.
func TestClientErrorRate(t *testing.T) {
	h := testHub(t)
	ann, bob := newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", nil)
	bob.join("chat", "bob", nil)
	ann.got()
	logs := logTo(ann)
	report := map[string]any{"type": "client-error", "kind": "playback", "message": "NotSupportedError"}
	for range reportBurst + 1 {
		ann.do(report)
	}
	ann.expect()
	if n := strings.Count(logs.String(), "client error"); n != reportBurst {
		t.Errorf("%d reports logged of %d sent at once; want %d", n, reportBurst+1, reportBurst)
	}
	byKind, dropped := h.ClientErrors()
	if byKind["playback"] != reportBurst || dropped != 1 {
		t.Errorf("counted %d, dropped %d; want %d and 1", byKind["playback"], dropped, reportBurst)
	}
	if ann.ended() {
		t.Fatal("the session ended for its reports")
	}
	ann.do(map[string]any{"type": "ping", "req": 1})
	ann.expect(TypePong)

	// A minute later: the allowance is back by reportsPerMinute.
	ann.s.reports.last = ann.s.reports.last.Add(-time.Minute)
	logs.Reset()
	for range reportsPerMinute + 1 {
		ann.do(report)
	}
	if n := strings.Count(logs.String(), "client error"); n != reportsPerMinute {
		t.Errorf("%d reports logged a minute later; want %d", n, reportsPerMinute)
	}
	bob.do(report)
	byKind, dropped = h.ClientErrors()
	if byKind["playback"] != reportBurst+reportsPerMinute+1 || dropped != 2 {
		t.Errorf("counted %d, dropped %d; want %d and 2", byKind["playback"], dropped, reportBurst+reportsPerMinute+1)
	}
}
