package signaling

import (
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error reports: a client tells the server what went wrong on its side (an
// uncaught error, a media operation that failed) with client-error, so
// that an operator sees what users hit. The server trusts nothing in it:
// the kind is one of a closed set, the text is cut and cleaned, each
// session may send only a few (a token bucket of its own, apart from the
// message rate), and a report over the limit is dropped without a word,
// counted; the session goes on.

// The kinds of client-error, in the order of ClientErrorKinds.
const (
	ErrorKindError        = "error"              // an uncaught exception (window error)
	ErrorKindRejection    = "unhandledrejection" // a promise rejected with nobody to catch it
	ErrorKindGetUserMedia = "getusermedia"       // the microphone or camera did not open
	ErrorKindWebRTC       = "webrtc"             // setRemoteDescription, addIceCandidate and the like failed
	ErrorKindPlayback     = "playback"           // a clip or a live track did not play (not autoplay policy)
	ErrorKindRecorder     = "recorder"           // a MediaRecorder failed
)

// ClientErrorKinds are the kinds of client-error the server accepts.
var ClientErrorKinds = []string{ErrorKindError, ErrorKindRejection, ErrorKindGetUserMedia, ErrorKindWebRTC, ErrorKindPlayback, ErrorKindRecorder}

const (
	// maxReportMessage and maxReportSource cap a report's texts, in
	// bytes, whatever the client sent: longer ones are cut.
	maxReportMessage = 500
	maxReportSource  = 200
	// reportsPerMinute and reportBurst are each session's allowance of
	// reports.
	reportsPerMinute = 5
	reportBurst      = 10
)

// clientErrorStats counts the reports of the whole hub.
type clientErrorStats struct {
	byKind  [6]atomic.Uint64 // as ClientErrorKinds
	dropped atomic.Uint64    // over a session's allowance
}

// ClientErrors returns how many reports of each kind the server took
// (logged), and how many it dropped for rate.
func (h *Hub) ClientErrors() (byKind map[string]uint64, dropped uint64) {
	byKind = make(map[string]uint64, len(ClientErrorKinds))
	for i, k := range ClientErrorKinds {
		byKind[k] = h.clientErrors.byKind[i].Load()
	}
	return byKind, h.clientErrors.dropped.Load()
}

// clientError handles client-error: a valid report within the session's
// allowance is logged at warn and counted.
func (s *Session) clientError(m *clientMessage, now time.Time) {
	kind := -1
	for i, k := range ClientErrorKinds {
		if m.Kind == k {
			kind = i
		}
	}
	if kind < 0 {
		s.sendError(m.Req, ErrBadRequest, "client-error needs a kind: one of "+strings.Join(ClientErrorKinds, ", "))
		return
	}
	if !s.reports.allow(now, reportsPerMinute/60.0, reportBurst) {
		s.hub.clientErrors.dropped.Add(1)
		return
	}
	s.hub.clientErrors.byKind[kind].Add(1)
	args := []any{"kind", m.Kind, "message", cleanReport(m.Message, maxReportMessage)}
	if src := reportSource(m.Source); src != "" {
		args = append(args, "source", src)
	}
	if s.room != nil {
		args = append(args, "room", s.room.cfg().Name, "participant", s.id)
	}
	s.log.Warn("client error", args...)
}

// cleanReport cuts text to at most max bytes, on a character boundary,
// with invalid UTF-8 and control characters made spaces, so that a log
// line stays one line that says what the client sent.
func cleanReport(text string, max int) string {
	var b strings.Builder
	for _, r := range text {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// lineSuffix is the line and column at the end of a source.
var lineSuffix = regexp.MustCompile(`(:[0-9]+){1,2}$`)

// reportSource is the file and line of a report as the server logs them:
// a URL loses its scheme and host, and any query or fragment, which could
// carry a token or a key.
func reportSource(src string) string {
	if i := strings.IndexAny(src, "?#"); i >= 0 {
		src = src[:i] + lineSuffix.FindString(src[i:])
	}
	if _, rest, ok := strings.Cut(src, "://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			src = rest[i:]
		} else {
			src = ""
		}
	}
	return cleanReport(src, maxReportSource)
}
