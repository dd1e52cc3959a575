// Package configs owns parley's configuration: the schema of the server file
// and of room files, the built-in defaults, the five mode presets, the example
// room files, strict loading and validation. It does not start anything.
//
// Configuration is passed around as values: Load returns a Server, LoadRooms
// returns the rooms, and nothing is kept in package state. The only package
// variable is the embedded file system holding the preset files, the example
// rooms and the annotated example server file.
//
// Loading is strict. An unknown key (including a key that differs from a known
// one only in letter case), a value of the wrong TOML type, a duration that is
// not a Go duration string, or a value out of range is an error, and every
// error names the file, the line when known, the key and the problem:
//
//	parley.toml: line 3: media.udp_port: wrong type: want an integer, got a string
//	rooms/x.toml: max_clip_bytes: must be at least 1024, got -5
//
// A room file names its mode; the room starts from that mode's preset (see
// Preset) and the file overrides any of the preset's keys.
package configs
