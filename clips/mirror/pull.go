package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"parley/internal/atomicfile"
	"parley/objstore"
)

// Pull makes root's clips/ and played/ the bucket's copy of the room, for
// a node that takes the room over: what is missing or different locally
// is downloaded, local files the bucket does not have are removed (if this
// Mirror had them in the bucket) or set aside in quarantine/. A failed
// Pull leaves the room with no state. What it downloads is bounded by lim.
// See the package doc.
func (m *Mirror) Pull(ctx context.Context, name string, root *os.Root, lim Limits) (Result, error) {
	r, err := m.lock(name)
	if err != nil {
		return Result{}, err
	}
	defer r.mu.Unlock()
	r.pulled = false
	var res Result
	l, err := m.list(ctx, name)
	if err != nil {
		return res, err
	}
	if l.truncated {
		return res, fmt.Errorf("mirror: room %s has more than %d objects in the bucket: refusing to pull from a partial listing", name, objstore.MaxListLimit)
	}
	local, err := localFiles(root)
	if err != nil {
		return res, err
	}
	var errs []error
	// Media first, so that no metadata names media that failed; the
	// files of a phase pullers at a time. Media whose metadata is not
	// listed is a clip that another node is putting (or deleting): it is
	// left alone, for Fetch to take once the clip is whole, as is
	// metadata without media. So are the files that do not fit lim:
	// the clips, newest first, then the played files. A clip that does
	// not fit is one the room would evict: it goes in the state as a
	// file that is not local, which the next Push deletes, and Fetch
	// does not take it in (to evict a newer one).
	failed := make(map[string]bool) // clip ids
	var evicted []string
	var used int64
	newest := sorted(l.objects)
	slices.Reverse(newest) // ids begin with their time
	for _, file := range newest {
		id := clipID(file)
		if !isClipJSON(file) {
			continue
		}
		size, media := l.objects[file].Size, false
		for _, ext := range []string{".webm", ".ogg"} {
			if o, ok := l.objects["clips/"+id+ext]; ok {
				size, media = size+o.Size, true
			}
		}
		switch {
		case !media:
			failed[id] = true // metadata without media
		case !lim.fits(&used, size):
			m.log.Warn("mirror: a clip in the bucket does not fit the room's bytes: evicted", "room", name, "clip", id, "max", lim.Bytes)
			failed[id] = true
			for _, ext := range []string{".json", ".webm", ".ogg"} {
				if l.has(id + ext) {
					evicted = append(evicted, "clips/"+id+ext)
				}
			}
		}
	}
	for file := range l.objects {
		if id := clipID(file); isMedia(file) && !l.has(id+".json") {
			failed[id] = true // media without metadata
		}
	}
	leave := make(map[string]bool) // played files that do not fit
	for _, file := range newest {
		if isPlayed(file) && !lim.fits(&used, l.objects[file].Size) {
			m.log.Warn("mirror: a played file in the bucket does not fit the room's bytes; left there", "room", name, "file", file, "max", lim.Bytes)
			leave[file] = true
		}
	}
	for _, phase := range phases {
		var files []string
		for _, file := range sorted(l.objects) {
			if phase(file) && !failed[clipID(file)] && !leave[file] {
				files = append(files, file)
			}
		}
		done := make([]pulled, len(files))
		inParallel(len(files), pullers, func(i int) {
			done[i] = m.pull(ctx, root, name, files[i], l.objects[files[i]], local)
		})
		for i, file := range files {
			if err := done[i].err; err != nil {
				errs = append(errs, err)
				if id := clipID(file); id != "" {
					failed[id] = true
				}
				continue
			}
			r.files[file] = done[i].stamp
			if done[i].fetched {
				res.Fetched++
			}
		}
	}
	for _, file := range evicted {
		if _, ok := r.files[file]; !ok {
			r.files[file] = stamp{size: -1} // no local file has it
		}
	}
	for _, file := range sorted(local) {
		s := local[file]
		if _, ok := l.objects[file]; ok || l.untrusted[file] {
			continue
		}
		if known, ok := r.files[file]; ok && known == s {
			// It was in the bucket and another node deleted it since.
			if err := root.Remove(file); err != nil {
				errs = append(errs, fmt.Errorf("mirror: room %s: %w", name, err))
				continue
			}
			res.Deleted++
		} else {
			if err := setAside(root, file); err != nil {
				errs = append(errs, fmt.Errorf("mirror: room %s: %w", name, err))
				continue
			}
			m.log.Warn("mirror: a local file the bucket does not have was moved to quarantine", "room", name, "file", file)
			res.SetAside++
		}
		delete(r.files, file)
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	for file := range r.files {
		if _, ok := l.objects[file]; !ok {
			delete(r.files, file)
		}
	}
	for _, dir := range folders {
		if err := atomicfile.SyncDir(root, dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("mirror: room %s: sync %s: %w", name, dir, err)
		}
	}
	r.pulled = true
	return res, nil
}

// pullers is how many files of a room Pull downloads at once.
const pullers = 4

// pulled is what pull did with one file.
type pulled struct {
	stamp   stamp // the local file's, once it is the object's copy
	fetched bool  // downloaded (not already there)
	err     error
}

// pull makes the local file the copy of the object o: media is
// downloaded unless the local file has its size, a .json unless it has
// its content. It may run for several files at once; the caller records
// the stamps in the room's state.
func (m *Mirror) pull(ctx context.Context, root *os.Root, name, file string, o objstore.Info, local map[string]stamp) pulled {
	var out pulled
	if s, have := local[file]; !isMedia(file) || !have || s.size != o.Size {
		// Media of the same size is the same media: a clip's media
		// never changes.
		if out.fetched, out.err = m.download(ctx, root, name, file, o); out.err != nil {
			return out
		}
	}
	fi, err := root.Lstat(file)
	if err != nil {
		return pulled{err: fmt.Errorf("mirror: room %s: %w", name, err)}
	}
	out.stamp = stampOf(fi)
	return out
}

// inParallel calls f(0) to f(n-1), at most width at a time, and returns
// when all have returned.
func inParallel(n, width int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, width) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// download makes the local file the copy of the object o, crash-safely:
// a .json is read whole and written only if it differs (fetched false if
// not); media is streamed into a .tmp file, synced and renamed. The
// folder is not synced.
func (m *Mirror) download(ctx context.Context, root *os.Root, room, file string, o objstore.Info) (fetched bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("mirror: room %s: fetch %s: %w", room, file, err)
		}
	}()
	if err := root.MkdirAll(path.Dir(file), dirMode); err != nil {
		return false, err
	}
	obj, err := m.bucket.Open(ctx, o.Key)
	if err != nil {
		return false, err
	}
	defer obj.Close()
	if obj.Size != o.Size {
		return false, fmt.Errorf("the object has %d bytes, the listing said %d", obj.Size, o.Size)
	}
	if !isMedia(file) {
		data, err := io.ReadAll(obj)
		if err != nil {
			return false, err
		}
		if old, err := readRegular(root, file, maxJSONSize); err == nil && bytes.Equal(old, data) {
			return false, nil
		}
		return true, atomicfile.Write(root, path.Dir(file), file, data, fileMode)
	}
	tmp := file + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(f, obj)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, file)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return false, err
	}
	return true, nil
}

// readRegular reads file if it is a regular file of at most limit bytes.
func readRegular(root *os.Root, file string, limit int64) ([]byte, error) {
	f, err := openRegular(root, file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", file, limit)
	}
	return data, err
}

// openRegular opens file for reading if it is a regular file, never
// through a symbolic link.
func openRegular(root *os.Root, file string) (*os.File, error) {
	before, err := root.Lstat(file)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	f, err := root.Open(file)
	if err != nil {
		return nil, err
	}
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		_ = f.Close()
		return nil, fmt.Errorf("%s changed while it was opened", file)
	}
	return f, nil
}

// setAside moves file into quarantine/, as package clips does: a clip's
// file under its own name, a played file as played-<name>; a new name if
// that one is taken.
func setAside(root *os.Root, file string) error {
	if err := root.MkdirAll("quarantine", dirMode); err != nil {
		return err
	}
	base := path.Base(file)
	if path.Dir(file) == "played" {
		base = "played-" + base
	}
	dst := "quarantine/" + base
	if _, err := root.Lstat(dst); err == nil {
		dst += "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	if err := root.Rename(file, dst); err != nil {
		return fmt.Errorf("quarantine %s: %w", file, err)
	}
	return nil
}
