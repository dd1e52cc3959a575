// Package webhook POSTs the rooms' events (a clip published or deleted,
// someone joining or leaving, a room starting or finishing, a call
// ending) as JSON to the receivers of the [[webhooks]] configuration.
//
// Each delivery is signed: the header Parley-Signature is
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), with the
// timestamp (Unix seconds of the attempt) in Parley-Timestamp, so that a
// receiver can check both who sent it and that it is not an old one
// replayed. Parley-Event names the type and Parley-Delivery the event's
// id, the same in every attempt and after a restart: deliveries are at
// least once, and a receiver that must not act twice keeps the ids it has
// seen.
//
// Emit never waits for the network or the disk: it queues. One goroutine
// (the writer) keeps every queued event on disk, in
// <data_dir>/webhooks/outbox (package outbox), before it is handed to its
// webhook; one goroutine per webhook then delivers its events one at a
// time, in the order they were emitted, so that a receiver sees each
// room's events in order. A failed attempt (no answer within
// webhook_delivery.timeout, or a status other than 2xx; redirects are not
// followed) is tried again after retry_delay, then twice that and so on up
// to max_retry_delay, attempts times in all; later events of the same
// webhook wait meanwhile. An event still waiting when the server stops is
// sent after the next start. Close stops both kinds of goroutine and
// waits for them.
//
// Webhook addresses are the operator's, so they may be private or
// loopback addresses; they are not checked against netpolicy, which is
// for addresses that users supply.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"parley/configs"
	"parley/internal/outbox"
)

// QueueLimit bounds the events waiting for one webhook; beyond it new
// ones are dropped (and logged) rather than let a dead receiver grow
// memory and disk without end.
const QueueLimit = 10000

// maxResponse is as much of a receiver's answer as is read.
const maxResponse = 64 << 10

// The headers of a delivery.
const (
	HeaderTimestamp = "Parley-Timestamp"
	HeaderSignature = "Parley-Signature"
	HeaderEvent     = "Parley-Event"
	HeaderDelivery  = "Parley-Delivery"
)

// Event is the body of a delivery.
type Event struct {
	ID   string    `json:"id"`   // unique; the same in every attempt
	Type string    `json:"type"` // one of configs.WebhookEvents
	Time time.Time `json:"time"` // when it happened, UTC
	Room string    `json:"room"`
	Data any       `json:"data"` // what the type says (docs/operating.md)
}

// Sign returns the Parley-Signature of body sent at timestamp (Unix
// seconds) with secret.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Sender delivers the events. The zero value is not usable; see New. The
// methods of a nil Sender do nothing.
type Sender struct {
	cfg    configs.WebhookDelivery
	hooks  []*hook
	box    *outbox.Outbox // nil: events wait in memory only
	log    *slog.Logger
	now    func() time.Time
	client *http.Client

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the writer and the hooks' senders

	startOnce sync.Once

	mu       sync.Mutex
	closed   bool
	incoming []*delivery   // emitted, not yet on disk nor handed over
	wake     chan struct{} // wakes the writer; cap 1
}

// hook is one webhook and its queue.
type hook struct {
	cfg  configs.Webhook
	wake chan struct{} // cap 1

	// Guarded by Sender.mu.
	queue  []*delivery // on disk (when there is an outbox), oldest first
	sent   int
	failed int
}

// delivery is one event for one webhook.
type delivery struct {
	hook *hook
	file string // its outbox file; "" when not on disk
	stored
}

// stored is an outbox file.
type stored struct {
	URL      string          `json:"url"` // the webhook's, to find it again after a restart
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Room     string          `json:"room"`
	Body     json.RawMessage `json:"body"` // the whole Event, as sent
	Attempts int             `json:"attempts"`
}

func checkStored(s *stored) error {
	if s.URL == "" || s.ID == "" || s.Type == "" || len(s.Body) == 0 || s.Attempts < 0 {
		return errors.New("missing url, id, type or body")
	}
	return nil
}

// Options are what tests set besides the configuration.
type Options struct {
	// Now is the clock of events and signatures; nil means time.Now.
	Now func() time.Time
	// Transport, if set, carries the requests (nil: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
}

// New returns a Sender for the webhooks, or nil when there are none.
// Events waiting are kept in dataDir/webhooks/outbox; dataDir "" keeps
// them in memory only. Start starts it (and sends what the outbox holds)
// and Close stops it.
func New(hooks []configs.Webhook, cfg configs.WebhookDelivery, dataDir string, opts Options, log *slog.Logger) (*Sender, error) {
	if len(hooks) == 0 {
		return nil, nil
	}
	s := &Sender{
		cfg:  cfg,
		log:  log.With("component", "webhook"),
		now:  opts.Now,
		wake: make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout.D(),
		// A redirect is an answer of its own: a receiver that moved
		// is reconfigured, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, h := range hooks {
		s.hooks = append(s.hooks, &hook{cfg: h, wake: make(chan struct{}, 1)})
	}
	if dataDir != "" {
		box, err := outbox.Open(filepath.Join(dataDir, "webhooks", "outbox"), "webhook outbox")
		if err != nil {
			return nil, err
		}
		s.box = box
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start queues the events the outbox kept from before, then starts the
// writer and one sender per webhook. Events emitted before it wait.
func (s *Sender) Start() {
	if s == nil {
		return
	}
	s.startOnce.Do(func() {
		s.resume()
		s.wg.Go(s.write)
		for _, h := range s.hooks {
			s.wg.Go(func() { s.deliver(h) })
		}
	})
}

// resume queues the outbox's events behind nothing: they are older than
// any emitted since. An event whose webhook is no longer configured, or no
// longer wants its type, is dropped and logged.
func (s *Sender) resume() {
	if s.box == nil {
		return
	}
	items, files := outbox.Load(s.box, QueueLimit*len(s.hooks), checkStored, s.log)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range items {
		var h *hook
		for _, c := range s.hooks {
			if c.cfg.URL == it.URL && c.cfg.Wants(it.Type) {
				h = c
				break
			}
		}
		if h == nil {
			s.log.Warn("event from before the restart dropped: no webhook for it now", "url", redact(it.URL), "event", it.Type, "id", it.ID)
			s.box.Remove(files[i], s.log)
			continue
		}
		h.queue = append(h.queue, &delivery{hook: h, file: files[i], stored: it})
	}
	if len(items) > 0 {
		s.log.Info("events from before the restart queued", "events", len(items))
	}
}

// Emit queues an event of type typ in room for every webhook that wants
// it. data is the event's "data" (marshalled now). It never blocks, so it
// may be called under the lock that orders the room's events.
func (s *Sender) Emit(typ, room string, data any) {
	if s == nil {
		return
	}
	ev := Event{ID: newID(), Type: typ, Time: s.now().UTC(), Room: room, Data: data}
	var body []byte
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Warn("event not sent: server stopping", "event", typ, "room", room)
		return
	}
	for _, h := range s.hooks {
		if !h.cfg.Wants(typ) {
			continue
		}
		if len(s.incoming) >= QueueLimit*len(s.hooks) { // the disk cannot keep up
			h.failed++
			s.log.Error("event dropped: too many waiting to be written", "url", redact(h.cfg.URL), "event", typ, "room", room)
			continue
		}
		if body == nil {
			var err error
			if body, err = json.Marshal(ev); err != nil {
				s.log.Error("event not sent: cannot encode it", "event", typ, "room", room, "err", err)
				return
			}
		}
		s.incoming = append(s.incoming, &delivery{hook: h, stored: stored{URL: h.cfg.URL, ID: ev.ID, Type: typ, Room: room, Body: body}})
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// write keeps the emitted events on disk, in the order they came, and
// hands each to its webhook. When the server stops it writes what is left
// and returns.
func (s *Sender) write() {
	for {
		stopping := false
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			stopping = true
		}
		s.mu.Lock()
		batch := s.incoming
		s.incoming = nil
		s.mu.Unlock()
		for _, d := range batch {
			if s.box != nil {
				d.file = s.box.NewName()
				if err := s.box.Save(d.file, d.stored); err != nil {
					s.log.Error("event waits in memory only", "event", d.Type, "room", d.Room, "err", err)
					d.file = ""
				}
			}
		}
		s.handOver(batch)
		if stopping {
			return
		}
	}
}

// handOver appends the deliveries to their webhooks' queues.
func (s *Sender) handOver(batch []*delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range batch {
		h := d.hook
		if len(h.queue) >= QueueLimit {
			h.failed++
			s.log.Error("event dropped: too many waiting for this webhook", "url", redact(h.cfg.URL), "event", d.Type, "room", d.Room, "waiting", len(h.queue))
			s.forget(d)
			continue
		}
		h.queue = append(h.queue, d)
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// forget removes a delivery's outbox file: it was sent or given up.
func (s *Sender) forget(d *delivery) {
	if s.box != nil && d.file != "" {
		s.box.Remove(d.file, s.log)
	}
}

// deliver sends h's events one at a time, oldest first, until Close.
func (s *Sender) deliver(h *hook) {
	for {
		s.mu.Lock()
		var d *delivery
		if len(h.queue) > 0 {
			d = h.queue[0]
		}
		s.mu.Unlock()
		if d == nil {
			select {
			case <-h.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if !s.deliverOne(d) {
			return // stopping; d stays in the outbox
		}
		s.mu.Lock()
		h.queue = h.queue[1:]
		s.mu.Unlock()
	}
}

// deliverOne tries d until it is delivered or given up, and reports
// true; false when the server stops first.
func (s *Sender) deliverOne(d *delivery) bool {
	h := d.hook
	for {
		err := s.attempt(d)
		if err != nil && s.ctx.Err() != nil {
			return false // cut short: not the receiver's failure
		}
		d.Attempts++
		log := s.log.With("url", redact(h.cfg.URL), "event", d.Type, "room", d.Room, "id", d.ID, "attempt", d.Attempts)
		if err == nil {
			s.mu.Lock()
			h.sent++
			s.mu.Unlock()
			log.Debug("event delivered")
			s.forget(d)
			return true
		}
		if d.Attempts >= s.cfg.Attempts {
			s.mu.Lock()
			h.failed++
			s.mu.Unlock()
			log.Error("event not delivered; giving up", "err", err)
			s.forget(d)
			return true
		}
		if s.box != nil && d.file != "" {
			if err := s.box.Save(d.file, d.stored); err != nil {
				log.Warn("webhook outbox: save", "file", d.file, "err", err)
			}
		}
		delay := s.backoff(d.Attempts)
		log.Warn("event not delivered; will retry", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// backoff is the wait after the attempts-th failed attempt: retry_delay,
// doubled each time, at most max_retry_delay.
func (s *Sender) backoff(attempts int) time.Duration {
	d, most := s.cfg.RetryDelay.D(), s.cfg.MaxRetryDelay.D()
	for i := 1; i < attempts && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// attempt POSTs d once, signed now.
func (s *Sender) attempt(d *delivery) error {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, d.hook.cfg.URL, strings.NewReader(string(d.Body)))
	if err != nil {
		return err
	}
	ts := s.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "parley-webhook")
	req.Header.Set(HeaderEvent, d.Type)
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(d.hook.cfg.Secret, ts, d.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}

// Stats returns, for each webhook in the order of the configuration, how
// many events were delivered and given up since the start, and how many
// wait.
func (s *Sender) Stats() (sent, failed, waiting []int) {
	if s == nil {
		return nil, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hooks {
		sent, failed, waiting = append(sent, h.sent), append(failed, h.failed), append(waiting, len(h.queue))
	}
	for _, d := range s.incoming {
		waiting[slices.Index(s.hooks, d.hook)]++
	}
	return sent, failed, waiting
}

// Waiting is how many events wait for delivery, emitted or retried.
func (s *Sender) Waiting() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.incoming)
	for _, h := range s.hooks {
		n += len(h.queue)
	}
	return n
}

// Close stops delivering: an attempt under way is cut short, and the
// events still waiting stay in the outbox for the next start. It waits
// for the writer and the senders to stop.
func (s *Sender) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	started := true
	s.startOnce.Do(func() { started = false }) // and a later Start does nothing
	s.wg.Wait()
	if !started {
		s.write() // what was emitted is written now, for the next start
	}
	waiting := 0
	s.mu.Lock()
	for _, h := range s.hooks {
		waiting += len(h.queue)
	}
	s.mu.Unlock()
	if waiting > 0 {
		if s.box != nil {
			s.log.Warn("events not delivered yet: kept in the outbox for the next start", "events", waiting, "dir", s.box.Dir())
		} else {
			s.log.Warn("events not delivered: server stopping", "events", waiting)
		}
	}
	s.client.CloseIdleConnections()
	if s.box != nil {
		_ = s.box.Close()
	}
}

// newID is an event's id: 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redact is a URL for the logs: without its query, which may hold a
// token of the receiver's.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
