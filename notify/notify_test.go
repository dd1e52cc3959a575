package notify

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"parley/clips"
	"parley/configs"
	"parley/internal/smtptest"
	"parley/internal/testcert"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mailConfig(mb *smtptest.Server, security string) configs.Mail {
	c := configs.Default().Mail
	c.Host = "127.0.0.1"
	c.Port = mb.Addr.Port
	c.Security = security
	c.From = "Parley Robot <noreply@chat.example.org>"
	c.RetryDelay = configs.Duration(50 * time.Millisecond)
	c.Timeout = configs.Duration(5 * time.Second)
	return c
}

func notifyRoom() configs.Room {
	return configs.Room{Name: "forum", Title: "Voice forum", Notify: true, NotifyAddresses: map[string]string{
		"ann": "Ann <ann@example.org>",
		"Bob": "bob@example.org",
	}}
}

func testClip(author string) clips.Clip {
	return clips.Clip{
		ID: "01JDX4Z6Y8Q2W3E4R5T6Y7U8I9", Room: "forum", Author: author, Kind: clips.KindAudio,
		Duration: 12.34, Bytes: 45_600, Description: "Sound check, é ✓", State: clips.Published,
		Created: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Expires: time.Date(2026, 12, 30, 12, 0, 0, 0, time.UTC),
	}
}

func newMailer(t *testing.T, cfg configs.Mail, rooms []configs.Room, pool *x509.CertPool) *Mailer {
	t.Helper()
	m, err := New(cfg, "https://chat.example.org", "", rooms, Options{RootCAs: pool}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		t.Fatal("no mailer for a room that notifies")
	}
	m.Start()
	t.Cleanup(m.Close)
	return m
}

// parsed is a received mail, decoded.
type parsed struct {
	header mail.Header
	body   string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, data)
	}
	for _, line := range strings.Split(string(data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d characters", len(line))
		}
	}
	if msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("encoding %q", msg.Header.Get("Content-Transfer-Encoding"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return parsed{header: msg.Header, body: string(body)}
}

func (p parsed) subject(t *testing.T) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDelivery: over STARTTLS with AUTH, each listed user but the author
// gets one mail with the clip's facts and working links.
func TestDelivery(t *testing.T) {
	tlsCfg, pool := testcert.ServerConfig(t, "127.0.0.1")
	mb := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, User: "robot", Password: "s3cret"})
	cfg := mailConfig(mb, configs.MailStartTLS)
	cfg.User, cfg.Password = "robot", "s3cret"
	cfg.ReplyTo = "Admin <admin@example.org>"
	m := newMailer(t, cfg, []configs.Room{notifyRoom(), {Name: "quiet"}}, pool)

	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("ANN"), Published: true})
	got := mb.Wait(t, 1)
	// Ann is the author (names match without regard to case): only Bob.
	if len(got) != 1 || got[0].To != "bob@example.org" || got[0].From != "noreply@chat.example.org" {
		t.Fatalf("mails %+v", got)
	}
	if !got[0].TLS || !got[0].Authed || got[0].Helo != "chat.example.org" {
		t.Errorf("tls %v, authenticated %v; want both", got[0].TLS, got[0].Authed)
	}
	p := parse(t, got[0].Data)
	if s := p.subject(t); s != "ANN posted an audio clip in Voice forum" {
		t.Errorf("subject %q", s)
	}
	for k, want := range map[string]string{
		"From": `"Parley Robot" <noreply@chat.example.org>`, "To": "<bob@example.org>",
		"Reply-To": `"Admin" <admin@example.org>`, "Auto-Submitted": "auto-generated",
	} {
		if v := p.header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if _, err := p.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := p.header.Get("Message-Id"); !strings.HasPrefix(id, "<01JDX4Z6Y8Q2W3E4R5T6Y7U8I9.") || !strings.HasSuffix(id, "@chat.example.org>") {
		t.Errorf("Message-ID %q", id)
	}
	for _, want := range []string{
		"Sound check, é ✓",
		"Length 12.3 s, 46 kB. Kept until 30 Dec 2026 12:00 UTC.",
		"https://chat.example.org/api/rooms/forum/clips/01JDX4Z6Y8Q2W3E4R5T6Y7U8I9\r\n",
		"https://chat.example.org/?room=forum\r\n",
		"lists you (Bob)",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.body)
		}
	}

	// Events that publish nothing, and rooms that do not notify, send
	// nothing; a second clip mails both when someone else is its author.
	m.ClipEvent(clips.Event{Type: clips.EventUpdated, Clip: testClip("ann")})
	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: clips.Clip{ID: "x", Room: "quiet", State: clips.Published}, Published: true})
	c := testClip("carol")
	c.ID, c.Kind = "01JDX4Z6Y8Q2W3E4R5T6Y7U8J0", clips.KindVideo
	m.ClipEvent(clips.Event{Type: clips.EventUpdated, Clip: c, Published: true})
	got = mb.Wait(t, 3)
	if len(got) != 3 || got[1].To == got[2].To {
		t.Fatalf("mails %+v", got)
	}
	if s := parse(t, got[2].Data).subject(t); s != "carol posted a video clip in Voice forum" {
		t.Errorf("subject %q", s)
	}
	eventuallyCounted(t, m, 3, 0)
}

// TestImplicitTLS: security = "tls" speaks TLS from the first byte.
func TestImplicitTLS(t *testing.T) {
	tlsCfg, pool := testcert.ServerConfig(t, "127.0.0.1")
	mb := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, Implicit: true})
	m := newMailer(t, mailConfig(mb, configs.MailTLS), []configs.Room{notifyRoom()}, pool)
	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("ann"), Published: true})
	if got := mb.Wait(t, 1); !got[0].TLS {
		t.Error("not over TLS")
	}
}

// TestRetry: temporary refusals (4xx) are tried again, with growing
// waits, until the mail goes through.
func TestRetry(t *testing.T) {
	mb := smtptest.Start(t, smtptest.Options{Refuse: func(n int) error {
		if n <= 2 {
			return &smtp.SMTPError{Code: 451, Message: "try again later"}
		}
		return nil
	}})
	m := newMailer(t, mailConfig(mb, configs.MailPlain), []configs.Room{notifyRoom()}, nil)
	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("ann"), Published: true})
	got := mb.Wait(t, 1)
	if len(got) != 1 || mb.Attempts() != 3 {
		t.Errorf("%d mails after %d attempts; want 1 after 3", len(got), mb.Attempts())
	}
}

// eventuallyCounted waits until the mailer counted sent and failed mails
// of the room "forum" as wanted.
func eventuallyCounted(t *testing.T, m *Mailer, wantSent, wantFailed int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sent, failed := m.Stats()
		if sent["forum"] == wantSent && failed["forum"] == wantFailed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %v, failed %v; want %d and %d", sent, failed, wantSent, wantFailed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGiveUp: a mail that keeps failing is tried mail.attempts times; a
// permanent refusal (5xx) only once.
func TestGiveUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
		want int
	}{{"temporary", 451, 4}, {"permanent", 550, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			mb := smtptest.Start(t, smtptest.Options{Refuse: func(int) error {
				return &smtp.SMTPError{Code: tc.code, Message: "no"}
			}})
			cfg := mailConfig(mb, configs.MailPlain)
			cfg.Attempts = 4
			room := notifyRoom()
			delete(room.NotifyAddresses, "Bob")
			m := newMailer(t, cfg, []configs.Room{room}, nil)
			m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("carol"), Published: true})
			eventuallyCounted(t, m, 0, 1)
			m.mu.Lock()
			waiting, timers := m.waiting, len(m.timers)
			m.mu.Unlock()
			if mb.Attempts() != tc.want || waiting != 0 || timers != 0 {
				t.Errorf("%d attempts, %d waiting, %d timers; want %d, 0, 0", mb.Attempts(), waiting, timers, tc.want)
			}
		})
	}
}

// TestNoPlainFallback: with security = "starttls", a server that does not
// offer STARTTLS gets no mail, and no password.
func TestNoPlainFallback(t *testing.T) {
	mb := smtptest.Start(t, smtptest.Options{User: "robot", Password: "s3cret"})
	cfg := mailConfig(mb, configs.MailStartTLS)
	cfg.User, cfg.Password, cfg.Attempts = "robot", "s3cret", 2
	m := newMailer(t, cfg, []configs.Room{notifyRoom()}, nil)
	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("carol"), Published: true})
	eventuallyCounted(t, m, 0, 2)
	if mb.Attempts() != 0 || len(mb.Received()) != 0 {
		t.Errorf("%d attempts reached MAIL, %d mails arrived", mb.Attempts(), len(mb.Received()))
	}
}

// TestNeverBlocks: with an SMTP server that accepts connections and never
// answers, queuing returns at once, more mail than the queue holds is
// dropped, and Close cuts the stuck attempt short.
func TestNeverBlocks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	cfg := configs.Default().Mail
	cfg.Host, cfg.Port, cfg.From, cfg.Security = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, "noreply@example.org", configs.MailPlain
	cfg.Timeout = configs.Duration(10 * time.Minute)
	m, err := New(cfg, "https://chat.example.org", "", []configs.Room{notifyRoom()}, Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range QueueLimit {
			m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("carol"), Published: true})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("queuing mail blocked")
	}
	// 2 recipients per clip: half of them did not fit.
	if _, failed := m.Stats(); failed["forum"] < QueueLimit-1 {
		t.Errorf("%d mails dropped, want about %d", failed["forum"], QueueLimit)
	}
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for a stuck SMTP server")
	}
	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("carol"), Published: true}) // after Close: dropped, no panic
}

// TestHostileText: names, titles and descriptions cannot add headers.
func TestHostileText(t *testing.T) {
	room := notifyRoom()
	room.Title = "Room\r\nBcc: evil@example.org"
	m, err := New(mailConfig(&smtptest.Server{Addr: &net.TCPAddr{Port: 25}}, configs.MailStartTLS), "https://chat.example.org/", "", []configs.Room{room}, Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	c := testClip("eve\r\nBcc: evil@example.org")
	c.Description = "line one\r\n\r\nBcc: evil@example.org\n.\nMAIL FROM:<x@example.org>"
	c.Room = "forum"
	msg := m.message(room.Title, c, m.rooms["forum"].to[0])
	p := parse(t, msg)
	if len(p.header["Bcc"]) != 0 {
		t.Errorf("a Bcc header got in:\n%s", msg)
	}
	if s := p.subject(t); strings.ContainsAny(s, "\r\n") || !strings.Contains(s, "eve  Bcc: evil@example.org posted") {
		t.Errorf("subject %q", s)
	}
	if strings.Contains(p.body, "\n.\n") || strings.Contains(p.body, "\nMAIL FROM") {
		t.Errorf("description kept its line breaks:\n%s", p.body)
	}
	// A very long non-ASCII title is cut and folded.
	room.Title = strings.Repeat("日本語", 100)
	p = parse(t, m.message(room.Title, c, m.rooms["forum"].to[0]))
	if s := p.subject(t); len([]rune(s)) != 150 || !strings.HasSuffix(s, "…") {
		t.Errorf("subject of %d characters: %q", len([]rune(s)), s)
	}
}

// TestNewWithoutNotifyingRooms: no room notifies, no mailer, and its
// methods are safe on nil.
func TestNewWithoutNotifyingRooms(t *testing.T) {
	m, err := New(configs.Default().Mail, "", "", []configs.Room{{Name: "a"}}, Options{}, quiet())
	if err != nil || m != nil {
		t.Fatalf("New: %v, %v", m, err)
	}
	m.Start()
	m.ClipEvent(clips.Event{Published: true})
	m.Close()
	if _, err := New(configs.Default().Mail, "", "", []configs.Room{notifyRoom()}, Options{}, quiet()); err == nil {
		t.Error("a notifying room without mail.host and base_url was accepted")
	}
}

// outboxFiles lists the outbox's files by suffix.
func outboxFiles(t *testing.T, dir string) (mails, bad []string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "mail", "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".json"):
			mails = append(mails, e.Name())
		case strings.HasSuffix(e.Name(), ".bad"):
			bad = append(bad, e.Name())
		}
	}
	return mails, bad
}

// TestOutboxAcrossRestart: mail the server could not send before it
// stopped is sent after the next start; an unreadable outbox file is set
// aside, and a mail for an address no longer listed is dropped.
func TestOutboxAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	down := smtptest.Start(t, smtptest.Options{Refuse: func(int) error {
		return &smtp.SMTPError{Code: 451, Message: "later"}
	}})
	cfg := mailConfig(down, configs.MailPlain)
	cfg.RetryDelay = configs.Duration(time.Hour)
	m, err := New(cfg, "https://chat.example.org", dir, []configs.Room{notifyRoom()}, Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	m.ClipEvent(clips.Event{Type: clips.EventAdded, Clip: testClip("carol"), Published: true})
	deadline := time.Now().Add(20 * time.Second)
	for down.Attempts() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	m.Close()
	mails, _ := outboxFiles(t, dir)
	if down.Attempts() != 2 || len(mails) != 2 {
		t.Fatalf("%d attempts, %d mails kept; want 2 and 2", down.Attempts(), len(mails))
	}
	var sm storedMail
	if b, err := os.ReadFile(filepath.Join(dir, "mail", "outbox", mails[0])); err != nil || json.Unmarshal(b, &sm) != nil || sm.Attempts != 1 {
		t.Errorf("stored mail %+v, %v: want one attempt recorded", sm, err)
	}
	// Damage and a mail whose recipient was taken off the list since.
	box := filepath.Join(dir, "mail", "outbox")
	if err := os.WriteFile(filepath.Join(box, "00-damaged.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	gone, _ := json.Marshal(storedMail{Room: "forum", Clip: "x", ToName: "gone", ToAddr: "gone@example.org", Message: []byte("Subject: x\r\n\r\nx")})
	if err := os.WriteFile(filepath.Join(box, "01-gone.json"), gone, 0o600); err != nil {
		t.Fatal(err)
	}

	up := smtptest.Start(t, smtptest.Options{})
	m2, err := New(mailConfig(up, configs.MailPlain), "https://chat.example.org", dir, []configs.Room{notifyRoom()}, Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	m2.Start()
	defer m2.Close()
	got := up.Wait(t, 2)
	if got[0].To == got[1].To {
		t.Errorf("mails to %s and %s", got[0].To, got[1].To)
	}
	eventuallyCounted(t, m2, 2, 0)
	mails, bad := outboxFiles(t, dir)
	if len(mails) != 0 || len(bad) != 1 || bad[0] != "00-damaged.json.bad" {
		t.Errorf("outbox after sending: mails %v, set aside %v", mails, bad)
	}
	if n := len(up.Received()); n != 2 {
		t.Errorf("%d mails: the one for an address no longer listed was sent", n)
	}
}
