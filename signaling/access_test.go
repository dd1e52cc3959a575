package signaling

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"parley/access"
	"parley/configs"
)

const testSecret = "signaling-test-secret-0123456789"

func lowCostHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// accessHub is a hub whose rooms have every access mode: chat is open,
// forum has a shared password, videochat per-name passwords, live needs a
// token; olga is an operator.
func accessHub(t *testing.T, failures *access.Limiter) *Hub {
	t.Helper()
	h := testHub(t)
	h.cfg.Auth = Auth{
		TokenSecret: []byte(testSecret),
		Operators:   []configs.Operator{{Name: "Olga", Password: lowCostHash(t, "op pass")}},
		Failures:    failures,
	}
	set := func(name string, f func(*configs.Room)) {
		rc := h.room(name).cfg()
		f(&rc)
		h.SetRoom(rc)
	}
	set("forum", func(r *configs.Room) { r.Access, r.Password = configs.AccessPassword, lowCostHash(t, "room pass") })
	set("videochat", func(r *configs.Room) {
		r.Access, r.Passwords = configs.AccessPassword, map[string]string{"Ann": lowCostHash(t, "ann pass")}
	})
	set("live", func(r *configs.Room) { r.Access = configs.AccessToken })
	return h
}

func signedToken(t *testing.T, room, name, role string) string {
	t.Helper()
	tok, err := access.SignToken([]byte(testSecret), access.Claims{Room: room, Name: name, Role: role, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAdmit: the one admission of every kind of member: the name, the
// access mode, operators and tokens, and which admissions prove the name.
func TestAdmit(t *testing.T) {
	h := accessHub(t, nil)
	ip := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		what, room string
		c          credentials
		code, name string
		role       string
		proven     bool
	}{
		{"open room", "chat", credentials{name: "ann"}, "", "ann", RoleParticipant, false},
		{"a decomposed name is composed", "chat", credentials{name: "Rene\u0301"}, "", "René", RoleParticipant, false},
		{"a name that shows nothing", "chat", credentials{name: "\u3164"}, ErrBadName, "", "", false},
		{"no name", "chat", credentials{}, ErrBadName, "", "", false},
		{"operator", "chat", credentials{name: "olga", password: "op pass"}, "", "olga", RoleOperator, true},
		{"operator in full width", "chat", credentials{name: "ｏｌｇａ", password: "op pass"}, "", "ｏｌｇａ", RoleOperator, true},
		{"operator name without password", "chat", credentials{name: "OLGA"}, ErrPasswordRequired, "", "", false},
		{"operator name, wrong password", "chat", credentials{name: "olga", password: "room pass"}, ErrBadPassword, "", "", false},
		{"shared password", "forum", credentials{name: "pat", password: "room pass"}, "", "pat", RoleParticipant, false},
		{"shared password missing", "forum", credentials{name: "pat"}, ErrPasswordRequired, "", "", false},
		{"shared password wrong", "forum", credentials{name: "pat", password: "x"}, ErrBadPassword, "", "", false},
		{"own password", "videochat", credentials{name: "ann", password: "ann pass"}, "", "ann", RoleParticipant, true},
		{"a name not listed", "videochat", credentials{name: "bob", password: "ann pass"}, ErrBadPassword, "", "", false},
		{"token", "live", credentials{token: signedToken(t, "live", "tim", "")}, "", "tim", RoleParticipant, true},
		{"token with its name", "live", credentials{name: "TIM", token: signedToken(t, "live", "tim", "")}, "", "tim", RoleParticipant, true},
		{"token with another name", "live", credentials{name: "tom", token: signedToken(t, "live", "tim", "")}, ErrBadToken, "", "", false},
		{"token of another room", "live", credentials{token: signedToken(t, "chat", "tim", "")}, ErrBadToken, "", "", false},
		{"operator token", "live", credentials{token: signedToken(t, "live", "mod", access.RoleOperator)}, "", "mod", RoleOperator, true},
		{"token in an open room", "chat", credentials{token: signedToken(t, "chat", "tim", "")}, "", "tim", RoleParticipant, true},
		{"token room without one", "live", credentials{name: "tim"}, ErrTokenRequired, "", "", false},
		{"garbage token", "live", credentials{token: "a.b.c"}, ErrBadToken, "", "", false},
		{"viewer of an open room", "chat", credentials{viewer: true}, "", "", RoleParticipant, false},
		{"viewer with the shared password", "forum", credentials{viewer: true, password: "room pass"}, "", "", RoleParticipant, false},
		{"viewer without it", "forum", credentials{viewer: true}, ErrPasswordRequired, "", "", false},
		{"viewer with a wrong one", "forum", credentials{viewer: true, password: "ann pass"}, ErrBadPassword, "", "", false},
		{"viewer of a room of named passwords", "videochat", credentials{viewer: true, password: "ann pass"}, ErrBadPassword, "", "", false},
		{"viewer with a token", "live", credentials{viewer: true, token: signedToken(t, "live", "tim", "")}, "", "tim", RoleParticipant, true},
		{"viewer of a token room without one", "live", credentials{viewer: true}, ErrTokenRequired, "", "", false},
		{"viewer with an operator's password", "chat", credentials{viewer: true, password: "op pass"}, "", "", RoleParticipant, false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			tc.c.ip = ip
			adm := h.admit(h.room(tc.room), tc.c)
			if adm.code != tc.code || adm.name != tc.name || adm.role != tc.role || adm.proven != tc.proven {
				t.Errorf("admit = %+v; want code %q name %q role %q proven %v", adm, tc.code, tc.name, tc.role, tc.proven)
			}
			if adm.code != "" && adm.msg == "" {
				t.Errorf("refusal %s without a message", adm.code)
			}
		})
	}
}

// TestAdmitCountsFailures: failed checks use up the address's attempts,
// successful ones do not; a refused address is not checked at all.
func TestAdmitCountsFailures(t *testing.T) {
	h := accessHub(t, access.NewLimiter(0.001, 3))
	room := h.room("forum")
	ip := netip.MustParseAddr("192.0.2.9")
	for range 5 {
		if adm := h.admit(room, credentials{name: "pat", password: "room pass", ip: ip}); adm.code != "" {
			t.Fatalf("the right password: %+v", adm)
		}
	}
	for i := range 3 {
		if adm := h.admit(room, credentials{name: "pat", password: "wrong", ip: ip}); adm.code != ErrBadPassword {
			t.Fatalf("failure %d: %+v", i, adm)
		}
	}
	for _, c := range []credentials{
		{name: "pat", password: "room pass"},
		{name: "olga", password: "op pass"},
		{token: signedToken(t, "forum", "tim", "")},
	} {
		c.ip = ip
		if adm := h.admit(room, c); adm.code != ErrTooManyAttempts {
			t.Errorf("after 3 failures, %+v: %+v", c, adm)
		}
	}
	// No credential to check: nothing is counted or refused.
	if adm := h.admit(h.room("chat"), credentials{name: "pat", ip: ip}); adm.code != "" {
		t.Errorf("an open room without credentials: %+v", adm)
	}
}

// TestNameTakeOver: a join that proves a name takes it over from a holder
// that did not; the holder is told and leaves; nothing takes a proven name
// but its own owner key.
func TestNameTakeOver(t *testing.T) {
	h := accessHub(t, nil)
	room := h.room("chat")
	ip := netip.MustParseAddr("192.0.2.1")
	join := func(c credentials, ownerKey string) (*Session, string) {
		t.Helper()
		s := newSession(h, nil, "test", ip)
		t.Cleanup(func() {
			s.terminate(1000, "")
			<-s.left
		})
		c.ip = ip
		adm := h.admit(room, c)
		if adm.code != "" {
			t.Fatalf("admit %+v: %+v", c, adm)
		}
		s.role, s.proven = adm.role, adm.proven
		// A session without a websocket leaves when it is told to go,
		// as its read loop would.
		go func() {
			<-s.quit
			s.leave()
		}()
		code, _ := s.joinAs(room, adm.name, ownerKey, nil)
		return s, code
	}
	plain, code := join(credentials{name: "tim"}, newKey())
	if code != "" {
		t.Fatal(code)
	}
	proven, code := join(credentials{token: signedToken(t, "chat", "Tim", "")}, newKey())
	if code != "" {
		t.Fatalf("the proven join: %s", code)
	}
	select {
	case <-plain.left:
	default:
		t.Fatal("the unproven holder is still in the room")
	}
	if proven.name != "Tim" {
		t.Errorf("joined as %q", proven.name)
	}
	if _, code := join(credentials{name: "TIM"}, newKey()); code != ErrNameTaken {
		t.Errorf("an unproven join took a proven name: %q", code)
	}
	if _, code := join(credentials{token: signedToken(t, "chat", "tim", "")}, newKey()); code != ErrNameTaken {
		t.Errorf("a proven join took a proven name: %q", code)
	}
}
