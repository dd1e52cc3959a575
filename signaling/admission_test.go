package signaling

import (
	"net/netip"
	"testing"
	"time"

	"parley/access"
	"parley/configs"
)

// accessHubWith is a hub configured as accessHub's, through its Config:
// chat is open, forum has a shared password, videochat a password for
// Ann alone, live needs a token; Olga is an operator. configure may
// change the configuration further.
func accessHubWith(t *testing.T, configure func(*Config, []configs.Room)) *Hub {
	t.Helper()
	opHash, roomHash, annHash := lowCostHash(t, "op pass"), lowCostHash(t, "room pass"), lowCostHash(t, "ann pass")
	return newHub(t, func(c *Config, rooms []configs.Room) {
		c.Auth = Auth{
			TokenSecret: []byte(testSecret),
			Operators:   []configs.Operator{{Name: "Olga", Password: opHash}},
		}
		roomConfig(rooms, "forum", func(r *configs.Room) { r.Access, r.Password = configs.AccessPassword, roomHash })
		roomConfig(rooms, "videochat", func(r *configs.Room) {
			r.Access, r.Passwords = configs.AccessPassword, map[string]string{"Ann": annHash}
		})
		roomConfig(rooms, "live", func(r *configs.Room) { r.Access = configs.AccessToken })
		if configure != nil {
			configure(c, rooms)
		}
	})
}

// clientAt is a client whose connection comes from ip.
func clientAt(t *testing.T, h *Hub, ip string) *client {
	t.Helper()
	s := newSession(h, nil, "test", netip.MustParseAddr(ip))
	t.Cleanup(s.leave)
	return &client{t: t, s: s}
}

// TestJoinAccess: a join is admitted or refused by the room's access
// mode, as the protocol's table of errors says, and learns its role.
func TestJoinAccess(t *testing.T) {
	h := accessHubWith(t, nil)
	expired, err := access.SignToken([]byte(testSecret), access.Claims{Room: "live", Name: "tim", Expires: time.Now().Add(-time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		join map[string]string
		want string // the error code, or the role joined with
	}{
		{"shared password", map[string]string{"room": "forum", "name": "pat", "password": "room pass"}, RoleParticipant},
		{"no password", map[string]string{"room": "forum", "name": "pat"}, ErrPasswordRequired},
		{"wrong password", map[string]string{"room": "forum", "name": "pat", "password": "nope"}, ErrBadPassword},
		{"own password", map[string]string{"room": "videochat", "name": "ann", "password": "ann pass"}, RoleParticipant},
		{"someone else's password", map[string]string{"room": "videochat", "name": "bob", "password": "ann pass"}, ErrBadPassword},
		{"token", map[string]string{"room": "live", "token": signedToken(t, "live", "tim", "")}, RoleParticipant},
		{"operator token", map[string]string{"room": "live", "token": signedToken(t, "live", "mod", RoleOperator)}, RoleOperator},
		{"no token", map[string]string{"room": "live", "name": "tim"}, ErrTokenRequired},
		{"expired token", map[string]string{"room": "live", "token": expired}, ErrBadToken},
		{"token of another room", map[string]string{"room": "live", "token": signedToken(t, "chat", "tim", "")}, ErrBadToken},
		{"token of another name", map[string]string{"room": "live", "name": "tom", "token": signedToken(t, "live", "tim", "")}, ErrBadToken},
		{"operator", map[string]string{"room": "chat", "name": "olga", "password": "op pass"}, RoleOperator},
		{"operator in a token room", map[string]string{"room": "live", "name": "OLGA", "password": "op pass"}, RoleOperator},
		{"operator's name without password", map[string]string{"room": "chat", "name": "olga"}, ErrPasswordRequired},
		{"operator's name, room password", map[string]string{"room": "forum", "name": "olga", "password": "room pass"}, ErrBadPassword},
	} {
		t.Run(tc.what, func(t *testing.T) {
			c := newClient(t, h)
			msg := map[string]string{"type": "join"}
			for k, v := range tc.join {
				msg[k] = v
			}
			c.do(msg)
			got := c.got()
			if len(got) != 1 {
				t.Fatalf("got %v", got)
			}
			switch got[0]["type"] {
			case TypeJoined:
				if got[0]["role"] != tc.want || c.s.role != tc.want {
					t.Errorf("joined as %v, want %s", got[0]["role"], tc.want)
				}
			case TypeError:
				if got[0]["code"] != tc.want {
					t.Errorf("refused with %v (%v), want %s", got[0]["code"], got[0]["message"], tc.want)
				}
				if c.s.room != nil {
					t.Error("a refused join is in the room")
				}
			default:
				t.Errorf("got %v", got)
			}
			c.s.leave()
		})
	}
}

// TestJoinAttemptsLimited: past the burst of failed joins from one
// address, every credentialed join from it is refused, the right one
// too; another address is not.
func TestJoinAttemptsLimited(t *testing.T) {
	h := accessHubWith(t, func(c *Config, _ []configs.Room) {
		c.Auth.Failures = access.NewLimiter(0.001, 2)
	})
	guesser := clientAt(t, h, "198.51.100.7")
	for range 2 {
		guesser.do(map[string]string{"type": "join", "room": "forum", "name": "pat", "password": "guess"})
		guesser.expect("error:" + ErrBadPassword)
	}
	for _, join := range []map[string]string{
		{"type": "join", "room": "forum", "name": "pat", "password": "room pass"},
		{"type": "join", "room": "live", "token": signedToken(t, "live", "tim", "")},
		{"type": "join", "room": "chat", "name": "olga", "password": "op pass"},
	} {
		guesser.do(join)
		guesser.expect("error:" + ErrTooManyAttempts)
	}
	// An open room asks for no credential: nothing to refuse.
	guesser.join("chat", "pat", nil)

	other := clientAt(t, h, "198.51.100.8")
	other.join("forum", "pat", map[string]string{"password": "room pass"})
}
