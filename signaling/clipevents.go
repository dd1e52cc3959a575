package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"parley/access"
	"parley/clips"
)

// onClipEvent tells the sessions of the clip's room about a change in the
// catalog. A draft is shown only to its author. Each member is shown the
// clip as it sees it: its own, or someone else's that it has played or
// not (clips.Event.Played). A clip played (clips.EventPlayed) is news
// only to the sessions of the owner who played it: clip-updated tells
// them all, the one that played it included, so that every device of
// theirs shows it played. The clip carries its media key
// (clips.Clip.Key), which the room's members may have: it lets their
// players fetch the media of a room that is not open.
func (h *Hub) onClipEvent(ev clips.Event) {
	room := h.room(ev.Clip.Room)
	if room == nil {
		return
	}
	typ, ok := clipEventTypes[ev.Type]
	if !ok {
		h.log.Error("clip event of an unknown type", "type", ev.Type)
		return
	}
	// What the room's clips take now, after the event's change (events
	// are delivered in order, after the store's lock is released: the
	// last one leaves everyone with the room as it is).
	bytes, count := h.cfg.Store.Usage(room.cfg().Name)
	// view is the message for a viewer: the clip's owner, or someone who
	// has played it (played) or not.
	var views [3][]byte
	view := func(viewer string) []byte {
		i := 0
		switch {
		case viewer == ev.Clip.Owner:
			i = 1
		case ev.Played[viewer]:
			i = 2
		}
		if views[i] != nil {
			return views[i]
		}
		var m clipMessage
		if typ == TypeClipRemoved {
			m = clipMessage{Type: typ, ID: ev.Clip.ID, Reason: clipRemovedReason(ev.Reason), RoomBytes: bytes, RoomClips: count}
		} else {
			c := ev.ForViewer(viewer)
			m = clipMessage{Type: typ, Clip: &c, RoomBytes: bytes, RoomClips: count}
			if i != 1 && typ == TypeClipUpdated && ev.Published {
				// Others never saw the draft: for them it is new.
				m.Type = TypeClipAdded
			}
		}
		views[i], _ = json.Marshal(m)
		return views[i]
	}
	draft := ev.Clip.State == clips.Draft
	room.mu.Lock()
	defer room.mu.Unlock()
	for _, o := range room.members {
		owner := o.base().owner
		switch {
		case ev.Type == clips.EventPlayed && !ev.Played[owner]:
		case owner == ev.Clip.Owner, !draft:
			o.deliver(view(owner))
		}
	}
}

// clipEventTypes maps the store's events to the protocol's messages: the
// store's names are its own, the protocol's are documented in
// docs/protocol.md, and neither follows the other by accident.
var clipEventTypes = map[string]string{
	clips.EventAdded:   TypeClipAdded,
	clips.EventUpdated: TypeClipUpdated,
	clips.EventRemoved: TypeClipRemoved,
	clips.EventPlayed:  TypeClipUpdated,
}

// clipRemovedReason is the protocol's reason for a removal reason of the
// store ("deleted" for one it does not name).
func clipRemovedReason(r string) string {
	switch r {
	case clips.ReasonDeleted:
		return "deleted"
	case clips.ReasonExpired:
		return "expired"
	case clips.ReasonEvicted:
		return "evicted"
	case clips.ReasonDiscarded:
		return "discarded"
	}
	return "deleted"
}

func (s *Session) clipPublish(m *clientMessage) {
	if _, err := s.hub.cfg.Store.Publish(s.room.cfg().Name, m.ID, s.owner); err != nil {
		s.clipError(m, err)
	}
}

func (s *Session) clipDelete(m *clientMessage) {
	if err := s.hub.cfg.Store.Delete(s.room.cfg().Name, m.ID, s.owner, s.role == RoleOperator); err != nil {
		s.clipError(m, err)
	}
}

// clipPlayed handles clip-played: the clip is played for the session's
// owner key from now on. The owner's sessions in the room hear of it
// (clip-updated, see onClipEvent); nothing is sent when nothing changed
// (a clip played before, or one's own).
func (s *Session) clipPlayed(m *clientMessage) {
	store := s.hub.cfg.Store
	if store == nil {
		s.sendError(m.Req, ErrNoSuchClip, "this server keeps no clips")
		return
	}
	if err := store.MarkPlayed(s.room.cfg().Name, m.ID, s.owner); err != nil {
		s.clipError(m, err)
	}
}

func (s *Session) clipError(m *clientMessage, err error) {
	switch {
	case errors.Is(err, clips.ErrForbidden):
		s.sendError(m.Req, ErrForbidden, "only the clip's author may do that")
	case errors.Is(err, clips.ErrNotFound):
		s.sendError(m.Req, ErrNoSuchClip, "there is no such clip")
	default:
		s.log.Error("clip action", "room", s.room.cfg().Name, "clip", m.ID, "err", err)
		s.sendError(m.Req, ErrInternal, "the clip could not be changed")
	}
}

// ClipAuth authenticates an HTTP request on a room's clips by its bearer
// token. The owner key of a participant who is in the room now gives the
// owner, the participant's name and whether it is an operator: it may
// read, upload and change its clips. A join token for the room (a JWT:
// two dots) gives a reader, with no owner: it may list the room's
// published clips and fetch their media, nothing more.
func (h *Hub) ClipAuth(r *http.Request, room string) (clips.Caller, bool) {
	key, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	rm := h.room(room)
	if !found || rm == nil {
		return clips.Caller{}, false
	}
	if strings.Count(key, ".") == 2 {
		return h.clipReader(r, rm, key)
	}
	if checkOwnerKey(key) != nil {
		return clips.Caller{}, false
	}
	owner := clips.OwnerOf(key)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, om := range rm.members {
		if o := om.base(); o.owner == owner {
			return clips.Caller{Owner: owner, Author: o.name, Operator: o.role == RoleOperator}, true
		}
	}
	return clips.Caller{}, false
}

// clipReader admits the holder of a join token for room to read its
// clips. Like a join, the check reserves an attempt of the client's
// address first (access.Limiter) and gets it back only when the token is
// good, so that failed tokens here count toward the same limit as failed
// joins.
func (h *Hub) clipReader(r *http.Request, room *Room, token string) (clips.Caller, bool) {
	a := h.cfg.Auth
	ip := a.Proxies.ClientIP(r)
	attempt, ok := a.Failures.Begin(ip)
	if !ok {
		h.log.Info("clip API: join token refused: too many failed attempts", "room", room.cfg().Name, "ip", ip)
		return clips.Caller{}, false
	}
	c, err := access.VerifyToken(a.TokenSecret, token, time.Now())
	if err != nil || len(a.TokenSecret) == 0 || c.Room != room.cfg().Name {
		h.log.Info("clip API: join token refused", "room", room.cfg().Name, "ip", ip, "err", err)
		return clips.Caller{}, false // the attempt stays charged
	}
	attempt.Succeeded()
	return clips.Caller{Author: c.Name}, true
}
