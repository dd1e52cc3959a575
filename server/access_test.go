package server

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"parley/access"
	"parley/client"
	"parley/configs"
)

// testHash makes a bcrypt password hash of the lowest cost: the tests
// check who gets in, not bcrypt's cost, which under the race detector on
// a busy machine takes seconds a check at parley's own cost.
func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

const testTokenSecret = "test-token-secret-0123456789abcdef"

// joinAs dials and joins with credentials; it returns the error code of a
// refusal ("" when joined).
func (s *testServer) joinAs(t *testing.T, room, name string, opts client.Options) (*client.Client, *client.Joined, string) {
	t.Helper()
	c := s.dial(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := c.Join(ctx, room, name)
	var e *client.Error
	if errors.As(err, &e) {
		c.Close()
		return nil, nil, e.Code
	}
	if err != nil {
		t.Fatalf("join %s as %s: %v", room, name, err)
	}
	return c, j, ""
}

// snapshot lists every file under dir with its size and time: what a
// refused request must leave unchanged.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+info.ModTime().String()+" "+strings.Repeat("*", int(min(info.Size(), 1)))+info.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func accessServer(t *testing.T, extra func(*configs.Server, []configs.Room)) *testServer {
	shared, ann, olga := testHash(t, "room pass"), testHash(t, "ann's pass"), testHash(t, "operator pass")
	return startServer(t, func(cfg *configs.Server, rooms []configs.Room) {
		cfg.Auth.TokenSecret = testTokenSecret
		cfg.Auth.FailureBurst = 10
		cfg.Auth.FailuresPerMinute = 0.001
		cfg.Auth.Operators = []configs.Operator{{Name: "olga", Password: olga}}
		for i := range rooms {
			switch rooms[i].Name {
			case "forum": // a shared password
				rooms[i].Access, rooms[i].Password = configs.AccessPassword, shared
			case "videochat": // per-user passwords only
				rooms[i].Access, rooms[i].Passwords = configs.AccessPassword, map[string]string{"Ann": ann}
			case "live":
				rooms[i].Access = configs.AccessToken
			}
		}
		if extra != nil {
			extra(cfg, rooms)
		}
	})
}

func token(t *testing.T, c access.Claims) string {
	t.Helper()
	if c.Expires == 0 {
		c.Expires = time.Now().Add(time.Hour).Unix()
	}
	tok, err := access.SignToken([]byte(testTokenSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAccessModes: each access mode admits the right credentials and
// refuses the wrong ones with the documented code, changing nothing on
// disk.
func TestAccessModes(t *testing.T) {
	srv := accessServer(t, nil)
	before := snapshot(t, srv.cfg.Storage.DataDir)
	expired := token(t, access.Claims{Room: "live", Name: "tim", Expires: time.Now().Add(-time.Second).Unix()})
	good := token(t, access.Claims{Room: "live", Name: "tim"})
	parts := strings.Split(good, ".")
	other := strings.Split(token(t, access.Claims{Room: "live", Name: "olga", Role: access.RoleOperator}), ".")
	tampered := parts[0] + "." + other[1] + "." + parts[2]

	for _, c := range []struct {
		name, room, who string
		opts            client.Options
		want            string
	}{
		{"open room", "chat", "anyone", client.Options{}, ""},
		{"shared password", "forum", "pat", client.Options{Password: "room pass"}, ""},
		{"shared password, wrong", "forum", "pat", client.Options{Password: "room pas"}, "bad-password"},
		{"shared password, missing", "forum", "pat", client.Options{}, "password-required"},
		{"user password", "videochat", "ann", client.Options{Password: "ann's pass"}, ""},
		{"user password, another's", "videochat", "ann", client.Options{Password: "room pass"}, "bad-password"},
		{"user not listed", "videochat", "bob", client.Options{Password: "ann's pass"}, "bad-password"},
		{"token", "live", "", client.Options{Token: good}, ""},
		{"token, other name", "live", "tom", client.Options{Token: good}, "bad-token"},
		{"token, expired", "live", "", client.Options{Token: expired}, "bad-token"},
		{"token, tampered", "live", "", client.Options{Token: tampered}, "bad-token"},
		{"token, other room", "chat", "", client.Options{Token: good}, "bad-token"},
		{"token room without token", "live", "tim", client.Options{}, "token-required"},
		{"operator name without password", "chat", "Olga", client.Options{}, "password-required"},
		{"operator name in full width", "chat", "ｏｌｇａ", client.Options{Password: "room pass"}, "bad-password"},
		{"operator name, wrong password", "chat", "olga", client.Options{Password: "room pass"}, "bad-password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, j, code := srv.joinAs(t, c.room, c.who, c.opts)
			if code != c.want {
				t.Fatalf("code %q, want %q", code, c.want)
			}
			if code == "" && j.Role != "participant" {
				t.Errorf("role %q", j.Role)
			}
		})
	}
	if after := snapshot(t, srv.cfg.Storage.DataDir); !slices.Equal(before, after) {
		t.Errorf("refused joins changed the data folder:\n%v\n%v", before, after)
	}

	// A token does not take a name in use.
	if _, _, code := srv.joinAs(t, "live", "", client.Options{Token: good}); code != "" {
		t.Fatalf("token: %q", code)
	}
	if _, _, code := srv.joinAs(t, "live", "TIM", client.Options{Token: good}); code != "name-taken" {
		t.Errorf("the token's name in use: %q", code)
	}

	// Nine failures so far; the tenth uses up the burst of 10, and then
	// even the right password is refused from this address.
	if _, _, code := srv.joinAs(t, "forum", "pat", client.Options{Password: "nope"}); code != "bad-password" {
		t.Errorf("tenth failure: %q", code)
	}
	if _, _, code := srv.joinAs(t, "forum", "quinn", client.Options{Password: "room pass"}); code != "too-many-attempts" {
		t.Errorf("after too many failures: %q", code)
	}
}

// TestOperator: an operator kicks, deletes anyone's clip, clears the
// room's clips and closes and opens the room; a participant can do none
// of it.
func TestOperator(t *testing.T) {
	srv := accessServer(t, nil)
	op, oj, code := srv.joinAs(t, "chat", "Olga", client.Options{Password: "operator pass"})
	if code != "" || oj.Role != "operator" {
		t.Fatalf("operator join: %q, role %v", code, oj)
	}
	ann, aj := srv.join(t, "chat", "ann", client.Options{})
	bob, bj := srv.join(t, "chat", "bob", client.Options{})

	// Two clips of ann's, uploaded.
	body, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		ids = append(ids, srv.upload(t, "/api/rooms/chat/clips", aj.OwnerKey, "audio/webm", body).ID)
	}

	// Bob is no operator.
	for _, m := range []map[string]string{
		{"type": "kick", "to": aj.ID},
		{"type": "clear-clips"},
		{"type": "close-room"},
	} {
		_ = bob.Send(m)
		expectError(t, bob, "not-operator")
	}
	_ = bob.Send(map[string]string{"type": "clip-delete", "id": ids[0]})
	expectError(t, bob, "forbidden")

	// The operator deletes one of ann's clips, over HTTP, and clears the rest.
	if resp, b := srv.fetch(t, "DELETE", "/api/rooms/chat/clips/"+ids[0], oj.OwnerKey, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("operator DELETE: %s %s", resp.Status, b)
	}
	_ = op.Send(map[string]string{"type": "clear-clips"})
	m, err := op.WaitFor(timeout(t, 5*time.Second), "clips-cleared")
	if err != nil {
		t.Fatal(err)
	}
	var cleared struct{ Count int }
	_ = m.Decode(&cleared)
	if cleared.Count != 1 {
		t.Errorf("cleared %d clips, want 1", cleared.Count)
	}
	if _, b := srv.fetch(t, "GET", "/api/rooms/chat/clips", "", nil); !strings.Contains(string(b), `"clips":[]`) {
		t.Errorf("clips left: %s", b)
	}

	// Kick.
	_ = op.Send(map[string]string{"type": "kick", "to": bj.ID})
	if m, err := bob.WaitFor(timeout(t, 5*time.Second), "bye"); err != nil || !strings.Contains(string(m.Raw), `"kicked"`) {
		t.Fatalf("bob was not kicked: %v %s", err, m.Raw)
	}

	// Close: ann is sent away, nobody but operators gets in; open again.
	_ = op.Send(map[string]string{"type": "close-room"})
	if m, err := ann.WaitFor(timeout(t, 5*time.Second), "bye"); err != nil || !strings.Contains(string(m.Raw), `"room-closed"`) {
		t.Fatalf("ann was not sent away: %v %s", err, m.Raw)
	}
	// The answer to close-room, read now so that the wait for the answer
	// to open-room below does not take it for that one.
	if m, err := op.WaitFor(timeout(t, 5*time.Second), "room-state"); err != nil || !strings.Contains(string(m.Raw), `"closed":true`) {
		t.Fatalf("close-room answered %v %s", err, m.Raw)
	}
	if _, _, code := srv.joinAs(t, "chat", "cyd", client.Options{}); code != "room-closed" {
		t.Errorf("join of a closed room: %q", code)
	}
	if _, _, code := srv.joinAs(t, "chat", "olga", client.Options{Password: "operator pass"}); code != "name-taken" {
		// A second operator session under the same name: the name is in use.
		t.Errorf("operator again: %q", code)
	}
	_ = op.Send(map[string]string{"type": "open-room"})
	if m, err := op.WaitFor(timeout(t, 5*time.Second), "room-state"); err != nil || !strings.Contains(string(m.Raw), `"closed":false`) {
		t.Fatalf("open-room answered %v %s", err, m.Raw)
	}
	if _, _, code := srv.joinAs(t, "chat", "cyd", client.Options{}); code != "" {
		t.Errorf("join after open-room: %q", code)
	}
}

// TestOperatorToken: a token with role operator makes an operator.
func TestOperatorToken(t *testing.T) {
	srv := accessServer(t, nil)
	_, j, code := srv.joinAs(t, "live", "", client.Options{Token: token(t, access.Claims{Room: "live", Name: "mod", Role: access.RoleOperator})})
	if code != "" || j.Role != "operator" || j.Name != "mod" {
		t.Fatalf("join: %q %+v", code, j)
	}
}

// TestConnectionsPerIP: beyond the limit, the upgrade is refused with 429.
func TestConnectionsPerIP(t *testing.T) {
	srv := startServer(t, func(cfg *configs.Server, _ []configs.Room) { cfg.HTTP.MaxConnectionsPerIP = 3 })
	var open []*client.Client
	for range 3 {
		open = append(open, srv.dial(t, client.Options{}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, srv.wsURL(), client.Options{LoopbackOnly: true})
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("fourth connection: %v", err)
	}
	open[0].Close()
	eventually(t, 5*time.Second, "a slot frees", func() bool {
		c, err := client.Dial(ctx, srv.wsURL(), client.Options{LoopbackOnly: true})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// TestWHIPAccess: WHIP into a room that is not open needs a join token as
// the bearer token; the offer is looked at only after that.
func TestWHIPAccess(t *testing.T) {
	srv := accessServer(t, nil)
	good := token(t, access.Claims{Room: "live", Name: "obs"})
	for _, tc := range []struct {
		room, bearer string
		status       int
	}{
		{"live", "", http.StatusUnauthorized},
		{"live", "an-owner-key-that-is-long-enough", http.StatusUnauthorized},
		{"live", token(t, access.Claims{Room: "live", Name: "obs", Expires: time.Now().Add(-time.Minute).Unix()}), http.StatusUnauthorized},
		{"live", good[:len(good)-2] + "xx", http.StatusUnauthorized},
		{"forum", good, http.StatusUnauthorized},
		{"forum", "", http.StatusUnauthorized},
		{"live", good, http.StatusBadRequest}, // admitted; the offer is garbage
	} {
		req, _ := http.NewRequest("POST", "http://"+srv.Addr().String()+"/whip/"+tc.room, strings.NewReader("garbage"))
		req.Header.Set("Content-Type", "application/sdp")
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("WHIP %s with %.20q: %s, want %d", tc.room, tc.bearer, resp.Status, tc.status)
		}
	}
}

// TestReplayedOwnerKey: an owner key is an identity for clips, never a
// credential for a room: replayed without the room's password or token it
// admits nobody, and its bearer use needs its holder in the room.
func TestReplayedOwnerKey(t *testing.T) {
	srv := accessServer(t, nil)
	_, pj, _ := srv.joinAs(t, "forum", "pat", client.Options{Password: "room pass"})
	_, tj, _ := srv.joinAs(t, "live", "", client.Options{Token: token(t, access.Claims{Room: "live", Name: "tim"})})
	for _, c := range []struct {
		room, name string
		opts       client.Options
		want       string
	}{
		{"forum", "pat2", client.Options{OwnerKey: pj.OwnerKey}, "password-required"},
		{"forum", "pat2", client.Options{OwnerKey: pj.OwnerKey, Password: "guess"}, "bad-password"},
		{"live", "tim2", client.Options{OwnerKey: tj.OwnerKey}, "token-required"},
	} {
		if _, _, code := srv.joinAs(t, c.room, c.name, c.opts); code != c.want {
			t.Errorf("%s as %s with a replayed key: %q, want %q", c.room, c.name, code, c.want)
		}
	}
	// Pat's key over HTTP in a room pat is not in: 401.
	if resp, _ := srv.fetch(t, "DELETE", "/api/rooms/chat/clips/"+strings.Repeat("0", 29), pj.OwnerKey, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bearer key outside its room: %s", resp.Status)
	}
	// Someone else's name in an open room is not taken with a different key.
	srv.join(t, "chat", "ann", client.Options{})
	if _, _, code := srv.joinAs(t, "chat", "ann", client.Options{OwnerKey: strings.Repeat("A", 43)}); code != "name-taken" {
		t.Errorf("another key for a name in use: %q", code)
	}
}
