package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is one configuration problem. Its text is
//
//	FILE: line LINE: KEY: PROBLEM
//
// with the parts that are empty (or a zero Line) left out, for example
// "parley.toml: http.listen: port 70000 out of range 1-65535". When a file has
// several problems, Load, LoadRooms, ParseRoom and the Validate methods
// return them joined with errors.Join; each one is an *Error (use errors.As,
// or the Unwrap() []error method of the joined error, to get at them).
type Error struct {
	File    string // the file the problem is in; empty for Validate on a value
	Line    int    // 1-based line in File, 0 when unknown
	Key     string // dotted key such as "media.udp_port"; empty when not about one key
	Problem string

	err error // underlying error, if any (for errors.Is, e.g. fs.ErrNotExist)
}

func (e *Error) Error() string {
	var b strings.Builder
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	add(e.File)
	if e.Line > 0 {
		add("line " + strconv.Itoa(e.Line))
	}
	add(e.Key)
	add(e.Problem)
	return b.String()
}

// Unwrap returns the underlying error (such as an *fs.PathError's cause), or nil.
func (e *Error) Unwrap() error { return e.err }

// problems collects the problems found by a validation.
type problems []*Error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &Error{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// err returns nil, the only problem, or all problems joined, after setting
// File on each one that has none.
func (p problems) err(file string) error {
	for _, e := range p {
		if e.File == "" {
			e.File = file
		}
	}
	switch len(p) {
	case 0:
		return nil
	case 1:
		return p[0]
	}
	errs := make([]error, len(p))
	for i, e := range p {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// readError describes a failure to read file.
func readError(file string, err error) *Error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Op + ": " + pe.Err.Error()
	}
	return &Error{File: file, Problem: "cannot read: " + msg, err: err}
}

// decodeStrict decodes the TOML document data on top of *dst, which must be
// a pointer to a struct. Keys absent from data keep their value in *dst.
// Unknown keys and values of the wrong type are errors naming file, line
// and key.
func decodeStrict(file string, data []byte, dst any) error {
	root := reflect.TypeOf(dst).Elem()
	if p := checkTypes(data, root); len(p) > 0 {
		return p.err(file)
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(file, err, root)
	}
	return nil
}

// decodeError turns an error from go-toml into *Error values.
func decodeError(file string, err error, root reflect.Type) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		var p problems
		for i := range sm.Errors {
			e := &sm.Errors[i]
			line, _ := e.Position()
			key := keyString(e.Key())
			p = append(p, &Error{Line: line, Problem: unknownKey(key, root), err: e})
		}
		if len(p) > 0 {
			return p.err(file)
		}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return &Error{File: file, Line: line, Key: keyString(de.Key()), Problem: decodeProblem(de.Error()), err: de}
	}
	return &Error{File: file, Problem: strings.TrimPrefix(err.Error(), "toml: "), err: err}
}

var mismatchRE = regexp.MustCompile(`^cannot decode TOML (.+) into struct field \S+ of type (\S+)$`)

// decodeProblem rewrites a go-toml message for people who do not read Go.
func decodeProblem(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	if m := mismatchRE.FindStringSubmatch(msg); m != nil {
		return "wrong type: want " + goTypeWord(m[2]) + ", got " + article(m[1])
	}
	return msg
}

func goTypeWord(t string) string {
	switch t {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string", "configs.Mode":
		return "a string"
	case "bool":
		return "a boolean"
	case "[]string":
		return "an array of strings"
	case "configs.Duration":
		return `a duration string like "15s"`
	}
	if strings.HasPrefix(t, "[]configs.") {
		return "an array of tables"
	}
	if strings.HasPrefix(t, "configs.") {
		return "a table"
	}
	return article(t)
}

func article(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}

// unknownKey words the problem of an unknown key, suggesting the known key
// that was probably meant.
func unknownKey(key string, root reflect.Type) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if s := suggest(key, knownKeys(root, nil, nil)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}

// knownKeys lists the dotted keys (tables and leaves) of the struct type t.
func knownKeys(t reflect.Type, prefix []string, out []string) []string {
	for i := 0; i < t.NumField(); i++ {
		name, ok := tomlName(t.Field(i))
		if !ok {
			continue
		}
		path := append(append([]string(nil), prefix...), name)
		out = append(out, keyString(path))
		if ft := t.Field(i).Type; ft.Kind() == reflect.Struct {
			out = knownKeys(ft, path, out)
		} else if isTableArray(ft) {
			out = knownKeys(ft.Elem(), path, out)
		}
	}
	return out
}

func suggest(key string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
		if d := editDistance(key, k); d < bestD && d*3 <= len(k) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// keyString writes a key path in TOML's dotted form, quoting parts that are
// not bare keys.
func keyString(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		if bareKey.MatchString(p) {
			parts[i] = p
		} else {
			parts[i] = strconv.Quote(p)
		}
	}
	return strings.Join(parts, ".")
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlName is the TOML key of a struct field, or false if the field is not
// decoded.
func tomlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return f.Name, true
	}
	return name, true
}

var durationType = reflect.TypeOf(Duration(0))

// checkTypes walks the TOML document and checks, for every key that names a
// field of root, that the value has the right TOML type. go-toml would accept
// an integer for a Duration (it is an int64) and matches keys to fields
// ignoring case; this pass refuses both, and gives the line of each problem.
// Unknown keys are left to the strict decoder; a document that does not
// parse gives no problems here so that the decoder reports the syntax error.
func checkTypes(data []byte, root reflect.Type) problems {
	var (
		p      unstable.Parser
		out    problems
		prefix []string
	)
	line := func(n *unstable.Node) int {
		if n == nil || (n.Raw.Offset == 0 && n.Raw.Length == 0) {
			return 0
		}
		return p.Shape(n.Raw).Start.Line
	}
	var checkValue func(path []string, keyNode, v *unstable.Node)
	checkValue = func(path []string, keyNode, v *unstable.Node) {
		t, n, msg := resolve(root, path)
		switch {
		case msg != "":
			out = append(out, &Error{Line: line(keyNode), Problem: msg})
			return
		case t == nil:
			return // unknown key: reported by the decoder
		case n < len(path):
			out = append(out, &Error{Line: line(keyNode), Key: keyString(path[:n]),
				Problem: "wrong type: want " + typeWord(t) + ", got a table"})
			return
		}
		if !accepts(t, v.Kind) {
			out = append(out, &Error{Line: line(keyNode), Key: keyString(path),
				Problem: "wrong type: want " + typeWord(t) + ", got " + kindWord(v.Kind)})
			return
		}
		switch v.Kind {
		case unstable.String:
			if t == durationType {
				if _, err := time.ParseDuration(string(v.Data)); err != nil {
					out = append(out, &Error{Line: line(keyNode), Key: keyString(path),
						Problem: fmt.Sprintf("want a duration like \"15s\", got %q", v.Data)})
				}
			}
		case unstable.Array:
			it := v.Children()
			for it.Next() {
				e := it.Node()
				if !accepts(t.Elem(), e.Kind) {
					l := line(e)
					if l == 0 {
						l = line(keyNode)
					}
					out = append(out, &Error{Line: l, Key: keyString(path),
						Problem: "wrong type: want " + typeWord(t) + ", got an array containing " + kindWord(e.Kind)})
					return
				}
				if e.Kind == unstable.InlineTable {
					kvs := e.Children()
					for kvs.Next() {
						kv := kvs.Node()
						if kv.Kind != unstable.KeyValue {
							continue
						}
						sub, first := keyParts(kv)
						checkValue(append(append([]string(nil), path...), sub...), first, kv.Value())
					}
				}
			}
		case unstable.InlineTable:
			it := v.Children()
			for it.Next() {
				kv := it.Node()
				if kv.Kind != unstable.KeyValue {
					continue
				}
				sub, first := keyParts(kv)
				checkValue(append(append([]string(nil), path...), sub...), first, kv.Value())
			}
		}
	}

	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var first *unstable.Node
			prefix, first = keyParts(e)
			t, n, msg := resolve(root, prefix)
			switch {
			case msg != "":
				out = append(out, &Error{Line: line(first), Problem: msg})
			case t == nil:
			case e.Kind == unstable.ArrayTable && n == len(prefix) && isTableArray(t):
			case n < len(prefix) || (t.Kind() != reflect.Struct && t.Kind() != reflect.Map):
				got := "a table"
				if e.Kind == unstable.ArrayTable {
					got = "an array of tables"
				}
				out = append(out, &Error{Line: line(first), Key: keyString(prefix[:n]),
					Problem: "wrong type: want " + typeWord(t) + ", got " + got})
			case e.Kind == unstable.ArrayTable:
				out = append(out, &Error{Line: line(first), Key: keyString(prefix),
					Problem: "wrong type: want a table, got an array of tables"})
			}
		case unstable.KeyValue:
			sub, first := keyParts(e)
			checkValue(append(append([]string(nil), prefix...), sub...), first, e.Value())
		}
	}
	if p.Error() != nil {
		return nil
	}
	return out
}

// keyParts returns the key of a KeyValue, Table or ArrayTable node and its
// first key node (for the position).
func keyParts(n *unstable.Node) ([]string, *unstable.Node) {
	var (
		parts []string
		first *unstable.Node
	)
	it := n.Key()
	for it.Next() {
		if first == nil {
			first = it.Node()
		}
		parts = append(parts, string(it.Node().Data))
	}
	return parts, first
}

// resolve follows path through the struct type root. It returns the type
// reached and how many parts of path were consumed: n == len(path) means path
// names a field of type t; n < len(path) with t != nil means path[:n] is a
// field that is not a table; t == nil means the key is unknown. A part that
// matches a field only when ignoring case gives a problem message instead.
func resolve(root reflect.Type, path []string) (t reflect.Type, n int, problem string) {
	t = root
	for n < len(path) {
		if isTableArray(t) {
			// A key inside [[array.of.tables]] or an inline table of
			// an array names a field of the element.
			t = t.Elem()
		}
		if t.Kind() == reflect.Map {
			// Any key of a table that decodes into a map is an entry.
			t = t.Elem()
			n++
			continue
		}
		if t.Kind() != reflect.Struct {
			return t, n, ""
		}
		var found, folded bool
		var want string
		for i := 0; i < t.NumField(); i++ {
			name, ok := tomlName(t.Field(i))
			if !ok {
				continue
			}
			if name == path[n] {
				t, found = t.Field(i).Type, true
				break
			}
			if strings.EqualFold(name, path[n]) {
				folded, want = true, name
			}
		}
		if !found {
			if folded {
				fix := append(append([]string(nil), path[:n]...), want)
				return nil, n, fmt.Sprintf("unknown key %q (keys are case-sensitive: did you mean %q?)",
					keyString(path[:n+1]), keyString(fix))
			}
			return nil, n, ""
		}
		n++
	}
	return t, n, ""
}

// isTableArray reports whether t is a slice of structs: an array of tables
// in TOML.
func isTableArray(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

func accepts(t reflect.Type, k unstable.Kind) bool {
	if t == durationType {
		return k == unstable.String
	}
	switch t.Kind() {
	case reflect.String:
		return k == unstable.String
	case reflect.Bool:
		return k == unstable.Bool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return k == unstable.Integer
	case reflect.Float32, reflect.Float64:
		return k == unstable.Integer || k == unstable.Float
	case reflect.Slice:
		return k == unstable.Array
	case reflect.Struct, reflect.Map:
		return k == unstable.InlineTable
	}
	return false
}

func typeWord(t reflect.Type) string {
	if t == durationType {
		return `a duration string like "15s"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(typeWord(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "a table"
	case reflect.Map:
		return "a table of " + strings.TrimPrefix(strings.TrimPrefix(typeWord(t.Elem()), "a "), "an ") + "s"
	}
	return article(t.String())
}

func kindWord(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Bool:
		return "a boolean"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	case unstable.LocalDateTime, unstable.DateTime:
		return "a date-time"
	}
	return "a " + strings.ToLower(k.String())
}
