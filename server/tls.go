package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"parley/configs"
)

// certReloadEvery bounds how often the certificate files are checked for
// a change.
const certReloadEvery = 10 * time.Second

// fileCert serves a certificate from PEM files, loading it again when a
// file's modification time changes (a renewal needs no restart).
type fileCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' modification times when loaded
	checked time.Time
}

func newFileCert(certFile, keyFile string, log *slog.Logger) (*fileCert, error) {
	f := &fileCert{certFile: certFile, keyFile: keyFile, log: log}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fileCert) stampNow() string {
	var b strings.Builder
	for _, p := range []string{f.certFile, f.keyFile} {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
		}
	}
	return b.String()
}

func (f *fileCert) load() error {
	stamp := f.stampNow()
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("http.tls_cert/tls_key: %w", err)
	}
	f.cert, f.stamp = &c, stamp
	return nil
}

// get is tls.Config.GetCertificate. A renewed pair that does not load
// keeps the old certificate in service, with an error in the log.
func (f *fileCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= certReloadEvery {
		f.checked = now
		if f.stampNow() != f.stamp {
			old := f.cert
			if err := f.load(); err != nil {
				f.cert = old
				f.stamp = f.stampNow() // do not retry a bad pair on every handshake
				f.log.Error("certificate files changed but do not load; keeping the old certificate", "err", err)
			} else {
				f.log.Info("certificate reloaded", "file", f.certFile)
			}
		}
	}
	return f.cert, nil
}

// tlsSetup returns the HTTPS configuration, and for autocert the manager
// (whose HTTP handler answers http-01 challenges), or for files the
// reloading certificate; all nil without TLS.
func tlsSetup(h configs.HTTP, dataDir string, log *slog.Logger) (*tls.Config, *autocert.Manager, *fileCert, error) {
	switch {
	case h.TLSCert != "":
		fc, err := newFileCert(h.TLSCert, h.TLSKey, log)
		if err != nil {
			return nil, nil, nil, err
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: fc.get, NextProtos: []string{"h2", "http/1.1"}}, nil, fc, nil
	case len(h.AutocertDomains) > 0:
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(h.AutocertDomains...),
			Cache:      autocert.DirCache(filepath.Join(dataDir, "autocert")),
			Email:      h.AutocertEmail,
		}
		c := m.TLSConfig()
		c.MinVersion = tls.VersionTLS12
		return c, m, nil, nil
	}
	return nil, nil, nil, nil
}

// redirectHandler sends every plain-HTTP request to the same address over
// HTTPS on the port the HTTPS server listens on.
func redirectHandler(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "no Host header", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if httpsPort != "443" {
			host += ":" + httpsPort
		}
		status := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status = http.StatusPermanentRedirect
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), status)
	})
}
