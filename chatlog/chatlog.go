// Package chatlog keeps what chat must remember across restarts: each
// room's recent chat history, and messages left for people who are not
// online. Files live next to the room's clips, in
// data/rooms/<room>/chat/ (Folder), which package internal/roomdir makes
// and hands to Open: history.jsonl (one message per line, appended,
// compacted when it grows; Open skips a torn line and ends a last line
// that lacks its newline) and offline.json (rewritten crash-safely on
// every change).
package chatlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"parley/internal/atomicfile"
	"parley/internal/roomdir"
)

// Config bounds what is kept.
type Config struct {
	HistoryLength     int           // messages a joiner gets; 0 keeps no history
	HistoryAge        time.Duration // older messages are dropped
	OfflineLifetime   time.Duration // a waiting message expires after this
	OfflineMaxPerUser int           // waiting messages per recipient
	OfflineMaxPerRoom int           // waiting messages per room, all recipients
}

// Peer is the sender of a message.
type Peer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Entry is one message.
type Entry struct {
	From Peer      `json:"from"`
	Text string    `json:"text"`
	TS   time.Time `json:"ts"`
	// For waiting messages: the recipient's name, the owner (hash of the
	// owner key) last seen with that name when the message was left, if
	// known, and when it expires.
	ToName  string    `json:"to_name,omitempty"`
	ToOwner string    `json:"to_owner,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Errors.
var (
	ErrNoRoom      = errors.New("no such room")
	ErrMailboxFull = errors.New("too many messages are waiting for this person")
)

const (
	fileMode = 0o640
	// maxLine bounds a line of the history file that is read back.
	maxLine = 1 << 20
	// compactFactor: the history file is rewritten when it holds this
	// many times HistoryLength lines.
	compactFactor = 4
)

// Store is the chat memory of every room.
type Store struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	// mu guards rooms, which AddRoom and RemoveRoom change while the
	// server runs; it is taken alone, never with a room's mu.
	mu    sync.RWMutex
	rooms map[string]*room
}

type room struct {
	name string
	root *os.Root // data/rooms/<room>/chat
	log  *slog.Logger

	mu      sync.Mutex
	history []Entry // the newest HistoryLength, oldest first
	hist    *os.File
	lines   int     // lines in the history file
	offline []Entry // waiting messages
	owners  map[string]string
}

// Option changes a Store.
type Option func(*Store)

// WithClock sets the time source (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Folder is the sub-folder of a room's folder that the chat log keeps.
const Folder = "chat"

// Open opens (making them if needed) the chat files of rooms, each in its
// folder from rooms (roomdir.Dir.Sub with Folder), which the store keeps
// open until Close. Unreadable lines of a history file (a crash in the
// middle of a write) are skipped and logged; the rest is kept.
func Open(folders *roomdir.Dir, rooms []string, cfg Config, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if folders == nil {
		return nil, errors.New("open chat log: no rooms folder")
	}
	s := &Store{cfg: cfg, log: log, now: time.Now, rooms: make(map[string]*room, len(rooms))}
	for _, o := range opts {
		o(s)
	}
	for _, name := range rooms {
		if _, dup := s.rooms[name]; dup {
			_ = s.Close()
			return nil, fmt.Errorf("open chat log: room %s: listed twice", name)
		}
		r, err := s.openRoom(folders, name)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("open chat log: room %s: %w", name, err)
		}
		s.rooms[name] = r
	}
	return s, nil
}

func (s *Store) openRoom(folders *roomdir.Dir, name string) (*room, error) {
	root, err := folders.Sub(name, Folder)
	if err != nil {
		return nil, err
	}
	r := &room{name: name, root: root, log: s.log.With("room", name), owners: map[string]string{}}
	if err := s.loadHistory(r); err != nil {
		_ = root.Close()
		return nil, err
	}
	if err := s.loadOffline(r); err != nil {
		_ = root.Close()
		return nil, err
	}
	return r, nil
}

func (s *Store) loadHistory(r *room) error {
	f, err := r.root.OpenFile("history.jsonl", os.O_RDWR|os.O_CREATE|os.O_APPEND, fileMode)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	bad := 0
	for sc.Scan() {
		r.lines++
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.TS.IsZero() {
			bad++
			continue
		}
		r.history = append(r.history, e)
		if len(r.history) > 2*max(s.cfg.HistoryLength, 1) {
			r.history = append(r.history[:0:0], r.history[len(r.history)-s.cfg.HistoryLength:]...)
		}
	}
	if err := sc.Err(); err != nil {
		// A line beyond maxLine: the file is not ours to trust further.
		r.log.Warn("chat history: unreadable tail skipped", "err", err)
		bad++
	}
	if bad > 0 {
		r.log.Warn("chat history: unreadable lines skipped", "lines", bad)
	}
	// A last line without its newline (a crash, or a copy taken while a
	// line was written, that kept the line but not its end) would join
	// the next line appended, and both would be lost: the rewrite ends
	// every line.
	unended, err := lacksFinalNewline(f)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("chat history: %w", err)
	}
	r.hist = f
	r.trimLocked(s.now(), s.cfg)
	if bad > 0 || unended || r.lines > compactFactor*max(s.cfg.HistoryLength, 1) {
		return r.compactLocked()
	}
	return nil
}

// lacksFinalNewline tells whether f is not empty and its last byte is
// not a newline.
func lacksFinalNewline(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return false, err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}

func (s *Store) loadOffline(r *room) error {
	data, err := r.root.ReadFile("offline.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var list []Entry
	if err := json.Unmarshal(data, &list); err != nil {
		// Keep the damaged file for a person to look at; start empty.
		r.log.Error("offline messages: unreadable file set aside", "err", err)
		return r.root.Rename("offline.json", fmt.Sprintf("offline.json.bad-%d", s.now().Unix()))
	}
	now := s.now()
	for _, e := range list {
		if e.ToName != "" && e.Expires.After(now) {
			r.offline = append(r.offline, e)
		}
	}
	return nil
}

// trimLocked drops history beyond the length and age limits.
func (r *room) trimLocked(now time.Time, cfg Config) {
	r.history = TrimHistory(r.history, now, cfg)
}

// TrimHistory returns history, oldest first, without what is beyond the
// length and age limits of cfg. It does not change history's elements.
func TrimHistory(history []Entry, now time.Time, cfg Config) []Entry {
	if n := len(history) - max(cfg.HistoryLength, 0); n > 0 {
		history = append(history[:0:0], history[n:]...)
	}
	i := 0
	for i < len(history) && now.Sub(history[i].TS) > cfg.HistoryAge {
		i++
	}
	if i > 0 {
		history = append(history[:0:0], history[i:]...)
	}
	return history
}

// compactLocked rewrites the history file with what is kept.
func (r *room) compactLocked() error {
	var b bytes.Buffer
	for _, e := range r.history {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := atomicfile.Write(r.root, ".", "history.jsonl", b.Bytes(), fileMode); err != nil {
		return err
	}
	f, err := r.root.OpenFile("history.jsonl", os.O_WRONLY|os.O_APPEND, fileMode)
	if err != nil {
		return err
	}
	if r.hist != nil {
		_ = r.hist.Close()
	}
	r.hist, r.lines = f, len(r.history)
	return nil
}

// AddRoom opens the chat files of a room that was not in the store, as
// Open does. A room the store has already is left as it is.
func (s *Store) AddRoom(folders *roomdir.Dir, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[name] != nil {
		return nil
	}
	r, err := s.openRoom(folders, name)
	if err != nil {
		return fmt.Errorf("open chat log: room %s: %w", name, err)
	}
	s.rooms[name] = r
	return nil
}

// RemoveRoom closes a room's chat files, which stay on disk for the room
// to find again if it comes back. Later calls for it fail with ErrNoRoom.
func (s *Store) RemoveRoom(name string) error {
	s.mu.Lock()
	r := s.rooms[name]
	delete(s.rooms, name)
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.close()
}

func (s *Store) room(name string) (*room, error) {
	s.mu.RLock()
	r := s.rooms[name]
	s.mu.RUnlock()
	if r == nil {
		return nil, ErrNoRoom
	}
	return r, nil
}

// Append adds a room message to the history.
func (s *Store) Append(roomName string, e Entry) error {
	r, err := s.room(roomName)
	if err != nil || s.cfg.HistoryLength <= 0 {
		return err
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hist == nil { // removed or closed meanwhile
		return ErrNoRoom
	}
	r.history = append(r.history, e)
	r.trimLocked(s.now(), s.cfg)
	// One write per line: a crash leaves at worst a torn last line, which
	// the next start skips. The data reaches the kernel at once (it
	// survives the process); it reaches the disk with the next sync.
	if _, err := r.hist.Write(append(line, '\n')); err != nil {
		return err
	}
	r.lines++
	if r.lines > compactFactor*s.cfg.HistoryLength {
		return r.compactLocked()
	}
	return nil
}

// History returns the room's recent messages, oldest first.
func (s *Store) History(roomName string) []Entry {
	r, err := s.room(roomName)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trimLocked(s.now(), s.cfg)
	return append([]Entry(nil), r.history...)
}

// Seen records that the owner joined under name, so that messages left
// for that name later wait for that owner only.
func (s *Store) Seen(roomName, name, owner string) {
	r, err := s.room(roomName)
	if err != nil || owner == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.owners) >= 10000 {
		clear(r.owners)
	}
	r.owners[strings.ToLower(name)] = owner
}

// Leave keeps a message for a recipient who is not online. It sets the
// entry's expiry and recipient owner.
func (s *Store) Leave(roomName string, e Entry) (Entry, error) {
	r, err := s.room(roomName)
	if err != nil {
		return e, err
	}
	now := s.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offline = Unexpired(r.offline, now)
	if err := s.cfg.CheckMailbox(r.offline, e.ToName); err != nil {
		return e, err
	}
	e.Expires = now.Add(s.cfg.OfflineLifetime)
	e.ToOwner = r.owners[strings.ToLower(e.ToName)]
	r.offline = append(r.offline, e)
	if err := r.saveOfflineLocked(); err != nil {
		r.offline = r.offline[:len(r.offline)-1]
		return e, err
	}
	return e, nil
}

// Collect returns and forgets the messages waiting for name, oldest
// first. A message left while the name was known to belong to an owner
// is given only to that owner.
func (s *Store) Collect(roomName, name, owner string) ([]Entry, error) {
	r, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offline = Unexpired(r.offline, s.now())
	mine, rest := Split(r.offline, name, owner)
	if len(mine) == 0 {
		return nil, nil
	}
	old := r.offline
	r.offline = rest
	if err := r.saveOfflineLocked(); err != nil {
		r.offline = old
		return nil, err
	}
	return mine, nil
}

// CheckMailbox tells whether one more message for toName may wait among
// offline: ErrMailboxFull past the limits of cfg.
func (cfg Config) CheckMailbox(offline []Entry, toName string) error {
	n := 0
	for _, o := range offline {
		if strings.EqualFold(o.ToName, toName) {
			n++
		}
	}
	if n >= cfg.OfflineMaxPerUser || len(offline) >= cfg.OfflineMaxPerRoom {
		return ErrMailboxFull
	}
	return nil
}

// Split parts waiting messages into those for name (a message left while
// the name was known to belong to an owner is for that owner only) and
// the rest, each oldest first.
func Split(offline []Entry, name, owner string) (mine, rest []Entry) {
	for _, e := range offline {
		if strings.EqualFold(e.ToName, name) && (e.ToOwner == "" || e.ToOwner == owner) {
			mine = append(mine, e)
		} else {
			rest = append(rest, e)
		}
	}
	return mine, rest
}

// Unexpired returns the waiting messages of offline that have not
// expired at now, in offline's array.
func Unexpired(offline []Entry, now time.Time) []Entry {
	kept := offline[:0]
	for _, e := range offline {
		if e.Expires.After(now) {
			kept = append(kept, e)
		}
	}
	clear(offline[len(kept):])
	return kept
}

func (r *room) saveOfflineLocked() error {
	data, err := json.Marshal(r.offline)
	if err != nil {
		return err
	}
	return atomicfile.Write(r.root, ".", "offline.json", data, fileMode)
}

// Close syncs and closes the files.
func (s *Store) Close() error {
	s.mu.Lock()
	rooms := s.rooms
	s.rooms = map[string]*room{}
	s.mu.Unlock()
	var errs []error
	for _, r := range rooms {
		errs = append(errs, r.close())
	}
	return errors.Join(errs...)
}

// close syncs and closes the room's files.
func (r *room) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.hist != nil {
		errs = append(errs, r.hist.Sync(), r.hist.Close())
		r.hist = nil
	}
	return errors.Join(append(errs, r.root.Close())...)
}
