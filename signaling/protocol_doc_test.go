package signaling

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// protocolDoc is the protocol reference. Its message index (one example
// of every message, client to server and server to client) and its
// tables of codes are checked here against the code, so that a message
// type or error code added without a line in the reference, or an
// example the server would not send or read, fails the tests. The index's
// format is stated in an HTML comment at its top.
const protocolDoc = "../docs/protocol.md"

// serverMessages maps every server-to-client message type to the Go
// struct the server encodes it with; nil for a message the protocol
// allows but the server does not send today. A new server message needs
// an entry here.
var serverMessages = map[string]any{
	TypeJoined:            joinedMessage{},
	TypeParticipantJoined: presenceMessage{},
	TypeParticipantLeft:   presenceMessage{},
	TypeSpeaking:          speakingMessage{},
	TypeViewers:           viewersMessage{},
	TypeVideoPaused:       videoPausedMessage{},
	TypeDownlink:          downlinkMessage{},
	TypeChat:              chatMessage{},
	TypeOffer:             sdpMessage{},
	TypeAnswer:            sdpMessage{},
	TypeCandidate:         nil,
	TypePong:              pongMessage{},
	TypeRedirect:          redirectMessage{},
	TypeError:             errorMessage{},
	TypeBye:               byeMessage{},
	TypeRecording:         recordingMessage{},
	TypeRecordStopped:     recordStoppedMessage{},
	TypeClipAdded:         clipMessage{},
	TypeClipUpdated:       clipMessage{},
	TypeClipRemoved:       clipMessage{},
	TypeCallRinging:       callMessage{},
	TypeCallIncoming:      callMessage{},
	TypeCallStarted:       callMessage{},
	TypeCallHeld:          callMessage{},
	TypeCallEnded:         callMessage{},
	TypeClipsCleared:      clearedMessage{},
	TypeRoomState:         roomStateMessage{},
	TypeStationState:      stationStateMessage{},
	TypeStationCommand:    stationCommandMessage{},
}

// docExample is one row of the message index.
type docExample struct {
	line int
	typ  string // the first column
	json string // the second
}

func TestProtocolDoc(t *testing.T) {
	data, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	types, codes := packageConstants(t)
	if len(types) == 0 || len(codes) == 0 {
		t.Fatalf("found no Type* or Err* string constants in package signaling")
	}

	index := section(doc, "## Message index")
	if index == "" {
		t.Fatalf("%s: no section %q", protocolDoc, "## Message index")
	}
	client := parseIndex(t, doc, section(index, "### Client to server"), "Client to server")
	server := parseIndex(t, doc, section(index, "### Server to client"), "Server to client")

	// (a) Every message type has an example.
	for _, value := range slices.Sorted(maps.Keys(types)) {
		if name := types[value]; !hasType(client, value) && !hasType(server, value) {
			t.Errorf("%s: message index: no example of %q (%s): add a row to a table of ## Message index", protocolDoc, value, name)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(serverMessages)) {
		if !hasType(server, typ) {
			t.Errorf("%s: message index: no example of server message %q under ### Server to client", protocolDoc, typ)
		}
	}

	// (b) Every example is a JSON object of a known type, the row's.
	// (c) Its fields are fields of the struct that carries it.
	for _, ex := range client {
		m := checkExample(t, ex, types, "Client to server")
		if m == nil {
			continue
		}
		checkFields(t, ex, m, clientMessage{})
	}
	for _, ex := range server {
		m := checkExample(t, ex, types, "Server to client")
		if m == nil {
			continue
		}
		v, ok := serverMessages[ex.typ]
		switch {
		case !ok:
			t.Errorf("%s:%d: %q is under ### Server to client, but serverMessages (protocol_doc_test.go) has no entry for it: add its Go struct there (nil if the server never sends it)",
				protocolDoc, ex.line, ex.typ)
		case v != nil:
			checkFields(t, ex, m, v)
		}
		if ex.typ == TypeJoined {
			if p, ok := m["protocol"]; !ok || string(p) != strconv.Itoa(ProtocolVersion) {
				t.Errorf("%s:%d: the joined example must announce \"protocol\": %d (ProtocolVersion), has %s", protocolDoc, ex.line, ProtocolVersion, p)
			}
		}
	}

	// (d) Every error code is in a table of ## Errors or ## Ending a
	// session (bye codes and close reasons), and those tables name no
	// code the server does not have.
	documented := map[string]bool{}
	for _, name := range []string{"## Errors", "## Ending a session"} {
		sec := section(doc, name)
		if sec == "" {
			t.Errorf("%s: no section %q", protocolDoc, name)
		}
		for _, m := range tableKeyRE.FindAllStringSubmatch(sec, -1) {
			documented[m[1]] = true
			if _, ok := codes[m[1]]; !ok {
				t.Errorf("%s: %s lists the code %q, which is no Err* constant of package signaling", protocolDoc, name, m[1])
			}
		}
	}
	for _, value := range slices.Sorted(maps.Keys(codes)) {
		if name := codes[value]; !documented[value] {
			t.Errorf("%s: the code %q (%s) is in neither the table of ## Errors nor that of ## Ending a session", protocolDoc, value, name)
		}
	}

	checkAnchors(t, doc)
}

// packageConstants returns the string constants of the package's own
// (non-test) files whose names start with Type and Err: value to name.
// They are read from the source so that a constant added anywhere in the
// package is seen without a list to keep up to date.
func packageConstants(t *testing.T) (types, codes map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	types, codes = map[string]string{}, map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					value, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatalf("%s: constant %s: %v", fset.Position(lit.Pos()), id.Name, err)
					}
					switch {
					case exportedWithPrefix(id.Name, "Type"):
						types[value] = id.Name
					case exportedWithPrefix(id.Name, "Err"):
						codes[value] = id.Name
					}
				}
			}
		}
	}
	return types, codes
}

// exportedWithPrefix reports whether name is prefix followed by a
// capital: TypeJoin, not Typeface.
func exportedWithPrefix(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && rest != "" && unicode.IsUpper([]rune(rest)[0])
}

// section returns the part of md from the heading line to the next
// heading of the same or a higher level, or "" if there is none.
func section(md, heading string) string {
	level := strings.Count(strings.Fields(heading)[0], "#")
	start := -1
	lines := strings.SplitAfter(md, "\n")
	var b strings.Builder
	for i, l := range lines {
		if start < 0 {
			if strings.TrimSpace(l) == heading {
				start = i
				b.WriteString(l)
			}
			continue
		}
		if h := strings.Fields(l); len(h) > 0 && strings.Trim(h[0], "#") == "" && len(h[0]) <= level {
			break
		}
		b.WriteString(l)
	}
	return b.String()
}

// indexRowRE matches a row of the message index: | `type` | `example` | …
var indexRowRE = regexp.MustCompile("^\\|\\s*`([^`]*)`\\s*\\|\\s*`([^`]*)`\\s*\\|")

// tableKeyRE matches the backticked first cell of a table row.
var tableKeyRE = regexp.MustCompile("(?m)^[ \\t]*\\|\\s*`([^`]*)`\\s*\\|")

// parseIndex reads the rows of one table of the message index.
func parseIndex(t *testing.T, doc, sec, name string) []docExample {
	t.Helper()
	if sec == "" {
		t.Errorf("%s: ## Message index has no section ### %s", protocolDoc, name)
		return nil
	}
	first := strings.Count(doc[:strings.Index(doc, sec)], "\n") + 1
	var out []docExample
	for i, l := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		m := indexRowRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("%s:%d: a row of ### %s that is not | `type` | `example` | …", protocolDoc, first+i, name)
			continue
		}
		out = append(out, docExample{line: first + i, typ: m[1], json: m[2]})
	}
	if len(out) == 0 {
		t.Errorf("%s: ### %s has no rows", protocolDoc, name)
	}
	return out
}

func hasType(exs []docExample, typ string) bool {
	return slices.ContainsFunc(exs, func(e docExample) bool { return e.typ == typ })
}

// checkExample checks that an example is one JSON object whose type is a
// message type and the row's. It returns the object's fields, or nil.
func checkExample(t *testing.T, ex docExample, types map[string]string, table string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ex.json), &m); err != nil {
		t.Errorf("%s:%d: the example of %q is not a JSON object: %v", protocolDoc, ex.line, ex.typ, err)
		return nil
	}
	var typ string
	if err := json.Unmarshal(m["type"], &typ); err != nil {
		t.Errorf("%s:%d: the example of %q has no string \"type\"", protocolDoc, ex.line, ex.typ)
		return nil
	}
	if _, ok := types[typ]; !ok {
		t.Errorf("%s:%d: (### %s) the example's type %q is no Type* constant of package signaling", protocolDoc, ex.line, table, typ)
		return nil
	}
	if typ != ex.typ {
		t.Errorf("%s:%d: the row of %q has an example of type %q", protocolDoc, ex.line, ex.typ, typ)
		return nil
	}
	return m
}

// checkFields checks that every field of the example is one that msg's
// type encodes (by its json tags, exactly), and that the example decodes
// into it with no unknown field at any depth and no value of the wrong
// kind.
func checkFields(t *testing.T, ex docExample, m map[string]json.RawMessage, msg any) {
	t.Helper()
	rt := reflect.TypeOf(msg)
	known := jsonFields(rt)
	for k := range m {
		if !slices.Contains(known, k) {
			t.Errorf("%s:%d: the example of %q has the field %q, which %s does not have (it has %s)",
				protocolDoc, ex.line, ex.typ, k, rt.Name(), strings.Join(known, ", "))
		}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(ex.json)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(reflect.New(rt).Interface()); err != nil {
		t.Errorf("%s:%d: the example of %q does not decode into %s: %v", protocolDoc, ex.line, ex.typ, rt.Name(), err)
	}
}

// jsonFields returns the JSON names of a struct type's fields, as
// encoding/json uses them (embedded structs without a tag are inlined).
func jsonFields(rt reflect.Type) []string {
	var out []string
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// linkRE matches a link to a part of the same page.
var linkRE = regexp.MustCompile(`\]\(#([^)]*)\)`)

// checkAnchors checks that every link to #anchor in the page names one
// of its headings, by GitHub's rule: lower case, punctuation dropped,
// spaces as hyphens.
func checkAnchors(t *testing.T, doc string) {
	t.Helper()
	anchors := map[string]bool{}
	for l := range strings.Lines(doc) {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(l, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		anchors[b.String()] = true
	}
	for _, m := range linkRE.FindAllStringSubmatch(doc, -1) {
		if !anchors[m[1]] {
			t.Errorf("%s: the link to #%s names no heading of the page", protocolDoc, m[1])
			anchors[m[1]] = true // once is enough
		}
	}
}
