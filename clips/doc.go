// Package clips is the clip store: it owns the catalog of each room's
// clips, their metadata, the room limits and eviction, drafts, uploads,
// crash recovery, who has played which clip, and the HTTP serving of
// clips.
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
//	played/<owner>.json               the clips an owner has played (see Played)
//	quarantine/                       files the store could not make sense of
//
// Metadata is written crash-safely (temporary file, fsync, rename, fsync of
// the folder). On Open the catalog is rebuilt from the .json files, and
// every leftover .part is recovered (a recording cut off by a crash, remuxed
// into a seekable WebM) or moved to quarantine; leftover uploads are
// deleted.
//
// A file under its final name is never written again: media is written
// under its .part name (where the recorder goes back to fill in its
// header) and renamed, whole and synced, before its metadata is written,
// and every other file is replaced by a rename. That order is also what makes a copy of the
// folder taken file by file while the server runs (a backup) open as
// after a crash, every clip listed whole (server's TestBackupWhileRunning
// checks it): keep it.
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
// # Played
//
// A room remembers, per owner (OwnerOf a key, never the key), which of
// its published clips that owner has played (MarkPlayed), so that every
// device of the owner shows the same clips as new, across reloads and
// restarts; the clips of a talk spurt are played from the start for
// those who heard it live (Pending.HeardLive). Views of a clip carry it
// as Played: List, and Event.ForViewer for events; one's own clips are
// always played, and nobody else's draft can be marked.
//
// It is kept in played/<owner>.json, one small file per owner:
// {"owner", "active" (when the owner last played a clip), "clips" (ids)}.
// MarkPlayed writes the owner's file (crash-safely) before it returns;
// other changes (clips removed, talk spurts heard live, owners
// forgotten) are made in memory at once and written by the next sweep
// or Close, one file per changed owner however many clips changed. It is
// bounded: a file holds only ids of clips the room has, so at most
// max_clip_count of them (a clip deleted, expired or evicted leaves
// every file it is in), and a room remembers at most
// DefaultPlayedOwners owners (WithPlayedOwners): a new one makes the
// least recently active forgotten, so that made-up owner keys cannot
// fill the disk (though they can push real owners out, whose clips then
// show as new again). On Open the files are read after the catalog:
// ids of clips gone meanwhile are dropped, and a file that makes no
// sense (not JSON, another owner's, a malformed id, larger than the
// room's clips could need) is moved to quarantine/ as played-<name>
// with a log line; its owner's clips show as unplayed, and no clip is
// lost.
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
// Each room has one mutex around its catalog, its played clips and the
// renames and removals of its files; the played files are written
// outside it, in order, under a second mutex taken before it. Events are queued under that mutex and delivered after it
// is released, in order per room, possibly by another goroutine that is
// delivering the room's events at the time; the callback may call the
// store.
package clips
