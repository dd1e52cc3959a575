// Package smtptest runs a real SMTP server on loopback for tests, and
// keeps the mail it receives.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Server is an SMTP server on 127.0.0.1.
type Server struct {
	Addr *net.TCPAddr
	opts Options

	mu       sync.Mutex
	mails    []Mail
	sessions int // MAIL commands seen
	arrived  chan struct{}
}

// Options configure a Server.
type Options struct {
	// TLS enables STARTTLS; with Implicit, TLS from the first byte.
	TLS      *tls.Config
	Implicit bool
	// User and Password, if set, are required (AUTH PLAIN) before MAIL.
	User, Password string
	// Refuse, if set, answers RCPT TO in the n-th mail transaction (from
	// 1); return an *smtp.SMTPError to refuse.
	Refuse func(n int) error
}

// Mail is a received message.
type Mail struct {
	From, To string
	Data     []byte
	TLS      bool   // it came over TLS
	Authed   bool   // the client authenticated
	Helo     string // the name the client gave in EHLO
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	mb := &Server{opts: opts, arrived: make(chan struct{}, 1)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{mb: mb, conn: c}, nil
	}))
	s.Domain = "mail.test"
	s.TLSConfig = opts.TLS
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = true // so that a test can show a client refuses
	var ln net.Listener
	var err error
	if opts.Implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", opts.TLS)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	mb.Addr = ln.Addr().(*net.TCPAddr)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return mb
}

// Received returns the mails received so far.
func (mb *Server) Received() []Mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]Mail(nil), mb.mails...)
}

// Attempts returns how many mail transactions (MAIL commands) began.
func (mb *Server) Attempts() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.sessions
}

// Wait waits up to 20 s for n mails in all, and returns them.
func (mb *Server) Wait(t testing.TB, n int) []Mail {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := mb.Received(); len(got) >= n {
			return got
		}
		select {
		case <-mb.arrived:
		case <-deadline:
			t.Fatalf("%d mails arrived, want %d", len(mb.Received()), n)
		}
	}
}

type session struct {
	mb     *Server
	conn   *smtp.Conn
	from   string
	to     string
	n      int
	authed bool
}

func (s *session) AuthMechanisms() []string {
	if s.mb.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != s.mb.opts.User || password != s.mb.opts.Password {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.mb.opts.User != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.mb.mu.Lock()
	s.mb.sessions++
	s.n = s.mb.sessions
	s.mb.mu.Unlock()
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.mb.opts.Refuse != nil {
		if err := s.mb.opts.Refuse(s.n); err != nil {
			return err
		}
	}
	s.to = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.mb.mu.Lock()
	s.mb.mails = append(s.mb.mails, Mail{From: s.from, To: s.to, Data: b, TLS: isTLS, Authed: s.authed, Helo: s.conn.Hostname()})
	s.mb.mu.Unlock()
	select {
	case s.mb.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }
