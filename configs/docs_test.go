package configs

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// configDoc is the configuration reference. Its tables are checked here
// against the schema, so that a key added to Server or Room without a
// line in the reference, a key the reference names but the schema does
// not have, or a default that changed in one place only fails the tests.
// The table format is stated in an HTML comment at the top of the file.
const configDoc = "../docs/configuration.md"

// docKey is a key documented in one row of a table of configDoc.
type docKey struct {
	key   string
	line  int
	value string   // the backticked default (server) or "" if none
	modes []string // room tables: the cell of each mode column
}

// schemaKey is a key of the server file or of a room file.
type schemaKey struct {
	key   string
	typ   reflect.Type
	value reflect.Value // the built-in default (server keys)
	entry bool          // a key of an entry of an array of tables
	index []int         // the field of Room (room keys)
}

func TestConfigurationDoc(t *testing.T) {
	data, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	server, rooms, modes, problems := parseConfigDoc(string(data))
	for _, p := range problems {
		t.Errorf("%s: %s", configDoc, p)
	}

	t.Run("server", func(t *testing.T) {
		want := map[string]schemaKey{}
		serverKeys(reflect.ValueOf(Default()), "", false, want)
		checkDocKeys(t, server, want, func(d docKey, s schemaKey) error {
			if d.value == "" {
				if s.entry {
					return nil // a key of [[...]] entries may say "required" instead
				}
				return fmt.Errorf("no default in backticks")
			}
			if s.entry {
				return checkValue(d.value, reflect.Zero(s.typ))
			}
			return checkValue(d.value, s.value)
		})
	})

	t.Run("room", func(t *testing.T) {
		want := map[string]schemaKey{}
		rt := reflect.TypeFor[Room]()
		for i := range rt.NumField() {
			f := rt.Field(i)
			if name, ok := tomlName(f); ok {
				want[name] = schemaKey{key: name, typ: f.Type, index: f.Index}
			}
		}
		presets := map[string]reflect.Value{}
		for _, m := range modes {
			p, err := Preset(Mode(m))
			if err != nil {
				t.Fatalf("%s: room table column %q: %v", configDoc, m, err)
			}
			presets[m] = reflect.ValueOf(p)
		}
		checkDocKeys(t, rooms, want, func(d docKey, s schemaKey) error {
			for i, cell := range d.modes {
				field := presets[modes[i]].FieldByIndex(s.index)
				if cell == "" {
					if s.key != "mode" && !field.IsZero() {
						return fmt.Errorf("%s: empty, but the preset sets %v", modes[i], field.Interface())
					}
					continue
				}
				if err := checkValue(presetCell(cell), field); err != nil {
					return fmt.Errorf("%s: %v", modes[i], err)
				}
			}
			return nil
		})
	})
}

// checkDocKeys reports keys of want that doc lacks, keys of doc that want
// lacks, keys documented twice, and what check says of each documented key.
func checkDocKeys(t *testing.T, doc []docKey, want map[string]schemaKey, check func(docKey, schemaKey) error) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range doc {
		if l, ok := seen[d.key]; ok {
			t.Errorf("%s:%d: key %s is documented again (first at line %d)", configDoc, d.line, d.key, l)
			continue
		}
		seen[d.key] = d.line
		s, ok := want[d.key]
		if !ok {
			t.Errorf("%s:%d: key %s is documented but the configuration has no such key", configDoc, d.line, d.key)
			continue
		}
		if err := check(d, s); err != nil {
			t.Errorf("%s:%d: key %s: %v", configDoc, d.line, d.key, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := seen[k]; !ok {
			t.Errorf("%s: key %s is not documented: add a row for it", configDoc, k)
		}
	}
}

// serverKeys walks v (a Server, or a section of one) and adds every key,
// named section.key, to keys. A section is a struct field; an array of
// tables (a slice of structs) is a key of its own and its entries' fields
// are keys below it, marked entry.
func serverKeys(v reflect.Value, prefix string, entry bool, keys map[string]schemaKey) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := tomlName(f)
		if !ok {
			continue
		}
		key := prefix + name
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			serverKeys(fv, key+".", entry, keys)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			keys[key] = schemaKey{key: key, typ: f.Type, value: fv, entry: entry}
			serverKeys(reflect.Zero(f.Type.Elem()), key+".", true, keys)
		default:
			keys[key] = schemaKey{key: key, typ: f.Type, value: fv, entry: entry}
		}
	}
}

// checkValue decodes doc, a TOML value, into want's type and compares.
func checkValue(doc string, want reflect.Value) error {
	holder := reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "V", Type: want.Type(), Tag: `toml:"v"`},
	}))
	if err := toml.Unmarshal([]byte("v = "+doc), holder.Interface()); err != nil {
		return fmt.Errorf("documented default %s does not parse as a TOML %s: %v", doc, want.Type(), err)
	}
	got := holder.Elem().Field(0)
	if got.Kind() == reflect.Slice || got.Kind() == reflect.Map {
		if got.Len() == 0 && want.Len() == 0 {
			return nil // [] documents a nil slice as well as an empty one
		}
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		builtin := fmt.Sprintf("%#v", want.Interface())
		if s, ok := want.Interface().(fmt.Stringer); ok {
			builtin = s.String()
		}
		return fmt.Errorf("documented default %s, but the built-in one is %s", doc, builtin)
	}
	return nil
}

var (
	backticked  = regexp.MustCompile("`([^`]*)`")
	parenthesis = regexp.MustCompile(`\s*\([^)]*\)\s*$`)
)

// presetCell turns a room table's cell into a TOML value: `"720h"` (30
// days) is "720h", 50 MB is 50000000.
func presetCell(cell string) string {
	cell = parenthesis.ReplaceAllString(cell, "")
	cell = strings.ReplaceAll(cell, "`", "")
	if n, ok := strings.CutSuffix(cell, " MB"); ok {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil {
			return strconv.FormatInt(v*1_000_000, 10)
		}
	}
	return cell
}

// parseConfigDoc reads the key tables of the configuration reference:
// server tables (header | key | default | meaning |) and room tables
// (header | key | meaning | <mode> | ... |). Other tables are skipped.
func parseConfigDoc(doc string) (server, rooms []docKey, modes []string, problems []string) {
	const (
		none = iota
		serverTable
		roomTable
	)
	kind := none
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "|") {
			kind = none
			continue
		}
		cells := tableCells(line)
		if kind == none {
			// A header: the next line is the separator.
			if i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|-") {
				continue
			}
			i++
			switch {
			case reflect.DeepEqual(cells, []string{"key", "default", "meaning"}):
				kind = serverTable
			case len(cells) > 2 && cells[0] == "key" && cells[1] == "meaning":
				kind = roomTable
				if modes != nil && !reflect.DeepEqual(modes, cells[2:]) {
					problems = append(problems, fmt.Sprintf("line %d: room tables disagree on their mode columns", i))
				}
				modes = cells[2:]
				for _, m := range modes {
					if !Mode(m).Valid() {
						problems = append(problems, fmt.Sprintf("line %d: room table column %q is not a mode", i, m))
					}
				}
			default:
				kind = -1 // another table: skip its rows
			}
			continue
		}
		if kind < 0 {
			continue
		}
		n := i + 1
		keys := backticked.FindAllStringSubmatch(cells[0], -1)
		if len(keys) == 0 {
			problems = append(problems, fmt.Sprintf("line %d: no key in backticks in the first cell", n))
			continue
		}
		switch kind {
		case serverTable:
			if len(cells) != 3 {
				problems = append(problems, fmt.Sprintf("line %d: want 3 cells (key, default, meaning), got %d", n, len(cells)))
				continue
			}
			values := backticked.FindAllStringSubmatch(cells[1], -1)
			if len(values) != 0 && len(values) != 1 && len(values) != len(keys) {
				problems = append(problems, fmt.Sprintf("line %d: %d keys but %d defaults: give one default for all or one per key", n, len(keys), len(values)))
				continue
			}
			for j, k := range keys {
				d := docKey{key: k[1], line: n}
				switch len(values) {
				case 1:
					d.value = values[0][1]
				case len(keys):
					d.value = values[j][1]
				}
				server = append(server, d)
			}
		case roomTable:
			if len(cells) != 2+len(modes) {
				problems = append(problems, fmt.Sprintf("line %d: want %d cells (key, meaning and one per mode), got %d", n, 2+len(modes), len(cells)))
				continue
			}
			for _, k := range keys {
				rooms = append(rooms, docKey{key: k[1], line: n, modes: cells[2:]})
			}
		}
	}
	return server, rooms, modes, problems
}

// tableCells splits a Markdown table row into its trimmed cells. A | inside
// backticks does not end a cell.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	var (
		cells []string
		cell  strings.Builder
		code  bool
	)
	for _, r := range row {
		switch {
		case r == '`':
			code = !code
		case r == '|' && !code:
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
			continue
		}
		cell.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cell.String()))
}
