package sfu

import (
	"testing"
	"time"

	"github.com/pion/logging"
)

// TestSharedCertificate: the engine's connections all offer the one
// DTLS certificate, which is replaced once it has less than a day left.
func TestSharedCertificate(t *testing.T) {
	e := newTestEngine(t, false)
	fingerprint := func() string {
		t.Helper()
		pc, err := e.newPeerConnection(false)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		certs := pc.GetConfiguration().Certificates
		if len(certs) != 1 {
			t.Fatalf("%d certificates, want the engine's one", len(certs))
		}
		fps, err := certs[0].GetFingerprints()
		if err != nil || len(fps) == 0 {
			t.Fatalf("fingerprints: %v %v", fps, err)
		}
		return fps[0].Value
	}
	first := fingerprint()
	if again := fingerprint(); again != first {
		t.Fatalf("a second connection has certificate %s, the first %s", again, first)
	}

	var d dtlsCert
	now := time.Now()
	c1, err := d.get(now)
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := d.get(c1.Expires().Add(-certRenewBefore - time.Minute)); !c2.Equals(c1) {
		t.Error("the certificate was replaced with more than a day left")
	}
	c3, err := d.get(c1.Expires().Add(-certRenewBefore + time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c3.Equals(c1) {
		t.Error("the certificate was kept with less than a day left")
	}
}

// TestSharedLoggers: one logger per scope, made by the inner factory
// once.
func TestSharedLoggers(t *testing.T) {
	s := newSharedLoggers(logging.NewDefaultLoggerFactory())
	if s.NewLogger("ice") != s.NewLogger("ice") {
		t.Error("two loggers for one scope")
	}
	if s.NewLogger("ice") == s.NewLogger("dtls") {
		t.Error("one logger for two scopes")
	}
}

// TestHostNetRefresh: the interface list is read again once it is
// interfacesTTL old, not before.
func TestHostNetRefresh(t *testing.T) {
	n, err := newHostNet()
	if err != nil {
		t.Fatal(err)
	}
	first := n.current()
	if n.current() != first {
		t.Fatal("the list was read again at once")
	}
	if ifs, err := n.Interfaces(); err != nil || len(ifs) == 0 {
		t.Fatalf("interfaces: %v %v", ifs, err)
	}
	n.mu.Lock()
	n.at = n.at.Add(-interfacesTTL)
	n.mu.Unlock()
	if n.current() == first {
		t.Fatal("a stale list was not read again")
	}
}
