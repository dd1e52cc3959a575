package signaling

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parley/chatlog"
	"parley/clips"
	"parley/configs"
	"parley/internal/roomdir"
	"parley/sfu"
)

// wait bounds every wait of these tests for something the server does by
// itself: long, so that a busy machine does not fail them; a passing test
// never waits that long.
const wait = 30 * time.Second

// newHub is a hub of the demo rooms built from its Config, as the server
// builds it; configure may change the configuration and the rooms first.
// The hub is shut down when the test ends.
func newHub(t testing.TB, configure func(*Config, []configs.Room)) *Hub {
	t.Helper()
	h := buildHub(t, configure)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
	})
	return h
}

// buildHub is newHub for a test that shuts the hub down itself.
func buildHub(t testing.TB, configure func(*Config, []configs.Room)) *Hub {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine, err := sfu.NewEngine(sfu.Config{ListenIP: "127.0.0.1", UDPPortMin: 44000, UDPPortMax: 44999}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	rooms, err := configs.LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Signaling: configs.Default().Signaling}
	if configure != nil {
		configure(&cfg, rooms)
	}
	return NewHub(cfg, rooms, engine, log)
}

// roomConfig changes the demo room called name.
func roomConfig(rooms []configs.Room, name string, f func(*configs.Room)) {
	for i := range rooms {
		if rooms[i].Name == name {
			f(&rooms[i])
			return
		}
	}
	panic("no demo room " + name)
}

// roomsDir opens the rooms' folder in a folder of the test's.
func roomsDir(t testing.TB) *roomdir.Dir {
	t.Helper()
	dir, err := roomdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	return dir
}

// clipStore opens a clip store of rooms in a folder of the test's.
func clipStore(t testing.TB, rooms []configs.Room) *clips.Store {
	t.Helper()
	store, err := clips.Open(roomsDir(t), rooms, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// chatStore opens a chat log of rooms in a folder of the test's, with the
// server's default limits changed by configure.
func chatStore(t testing.TB, rooms []configs.Room, configure func(*chatlog.Config)) *chatlog.Store {
	t.Helper()
	d := configs.Default().Chat
	cfg := chatlog.Config{
		HistoryLength:     d.HistoryLength,
		HistoryAge:        d.HistoryAge.D(),
		OfflineLifetime:   d.OfflineLifetime.D(),
		OfflineMaxPerUser: d.OfflineMaxPerUser,
		OfflineMaxPerRoom: d.OfflineMaxPerRoom,
	}
	if configure != nil {
		configure(&cfg)
	}
	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.Name
	}
	store, err := chatlog.Open(roomsDir(t), names, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// addClip puts a clip of an owner key into a room's store, as a finished
// recording or upload does, and returns it.
func addClip(t testing.TB, store *clips.Store, room, author, ownerKey string) clips.Clip {
	t.Helper()
	p, err := store.Begin(room, clips.Clip{Author: author, Owner: clips.OwnerOf(ownerKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.File().Write([]byte("not really webm")); err != nil {
		t.Fatal(err)
	}
	c, err := p.Commit(time.Second, clips.KindAudio, "audio/webm;codecs=opus")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// join joins a room with the given extra fields of join and returns the
// joined message; a refusal fails the test.
func (m *client) join(room, name string, extra map[string]string) map[string]any {
	m.t.Helper()
	msg := map[string]string{"type": "join", "room": room, "name": name}
	for k, v := range extra {
		msg[k] = v
	}
	m.do(msg)
	got := m.got()
	if len(got) == 0 || got[0]["type"] != TypeJoined {
		m.t.Fatalf("%s joins %s: %v", name, room, got)
	}
	return got[0]
}

// expect checks that the server queued exactly these messages (types,
// with an error's or bye's code after a colon) since the last look.
func (m *client) expect(want ...string) []map[string]any {
	m.t.Helper()
	got := m.got()
	if types := types(got); !sameList(types, want) {
		m.t.Fatalf("%s got %v, want %v", m.s.name, types, want)
	}
	return got
}

// next waits for the next message the server queues (for what the server
// does on goroutines of its own: timers, the clip store, media).
func (m *client) next() map[string]any {
	m.t.Helper()
	timeout := time.After(wait)
	for {
		if b, ok := m.s.send.pop(); ok {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				m.t.Fatalf("invalid JSON queued: %s", b)
			}
			return v
		}
		select {
		case <-m.s.send.ready:
		case <-timeout:
			m.t.Fatalf("%s: nothing queued after %v", m.s.name, wait)
			return nil
		}
	}
}

// waitFor waits for a message of a type, skipping others.
func (m *client) waitFor(typ string) map[string]any {
	m.t.Helper()
	for {
		if v := m.next(); v["type"] == typ {
			return v
		}
	}
}

// leaveWhenTold makes the session leave its room once the server ends it,
// as its read loop does for a websocket session.
func (m *client) leaveWhenTold() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-m.s.quit:
			m.s.leave()
		case <-stop:
		}
	}()
	m.t.Cleanup(func() {
		close(stop)
		<-done
	})
}

// ended reports whether the server has ended the session.
func (m *client) ended() bool {
	select {
	case <-m.s.quit:
		return true
	default:
		return false
	}
}

// field returns a string field of a message, with a path of object keys.
func field(v map[string]any, path ...string) string {
	var cur any = v
	for _, k := range path {
		o, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = o[k]
	}
	s, _ := cur.(string)
	return s
}

// serve serves the hub's HTTP API on 127.0.0.1 as the server routes it.
func serve(t testing.TB, h *Hub) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /ws", h)
	mux.HandleFunc("GET /api/rooms", h.HandleRooms)
	mux.HandleFunc("GET /api/rooms/{room}", h.HandleRoom)
	mux.HandleFunc("POST /whip/{room}", h.HandleWHIP)
	mux.HandleFunc("/whip/{room}/{id}", h.HandleWHIPResource)
	ts := httptest.NewServer(mux)
	// Registered after the hub's shutdown, so run before it: the
	// listener closes first, then the hub ends its sessions.
	t.Cleanup(ts.Close)
	return ts
}

func wsURL(ts *httptest.Server) string { return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws" }

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
