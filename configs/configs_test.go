package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadEmptyPathIsDefault(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Default()) {
		t.Fatalf("Load(\"\") = %+v, want Default()", s)
	}
}

func TestExampleServerFileIsDefault(t *testing.T) {
	s, err := Load("parley.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Default()) {
		t.Fatalf("parley.toml gives\n%+v\nwant Default()\n%+v", s, Default())
	}
	disk, err := os.ReadFile("parley.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, ExampleServerFile()) {
		t.Fatal("ExampleServerFile differs from parley.toml")
	}
}

// TestExampleServerFileListsEveryKey checks that parley.toml sets every key
// of the schema, so that it documents all of them.
func TestExampleServerFileListsEveryKey(t *testing.T) {
	var doc map[string]any
	if err := toml.Unmarshal(ExampleServerFile(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range knownKeys(reflect.TypeOf(Server{}), nil, nil) {
		var v any = doc
		for _, part := range strings.Split(key, ".") {
			if _, ok := v.([]any); ok {
				break // the keys of an array of tables are documented in comments
			}
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = m[part]
		}
		if v == nil {
			t.Errorf("parley.toml does not set %s", key)
		}
	}
}

func TestServerRoundTrip(t *testing.T) {
	s := Default()
	s.HTTP.AllowedOrigins = []string{"https://example.org"}
	s.Signaling.PingInterval = Duration(90 * time.Second)
	s.Signaling.PongTimeout = Duration(200 * time.Second)
	s.Media.UDPPort, s.Media.UDPPortMin, s.Media.UDPPortMax = 0, 50000, 50100
	data, err := toml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "parley.toml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: got %+v, want %+v", got, s)
	}
}

func TestLoadKeepsDefaultsForAbsentKeys(t *testing.T) {
	path := writeFile(t, "parley.toml", "[media]\npublic_ip = \"203.0.113.7\"\n[http]\nallowed_origins = [\"https://example.org\"]\n")
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Media.PublicIP = "203.0.113.7"
	want.HTTP.AllowedOrigins = []string{"https://example.org"}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml: cannot read") {
		t.Fatalf("got %v", err)
	}
}

func TestModes(t *testing.T) {
	want := []Mode{MediaForum, MediaChat, VideoChat, AudioStream, VideoStream}
	if !slices.Equal(Modes(), want) {
		t.Fatalf("Modes() = %v", Modes())
	}
	for _, m := range Modes() {
		if m.Live() != (m == AudioStream || m == VideoStream) {
			t.Errorf("%s.Live() = %v", m, m.Live())
		}
		if !m.Valid() {
			t.Errorf("%s not valid", m)
		}
	}
	if Mode("x").Valid() || Mode("").Valid() {
		t.Error("bad mode valid")
	}
}

const mb = 1_000_000

func TestPresets(t *testing.T) {
	want := map[Mode]Room{
		MediaForum: {Mode: MediaForum, Title: "Voice forum", MaxParticipants: 50, AllowVideo: true, Publish: "manual",
			MaxClipSeconds: 120, MinClipMs: 500, MaxClipBytes: 50 * mb, MaxRoomBytes: 500 * mb, ClipLifetime: Duration(720 * time.Hour), MaxClipCount: 200, Access: "open"},
		MediaChat: {Mode: MediaChat, Title: "Media chat", MaxParticipants: 50, AllowVideo: true, Publish: "auto",
			MaxClipSeconds: 60, MinClipMs: 500, MaxClipBytes: 20 * mb, MaxRoomBytes: 200 * mb, ClipLifetime: Duration(168 * time.Hour), MaxClipCount: 100, Access: "open"},
		VideoChat: {Mode: VideoChat, Title: "Video chat", MaxParticipants: 50, AllowVideo: true, VideoDefault: true, Publish: "auto",
			MaxClipSeconds: 60, MinClipMs: 500, MaxClipBytes: 50 * mb, MaxRoomBytes: 500 * mb, ClipLifetime: Duration(24 * time.Hour), MaxClipCount: 100, Access: "open"},
		AudioStream: {Mode: AudioStream, Title: "Walkie-talkie", MaxParticipants: 100, MaxViewers: 200, Publish: "auto",
			MaxClipSeconds: 60, MinClipMs: 500, MaxClipBytes: 5 * mb, MaxRoomBytes: 50 * mb, ClipLifetime: Duration(time.Hour), MaxClipCount: 50, Access: "open"},
		VideoStream: {Mode: VideoStream, Title: "Live video", MaxParticipants: 50, MaxViewers: 200, AllowVideo: true, VideoDefault: true, Publish: "auto",
			MaxClipSeconds: 60, MinClipMs: 500, MaxClipBytes: 50 * mb, MaxRoomBytes: 500 * mb, ClipLifetime: Duration(time.Hour), MaxClipCount: 50, Access: "open"},
	}
	var roomKeys []string
	for _, k := range knownKeys(reflect.TypeOf(Room{}), nil, nil) {
		// Passwords and addresses are a room's own, never a preset's.
		if k != "mode" && k != "password" && k != "passwords" && k != "notify_addresses" {
			roomKeys = append(roomKeys, k)
		}
	}
	slices.Sort(roomKeys)
	for _, m := range Modes() {
		r, err := Preset(m)
		if err != nil {
			t.Fatalf("Preset(%s): %v", m, err)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("Preset(%s).Validate: %v", m, err)
		}
		if !reflect.DeepEqual(r, want[m]) {
			t.Errorf("Preset(%s) = %+v\nwant %+v", m, r, want[m])
		}
		// The preset file sets every room key except mode.
		data, err := files.ReadFile("presets/" + string(m) + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := toml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range doc {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, roomKeys) {
			t.Errorf("presets/%s.toml keys %v, want %v", m, keys, roomKeys)
		}
	}
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), `mode: unknown mode "nope"`) {
		t.Errorf("Preset(nope) = %v", err)
	}
}

func TestBuiltinRooms(t *testing.T) {
	rooms, err := LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	wantModes := map[string]Mode{
		"chat": MediaChat, "forum": MediaForum, "live": VideoStream, "videochat": VideoChat, "walkie": AudioStream,
	}
	if len(rooms) != 5 {
		t.Fatalf("got %d rooms, want 5", len(rooms))
	}
	seen := map[Mode]bool{}
	for i, r := range rooms {
		if i > 0 && rooms[i-1].Name >= r.Name {
			t.Errorf("rooms not sorted: %s before %s", rooms[i-1].Name, r.Name)
		}
		if wantModes[r.Name] != r.Mode {
			t.Errorf("room %s has mode %s, want %s", r.Name, r.Mode, wantModes[r.Name])
		}
		if err := r.Validate(); err != nil {
			t.Errorf("room %s: %v", r.Name, err)
		}
		seen[r.Mode] = true
		// Each example file parses on its own too.
		data, err := files.ReadFile("rooms/" + r.Name + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRoom("rooms/"+r.Name+".toml", data)
		if err != nil || !reflect.DeepEqual(r2, r) {
			t.Errorf("ParseRoom(%s) = %+v, %v", r.Name, r2, err)
		}
	}
	if len(seen) != 5 {
		t.Errorf("modes covered: %v", seen)
	}
}

func TestRoomOverrideKeepsPreset(t *testing.T) {
	r, err := ParseRoom("rooms/big.toml", []byte("mode = \"mediaChat\"\nmax_clip_seconds = 300\n"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Preset(MediaChat)
	want.Name = "big"
	want.MaxClipSeconds = 300
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}

	// Overrides through the forum example: its title, description and
	// max_clip_seconds changed, the rest as in the preset.
	rooms, err := LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	forum := rooms[slices.IndexFunc(rooms, func(r Room) bool { return r.Name == "forum" })]
	p, _ := Preset(MediaForum)
	p.Name, p.Title, p.MaxClipSeconds = "forum", "Forum", 300
	p.Description = "For longer, considered posts of up to five minutes, kept for a month."
	if !reflect.DeepEqual(forum, p) {
		t.Fatalf("forum = %+v\nwant %+v", forum, p)
	}
}

func TestRoomJSON(t *testing.T) {
	r, _ := Preset(AudioStream)
	r.Name = "walkie"
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"name":"walkie"`, `"mode":"audioStream"`, `"clip_lifetime":3600`, `"max_clip_bytes":5000000`, `"allow_video":false`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON %s lacks %s", s, want)
		}
	}
	var back Room
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}
	sb, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"shutdown_timeout":5`, `"ping_interval":15`, `"allowed_origins":[]`, `"udp_port":7882`} {
		if !strings.Contains(string(sb), want) {
			t.Errorf("JSON %s lacks %s", sb, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Second: "15s", 720 * time.Hour: "720h", 90 * time.Minute: "1h30m", 2 * time.Minute: "2m",
		0: "0s", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		got, _ := Duration(d).MarshalText()
		if string(got) != want {
			t.Errorf("MarshalText(%v) = %s, want %s", d, got, want)
		}
		var back Duration
		if err := back.UnmarshalText(got); err != nil || back.D() != d {
			t.Errorf("UnmarshalText(%s) = %v, %v", got, back, err)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("5")); err == nil || !strings.Contains(err.Error(), `want a duration like "15s"`) {
		t.Errorf("UnmarshalText(5) = %v", err)
	}
	j, _ := Duration(1500 * time.Millisecond).MarshalJSON()
	if string(j) != "1.5" {
		t.Errorf("MarshalJSON = %s", j)
	}
	for in, want := range map[string]time.Duration{`1.5`: 1500 * time.Millisecond, `"2m"`: 2 * time.Minute, `0`: 0} {
		if err := d.UnmarshalJSON([]byte(in)); err != nil || d.D() != want {
			t.Errorf("UnmarshalJSON(%s) = %v, %v", in, d, err)
		}
	}
	for _, in := range []string{`"x"`, `true`, `1e300`} {
		if err := d.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("UnmarshalJSON(%s) accepted", in)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "configs/rooms/x.toml", Key: "max_clip_bytes", Problem: "must be at least 1024, got -5"},
			"configs/rooms/x.toml: max_clip_bytes: must be at least 1024, got -5"},
		{Error{File: "parley.toml", Line: 3, Key: "media.udp_port", Problem: "wrong type"}, "parley.toml: line 3: media.udp_port: wrong type"},
		{Error{Key: "log.level", Problem: "bad"}, "log.level: bad"},
		{Error{File: "f", Problem: "p"}, "f: p"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantError checks that err is non-nil and its text contains every string
// in want, and that it is (or joins) *Error values.
func wantError(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %v (%T) is not an *Error", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestServerErrors(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "[htttp]\nlisten = \"127.0.0.1:1\"\n", []string{`line 1: unknown key "htttp" (did you mean "http"?)`}},
		{"unknown dotted key", "htttp.listen = \"x\"\n", []string{`parley.toml: line 1: unknown key "htttp.listen" (did you mean "http.listen"?)`}},
		{"unknown key in table", "[media]\nudp_prot = 1\n", []string{`line 2: unknown key "media.udp_prot" (did you mean "media.udp_port"?)`}},
		{"key in wrong case", "[HTTP]\nlisten = \"127.0.0.1:1\"\n", []string{`unknown key "HTTP"`, `case-sensitive`, `"http"`}},
		{"wrong type", "[log]\nlevel = \"info\"\n[media]\nudp_port = \"7882\"\n", []string{"parley.toml: line 4: media.udp_port: wrong type: want an integer, got a string"}},
		{"wrong type array", "http.allowed_origins = \"https://a.org\"\n", []string{"line 1: http.allowed_origins: wrong type: want an array of strings, got a string"}},
		{"wrong type array element", "http.allowed_origins = [1]\n", []string{"http.allowed_origins: wrong type", "got an array containing an integer"}},
		{"wrong type table", "http = 1\n", []string{"http: wrong type: want a table, got an integer"}},
		{"wrong type leaf as table", "[http.listen]\nx = 1\n", []string{"line 1: http.listen: wrong type: want a string, got a table"}},
		{"wrong type inline", "media = { udp_port = true }\n", []string{"media.udp_port: wrong type: want an integer, got a boolean"}},
		{"syntax error", "[http\n", []string{"parley.toml: line 1"}},
		{"duplicate key", "[log]\nlevel = \"info\"\nlevel = \"info\"\n", []string{"parley.toml: line 3: level: key level is already defined"}},
		{"short token secret", "[auth]\ntoken_secret = \"short\"\n", []string{"auth.token_secret: must be at least 32 characters"}},
		{"failures per minute", "[auth]\nfailures_per_minute = 0.0\n", []string{"auth.failures_per_minute: must be more than 0"}},
		{"operator without hash", "[[auth.operators]]\nname = \"admin\"\npassword = \"admin\"\n", []string{"auth.operators: entry 1 (admin): password: not a password hash"}},
		{"operator twice", "[[auth.operators]]\nname = \"admin\"\npassword = \"$2a$12$abcdefghijklmnopqrstuuJ7VrA1mVpUMGr7KmvU0q7H6I5eKSz6W\"\n[[auth.operators]]\nname = \"Admin\"\npassword = \"$2a$12$abcdefghijklmnopqrstuuJ7VrA1mVpUMGr7KmvU0q7H6I5eKSz6W\"\n", []string{`auth.operators: entry 2: name "Admin" is listed twice`}},
		{"operator unknown key", "[[auth.operators]]\nname = \"admin\"\npasword = \"x\"\n", []string{`unknown key "auth.operators.pasword"`}},
		{"listen port out of range", "[http]\nlisten = \"127.0.0.1:70000\"\n", []string{"parley.toml: http.listen: port 70000 out of range 1-65535"}},
		{"cluster without public url", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\n", []string{"cluster.public_url: want this node's address", "(required with redis_url)"}},
		{"cluster public url with path", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org/x\"\n", []string{`cluster.public_url: want this node's address`, `"https://a.org/x"`}},
		{"cluster redis scheme", "[cluster]\nredis_url = \"http://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n", []string{`cluster.redis_url: want a redis://, rediss:// or unix:// URL, got scheme "http"`}},
		{"cluster node id", "[cluster]\nnode_id = \"a b\"\n", []string{`cluster.node_id: want 1-64 letters`}},
		{"cluster heartbeat over lease", "[cluster]\nheartbeat = \"5s\"\nlease = \"10s\"\n", []string{"cluster.heartbeat: must be at most a third of lease (10s)"}},
		{"cluster lease", "[cluster]\nlease = \"500ms\"\n", []string{"cluster.lease: must be between 1s and 10m"}},
		{"cluster release after", "[cluster]\nrelease_after = \"-1s\"\n", []string{"cluster.release_after: must be between 0s and 1h"}},
		{"listen port zero", "[http]\nlisten = \":0\"\n", []string{"http.listen: port 0 out of range 1-65535"}},
		{"listen no port", "[http]\nlisten = \"127.0.0.1\"\n", []string{"http.listen: want host:port"}},
		{"listen port not a number", "[http]\nlisten = \"127.0.0.1:http\"\n", []string{"http.listen: port \"http\" is not a number"}},
		{"metrics on the main listener", "[http]\nmetrics_listen = \"127.0.0.1:8080\"\n", []string{`http.metrics_listen: must be another address than http.listen and http.redirect_listen, got "127.0.0.1:8080"`}},
		{"metrics listen no port", "[http]\nmetrics_listen = \"127.0.0.1\"\n", []string{"http.metrics_listen: want host:port"}},
		{"udp port out of range", "[media]\nudp_port = 65536\n", []string{"media.udp_port: port 65536 out of range 0-65535"}},
		{"tcp port out of range", "[media]\ntcp_port = 99999\n", []string{"media.tcp_port: port 99999 out of range 0-65535"}},
		{"negative port", "[media]\ntcp_port = -1\n", []string{"media.tcp_port: port -1 out of range"}},
		{"bad listen ip", "[media]\nlisten_ip = \"localhost\"\n", []string{"media.listen_ip: want an IP address", `got "localhost"`}},
		{"bad public ip", "[media]\npublic_ip = \"1.2.3\"\n", []string{"media.public_ip: want an IP address", `got "1.2.3"`}},
		{"udp range min > max", "[media]\nudp_port = 0\nudp_port_min = 50100\nudp_port_max = 50000\n", []string{"media.udp_port_min: must not be greater than udp_port_max (50000), got 50100"}},
		{"udp range half set", "[media]\nudp_port = 0\nudp_port_min = 50100\n", []string{"media.udp_port_min: udp_port_min and udp_port_max must both be set or both be 0"}},
		{"udp port 0 without range", "[media]\nudp_port = 0\n", []string{"media.udp_port: is 0 but no port range is set"}},
		{"bad duration string", "[signaling]\nping_interval = \"15\"\n", []string{`parley.toml: line 2: signaling.ping_interval: want a duration like "15s", got "15"`}},
		{"integer duration", "[http]\nshutdown_timeout = 5\n", []string{`line 2: http.shutdown_timeout: wrong type: want a duration string like "15s", got an integer`}},
		{"zero duration", "[http]\nshutdown_timeout = \"0s\"\n", []string{"http.shutdown_timeout: must be more than 0s and at most 60s, got 0s"}},
		{"long shutdown", "[http]\nshutdown_timeout = \"2m\"\n", []string{"http.shutdown_timeout: must be more than 0s and at most 60s, got 2m"}},
		{"long receive window", "[media]\nreceive_window = \"20ms\"\n", []string{"media.receive_window: must be 0s (read each packet as it comes) to 10ms, got 20ms"}},
		{"negative receive window", "[media]\nreceive_window = \"-1ms\"\n", []string{"media.receive_window: must be 0s (read each packet as it comes) to 10ms, got -1ms"}},
		{"pong not after ping", "[signaling]\nping_interval = \"30s\"\npong_timeout = \"30s\"\n", []string{"signaling.pong_timeout: must be longer than ping_interval (30s), got 30s"}},
		{"negative ping", "[signaling]\nping_interval = \"-1s\"\n", []string{"signaling.ping_interval: must be more than 0s, got -1s"}},
		{"origin without scheme", "[http]\nallowed_origins = [\"example.org\"]\n", []string{"http.allowed_origins: entry 1: want an origin like", `got "example.org"`}},
		{"origin with path", "[http]\nallowed_origins = [\"https://a.org\", \"https://example.org/app\"]\n", []string{"http.allowed_origins: entry 2", `"https://example.org/app" (remove the path)`}},
		{"origin with slash", "[http]\nallowed_origins = [\"https://example.org/\"]\n", []string{"http.allowed_origins: entry 1", "remove the path"}},
		{"origin ftp", "[http]\nallowed_origins = [\"ftp://example.org\"]\n", []string{"http.allowed_origins: entry 1", "scheme must be http or https"}},
		{"bad log level", "[log]\nlevel = \"verbose\"\n", []string{`parley.toml: log.level: must be one of debug, info, warn, error, got "verbose"`}},
		{"bad log format", "[log]\nformat = \"xml\"\n", []string{`log.format: must be text or json, got "xml"`}},
		{"empty data dir", "[storage]\ndata_dir = \"\"\n", []string{"storage.data_dir: must not be empty"}},
		{"message size", "[signaling]\nmax_message_bytes = 100\n", []string{"signaling.max_message_bytes: must be between 1024 and 1048576, got 100"}},
		{"negative burst", "[signaling]\nmessage_burst = -1\n", []string{"signaling.message_burst: must be at least 1, got -1"}},
		{"zero rate", "[signaling]\nmessages_per_second = 0\n", []string{"signaling.messages_per_second: must be a positive number, got 0"}},
		{"infinite rate", "[signaling]\nmessages_per_second = inf\n", []string{"signaling.messages_per_second: must be a positive number, got +Inf"}},
		{"name length", "[signaling]\nmax_name_length = 65\n", []string{"signaling.max_name_length: must be between 1 and 64, got 65"}},
		{"chat length", "[signaling]\nmax_chat_length = 0\n", []string{"signaling.max_chat_length: must be between 1 and 65536, got 0"}},
		{"mail without from", "[mail]\nhost = \"smtp.example.org\"\n", []string{"mail.from: is needed to send mail"}},
		{"mail bad host", "[mail]\nhost = \"smtp example\"\nfrom = \"a@example.org\"\n", []string{`mail.host: want a host name or IP address`}},
		{"mail bad security", "[mail]\nsecurity = \"ssl\"\n", []string{`mail.security: must be "starttls", "tls" or "none", got "ssl"`}},
		{"mail password in clear", "[mail]\nhost = \"smtp.example.org\"\nfrom = \"a@example.org\"\nsecurity = \"none\"\nuser = \"u\"\n", []string{"mail.security: is \"none\" but user is set"}},
		{"mail password without user", "[mail]\npassword = \"x\"\n", []string{"mail.password: is set but user is empty"}},
		{"mail bad from", "[mail]\nfrom = \"not an address\"\n", []string{`mail.from: want a mail address`}},
		{"mail from two lines", "[mail]\nfrom = \"a@example.org\\r\\nBcc: b@example.org\"\n", []string{"mail.from: must be one line"}},
		{"mail bad reply-to", "[mail]\nreply_to = \"@\"\n", []string{"mail.reply_to: want a mail address"}},
		{"mail attempts", "[mail]\nattempts = 0\n", []string{"mail.attempts: must be between 1 and 20, got 0"}},
		{"mail retry delay", "[mail]\nretry_delay = \"0s\"\n", []string{"mail.retry_delay: must be more than 0s"}},
		{"mail timeout", "[mail]\ntimeout = \"100ms\"\n", []string{"mail.timeout: must be between 1s and 10m"}},
		{"base url with path", "[http]\nbase_url = \"https://example.org/chat\"\n", []string{"http.base_url: want the site's public address"}},
		{"base url scheme", "[http]\nbase_url = \"example.org\"\n", []string{"http.base_url: want the site's public address"}},
		{"s3 without cluster", "[storage]\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_bucket = \"clips\"\n", []string{"storage.s3_endpoint: clip media in an S3 bucket needs [cluster] for now: set cluster.redis_url"}},
		{"s3 bucket without endpoint", "[storage]\ns3_bucket = \"clips\"\n", []string{"storage.s3_bucket: is set, but storage.s3_endpoint is not"}},
		{"s3 endpoint with path", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"https://s3.example.org/clips\"\ns3_bucket = \"clips\"\n", []string{"storage.s3_endpoint: want the store's base URL", `"https://s3.example.org/clips"`}},
		{"s3 endpoint scheme", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"s3://bucket\"\ns3_bucket = \"clips\"\n", []string{"storage.s3_endpoint: want the store's base URL", "scheme must be http or https"}},
		{"s3 without bucket", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"http://127.0.0.1:9000\"\n", []string{"storage.s3_bucket: is required with s3_endpoint"}},
		{"s3 bucket upper case", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_bucket = \"Clips\"\n", []string{"storage.s3_bucket: want 3-63 lowercase letters", `"Clips"`}},
		{"s3 region", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_bucket = \"clips\"\ns3_region = \"eu west\"\n", []string{`storage.s3_region: want 1-64 letters, digits and '-', like "us-east-1", got "eu west"`}},
		{"s3 prefix with ..", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_bucket = \"clips\"\ns3_prefix = \"a/../b\"\n", []string{"storage.s3_prefix: want", `got "a/../b"`}},
		{"s3 prefix slash", "[cluster]\nredis_url = \"redis://127.0.0.1:6379\"\npublic_url = \"https://a.org\"\n[storage]\ns3_endpoint = \"http://127.0.0.1:9000\"\ns3_bucket = \"clips\"\ns3_prefix = \"/clips/\"\n", []string{"storage.s3_prefix: want", `got "/clips/"`}},
		{"several problems", "[log]\nlevel = \"x\"\nformat = \"y\"\n", []string{"parley.toml: log.level: must be one of", "\n", "parley.toml: log.format: must be text or json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "parley.toml", c.file)
			s, err := Load(path)
			wantError(t, err, append([]string{"parley.toml: "}, c.want...)...)
			if !reflect.DeepEqual(s, Server{}) {
				t.Errorf("Load returned %+v with an error", s)
			}
		})
	}
}

func TestServerValidateHasNoFile(t *testing.T) {
	s := Default()
	s.HTTP.Listen = "127.0.0.1:70000"
	err := s.Validate()
	if err == nil || err.Error() != "http.listen: port 70000 out of range 1-65535" {
		t.Fatalf("got %v", err)
	}
	s = Default()
	s.Media.UDPPort, s.Media.UDPPortMin, s.Media.UDPPortMax = 0, 40000, 40010
	s.Media.TCPPort = 0
	if err := s.Validate(); err != nil {
		t.Fatalf("port range: %v", err)
	}
	s.Media.TCPPort = 40000 // same number as a UDP port is fine
	s.HTTP.AllowedOrigins = []string{"http://localhost:3000", "https://[::1]:8443", "https://Example.org"}
	s.HTTP.Listen = "[::1]:8080"
	s.Media.ListenIP = "::"
	if err := s.Validate(); err != nil {
		t.Fatalf("valid variations: %v", err)
	}
}

func TestRoomErrors(t *testing.T) {
	const file = "configs/rooms/x.toml"
	cases := []struct {
		name, file, data string
		want             []string
	}{
		{"unknown key", file, "mode = \"mediaChat\"\nmax_clip_byte = 5\n", []string{`configs/rooms/x.toml: line 2: unknown key "max_clip_byte" (did you mean "max_clip_bytes"?)`}},
		{"name is not a key", file, "mode = \"mediaChat\"\nname = \"y\"\n", []string{`line 2: unknown key "name"`}},
		{"key in wrong case", file, "mode = \"mediaChat\"\nMax_Clip_Bytes = 5000\n", []string{`line 2: unknown key "Max_Clip_Bytes"`, `"max_clip_bytes"`}},
		{"wrong type", file, "mode = \"mediaChat\"\nmax_participants = \"10\"\n", []string{"configs/rooms/x.toml: line 2: max_participants: wrong type: want an integer, got a string"}},
		{"wrong type bool", file, "mode = \"mediaChat\"\nallow_video = 1\n", []string{"line 2: allow_video: wrong type: want a boolean, got an integer"}},
		{"wrong type mode", file, "mode = 1\n", []string{"line 1: mode: wrong type: want a string, got an integer"}},
		{"unknown mode", file, "mode = \"podcast\"\n", []string{`configs/rooms/x.toml: mode: unknown mode "podcast", want one of mediaForum, mediaChat, videoChat, audioStream, videoStream`}},
		{"missing mode", file, "title = \"x\"\n", []string{"configs/rooms/x.toml: missing key mode", "mediaForum"}},
		{"empty file", file, "", []string{"configs/rooms/x.toml: missing key mode"}},
		{"syntax error", file, "mode = \n", []string{"configs/rooms/x.toml: line 1"}},
		{"negative limit", file, "mode = \"mediaChat\"\nmax_clip_bytes = -5\n", []string{"configs/rooms/x.toml: max_clip_bytes: must be at least 1024, got -5"}},
		{"negative count", file, "mode = \"mediaChat\"\nmax_clip_count = -1\n", []string{"max_clip_count: must be at least 1, got -1"}},
		{"zero participants", file, "mode = \"videoChat\"\nmax_participants = 0\n", []string{"configs/rooms/x.toml: max_participants: must be between 1 and 10000, got 0"}},
		{"too many participants", file, "mode = \"videoChat\"\nmax_participants = 10001\n", []string{"max_participants: must be between 1 and 10000, got 10001"}},
		{"clip seconds", file, "mode = \"mediaChat\"\nmax_clip_seconds = 3601\n", []string{"max_clip_seconds: must be between 1 and 3600, got 3601"}},
		{"negative minimum", file, "mode = \"mediaChat\"\nmin_clip_ms = -1\n", []string{"configs/rooms/x.toml: min_clip_ms: must be between 0 (no minimum) and 10000 milliseconds, got -1"}},
		{"minimum too long", file, "mode = \"mediaChat\"\nmin_clip_ms = 10001\n", []string{"min_clip_ms: must be between 0 (no minimum) and 10000 milliseconds, got 10001"}},
		{"minimum as a duration", file, "mode = \"mediaChat\"\nmin_clip_ms = \"500ms\"\n", []string{"line 2: min_clip_ms: wrong type: want an integer, got a string"}},
		{"minimum beyond the maximum", file, "mode = \"mediaChat\"\nmax_clip_seconds = 2\nmin_clip_ms = 2000\n", []string{"configs/rooms/x.toml: min_clip_ms: must be shorter than max_clip_seconds (2 s = 2000 ms), got 2000"}},
		{"video default without video", file, "mode = \"audioStream\"\nvideo_default = true\n", []string{"configs/rooms/x.toml: video_default: is true but allow_video is false"}},
		{"video default video off", file, "mode = \"videoChat\"\nallow_video = false\n", []string{"video_default: is true but allow_video is false"}},
		{"archive in clip mode", file, "mode = \"mediaForum\"\narchive = true\n", []string{"configs/rooms/x.toml: archive: only live modes", "mode mediaForum"}},
		{"viewers in clip mode", file, "mode = \"mediaChat\"\nmax_viewers = 5\n", []string{"configs/rooms/x.toml: max_viewers: only live modes", "mode mediaChat"}},
		{"too many viewers", file, "mode = \"videoStream\"\nmax_viewers = 10001\n", []string{"max_viewers"}},
		{"manual publish in live mode", file, "mode = \"videoStream\"\npublish = \"manual\"\n", []string{`configs/rooms/x.toml: publish: "manual" is only for clip modes`, "live mode videoStream"}},
		{"bad publish", file, "mode = \"mediaChat\"\npublish = \"later\"\n", []string{`publish: must be "auto" or "manual", got "later"`}},
		{"room bytes below clip bytes", file, "mode = \"mediaChat\"\nmax_room_bytes = 1000000\n", []string{"configs/rooms/x.toml: max_room_bytes: must be at least max_clip_bytes (20000000), got 1000000"}},
		{"integer duration", file, "mode = \"mediaChat\"\nclip_lifetime = 3600\n", []string{`line 2: clip_lifetime: wrong type: want a duration string like "15s", got an integer`}},
		{"bad duration", file, "mode = \"mediaChat\"\nclip_lifetime = \"1 day\"\n", []string{`line 2: clip_lifetime: want a duration like "15s", got "1 day"`}},
		{"negative duration", file, "mode = \"mediaChat\"\nclip_lifetime = \"-1h\"\n", []string{"clip_lifetime: must be more than 0s, got -1h"}},
		{"long title", file, "mode = \"mediaChat\"\ntitle = \"" + strings.Repeat("é", 201) + "\"\n", []string{"title: must be at most 200 characters, got 201"}},
		{"long description", file, "mode = \"mediaChat\"\ndescription = \"" + strings.Repeat("é", 501) + "\"\n", []string{"description: must be at most 500 characters, got 501"}},
		{"table in room", file, "mode = \"mediaChat\"\n[limits]\nx = 1\n", []string{`line 2: unknown key "limits"`}},
		{"unknown access", file, "mode = \"mediaChat\"\naccess = \"secret\"\n", []string{`access: must be "open", "password" or "token", got "secret"`}},
		{"password room without password", file, "mode = \"mediaChat\"\naccess = \"password\"\n", []string{`access: is "password" but neither password`}},
		{"plain-text password", file, "mode = \"mediaChat\"\naccess = \"password\"\npassword = \"hunter2\"\n", []string{"password: not a password hash", "parley hash-password"}},
		{"plain-text user password", file, "mode = \"mediaChat\"\naccess = \"password\"\n[passwords]\nann = \"hunter2\"\n", []string{`passwords: user "ann": not a password hash`}},
		{"user password not a string", file, "mode = \"mediaChat\"\naccess = \"password\"\n[passwords]\nann = 5\n", []string{"line 4: passwords.ann: wrong type: want a string, got an integer"}},
		{"passwords not a table", file, "mode = \"mediaChat\"\naccess = \"password\"\npasswords = \"x\"\n", []string{"line 3: passwords: wrong type: want a table of strings, got a string"}},
		{"notify without addresses", file, "mode = \"mediaChat\"\nnotify = true\n", []string{"notify: is true but [notify_addresses] lists nobody"}},
		{"notify bad address", file, "mode = \"mediaChat\"\nnotify = true\n[notify_addresses]\nann = \"ann at example\"\n", []string{`notify_addresses: user "ann": want a mail address`}},
		{"notify address with header", file, "mode = \"mediaChat\"\n[notify_addresses]\nann = \"ann@example.org\\nBcc: x@example.org\"\n", []string{`notify_addresses: user "ann": must be one line`}},
		{"notify name with spaces", file, "mode = \"mediaChat\"\n[notify_addresses]\n\" ann\" = \"ann@example.org\"\n", []string{`notify_addresses: user " ann": a name must be`}},
		{"notify address not a string", file, "mode = \"mediaChat\"\n[notify_addresses]\nann = 1\n", []string{"notify_addresses.ann: wrong type: want a string, got an integer"}},
		{"password in open room", file, "mode = \"mediaChat\"\npassword = \"$2a$12$abcdefghijklmnopqrstuuJ7VrA1mVpUMGr7KmvU0q7H6I5eKSz6W\"\n", []string{`password: is set but access is "open"`}},
		{"bad name with space", "configs/rooms/bad name.toml", "mode = \"mediaChat\"\n", []string{`configs/rooms/bad name.toml: bad room name "bad name"`}},
		{"bad name dot", "rooms/..toml", "mode = \"mediaChat\"\n", []string{`rooms/..toml: bad room name "."`}},
		{"bad name leading dash", "rooms/-x.toml", "mode = \"mediaChat\"\n", []string{`rooms/-x.toml: bad room name "-x"`}},
		{"bad name too long", "rooms/" + strings.Repeat("a", 65) + ".toml", "mode = \"mediaChat\"\n", []string{"bad room name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseRoom(c.file, []byte(c.data))
			wantError(t, err, c.want...)
			if !reflect.DeepEqual(r, Room{}) {
				t.Errorf("ParseRoom returned %+v with an error", r)
			}
		})
	}
}

// TestRoomMinClip: every preset keeps recordings of half a second or
// more; a room file may turn the minimum off with 0 or set it up to just
// below max_clip_seconds (and at most 10 s).
func TestRoomMinClip(t *testing.T) {
	for _, m := range Modes() {
		r, err := Preset(m)
		if err != nil {
			t.Fatal(err)
		}
		if r.MinClipMs != 500 || r.MinClip() != 500*time.Millisecond {
			t.Errorf("%s: min_clip_ms %d (%s), want 500", m, r.MinClipMs, r.MinClip())
		}
	}
	for data, want := range map[string]time.Duration{
		"mode = \"mediaChat\"\nmin_clip_ms = 0\n":                          0,
		"mode = \"audioStream\"\narchive = true\nmin_clip_ms = 1500\n":     1500 * time.Millisecond,
		"mode = \"mediaChat\"\nmax_clip_seconds = 2\nmin_clip_ms = 1999\n": 1999 * time.Millisecond,
		"mode = \"mediaForum\"\nmin_clip_ms = 10000\n":                     10 * time.Second,
	} {
		r, err := ParseRoom("rooms/x.toml", []byte(data))
		if err != nil || r.MinClip() != want {
			t.Errorf("%q: minimum %s, %v; want %s", data, r.MinClip(), err, want)
		}
	}
}

func TestRoomValidateHasNoFile(t *testing.T) {
	r, _ := Preset(MediaChat)
	r.MaxClipBytes = -5
	err := r.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "max_clip_bytes: must be at least 1024, got -5") {
		t.Fatalf("got %v", err)
	}
	r, _ = Preset(MediaChat)
	r.Name = "bad name"
	wantError(t, r.Validate(), `name: bad room name "bad name"`)
	wantError(t, Room{}.Validate(), `mode: unknown mode ""`, "max_participants", "publish", "max_clip_seconds", "clip_lifetime")
}

func TestRoomNames(t *testing.T) {
	for _, name := range []string{"a", "A-b_c", "0room", strings.Repeat("z", 64)} {
		r, err := ParseRoom(filepath.Join("some", "dir", name+".toml"), []byte("mode = \"mediaChat\"\n"))
		if err != nil || r.Name != name {
			t.Errorf("%s: %+v, %v", name, r, err)
		}
	}
}

func TestLoadRoomsDir(t *testing.T) {
	t.Run("empty dir", func(t *testing.T) {
		dir := t.TempDir()
		_, err := LoadRooms(dir)
		wantError(t, err, dir, "no room files")
	})
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := LoadRooms(dir)
		wantError(t, err, dir, "cannot read rooms directory")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v is not ErrNotExist", err)
		}
	})
	t.Run("only other files", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("hi"), 0o600))
		_, err := LoadRooms(dir)
		wantError(t, err, "no room files")
	})
	t.Run("rooms", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "zeta.toml"), []byte("mode = \"videoStream\"\n"), 0o600))
		must(t, os.WriteFile(filepath.Join(dir, "alpha.toml"), []byte("mode = \"mediaForum\"\ntitle = \"A\"\n"), 0o600))
		must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not toml at all ["), 0o600))
		must(t, os.WriteFile(filepath.Join(dir, "alpha.toml~"), []byte("garbage ["), 0o600))
		must(t, os.Mkdir(filepath.Join(dir, "sub.toml"), 0o700))
		must(t, os.WriteFile(filepath.Join(dir, "sub.toml", "inner.toml"), []byte("garbage ["), 0o600))
		rooms, err := LoadRooms(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(rooms) != 2 || rooms[0].Name != "alpha" || rooms[1].Name != "zeta" {
			t.Fatalf("got %+v", rooms)
		}
		if rooms[0].Mode != MediaForum || rooms[0].Title != "A" || rooms[1].Mode != VideoStream || rooms[1].Title != "Live video" {
			t.Errorf("got %+v", rooms)
		}
	})
	t.Run("errors in several files", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "a.toml"), []byte("mode = \"x\"\n"), 0o600))
		must(t, os.WriteFile(filepath.Join(dir, "b.toml"), []byte("mode = \"mediaChat\"\nmax_participants = 0\n"), 0o600))
		must(t, os.WriteFile(filepath.Join(dir, "c.toml"), []byte("mode = \"mediaChat\"\n"), 0o600))
		_, err := LoadRooms(dir)
		wantError(t, err, filepath.Join(dir, "a.toml")+": mode: unknown mode", filepath.Join(dir, "b.toml")+": max_participants")
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzParseRoom(f *testing.F) {
	des, err := fs.ReadDir(files, "rooms")
	if err != nil {
		f.Fatal(err)
	}
	for _, de := range des {
		data, err := files.ReadFile("rooms/" + de.Name())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, m := range Modes() {
		data, _ := files.ReadFile("presets/" + string(m) + ".toml")
		f.Add(append([]byte("mode = \""+string(m)+"\"\n"), data...))
	}
	for _, s := range []string{
		"", "mode = ", "mode = 1", "mode = \"x\"", "mode = \"mediaChat\"\nclip_lifetime = 5\n",
		"mode = \"mediaChat\"\n[x]\ny = 1\n", "mode = \"audioStream\"\npublish = \"manual\"\n",
		"mode = \"mediaChat\"\nmax_room_bytes = -1\n", "mode = \"videoChat\"\nallow_video = false\n",
		"mode = { a = 1 }", "[[mode]]\n", "mode = \"mediaChat\"\nMODE = \"x\"\n",
		"mode = \"mediaChat\"\nmax_clip_bytes = 99999999999999999999\n",
		"mode = \"mediaChat\"\nclip_lifetime = \"9999999999h\"\n",
		"mode = \"mediaChat\"\ntitle = \"\"\"\nx\"\"\"\n",
		"mode = \"mediaChat\"\naccess = \"password\"\n[passwords]\na = 1\n",
		"mode = \"mediaChat\"\naccess = \"password\"\npassword = \"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n",
		"mode = \"mediaChat\"\npasswords = { x = \"y\" }\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRoom("rooms/fuzz.toml", data)
		if err != nil {
			if !reflect.DeepEqual(r, Room{}) {
				t.Fatalf("room %+v returned with error %v", r, err)
			}
			if !strings.HasPrefix(err.Error(), "rooms/fuzz.toml: ") {
				t.Fatalf("error does not name the file: %q", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed room does not validate: %v\n%q", err, data)
		}
		if r.Name != "fuzz" || !r.Mode.Valid() {
			t.Fatalf("bad room %+v", r)
		}
	})
}

func TestTURNErrors(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string
	}{
		{"bad listen ip", "[turn]\nlisten_ip = \"localhost\"\n", []string{`parley.toml: turn.listen_ip: want an IP address`, `got "localhost"`}},
		{"port zero", "[turn]\nport = 0\n", []string{"parley.toml: turn.port: port 0 out of range 1-65535"}},
		{"port too big", "[turn]\nport = 65536\n", []string{"turn.port: port 65536 out of range 1-65535"}},
		{"tls port", "[turn]\ntls_port = -1\n", []string{"turn.tls_port: port -1 out of range 1-65535"}},
		{"cert without key", "[turn]\ntls_cert = \"c.pem\"\n", []string{`turn.tls_cert: tls_cert and tls_key must both be set`, `got tls_cert "c.pem" and tls_key ""`}},
		{"key without cert", "[turn]\ntls_key = \"k.pem\"\n", []string{"turn.tls_cert: tls_cert and tls_key must both be set"}},
		{"tls port equals port", "[turn]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ntls_port = 3478\n", []string{"turn.tls_port: must differ from turn.port (3478): both are TCP ports"}},
		{"bad host", "[turn]\nhost = \"turn example\"\n", []string{`turn.host: want a host name or IP address`, `got "turn example"`}},
		{"bad public ip", "[turn]\npublic_ip = \"1.2.3\"\n", []string{`turn.public_ip: want an IP address like "203.0.113.7"`, `got "1.2.3"`}},
		{"unspecified public ip", "[turn]\npublic_ip = \"0.0.0.0\"\n", []string{`turn.public_ip: must be an address clients can reach, got "0.0.0.0"`}},
		{"any listen ip needs public ip", "[turn]\nlisten_ip = \"0.0.0.0\"\n", []string{`turn.public_ip: must be set when turn.listen_ip is "0.0.0.0"`}},
		{"relay range inverted", "[turn]\nrelay_port_min = 50000\nrelay_port_max = 40000\n", []string{"turn.relay_port_min: must not be greater than relay_port_max (40000), got 50000"}},
		{"relay range zero", "[turn]\nrelay_port_min = 0\n", []string{"turn.relay_port_min: port 0 out of range 1-65535"}},
		{"empty realm", "[turn]\nrealm = \"\"\n", []string{"turn.realm: must not be empty"}},
		{"realm with quote", "[turn]\nrealm = 'a\"b'\n", []string{"turn.realm: must be printable characters without quotes"}},
		{"long realm", "[turn]\nrealm = \"" + strings.Repeat("r", 128) + "\"\n", []string{"turn.realm: must be at most 127 characters, got 128"}},
		{"short secret", "[turn]\nsecret = \"short\"\n", []string{`turn.secret: must be at least 16 characters (or "" to generate one), got 5`}},
		{"secret with space", "[turn]\nsecret = \" 0123456789abcdef\"\n", []string{"turn.secret: must not start or end with white space"}},
		{"ttl too short", "[turn]\nttl = \"30s\"\n", []string{"turn.ttl: must be between 1m and 168h, got 30s"}},
		{"ttl too long", "[turn]\nttl = \"200h\"\n", []string{"turn.ttl: must be between 1m and 168h, got 200h"}},
		{"ttl integer", "[turn]\nttl = 3600\n", []string{`line 2: turn.ttl: wrong type: want a duration string like "15s", got an integer`}},
		{"bad allow peer", "[turn]\nallow_peers = [\"127.0.0.1\", \"10.0.0.0/33\"]\n", []string{`turn.allow_peers: entry 2: want a CIDR like "10.0.0.0/8" or an IP address, got "10.0.0.0/33"`}},
		{"allow peer host name", "[turn]\nallow_peers = [\"localhost\"]\n", []string{`turn.allow_peers: entry 1`, `got "localhost"`}},
		{"per user cap", "[turn]\nmax_allocations_per_user = 0\n", []string{"turn.max_allocations_per_user: must be at least 1, got 0"}},
		{"total cap", "[turn]\nmax_allocations = -5\n", []string{"turn.max_allocations: must be at least 1, got -5"}},
		{"enabled not bool", "[turn]\nenabled = \"yes\"\n", []string{"line 2: turn.enabled: wrong type: want a boolean, got a string"}},
		{"external without urls", "[[turn.external]]\nuse_secret = true\n", []string{"turn.external: entry 1: urls must list at least one"}},
		{"external bad scheme", "[[turn.external]]\nurls = [\"http://turn.example.org\"]\n", []string{"turn.external: entry 1: want a URL like", `got "http://turn.example.org" (scheme must be stun, turn or turns)`}},
		{"external no scheme", "[[turn.external]]\nurls = [\"turn.example.org\"]\n", []string{"turn.external: entry 1", "(no scheme)"}},
		{"external bad port", "[[turn.external]]\nurls = [\"stun:stun.example.org:99999\"]\n", []string{"turn.external: entry 1", "port out of range 1-65535"}},
		{"external bad transport", "[[turn.external]]\nurls = [\"turn:t.example.org?transport=sctp\"]\nuse_secret = true\n", []string{"transport=udp or transport=tcp"}},
		{"external stun query", "[[turn.external]]\nurls = [\"stun:s.example.org?transport=udp\"]\n", []string{"a stun: URL has no query"}},
		{"external bare ipv6", "[[turn.external]]\nurls = [\"stun:::1:3478\"]\n", []string{"write an IPv6 address in brackets"}},
		{"external double slash", "[[turn.external]]\nurls = [\"turn://t.example.org\"]\nuse_secret = true\n", []string{"(bad host)"}},
		{"external turn without credentials", "[[turn.external]]\nurls = [\"stun:s.example.org\"]\n[[turn.external]]\nurls = [\"turn:t.example.org\"]\n", []string{"turn.external: entry 2: turn: and turns: URLs need username and credential, or use_secret = true"}},
		{"external both", "[[turn.external]]\nurls = [\"turn:t.example.org\"]\nuse_secret = true\nusername = \"u\"\ncredential = \"c\"\n", []string{"turn.external: entry 1: set either use_secret or username and credential, not both"}},
		{"external secret for stun", "[[turn.external]]\nurls = [\"stun:s.example.org\"]\nuse_secret = true\n", []string{"use_secret is set but there is no turn: or turns: URL"}},
		{"external unknown key", "[[turn.external]]\nurl = [\"stun:s.example.org\"]\n", []string{`line 2: unknown key "turn.external.url" (did you mean "turn.external.urls"?)`}},
		{"external wrong type", "[[turn.external]]\nurls = \"stun:s.example.org\"\n", []string{"line 2: turn.external.urls: wrong type: want an array of strings, got a string"}},
		{"external wrong type inline", "[turn]\nexternal = [{ urls = [\"stun:s.example.org\"], use_secret = 1 }]\n", []string{"turn.external.use_secret: wrong type: want a boolean, got an integer"}},
		{"external as table", "[turn.external]\nurls = [\"stun:s.example.org\"]\n", []string{"line 1: turn.external: wrong type: want an array of tables, got a table"}},
		{"external as string", "[turn]\nexternal = \"stun:s.example.org\"\n", []string{"line 2: turn.external: wrong type: want an array of tables, got a string"}},
		{"turn as array of tables", "[[turn]]\nport = 1\n", []string{"line 1: turn: wrong type: want a table, got an array of tables"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "parley.toml", c.file)
			s, err := Load(path)
			wantError(t, err, append([]string{"parley.toml: "}, c.want...)...)
			if !reflect.DeepEqual(s, Server{}) {
				t.Errorf("Load returned %+v with an error", s)
			}
		})
	}
}

func TestTURNValid(t *testing.T) {
	path := writeFile(t, "parley.toml", `[turn]
enabled = false
listen_ip = "0.0.0.0"
public_ip = "203.0.113.7"
host = "turn.example.org"
tls_cert = "/etc/parley/cert.pem"
tls_key = "/etc/parley/key.pem"
secret = "0123456789abcdef0123"
ttl = "12h"
allow_peers = ["127.0.0.1", "10.0.0.0/8", "fd00::/8", "::ffff:192.168.1.0/120"]

[[turn.external]]
urls = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp", "turn:[2001:db8::1]:3478"]
use_secret = true

[[turn.external]]
urls = ["stun:stun.example.org", "stun:[2001:db8::2]"]

[[turn.external]]
urls = ["turn:relay.example.net"]
username = "u"
credential = "c"
`)
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.TURN.Enabled = false
	want.TURN.ListenIP, want.TURN.PublicIP, want.TURN.Host = "0.0.0.0", "203.0.113.7", "turn.example.org"
	want.TURN.TLSCert, want.TURN.TLSKey = "/etc/parley/cert.pem", "/etc/parley/key.pem"
	want.TURN.Secret = "0123456789abcdef0123"
	want.TURN.TTL = Duration(12 * time.Hour)
	want.TURN.AllowPeers = []string{"127.0.0.1", "10.0.0.0/8", "fd00::/8", "::ffff:192.168.1.0/120"}
	want.TURN.External = []ICEServer{
		{URLs: []string{"turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp", "turn:[2001:db8::1]:3478"}, UseSecret: true},
		{URLs: []string{"stun:stun.example.org", "stun:[2001:db8::2]"}},
		{URLs: []string{"turn:relay.example.net"}, Username: "u", Credential: "c"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s.TURN, want.TURN)
	}

	// The same as inline tables, and through a TOML round trip.
	inline := writeFile(t, "parley.toml", `turn.external = [{ urls = ["stun:stun.example.org"] }, { urls = ["turn:t.example.org"], use_secret = true }]`+"\n")
	s, err = Load(inline)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.TURN.External) != 2 || !s.TURN.External[1].UseSecret {
		t.Fatalf("inline: %+v", s.TURN.External)
	}
	data, err := toml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(writeFile(t, "parley.toml", string(data)))
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip: %v\n%s", err, data)
	}

	// A disabled server with 0.0.0.0 needs no public_ip.
	s = Default()
	s.TURN.Enabled, s.TURN.ListenIP = false, "::"
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}

	// The secret and fixed credentials never appear in JSON.
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{want.TURN.Secret, `"c"`, `"credential"`, `"secret"`} {
		if strings.Contains(string(b), secret) {
			t.Errorf("JSON %s contains %s", b, secret)
		}
	}
}

func TestParsePeerPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1/32", "10.1.2.3/8": "10.0.0.0/8", "::1": "::1/128", "fd00::/8": "fd00::/8",
		"::ffff:192.168.1.7": "192.168.1.7/32", "::ffff:192.168.1.0/120": "192.168.1.0/24",
	} {
		p, err := ParsePeerPrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePeerPrefix(%q) = %v, %v, want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "x", "10.0.0.0/33", "10.0.0.0/", "/8", "10.0.0.256"} {
		if p, err := ParsePeerPrefix(in); err == nil {
			t.Errorf("ParsePeerPrefix(%q) = %v, want an error", in, p)
		}
	}
}

// FuzzLoadServer: any server file is either a clear error naming the
// file, or a configuration that validates.
func FuzzLoadServer(f *testing.F) {
	f.Add(ExampleServerFile())
	for _, s := range []string{
		"", "[http]\nlisten = 1\n", "[[auth.operators]]\nname = \"a\"\n", "auth.operators = [{ name = \"a\", password = 1 }]\n",
		"[turn]\nexternal = [{ urls = [\"stun:x\"] }]\n", "[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
		"[http]\ntls_cert = \"a\"\n", "[http]\nredirect_listen = \":80\"\n", "[signaling]\nping_interval = \"-1s\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseServer("parley.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parley.toml: ") {
				t.Fatalf("error does not name the file: %q", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v\n%q", err, data)
		}
	})
}

func TestCheckRooms(t *testing.T) {
	room := Room{Name: "r", Notify: true, NotifyAddresses: map[string]string{"ann": "ann@example.org"}}
	s := Default()
	wantError(t, CheckRooms(s, []Room{room}), "mail.host: room r has notify = true", "http.base_url: room r has notify = true")
	s.Mail.Host, s.Mail.From, s.HTTP.BaseURL = "smtp.example.org", "parley <noreply@example.org>", "https://chat.example.org"
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := CheckRooms(s, []Room{room}); err != nil {
		t.Errorf("CheckRooms with mail and base_url: %v", err)
	}
	if err := CheckRooms(Default(), []Room{{Name: "quiet"}}); err != nil {
		t.Errorf("CheckRooms without notify: %v", err)
	}
}

func TestRoomNotify(t *testing.T) {
	r, err := ParseRoom("rooms/n.toml", []byte("mode = \"mediaForum\"\nnotify = true\n[notify_addresses]\nann = \"Ann <ann@example.org>\"\n\"Bob B\" = \"bob@example.org\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ann": "Ann <ann@example.org>", "Bob B": "bob@example.org"}
	if !r.Notify || !reflect.DeepEqual(r.NotifyAddresses, want) {
		t.Errorf("notify %v, addresses %v, want true, %v", r.Notify, r.NotifyAddresses, want)
	}
	if b, _ := json.Marshal(r); strings.Contains(string(b), "example.org") {
		t.Errorf("room JSON shows the addresses: %s", b)
	}
}

// TestChangedKeys: the keys a reload would change, secrets included, as
// dotted keys; an array of tables as one.
func TestChangedKeys(t *testing.T) {
	a := Default()
	if got := ChangedKeys(a, Default()); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
	b := Default()
	b.Log.Level = "debug"
	b.HTTP.AllowedOrigins = []string{"https://example.org"}
	b.Admin.Tokens = []AdminToken{{Name: "ann", Token: "x"}}
	b.TURN.Secret = "another secret of sixteen characters"
	got := ChangedKeys(a, b)
	want := []string{"http.allowed_origins", "turn.secret", "admin.tokens", "log.level"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ChangedKeys: %v, want %v", got, want)
	}
}
