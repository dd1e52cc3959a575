package netcheck

import (
	"encoding/json"
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

// code is the stable code of an error answer.
func code(w *httptest.ResponseRecorder) string {
	var v struct{ Code string }
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return v.Code
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
			if w := post(mux, "/api/check", "192.0.2.1", ""); w.Code != want || (want == 429 && code(w) != "too-many-checks") {
				t.Errorf("start %d from one address: %d %s, want %d", i+1, w.Code, w.Body, want)
			}
		}
		if w := post(mux, "/api/check", "192.0.2.2", ""); w.Code != 200 {
			t.Errorf("another address: %d", w.Code)
		}
		if w := post(mux, "/api/check", "192.0.2.3", ""); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || code(w) != "busy" {
			t.Errorf("over MaxSessions: %d %s", w.Code, w.Body)
		}
		if n := c.Sessions(); n != 3 {
			t.Fatalf("%d sessions", n)
		}
		if w := post(mux, "/api/check/check-nope/udp", "192.0.2.1", "v=0\r\n"); w.Code != http.StatusNotFound || code(w) != "check-ended" {
			t.Errorf("an unknown session: %d %s", w.Code, w.Body)
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
		if w := post(mux, "/api/check/"+id+"/sctp", "192.0.2.1", "v=0\r\n"); w.Code != http.StatusNotFound || code(w) != "bad-transport" {
			t.Errorf("an unknown transport: %d %s", w.Code, w.Body)
		}
		if w := post(mux, "/api/check/"+id+"/udp", "192.0.2.1", "hello"); w.Code != http.StatusBadRequest || code(w) != "bad-offer" {
			t.Errorf("not an offer: %d %s", w.Code, w.Body)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := c.Sessions(); n != 0 || c.Present(id) {
			t.Errorf("after their lifetime, %d sessions remain", n)
		}
		c.Close()
		if w := post(mux, "/api/check", "192.0.2.9", ""); w.Code != http.StatusServiceUnavailable || code(w) != "stopping" {
			t.Errorf("after Close: %d %s", w.Code, w.Body)
		}
	})
}
