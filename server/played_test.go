package server

import (
	"encoding/json"
	"testing"
	"time"

	"parley/client"
)

// playedClip is a clip of the protocol with what its viewer has played.
type playedClip struct {
	ID     string `json:"id"`
	Mine   bool   `json:"mine"`
	Played *bool  `json:"played"`
}

// TestPlayedAcrossDevices: a clip one device of an owner key plays is
// played on its other device at once, and in the catalog that either
// fetches with the key; the clip's author sees it played as their own,
// and a catalog fetched without a key sees it unplayed.
func TestPlayedAcrossDevices(t *testing.T) {
	srv := startServer(t, nil)
	const bobKey = "bob-owner-key-0123456789abcdef"
	ann, annJoined := srv.join(t, "chat", "ann", client.Options{})
	bob, _ := srv.join(t, "chat", "bob", client.Options{OwnerKey: bobKey})
	phone, _ := srv.join(t, "chat", "bob phone", client.Options{OwnerKey: bobKey})

	up := srv.uploadKeyed(t, "chat", annJoined.OwnerKey)
	clipOf := func(c *client.Client, typ string) playedClip {
		t.Helper()
		m, err := c.WaitFor(timeout(t, 10*time.Second), typ)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var v struct {
			Clip playedClip `json:"clip"`
		}
		if err := json.Unmarshal(m.Raw, &v); err != nil {
			t.Fatal(err)
		}
		if v.Clip.ID != up.ID || v.Clip.Played == nil {
			t.Fatalf("%s: %s", typ, m.Raw)
		}
		return v.Clip
	}
	if c := clipOf(ann, "clip-added"); !*c.Played || !c.Mine {
		t.Errorf("ann is shown her clip as %+v", c)
	}
	for _, c := range []*client.Client{bob, phone} {
		if got := clipOf(c, "clip-added"); *got.Played {
			t.Errorf("a new clip arrives played: %+v", got)
		}
	}

	if err := bob.Send(map[string]string{"type": "clip-played", "id": up.ID}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{bob, phone} {
		if got := clipOf(c, "clip-updated"); !*got.Played {
			t.Errorf("after clip-played: %+v", got)
		}
	}

	for key, want := range map[string]bool{bobKey: true, annJoined.OwnerKey: true, "": false} {
		_, body := srv.fetch(t, "GET", "/api/rooms/chat/clips", key, nil)
		var l struct {
			Clips []playedClip `json:"clips"`
		}
		if err := json.Unmarshal(body, &l); err != nil || len(l.Clips) != 1 || l.Clips[0].Played == nil {
			t.Fatalf("catalog: %s (%v)", body, err)
		}
		if *l.Clips[0].Played != want {
			t.Errorf("the catalog fetched with key %q shows played %v, want %v", key, *l.Clips[0].Played, want)
		}
	}
}
