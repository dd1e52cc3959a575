package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v5"

	"parley/client"
	"parley/configs"
)

// turnCreds are the built-in server's credentials from a join answer.
type turnCreds struct{ id, user, pass string }

// joinForTURN joins room over the websocket and returns the client and the
// TURN credentials of its join answer. Safe in any goroutine: it reports
// with t.Errorf.
func joinForTURN(t *testing.T, srv *testServer, room, name string) (*client.Client, turnCreds, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.wsURL(), client.Options{LoopbackOnly: true})
	if err != nil {
		t.Errorf("%s dials: %v", name, err)
		return nil, turnCreds{}, false
	}
	j, err := c.Join(ctx, room, name)
	if err != nil {
		c.Close()
		t.Errorf("%s joins %s: %v", name, room, err)
		return nil, turnCreds{}, false
	}
	if len(j.ICEServers) == 0 {
		c.Close()
		t.Errorf("%s got no ICE servers", name)
		return nil, turnCreds{}, false
	}
	cred, _ := j.ICEServers[0].Credential.(string)
	return c, turnCreds{id: j.ID, user: j.ICEServers[0].Username, pass: cred}, true
}

// turnFrom is a pion/turn client of the server's UDP port whose socket
// is bound to ip: every address of 127.0.0.0/8 is the host's own, so
// 127.0.0.2 is a second client address.
func turnFrom(t *testing.T, srv *testServer, ip string, cr turnCreds) (*pionturn.Client, error) {
	conn, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		return nil, err
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	addr := srv.turn.UDPAddr().String()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: cr.user, Password: cr.pass, Realm: "parley", LoggerFactory: quiet,
		RTO: 100 * time.Millisecond,
	})
	if err == nil {
		err = c.Listen()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	t.Cleanup(func() { c.Close(); _ = conn.Close() })
	return c, nil
}

// allocateFrom allocates a relay from ip with cr, on a socket of its own
// (an allocation is one 5-tuple).
func allocateFrom(t *testing.T, srv *testServer, ip string, cr turnCreds) (*pionturn.Client, net.PacketConn, error) {
	c, err := turnFrom(t, srv, ip, cr)
	if err != nil {
		return nil, nil, err
	}
	relay, err := c.Allocate()
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { _ = relay.Close() })
	return c, relay, nil
}

// TestTURNAllocationsPerIP: four participants from one address, each
// joined with its own credentials (as one attacker with four tabs, or
// join after join), try ten relays each at once. Their address gets
// turn.max_allocations_per_ip of them and 486 (Allocation Quota Reached)
// for the rest, although no participant reaches its own cap; a user from
// another address still gets a relay.
func TestTURNAllocationsPerIP(t *testing.T) {
	const perIP, attackers, tries = 6, 4, 10
	srv := startTURNServer(t, false, func(c *configs.Server) {
		c.TURN.MaxAllocationsPerIP = perIP
		c.TURN.MaxAllocationsPerUser = tries
	})
	var (
		mu               sync.Mutex
		granted, refused int
		wg               sync.WaitGroup
	)
	for i := range attackers {
		wg.Go(func() {
			c, cr, ok := joinForTURN(t, srv, "walkie", fmt.Sprintf("mallory%d", i))
			if !ok {
				return
			}
			t.Cleanup(c.Close)
			var inner sync.WaitGroup
			for range tries {
				inner.Go(func() {
					_, _, err := allocateFrom(t, srv, "127.0.0.1", cr)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						granted++
					case strings.Contains(err.Error(), "486"):
						refused++
					default:
						t.Errorf("allocation refused, but not for the quota: %v", err)
					}
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	if granted != perIP || refused != attackers*tries-perIP {
		t.Errorf("from one address: %d relays granted and %d refused with 486, want %d and %d",
			granted, refused, perIP, attackers*tries-perIP)
	}

	// A real user on another address.
	c, cr, ok := joinForTURN(t, srv, "walkie", "alice")
	if !ok {
		t.FailNow()
	}
	defer c.Close()
	if _, _, err := allocateFrom(t, srv, "127.0.0.2", cr); err != nil {
		t.Errorf("a user from 127.0.0.2 gets no relay: %v", err)
	}
	if n := srv.turn.Allocations(); n != perIP+1 {
		t.Errorf("%d allocations held, want %d", n, perIP+1)
	}
}

// TestTURNDepartedCredentials: credentials collected by joining and
// leaving, again and again and at once, buy no relay; the relay of a
// participant who leaves is closed at its next request, and a
// participant who stays keeps its own.
func TestTURNDepartedCredentials(t *testing.T) {
	srv := startTURNServer(t, true, nil)

	// Join and leave, ten times at once.
	var (
		mu        sync.Mutex
		collected []turnCreds
		wg        sync.WaitGroup
	)
	for i := range 10 {
		wg.Go(func() {
			c, cr, ok := joinForTURN(t, srv, "walkie", fmt.Sprintf("drifter%d", i))
			if !ok {
				return
			}
			c.Close()
			mu.Lock()
			collected = append(collected, cr)
			mu.Unlock()
		})
	}
	wg.Wait()
	eventually(t, 5*time.Second, "the drifters have left", func() bool {
		for _, cr := range collected {
			if srv.hub.Present(cr.id) {
				return false
			}
		}
		return true
	})
	for _, cr := range collected {
		wg.Go(func() {
			if _, _, err := allocateFrom(t, srv, "127.0.0.1", cr); err == nil {
				t.Errorf("%s: the credentials of a participant who left bought a relay", cr.user)
			} else if !strings.Contains(err.Error(), "401") {
				t.Errorf("%s: refused with %v, want 401 (Unauthorized)", cr.user, err)
			}
		})
	}
	wg.Wait()

	// A participant who holds a relay, then leaves; another who stays.
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	leaver, lcr, ok := joinForTURN(t, srv, "walkie", "leaver")
	if !ok {
		t.FailNow()
	}
	stayer, scr, ok := joinForTURN(t, srv, "walkie", "stayer")
	if !ok {
		t.FailNow()
	}
	defer stayer.Close()
	lc, _, err := allocateFrom(t, srv, "127.0.0.1", lcr)
	if err != nil {
		t.Fatal(err)
	}
	sc, srelay, err := allocateFrom(t, srv, "127.0.0.1", scr)
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatalf("permission while present: %v", err)
	}
	if n := srv.turn.Allocations(); n != 2 {
		t.Fatalf("%d allocations, want 2", n)
	}
	leaver.Close()
	eventually(t, 5*time.Second, "the leaver has left", func() bool { return !srv.hub.Present(lcr.id) })
	if err := lc.CreatePermission(peer.LocalAddr()); err == nil {
		t.Error("a participant who left renewed a permission")
	}
	eventually(t, 5*time.Second, "the leaver's relay is closed", func() bool { return srv.turn.Allocations() == 1 })

	// The stayer's relay works on.
	if err := sc.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatalf("the stayer's permission: %v", err)
	}
	if _, err := srelay.WriteTo([]byte("still here"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for {
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the stayer's relay delivers nothing: %v", err)
		}
		if string(buf[:n]) == "still here" {
			break
		}
	}
}
