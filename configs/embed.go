package configs

import "embed"

// files holds the mode presets (presets/<mode>.toml), the example rooms that
// double as the built-in demo rooms (rooms/<name>.toml) and the annotated
// example server file (parley.toml).
//
//go:embed presets/*.toml rooms/*.toml parley.toml
var files embed.FS

// ExampleServerFile returns the annotated example server configuration
// (configs/parley.toml). Decoding it gives Default().
func ExampleServerFile() []byte {
	b, err := files.ReadFile("parley.toml")
	if err != nil {
		panic("configs: embedded parley.toml missing: " + err.Error())
	}
	return b
}
