// Package clips is the clip store: it owns the catalog of each room's
// clips, their metadata, the room limits and eviction, drafts, uploads,
// crash recovery, and the HTTP serving of clips.
//
// It does not record: the recorder writes into a Pending that the store
// hands out (Begin), and the store takes the file over on Commit. It does
// not know about websockets: it reports every change through the callback
// given to SetNotify. It parses media only through package clips/probe.
//
// # Storage
//
// Each room has a folder <data>/rooms/<room>/, owned by package
// internal/roomdir, which opens it as an os.Root so that no name can reach
// outside it, and hands it to the store at Open; the store keeps:
//
//	clips/<id>.webm, clips/<id>.ogg   the media
//	clips/<id>.json                   its metadata (every field, the owner included)
//	clips/<id>.part                   media being recorded or uploaded
//	clips/<id>.part.json              sidecar written at Begin: the intended metadata
//	clips/<id>.upload                 an upload's raw bytes while they are checked
//	clips/*.tmp                       files being written (fsync, then renamed)
//	quarantine/                       files the store could not make sense of
//
// Metadata is written crash-safely (temporary file, fsync, rename, fsync of
// the folder). On Open the catalog is rebuilt from the .json files, and
// every leftover .part is recovered (a recording cut off by a crash, remuxed
// into a seekable WebM) or moved to quarantine; leftover uploads are
// deleted.
//
// # Limits
//
// The room's limits (configs.Room) are applied on every add and publish and
// by the sweeper: clips expire clip_lifetime after they were created (the
// sweeper deletes them; they are never listed or served once expired);
// beyond max_clip_count or max_room_bytes the oldest published clips are
// evicted first, then, only if that is not enough, the oldest drafts
// (drafts also expire, like published clips). The
// clip being added or published is never evicted, and it always fits since
// max_room_bytes >= max_clip_bytes. Drafts count toward both limits so that
// drafts cannot fill the disk; the price is that a flood of drafts can push
// published clips out, as new published clips would.
//
// # Who reads
//
// In an open room anyone may list the published clips and fetch their
// media. In a password or token room only a caller that the AuthFunc
// knows may (a participant's owner key, or a join token's holder, who
// may only read), and a clip's media also opens with its key (Clip.Key,
// ?key=): a MAC of the room and the id under the media key given to Open
// (WithMediaKey), so that <audio src> and download links work without
// headers. Keys are derived on the fly, never stored. A draft opens only
// for its owner or with its draft token, never with a key.
//
// # Concurrency
//
// Each room has one mutex around its catalog and the renames and removals
// of its files. Events are queued under that mutex and delivered after it
// is released, in order per room, possibly by another goroutine that is
// delivering the room's events at the time; the callback may call the
// store.
package clips
