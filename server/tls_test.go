package server

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/internal/testcert"

	"parley/configs"
)

// TestHTTPS: from certificate files, with HSTS, a redirect from plain
// HTTP, and a renewed certificate picked up without a restart.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testcert.Write(t, dir, "first")
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) {
		cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = certFile, keyFile
		cfg.HTTP.RedirectListen = "127.0.0.1:0"
	})
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s", srv.URL())
	}
	get := func(pool *x509.CertPool) (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		return c.Get("https://" + srv.Addr().String() + "/healthz")
	}
	resp, err := get(pool)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" || resp.TLS.PeerCertificates[0].Subject.CommonName != "first" {
		t.Errorf("HTTPS: %s, HSTS %q", resp.Status, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP on the HTTPS port gets nothing useful.
	if r, err := http.Get("http://" + srv.Addr().String() + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("plain HTTP served on the HTTPS port")
		}
	}

	// The redirect listener.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, "http://"+srv.RedirectAddr().String()+"/api/rooms?x=1", nil)
		r, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		want := map[string]int{"GET": 301, "POST": 308}[method]
		if r.StatusCode != want || r.Header.Get("Location") != "https://127.0.0.1:"+port+"/api/rooms?x=1" {
			t.Errorf("%s redirect: %s to %q", method, r.Status, r.Header.Get("Location"))
		}
	}

	// A renewal: new files are served after the reload interval, without
	// a restart. (The check is rate limited; step the clock past it.)
	_, _, pool2 := testcert.Write(t, dir, "second")
	fc := srv.tlsCert(t)
	fc.mu.Lock()
	fc.checked = time.Time{}
	fc.mu.Unlock()
	resp, err = get(pool2)
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	resp.Body.Close()
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "second" {
		t.Errorf("served %q after renewal", cn)
	}
	// A broken renewal keeps the working certificate.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	fc.checked = time.Time{}
	fc.mu.Unlock()
	if resp, err = get(pool2); err != nil {
		t.Fatalf("after a broken renewal: %v", err)
	}
	resp.Body.Close()
}

// tlsCert is the file certificate behind the server's TLS config.
func (s *testServer) tlsCert(t *testing.T) *fileCert {
	t.Helper()
	if s.certs == nil {
		t.Fatal("no file certificate")
	}
	return s.certs
}

// TestHTTPSConfigErrors: a missing or broken key pair stops the start.
func TestHTTPSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Media.UDPPort = freeUDPPort(t)
	cfg.Media.TCPPort = 0
	cfg.TURN.Enabled = false
	cfg.Storage.DataDir = dir
	cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = filepath.Join(dir, "nope.pem"), filepath.Join(dir, "nope.key")
	rooms, _ := configs.LoadRooms("")
	if s, err := New(cfg, rooms, testLogger()); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		if s != nil {
			_ = s.Shutdown(t.Context())
		}
		t.Fatalf("missing certificate files: %v", err)
	}
}

// TestAutocertRedirect: with automatic certificates the plain-HTTP
// listener answers ACME http-01 challenges itself and redirects the rest.
// (Obtaining a certificate needs the public CA, which tests do not reach.)
func TestAutocertRedirect(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) {
		cfg.HTTP.AutocertDomains = []string{"chat.example.org"}
		cfg.HTTP.RedirectListen = "127.0.0.1:0"
	})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + srv.RedirectAddr().String()
	r, err := noFollow.Get(base + "/.well-known/acme-challenge/unknown-token")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode/100 == 3 || r.StatusCode == 200 {
		t.Errorf("challenge path: %s (want the ACME handler's refusal of an unknown token)", r.Status)
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Host = "chat.example.org"
	r, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	if r.StatusCode != 301 || r.Header.Get("Location") != "https://chat.example.org:"+port+"/" {
		t.Errorf("redirect: %s to %q", r.Status, r.Header.Get("Location"))
	}
}
