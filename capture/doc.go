// Package capture turns a participant's published tracks into clips: it
// is the recording orchestration between sfu (where the media arrives),
// recorder (which writes WebM) and clips (which stores it).
//
// It owns:
//   - choosing the tracks of a clip (Pick: one audio track, then at most
//     one video track);
//   - a Recording: a pending clip of a clips.Store, a recorder writing
//     into it, its sinks attached to the up tracks, and a backstop timer
//     that ends a recording whose media stopped arriving; Finish stores
//     the clip (or discards it: no media, or less than the room's
//     minimum), Cancel discards it whatever it holds;
//   - the Archiver of live rooms: it watches a participant's audio, starts
//     a recording at the first packet after a silence and stores it after
//     a second of silence (not when it is shorter than the room's
//     minimum), with a goroutine that it owns (Close stops it and waits
//     for it). A spurt is stored as played for those who heard it live,
//     whom Config.HeardBy names: capture does not know the room's
//     members.
//
// It does not own the protocol: when to start or stop, what the client is
// told and which errors it sees are signaling's. Nor does it own the clip
// files (clips) or the WebM writing and A/V sync (recorder).
//
// Configuration is a value (Config) given to each Start; there is no
// package state. A Recording is owned by one caller, which calls Finish
// or Cancel exactly once; onLimit callbacks may come from other
// goroutines.
package capture
