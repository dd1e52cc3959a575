package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/url"
	"strings"
	"time"
	"unicode"

	"parley/clips"
)

// ClipURL is the direct link to a clip's media: it plays in a browser, and
// &download=1 saves it. It carries the clip's media key, so that it plays
// without joining in a room that is not open too: the mail goes only to
// the addresses the room lists.
func ClipURL(base *url.URL, c clips.Clip) string {
	u := base.JoinPath("api", "rooms", c.Room, "clips", c.ID)
	if c.Key != "" {
		u.RawQuery = url.Values{"key": {c.Key}}.Encode()
	}
	return u.String()
}

// RoomURL is the link to the room in the web client.
func RoomURL(base *url.URL, room string) string {
	u := *base
	u.Path = "/"
	u.RawQuery = url.Values{"room": {room}}.Encode()
	return u.String()
}

// message builds the whole mail (headers and a quoted-printable UTF-8
// body) that tells to about clip c of the room titled title.
func (m *Mailer) message(title string, c clips.Clip, to recipient) []byte {
	author := oneLine(c.Author)
	if author == "" {
		author = "Someone"
	}
	room := oneLine(title)
	if room == "" {
		room = c.Room
	}
	kind := "an audio clip"
	if c.Kind == clips.KindVideo {
		kind = "a video clip"
	}

	var h bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&h, "%s: %s\r\n", k, v) }
	header("From", m.from.String())
	header("To", to.addr.String())
	if m.replyTo != nil {
		header("Reply-To", m.replyTo.String())
	}
	header("Subject", subject(fmt.Sprintf("%s posted %s in %s", author, kind, room)))
	header("Date", m.now().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<%s.%s@%s>", c.ID, randomHex(8), m.msgDomain))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header("X-Auto-Response-Suppress", "All")
	h.WriteString("\r\n")

	var b strings.Builder
	fmt.Fprintf(&b, "%s posted %s in %s.\n\n", author, kind, room)
	if d := oneLine(c.Description); d != "" {
		fmt.Fprintf(&b, "  %s\n\n", d)
	}
	fmt.Fprintf(&b, "Length %s, %s. Kept until %s.\n\n", seconds(c.Duration), size(c.Bytes), c.Expires.UTC().Format("2 Jan 2006 15:04 MST"))
	fmt.Fprintf(&b, "Play it:\n%s\n\n", ClipURL(m.base, c))
	fmt.Fprintf(&b, "Open the room:\n%s\n\n", RoomURL(m.base, c.Room))
	fmt.Fprintf(&b, "-- \nYou get this mail because the room %s lists you (%s) for notifications.\n", c.Room, oneLine(to.name))

	qp := quotedprintable.NewWriter(&h)
	_, _ = qp.Write([]byte(strings.ReplaceAll(b.String(), "\n", "\r\n")))
	_ = qp.Close()
	return h.Bytes()
}

// oneLine drops control characters (line breaks above all, so no text can
// start a header of its own) and trims spaces.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s))
}

// subject encodes s for the Subject header (RFC 2047), at most 150
// characters of it, folded between encoded words so that no line is long.
func subject(s string) string {
	if r := []rune(s); len(r) > 150 {
		s = string(r[:149]) + "…"
	}
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}

func seconds(d float64) string {
	if d < 60 {
		return fmt.Sprintf("%.1f s", d)
	}
	t := time.Duration(d * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(t.Minutes()), int(t.Seconds())%60)
}

func size(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%d kB", (n+500)/1000)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
