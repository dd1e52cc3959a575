package signaling

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"parley/clips"
)

// onClipEvent tells the sessions of the clip's room about a change in the
// catalog. A draft is shown only to its author.
func (h *Hub) onClipEvent(ev clips.Event) {
	room := h.rooms[ev.Clip.Room]
	if room == nil {
		return
	}
	var public, own []byte
	if ev.Type == TypeClipRemoved {
		public, _ = json.Marshal(clipMessage{Type: ev.Type, ID: ev.Clip.ID, Reason: ev.Reason})
		own = public
	} else {
		c := ev.Clip.ForViewer(ev.Clip.Owner)
		own, _ = json.Marshal(clipMessage{Type: ev.Type, Clip: &c})
		c = ev.Clip.ForViewer("")
		typ := ev.Type
		if typ == TypeClipUpdated && ev.Published {
			// Others never saw the draft: for them it is new.
			typ = TypeClipAdded
		}
		public, _ = json.Marshal(clipMessage{Type: typ, Clip: &c})
	}
	draft := ev.Clip.State == clips.Draft
	room.mu.Lock()
	defer room.mu.Unlock()
	for _, s := range room.members {
		switch {
		case s.owner == ev.Clip.Owner:
			s.enqueueBytes(own)
		case !draft:
			s.enqueueBytes(public)
		}
	}
}

func (s *Session) clipPublish(m *clientMessage) {
	if _, err := s.hub.cfg.Store.Publish(s.room.cfg.Name, m.ID, s.owner); err != nil {
		s.clipError(m, err)
	}
}

func (s *Session) clipDelete(m *clientMessage) {
	if err := s.hub.cfg.Store.Delete(s.room.cfg.Name, m.ID, s.owner, s.role == RoleOperator); err != nil {
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
		s.sendError(m.Req, ErrBadRequest, err.Error())
	}
}

// ClipAuth authenticates an HTTP request on a room's clips: its bearer
// token must be the owner key of a participant who is in the room now.
// It returns the owner, the participant's name and whether it is an
// operator.
func (h *Hub) ClipAuth(r *http.Request, room string) (clips.Caller, bool) {
	key, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || checkOwnerKey(key) != nil {
		return clips.Caller{}, false
	}
	rm := h.rooms[room]
	if rm == nil {
		return clips.Caller{}, false
	}
	owner := clips.OwnerOf(key)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, s := range rm.members {
		if s.owner == owner {
			return clips.Caller{Owner: owner, Author: s.name, Operator: s.role == RoleOperator}, true
		}
	}
	return clips.Caller{}, false
}
