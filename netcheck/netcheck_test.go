package netcheck

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func serve(c *Checker) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/check", c.HandleStart)
	mux.HandleFunc("POST /api/check/{id}/{transport}", c.HandleOffer)
	return mux
}

func post(mux *http.ServeMux, path, from, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.RemoteAddr = from + ":1234"
	r.Header.Set("Content-Type", "application/sdp")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

// The limits: starts per address, sessions on the server, and a session
// ends by itself after its lifetime, its TURN credentials with it. What
// is refused is refused before any connection is made (there is no
// engine here).
func TestLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(Config{StartsPerMinute: 2, MaxSessions: 3, Lifetime: time.Minute}, slog.New(slog.DiscardHandler))
		defer c.Close()
		mux := serve(c)
		for i, want := range []int{200, 200, 429} {
			if w := post(mux, "/api/check", "192.0.2.1", ""); w.Code != want {
				t.Errorf("start %d from one address: %d, want %d", i+1, w.Code, want)
			}
		}
		if w := post(mux, "/api/check", "192.0.2.2", ""); w.Code != 200 {
			t.Errorf("another address: %d", w.Code)
		}
		if w := post(mux, "/api/check", "192.0.2.3", ""); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("over MaxSessions: %d", w.Code)
		}
		if n := c.Sessions(); n != 3 {
			t.Fatalf("%d sessions", n)
		}
		if w := post(mux, "/api/check/check-nope/udp", "192.0.2.1", "v=0\r\n"); w.Code != http.StatusNotFound {
			t.Errorf("an unknown session: %d", w.Code)
		}
		var id string
		c.mu.Lock()
		for k := range c.sessions {
			id = k
		}
		c.mu.Unlock()
		if !c.Present(id) || c.Present("someone") {
			t.Error("Present")
		}
		if w := post(mux, "/api/check/"+id+"/sctp", "192.0.2.1", "v=0\r\n"); w.Code != http.StatusNotFound {
			t.Errorf("an unknown transport: %d", w.Code)
		}
		if w := post(mux, "/api/check/"+id+"/udp", "192.0.2.1", "hello"); w.Code != http.StatusBadRequest {
			t.Errorf("not an offer: %d", w.Code)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := c.Sessions(); n != 0 || c.Present(id) {
			t.Errorf("after their lifetime, %d sessions remain", n)
		}
		c.Close()
		if w := post(mux, "/api/check", "192.0.2.9", ""); w.Code != http.StatusServiceUnavailable {
			t.Errorf("after Close: %d", w.Code)
		}
	})
}
