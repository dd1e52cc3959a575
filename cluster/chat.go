package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chatlog"
)

// ChatLog keeps the rooms' chat memory in the cluster's Redis, so that a
// room that moves to another node (its node died, or was drained) keeps
// its history and the messages waiting for people. It does what
// chatlog.Store does on local disk, with the same limits, in three keys
// per room under the node's prefix:
//
//   - chat:<room>:history, a list of the room's recent messages (JSON
//     chatlog.Entry), oldest first, trimmed to the history length at
//     every append and expiring history_age after the last one;
//   - chat:<room>:offline, a list of the messages waiting for people who
//     are not online, rewritten in a transaction (WATCH) when one is left
//     or collected, expiring offline_lifetime after the last change;
//   - chat:<room>:owners, a hash from a name (lower case) to the owner
//     last seen with it, so that a message left for a name waits for that
//     owner only; it expires ownersTTL after the last join.
//
// A room lives on one node at a time, which alone writes its chat; the
// transactions keep the waiting messages whole should two nodes write at
// once while a room moves. Every call has its own deadline (chatTimeout):
// the callers hold the room's lock, and a Redis that does not answer
// costs a message, not the room. What is read is checked as what a
// stranger wrote: an entry that is not valid JSON of a message, or longer
// than maxChatEntry, is skipped and logged.
type ChatLog struct {
	rdb    *redis.Client
	prefix string
	cfg    chatlog.Config
	log    *slog.Logger
	now    func() time.Time
}

const (
	// chatTimeout bounds each Redis call of the chat log.
	chatTimeout = 2 * time.Second
	// maxChatEntry bounds an entry read back: a chat message of the
	// longest text the server accepts (signaling.max_chat_length,
	// 65,536 characters of up to 4 bytes) with its JSON.
	maxChatEntry = 300 << 10
	// ownersTTL is how long a name stays bound to the owner last seen
	// with it, after that owner's last join.
	ownersTTL = 30 * 24 * time.Hour
	// maxOwners bounds a room's names-to-owners hash: past it the hash
	// starts again empty, as chatlog.Store's map does.
	maxOwners = 10000
	// txRetries bounds the retries of a transaction that another writer
	// interrupted.
	txRetries = 8
)

// ChatLog returns the cluster's chat log, with the limits of cfg, on the
// node's Redis connection (which the node closes).
func (n *Node) ChatLog(cfg chatlog.Config) *ChatLog {
	return &ChatLog{rdb: n.rdb, prefix: n.cfg.KeyPrefix, cfg: cfg, log: n.log, now: time.Now}
}

func (c *ChatLog) key(room, what string) string {
	return c.prefix + "chat:" + room + ":" + what
}

func (c *ChatLog) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), chatTimeout)
}

// Append adds a room message to the history.
func (c *ChatLog) Append(room string, e chatlog.Entry) error {
	if c.cfg.HistoryLength <= 0 {
		return nil
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	key := c.key(room, "history")
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, line)
		p.LTrim(ctx, key, int64(-c.cfg.HistoryLength), -1)
		p.PExpire(ctx, key, c.cfg.HistoryAge)
		return nil
	})
	if err != nil {
		return fmt.Errorf("chat history of %s in redis: %w", room, err)
	}
	return nil
}

// History returns the room's recent messages, oldest first; nil, logged,
// if Redis does not answer.
func (c *ChatLog) History(room string) []chatlog.Entry {
	if c.cfg.HistoryLength <= 0 {
		return nil
	}
	ctx, cancel := c.ctx()
	defer cancel()
	key := c.key(room, "history")
	lines, err := c.rdb.LRange(ctx, key, int64(-c.cfg.HistoryLength), -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.log.Error("chat history: redis", "room", room, "err", err)
		return nil
	}
	list := c.parse(room, key, lines, func(e chatlog.Entry) bool { return e.ToName == "" })
	return chatlog.TrimHistory(list, c.now(), c.cfg)
}

// parse decodes the entries of a list, skipping (and logging) those that
// are not messages or that keep refuses.
func (c *ChatLog) parse(room, key string, lines []string, keep func(chatlog.Entry) bool) []chatlog.Entry {
	list := make([]chatlog.Entry, 0, len(lines))
	bad := 0
	for _, l := range lines {
		var e chatlog.Entry
		if len(l) > maxChatEntry || json.Unmarshal([]byte(l), &e) != nil || e.TS.IsZero() || !keep(e) {
			bad++
			continue
		}
		list = append(list, e)
	}
	if bad > 0 {
		c.log.Warn("chat log: entries in redis that are not messages skipped", "room", room, "key", key, "entries", bad)
	}
	return list
}

// Seen records that the owner joined under name, so that messages left
// for that name later wait for that owner only.
func (c *ChatLog) Seen(room, name, owner string) {
	if owner == "" {
		return
	}
	ctx, cancel := c.ctx()
	defer cancel()
	key := c.key(room, "owners")
	n, err := c.rdb.HLen(ctx, key).Result()
	if err == nil {
		_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if n >= maxOwners {
				p.Del(ctx, key)
			}
			p.HSet(ctx, key, strings.ToLower(name), owner)
			p.PExpire(ctx, key, ownersTTL)
			return nil
		})
	}
	if err != nil {
		c.log.Error("chat owners: redis", "room", room, "err", err)
	}
}

// Leave keeps a message for a recipient who is not online. It sets the
// entry's expiry and recipient owner.
func (c *ChatLog) Leave(room string, e chatlog.Entry) (chatlog.Entry, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	owner, err := c.rdb.HGet(ctx, c.key(room, "owners"), strings.ToLower(e.ToName)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return e, fmt.Errorf("offline messages of %s in redis: %w", room, err)
	}
	if len(owner) > maxChatEntry {
		owner = "" // not an owner this package wrote
	}
	err = c.rewriteOffline(ctx, room, func(offline []chatlog.Entry, now time.Time) ([]chatlog.Entry, error) {
		if err := c.cfg.CheckMailbox(offline, e.ToName); err != nil {
			return nil, err
		}
		e.Expires = now.Add(c.cfg.OfflineLifetime)
		e.ToOwner = owner
		return append(offline, e), nil
	})
	return e, err
}

// Collect returns and forgets the messages waiting for name, oldest
// first. A message left while the name was known to belong to an owner
// is given only to that owner.
func (c *ChatLog) Collect(room, name, owner string) ([]chatlog.Entry, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	var mine []chatlog.Entry
	err := c.rewriteOffline(ctx, room, func(offline []chatlog.Entry, _ time.Time) ([]chatlog.Entry, error) {
		var rest []chatlog.Entry
		mine, rest = chatlog.Split(offline, name, owner)
		if len(mine) == 0 {
			return nil, errUnchanged
		}
		return rest, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return mine, nil
}

// errUnchanged is what a change of rewriteOffline returns to leave the
// list as it is.
var errUnchanged = errors.New("unchanged")

// rewriteOffline reads the room's waiting messages (the expired ones
// dropped), has change make the new list, and writes it, in a
// transaction that is tried again if another writer changed the list
// meanwhile. change's error is returned, the list left as it was.
func (c *ChatLog) rewriteOffline(ctx context.Context, room string, change func(offline []chatlog.Entry, now time.Time) ([]chatlog.Entry, error)) error {
	key := c.key(room, "offline")
	// A room's list is bounded by offline_max_per_room; a longer one was
	// not written by this package, and is read no further than that.
	limit := int64(max(c.cfg.OfflineMaxPerRoom, 1))
	for range txRetries {
		err := c.rdb.Watch(ctx, func(tx *redis.Tx) error {
			lines, err := tx.LRange(ctx, key, 0, limit-1).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			now := c.now()
			offline := chatlog.Unexpired(c.parse(room, key, lines, func(e chatlog.Entry) bool { return e.ToName != "" }), now)
			next, err := change(offline, now)
			if err != nil {
				return err
			}
			vals := make([]any, len(next))
			for i, e := range next {
				b, err := json.Marshal(e)
				if err != nil {
					return err
				}
				vals[i] = b
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, key)
				if len(vals) > 0 {
					p.RPush(ctx, key, vals...)
					p.PExpire(ctx, key, c.cfg.OfflineLifetime)
				}
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			if err != nil && !errors.Is(err, errUnchanged) && !errors.Is(err, chatlog.ErrMailboxFull) {
				return fmt.Errorf("offline messages of %s in redis: %w", room, err)
			}
			return err
		}
	}
	return fmt.Errorf("offline messages of %s in redis: changed by others %d times in a row", room, txRetries)
}
