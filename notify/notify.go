// Package notify mails a room's listed users when a clip is published in
// it (rooms with notify = true, as mozchat's notify.ini), through the SMTP
// server of the [mail] configuration.
//
// Publication never waits for mail: ClipEvent only queues. One goroutine
// sends, one message per recipient and connection. A failed attempt is
// tried again after mail.retry_delay, then after twice that, and so on up
// to mail.attempts in all; a permanent refusal (an SMTP 5xx reply) is not
// tried again. Every failure is logged. Every mail waiting is also kept
// on disk (see outbox): one the server did not send before it stopped is
// sent after the next start.
package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"parley/clips"
	"parley/configs"
	"parley/internal/outbox"
)

// QueueLimit bounds the mails waiting to be sent; beyond it new ones are
// dropped (and logged) rather than let a dead SMTP server grow memory.
const QueueLimit = 1000

// Mailer sends the notifications. The zero value is not usable; see New.
type Mailer struct {
	cfg       configs.Mail
	base      *url.URL
	from      *mail.Address
	replyTo   *mail.Address
	tls       *tls.Config
	helo      string // the EHLO name
	msgDomain string // the right side of Message-IDs
	rooms     map[string]roomList
	log       *slog.Logger
	now       func() time.Time

	queue chan *job
	quit  chan struct{}
	done  chan struct{}

	dial   func(ctx context.Context) (net.Conn, error) // dialServer; tests may replace it
	outbox *outbox.Outbox                              // nil: mail waits in memory only

	startOnce sync.Once
	accepting sync.WaitGroup // ClipEvent's outbox writers

	mu      sync.Mutex
	closed  bool
	waiting int                  // queued or waiting for a retry
	timers  map[*job]*time.Timer // jobs waiting for a retry
	sent    map[string]int       // delivered mails by room, for Stats
	failed  map[string]int       // given up, by room
}

// roomList is a room's title and recipients.
type roomList struct {
	title string
	to    []recipient
}

type recipient struct {
	name string
	addr *mail.Address
}

// job is one mail to one recipient.
type job struct {
	room     string
	clipID   string
	to       recipient
	msg      []byte
	attempts int    // made so far
	file     string // its outbox file; "" without an outbox
}

// Options are what tests set besides the configuration.
type Options struct {
	// RootCAs, if set, are the only CAs trusted for the SMTP server
	// (mail.ca_file adds to the system's instead).
	RootCAs *x509.CertPool
	// Now is the clock of the Date header; nil means time.Now.
	Now func() time.Time
}

// New returns a Mailer for the rooms that notify, or nil when none does
// (the methods of a nil Mailer do nothing). It checks the configuration
// as configs.CheckRooms does. Mail waiting is kept in
// dataDir/mail/outbox; dataDir "" keeps it in memory only. Start starts
// it (and sends what the outbox holds) and Close stops it.
func New(cfg configs.Mail, baseURL, dataDir string, rooms []configs.Room, opts Options, log *slog.Logger) (*Mailer, error) {
	m := &Mailer{
		cfg:    cfg,
		rooms:  make(map[string]roomList),
		log:    log.With("component", "mail"),
		now:    opts.Now,
		queue:  make(chan *job, QueueLimit),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		timers: make(map[*job]*time.Timer),
		sent:   make(map[string]int),
		failed: make(map[string]int),
	}
	if m.now == nil {
		m.now = time.Now
	}
	for _, r := range rooms {
		if !r.Notify {
			continue
		}
		l := roomList{title: r.Title}
		for name, a := range r.NotifyAddresses {
			addr, err := mail.ParseAddress(a)
			if err != nil {
				return nil, fmt.Errorf("room %s: notify_addresses: %s: %w", r.Name, name, err)
			}
			l.to = append(l.to, recipient{name: name, addr: addr})
		}
		m.rooms[r.Name] = l
	}
	if len(m.rooms) == 0 {
		return nil, nil
	}
	if err := configs.CheckRooms(configs.Server{Mail: cfg, HTTP: configs.HTTP{BaseURL: baseURL}}, rooms); err != nil {
		return nil, err
	}
	var err error
	if m.base, err = url.Parse(strings.TrimSuffix(baseURL, "/")); err != nil {
		return nil, fmt.Errorf("http.base_url: %w", err)
	}
	if m.from, err = mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail.from: %w", err)
	}
	if cfg.ReplyTo != "" {
		if m.replyTo, err = mail.ParseAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("mail.reply_to: %w", err)
		}
	}
	// EHLO names this host as the site does; an IP address goes in
	// brackets (an address literal, RFC 5321 section 4.1.3).
	m.msgDomain = m.base.Hostname()
	m.helo = m.msgDomain
	if ip, err := netip.ParseAddr(m.helo); err == nil {
		m.helo = "[" + ip.String() + "]"
		if ip.Is6() {
			m.helo = "[IPv6:" + ip.String() + "]"
		}
	}
	m.tls = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs}
	if cfg.CAFile != "" && opts.RootCAs == nil {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mail.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		m.tls.RootCAs = pool
	}
	m.dial = m.dialServer
	if dataDir != "" {
		if m.outbox, err = openOutbox(dataDir); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Start queues the mails the outbox kept from before and starts the
// sender. Mail queued before it waits.
func (m *Mailer) Start() {
	if m == nil {
		return
	}
	m.startOnce.Do(func() {
		m.resume()
		go m.run()
	})
}

// resume queues the mails of the outbox whose room still notifies and
// whose recipient is still listed; the others are dropped, logged.
func (m *Mailer) resume() {
	if m.outbox == nil {
		return
	}
	mails, files := outbox.Load(m.outbox, QueueLimit, checkStored, m.log)
	for i, sm := range mails {
		j := &job{room: sm.Room, clipID: sm.Clip, msg: sm.Message, attempts: sm.Attempts, file: files[i]}
		found := false
		for _, to := range m.rooms[sm.Room].to {
			if strings.EqualFold(to.addr.Address, sm.ToAddr) {
				j.to, found = to, true
				break
			}
		}
		if !found {
			m.log.Warn("mail from before the restart dropped: its room no longer notifies this address", "room", sm.Room, "clip", sm.Clip, "to", sm.ToAddr)
			j.to.addr = &mail.Address{Address: sm.ToAddr}
			m.outbox.Remove(j.file, m.log)
			continue
		}
		m.log.Info("mail from before the restart queued", "room", sm.Room, "clip", sm.Clip, "to", sm.ToAddr, "attempts", sm.Attempts)
		m.enqueue(j)
	}
}

// ClipEvent queues the mails for a clip that has just been published. It
// never blocks.
func (m *Mailer) ClipEvent(ev clips.Event) {
	if m == nil || !ev.Published {
		return
	}
	l, ok := m.rooms[ev.Clip.Room]
	if !ok {
		return
	}
	var jobs []*job
	for _, to := range l.to {
		if strings.EqualFold(to.name, ev.Clip.Author) {
			continue // the author knows
		}
		j := &job{room: ev.Clip.Room, clipID: ev.Clip.ID, to: to}
		j.msg = m.message(l.title, ev.Clip, to)
		jobs = append(jobs, j)
	}
	if m.outbox == nil {
		for _, j := range jobs {
			m.enqueue(j)
		}
		return
	}
	// Writing the outbox syncs the disk: not on the publisher's time.
	m.accepting.Add(1)
	go func() {
		defer m.accepting.Done()
		for _, j := range jobs {
			j.file = m.outbox.NewName()
			if err := m.outbox.Save(j.file, j.stored()); err != nil {
				m.log.Error("mail outbox: save; the mail waits in memory only", "room", j.room, "clip", j.clipID, "to", j.to.addr.Address, "err", err)
				j.file = ""
			}
			if !m.enqueue(j) {
				m.forget(j)
			}
		}
	}()
}

// forget removes a mail's outbox file: it was sent or given up.
func (m *Mailer) forget(j *job) {
	if m.outbox != nil && j.file != "" {
		m.outbox.Remove(j.file, m.log)
	}
}

// enqueue hands j to the sender. It reports false when j was dropped
// because the queue is full; when closed, j stays in the outbox.
func (m *Mailer) enqueue(j *job) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.log.Warn("mail not sent: server stopping", "room", j.room, "clip", j.clipID, "to", j.to.addr.Address, "kept", j.file != "")
		return true
	}
	if m.waiting >= QueueLimit {
		m.failed[j.room]++
		m.log.Error("mail dropped: too many waiting", "room", j.room, "clip", j.clipID, "to", j.to.addr.Address, "waiting", m.waiting)
		return false
	}
	m.waiting++
	m.queue <- j // never blocks: waiting < QueueLimit = cap(queue)
	return true
}

// run sends the queued mails, one at a time, until Close.
func (m *Mailer) run() {
	defer close(m.done)
	for {
		select {
		case <-m.quit:
			return
		case j := <-m.queue:
			m.attempt(j)
		}
	}
}

// attempt makes one delivery attempt of j and schedules a retry on a
// temporary failure.
func (m *Mailer) attempt(j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout.D())
	go func() {
		select {
		case <-m.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := m.send(ctx, j)
	cancel()
	j.attempts++

	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiting--
	log := m.log.With("room", j.room, "clip", j.clipID, "to", j.to.addr.Address, "attempt", j.attempts)
	switch {
	case err == nil:
		m.sent[j.room]++
		log.Info("mail sent")
		m.forget(j)
		return
	case permanent(err):
		m.failed[j.room]++
		log.Error("mail refused; not retried", "err", err)
		m.forget(j)
		return
	case j.attempts >= m.cfg.Attempts:
		m.failed[j.room]++
		log.Error("mail failed; giving up", "err", err)
		m.forget(j)
		return
	case m.closed:
		log.Warn("mail failed; server stopping, kept for the next start", "err", err, "kept", j.file != "")
		m.keep(j)
		return
	}
	m.keep(j)
	delay := m.cfg.RetryDelay.D() << (j.attempts - 1)
	log.Warn("mail failed; will retry", "err", err, "in", delay)
	m.waiting++
	m.timers[j] = time.AfterFunc(delay, func() {
		m.mu.Lock()
		if _, ok := m.timers[j]; !ok { // Close stopped it
			m.mu.Unlock()
			return
		}
		delete(m.timers, j)
		m.waiting--
		m.mu.Unlock()
		m.enqueue(j)
	})
}

// keep records a failed attempt in j's outbox file.
func (m *Mailer) keep(j *job) {
	if m.outbox != nil && j.file != "" {
		if err := m.outbox.Save(j.file, j.stored()); err != nil {
			m.log.Warn("mail outbox: save", "file", j.file, "err", err)
		}
	}
}

// permanent reports whether err is an SMTP 5xx reply: the server refuses
// the mail for good, and trying again would give the same answer.
func permanent(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}

// dialServer connects to the SMTP server, with TLS from the start when
// security is "tls".
func (m *Mailer) dialServer(ctx context.Context) (net.Conn, error) {
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	if m.cfg.Security == configs.MailTLS {
		d := tls.Dialer{Config: m.tls}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// send delivers j's message in one SMTP session.
func (m *Mailer) send(ctx context.Context, j *job) error {
	conn, err := m.dial(ctx)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return err
	}
	if m.cfg.Security == configs.MailStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the SMTP server does not offer STARTTLS (security = \"starttls\")")
		}
		if err := c.StartTLS(m.tls); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if m.cfg.User != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the SMTP server does not offer AUTH, but mail.user is set")
		}
		if err := c.Auth(smtp.PlainAuth("", m.cfg.User, m.cfg.Password, m.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(j.to.addr.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(j.msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// Stats returns how many mails were delivered and given up, by room.
func (m *Mailer) Stats() (sent, failed map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sent, failed = make(map[string]int), make(map[string]int)
	for k, v := range m.sent {
		sent[k] = v
	}
	for k, v := range m.failed {
		failed[k] = v
	}
	return sent, failed
}

// Close stops sending: an attempt under way is cut short, and mail still
// waiting stays in the outbox for the next start. It waits for the
// sender to stop.
func (m *Mailer) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.done
		return
	}
	m.closed = true
	kept := 0
	for j, t := range m.timers {
		t.Stop()
		delete(m.timers, j)
		kept++
	}
	m.mu.Unlock()
	m.accepting.Wait()
	m.startOnce.Do(func() { close(m.done) }) // never started: nothing runs
	close(m.quit)
	<-m.done
	for {
		select {
		case <-m.queue:
			kept++
			continue
		default:
		}
		break
	}
	if kept > 0 {
		if m.outbox != nil {
			m.log.Warn("mail not sent yet: kept in the outbox for the next start", "mails", kept, "dir", m.outbox.Dir())
		} else {
			m.log.Warn("mail not sent: server stopping", "mails", kept)
		}
	}
	if m.outbox != nil {
		_ = m.outbox.Close()
	}
}
