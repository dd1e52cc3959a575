package mirror

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"parley/internal/atomicfile"
)

// Push copies the room's local changes since the last Pull or Push to the
// bucket: new and changed files are put (media, then clips' .json, then
// played files), files gone locally are deleted (clips' .json, then media,
// then played files). With onlyNew, only the clips whose metadata the
// state does not know are put, and nothing is deleted or replaced. What
// failed is returned, and tried again by the next Push. See the package
// doc.
func (m *Mirror) Push(ctx context.Context, name string, root *os.Root, onlyNew bool) (Result, error) {
	r, err := m.lock(name)
	if err != nil {
		return Result{}, err
	}
	defer r.mu.Unlock()
	if !r.pulled {
		return Result{}, fmt.Errorf("mirror: push room %s: %w", name, ErrNotPulled)
	}
	local, err := localFiles(root)
	if err != nil {
		return Result{}, err
	}
	// A clip is new until its metadata is in the bucket: one whose
	// media went and metadata failed is completed.
	described := r.described()
	var res Result
	var errs []error
	for _, phase := range phases {
		for _, file := range sorted(local) {
			id := clipID(file)
			switch s, ok := r.files[file]; {
			case !phase(file), ok && s == local[file]:
				continue // another phase's, or unchanged
			case onlyNew && (id == "" || described[id]):
				continue // not a new clip
			case isClipJSON(file) && !r.hasMedia(id):
				continue // metadata never names media the bucket lacks
			}
			if err := m.put(ctx, root, name, file); err != nil {
				errs = append(errs, err)
				continue
			}
			res.Put++
			r.files[file] = local[file]
		}
	}
	if onlyNew {
		return res, errors.Join(errs...)
	}
	for _, phase := range []func(string) bool{isClipJSON, isMedia, isPlayed} {
		for _, file := range sorted(r.files) {
			if _, ok := local[file]; ok || !phase(file) {
				continue
			}
			// Media goes only once no metadata names it.
			if isMedia(file) {
				if _, ok := r.files["clips/"+clipID(file)+".json"]; ok {
					continue
				}
			}
			if err := m.bucket.Delete(ctx, prefix(name)+file); err != nil {
				errs = append(errs, fmt.Errorf("mirror: room %s: delete %s: %w", name, file, err))
				continue
			}
			res.Deleted++
			delete(r.files, file)
		}
	}
	return res, errors.Join(errs...)
}

// put uploads the local file, if it is a regular file.
func (m *Mirror) put(ctx context.Context, root *os.Root, room, file string) error {
	f, err := openRegular(root, file)
	if err != nil {
		return fmt.Errorf("mirror: room %s: put %s: %w", room, file, err)
	}
	defer f.Close()
	if _, err := m.bucket.PutFile(ctx, prefix(room)+file, f, contentType(file)); err != nil {
		return fmt.Errorf("mirror: room %s: put %s: %w", room, file, err)
	}
	return nil
}

// Fetch downloads the clips (media, then metadata) that are in the bucket
// but neither local nor known to the room's state: clips another node
// added meanwhile. It returns their ids, sorted, for the caller to import.
// Played files are not fetched. The media it downloads is bounded by lim:
// the clips that do not fit wait for a later Fetch.
func (m *Mirror) Fetch(ctx context.Context, name string, root *os.Root, lim Limits) ([]string, Result, error) {
	r, err := m.lock(name)
	if err != nil {
		return nil, Result{}, err
	}
	defer r.mu.Unlock()
	if !r.pulled {
		return nil, Result{}, fmt.Errorf("mirror: fetch room %s: %w", name, ErrNotPulled)
	}
	l, err := m.list(ctx, name)
	if err != nil {
		return nil, Result{}, err
	}
	known := r.ids()
	// The new clips: a .json and its media in the bucket.
	media := make(map[string]string)
	for file := range l.objects {
		if id := clipID(file); id != "" && isMedia(file) && !known[id] {
			media[id] = file
		}
	}
	var ids []string
	var res Result
	var errs []error
	var used int64
	for _, id := range sorted(media) {
		meta := "clips/" + id + ".json"
		if _, ok := l.objects[meta]; !ok || localClip(root, id) {
			continue
		}
		if !lim.fits(&used, l.objects[media[id]].Size+l.objects[meta].Size) {
			continue // for a later Fetch, once the room made room
		}
		for _, file := range []string{media[id], meta} {
			p := m.pull(ctx, root, name, file, l.objects[file], nil)
			if err = p.err; err != nil {
				break
			}
			r.files[file] = p.stamp
			res.Fetched++
		}
		if err != nil {
			// Media alone is no clip: the next Fetch tries it again.
			if _, ok := r.files[media[id]]; ok {
				_ = root.Remove(media[id])
				delete(r.files, media[id])
			}
			errs = append(errs, err)
			continue
		}
		ids = append(ids, id)
	}
	if err := atomicfile.SyncDir(root, "clips"); err != nil && len(ids) > 0 {
		errs = append(errs, fmt.Errorf("mirror: room %s: %w", name, err))
	}
	return ids, res, errors.Join(errs...)
}

// localClip reports whether the room's folder has any file of clip id.
func localClip(root *os.Root, id string) bool {
	for _, ext := range []string{".webm", ".ogg", ".json", ".part", ".part.json", ".upload"} {
		if _, err := root.Lstat("clips/" + id + ext); err == nil {
			return true
		}
	}
	return false
}

// ids returns the clip ids the state names. Called locked.
func (r *room) ids() map[string]bool {
	ids := make(map[string]bool)
	for file := range r.files {
		if id := clipID(file); id != "" {
			ids[id] = true
		}
	}
	return ids
}

// described returns the clip ids whose metadata the state names. Called
// locked.
func (r *room) described() map[string]bool {
	ids := make(map[string]bool)
	for file := range r.files {
		if isClipJSON(file) {
			ids[clipID(file)] = true
		}
	}
	return ids
}

// hasMedia reports whether the state has media of clip id. Called locked.
func (r *room) hasMedia(id string) bool {
	_, webm := r.files["clips/"+id+".webm"]
	_, ogg := r.files["clips/"+id+".ogg"]
	return webm || ogg
}

// phases are the kinds of files in the order they are put or fetched:
// media, clips' metadata, played files.
var phases = []func(string) bool{isMedia, isClipJSON, isPlayed}

func isClipJSON(file string) bool { return clipID(file) != "" && strings.HasSuffix(file, ".json") }

func isPlayed(file string) bool { return playedName.MatchString(file) }

// sorted returns m's keys in order, so that a Push's requests come in a
// stable order.
func sorted[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
