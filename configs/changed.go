package configs

import "reflect"

// ChangedKeys lists, as dotted keys ("http.allowed_origins"), the keys
// whose values differ between two server configurations: what a reload
// of the server file changes. An array of tables ("admin.tokens") is one
// key.
func ChangedKeys(old, cur Server) []string {
	return changedKeys(reflect.ValueOf(old), reflect.ValueOf(cur), nil, nil)
}

func changedKeys(a, b reflect.Value, prefix []string, out []string) []string {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		name, ok := tomlName(t.Field(i))
		if !ok {
			continue
		}
		path := append(append([]string(nil), prefix...), name)
		fa, fb := a.Field(i), b.Field(i)
		if fa.Kind() == reflect.Struct {
			out = changedKeys(fa, fb, path, out)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			out = append(out, keyString(path))
		}
	}
	return out
}
