//go:build race

package sfu

// raceEnabled: the tests run with the race detector, which slows every
// goroutine several times over.
const raceEnabled = true
