package webhook

import (
	"time"

	"parley/clips"
)

// Clip is a clip as webhooks see it: no owner, key or draft token.
type Clip struct {
	ID          string    `json:"id"`
	Author      string    `json:"author"`
	Created     time.Time `json:"created"`
	Duration    float64   `json:"duration"` // seconds
	Bytes       int64     `json:"bytes"`
	Kind        string    `json:"kind"` // "audio" | "video"
	Mime        string    `json:"mime"`
	Description string    `json:"description"`
}

// ClipData is the data of clip.published and clip.deleted.
type ClipData struct {
	Clip Clip `json:"clip"`
	// Reason says why a clip went, for clip.deleted: "deleted" (by its
	// author or an operator), "expired" or "evicted" (the room's limits).
	Reason string `json:"reason,omitempty"`
}

// ClipEvent emits clip.published when a clip becomes visible to its
// room, and clip.deleted when a published clip goes. Drafts are nobody's
// business but their owner's: a draft discarded is not told.
func (s *Sender) ClipEvent(ev clips.Event) {
	if s == nil {
		return
	}
	c := ev.Clip
	data := ClipData{Clip: Clip{ID: c.ID, Author: c.Author, Created: c.Created, Duration: c.Duration, Bytes: c.Bytes,
		Kind: c.Kind, Mime: c.Mime, Description: c.Description}}
	switch {
	case ev.Published:
		s.Emit("clip.published", c.Room, data)
	case ev.Type == clips.EventRemoved && c.State == clips.Published:
		data.Reason = ev.Reason
		s.Emit("clip.deleted", c.Room, data)
	}
}
