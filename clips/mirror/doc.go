// Package mirror keeps a copy of rooms' clip folders in an S3 bucket
// (package objstore), for cluster mode: the node that holds a room works
// on its local folder, <data>/rooms/<room>/, and the bucket is the copy
// every node can read, so that the next node to hold the room starts from
// it. It knows the folder's layout (see package clips) but not the
// catalog: it copies files, and the caller re-reads the folder (Pull) or
// imports the clips it fetched (Fetch).
//
// # What is mirrored
//
// Only these files, each as the object rooms/<room>/<name>:
//
//	clips/<id>.webm, clips/<id>.ogg   media (video/webm, audio/ogg)
//	clips/<id>.json                   a clip's metadata (application/json)
//	played/<owner>.json               an owner's played clips (application/json)
//
// where <id> is a clip id and <owner> 64 hex digits. Files being written
// (.part, .part.json, .upload, .tmp) and quarantine/ are never mirrored,
// nor is a local file that is not a regular file (a symbolic link, a
// folder): it is never read.
//
// # State
//
// A Mirror remembers, per room, which files it had in the bucket and the
// local size and modification time each had then. Pull makes that the
// room's state; Push puts what changed since (size or time) and deletes
// what is gone; Forget drops the state (Push and Fetch then return
// ErrNotPulled) but not the memory of the files, which the next Pull uses.
//
// # Pull
//
// Pull, for a node that takes a room over (nobody in the room on this
// node), makes clips/ and played/ the bucket's copy: an object missing
// locally or different (media by size, since a clip's media never
// changes; .json files by content) is downloaded crash-safely (a .tmp
// file in the same folder, fsync, rename; media streamed), in the order
// of Push's puts, and a clip's .json is not fetched if its media failed.
// Media whose .json is not listed (a clip another node is putting or
// deleting meanwhile), or a .json without media, is left alone: neither
// fetched nor recorded, so that a later Fetch takes the clip once it is
// whole.
// A local file the bucket does not have is removed if this Mirror had it
// in the bucket with that same size and time (another node deleted it
// since); any other is moved to quarantine/ (a clip's file under its
// name, a played file as played-<name>, a new name if taken) with a log
// line: nothing is deleted that the bucket never had. A Pull that fails
// leaves the room without state.
//
// # Orders
//
// Push puts all media first, then the clips' .json, then the played
// files, and puts a clip's .json only once its media is in the bucket; it
// deletes the clips' .json first, then media (only once its .json is
// gone), then played files. So the bucket's metadata never names media it
// lacks, whatever fails. A failed request is returned (all of them,
// joined) and the state records only what succeeded, so the next Push
// tries the rest again. Push with onlyNew puts only clips whose metadata
// the state does not know (a clip whose media went and metadata failed
// is completed), and deletes and replaces nothing: a node that handed
// the room over adds the clips it finished after. Fetch downloads
// such clips (media, then .json; both must be listed) for the node that
// holds the room; a clip whose .json fails is not left as media alone,
// and the next Fetch tries it again.
//
// # Trust
//
// The bucket is not trusted. An object under the room's prefix with a
// name that is not mirrored is ignored with a log line, as is one larger
// than its kind may be (MaxObjectSize for media, 1 MiB for .json): such
// a too large object is neither read nor a reason to remove the local
// file. Pull takes the newest clips, then the played files, that fit
// Limits (what the room may keep): the other clips are evicted, as the
// room would (the next Push deletes them), the other played files left
// alone; Fetch takes what fits: a bucket cannot fill the node's disk.
// A download whose size differs from the listing fails for that file and
// leaves nothing behind. A truncated listing fails Pull, which deletes
// nothing from a partial view.
//
// # Concurrency
//
// A Mirror is safe for concurrent use: each room has a mutex held for a
// whole call, so calls for one room run one at a time and calls for
// different rooms in parallel. Pull downloads up to 4 files at once, each
// kind of file (media, metadata, played files) in turn; it holds no
// goroutine past a call.
package mirror
