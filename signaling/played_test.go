package signaling

import (
	"slices"
	"testing"

	wsclient "parley/client"
	"parley/clips"
	"parley/internal/testmedia"
)

// played returns the played field of a clip message, failing the test
// when there is none.
func played(t *testing.T, m map[string]any) bool {
	t.Helper()
	c, _ := m["clip"].(map[string]any)
	p, ok := c["played"].(bool)
	if !ok {
		t.Fatalf("no played in %v", m)
	}
	return p
}

// TestClipPlayed: clip-played marks a clip played for the sender's owner
// key: each of the owner's sessions in the room, on any device, gets
// clip-updated with played: true, and nobody else hears of it; every
// clip-added carries played as its recipient sees it; marking again or
// one's own clip sends nothing; an unknown clip or someone else's draft
// is no-such-clip.
func TestClipPlayed(t *testing.T) {
	h, store := storeHub(t)
	annKey, bobKey := newKey(), newKey()
	ann, bob, phone, cy := newClient(t, h), newClient(t, h), newClient(t, h), newClient(t, h)
	ann.join("chat", "ann", map[string]string{"owner_key": annKey})
	bob.join("chat", "bob", map[string]string{"owner_key": bobKey})
	phone.join("chat", "bob phone", map[string]string{"owner_key": bobKey}) // the same person elsewhere
	cy.join("chat", "cy", nil)
	for _, c := range []*client{ann, bob, phone} {
		c.got()
	}

	clip := addClip(t, store, "chat", "ann", annKey)
	for _, c := range []*client{ann, bob, phone, cy} {
		got := c.waitFor(TypeClipAdded)
		if mine := c == ann; played(t, got) != mine {
			t.Errorf("%s was shown a new clip with played %v", c.s.name, played(t, got))
		}
	}

	bob.do(map[string]any{"type": "clip-played", "id": clip.ID, "req": 5})
	for _, c := range []*client{bob, phone} {
		got := c.expect(TypeClipUpdated)[0]
		if field(got, "clip", "id") != clip.ID || !played(t, got) || got["req"] != nil {
			t.Errorf("%s was told %v", c.s.name, got)
		}
		if c, _ := got["clip"].(map[string]any); c["mine"] == true || c["draft_token"] != nil {
			t.Errorf("bob was shown ann's clip as his: %v", c)
		}
	}
	ann.expect()
	cy.expect()
	if list, _ := store.List("chat", clips.OwnerOf(bobKey)); len(list) != 1 || !list[0].Played {
		t.Errorf("the catalog shows bob %+v", list)
	}

	// Again from the phone, or ann's own: nothing to tell.
	phone.do(map[string]string{"type": "clip-played", "id": clip.ID})
	ann.do(map[string]string{"type": "clip-played", "id": clip.ID})
	for _, c := range []*client{ann, bob, phone, cy} {
		c.expect()
	}

	// A clip that does not exist, or someone else's draft, is no clip of
	// the sender's.
	bob.do(map[string]any{"type": "clip-played", "id": "fffffffffffffffffffffffffffff", "req": 6})
	if got := bob.expect("error:" + ErrNoSuchClip)[0]; got["req"] != float64(6) {
		t.Errorf("the error carries req %v", got["req"])
	}
	bob.do(map[string]string{"type": "clip-played", "id": "../../etc/passwd"})
	bob.expect("error:" + ErrNoSuchClip)
	bob.do(map[string]string{"type": "clip-played"})
	bob.expect("error:" + ErrNoSuchClip)

	// Not joined.
	out := newClient(t, h)
	out.do(map[string]string{"type": "clip-played", "id": clip.ID})
	out.expect("error:" + ErrNotJoined)
}

// TestClipPlayedDraft: someone else's draft cannot be marked (it does not
// exist for them); one's own can, and nothing is sent.
func TestClipPlayedDraft(t *testing.T) {
	h, store := storeHub(t)
	annKey := newKey()
	ann, bob := newClient(t, h), newClient(t, h)
	ann.join("forum", "ann", map[string]string{"owner_key": annKey, "password": "room pass"})
	bob.join("forum", "bob", map[string]string{"password": "room pass"})
	ann.got()
	draft := addClip(t, store, "forum", "ann", annKey)
	ann.waitFor(TypeClipAdded)
	bob.do(map[string]string{"type": "clip-played", "id": draft.ID})
	bob.expect("error:" + ErrNoSuchClip)
	ann.do(map[string]string{"type": "clip-played", "id": draft.ID})
	ann.expect()
}

// TestClipPlayedWithoutStore: a server that keeps no clips has none to
// mark.
func TestClipPlayedWithoutStore(t *testing.T) {
	h := newHub(t, nil)
	ann := newClient(t, h)
	ann.join("chat", "ann", nil)
	ann.do(map[string]string{"type": "clip-played", "id": "fffffffffffffffffffffffffffff"})
	ann.expect("error:" + ErrNoSuchClip)
}

// TestListeners: the members who hear a live room are its sessions, not
// a WHIP encoder, and not two people in a call, who hear only each
// other.
func TestListeners(t *testing.T) {
	h := newHub(t, nil)
	keys := map[string]string{"ann": newKey(), "bob": newKey(), "cy": newKey()}
	cs := map[string]*client{}
	for _, name := range []string{"ann", "bob", "cy"} {
		cs[name] = newClient(t, h)
		cs[name].join("walkie", name, map[string]string{"owner_key": keys[name]})
	}
	room := h.room("walkie")
	owners := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, clips.OwnerOf(keys[n]))
		}
		slices.Sort(out)
		return out
	}
	got := room.listeners()
	slices.Sort(got)
	if want := owners("ann", "bob", "cy"); !slices.Equal(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
	cs["ann"].got()
	cs["bob"].got()
	cs["ann"].do(map[string]any{"type": "call", "to": cs["bob"].s.id})
	in := cs["bob"].waitFor(TypeCallIncoming)
	got = room.listeners()
	slices.Sort(got)
	if want := owners("ann", "bob", "cy"); !slices.Equal(got, want) {
		t.Errorf("while ringing: listeners %v, want %v", got, want)
	}
	cs["bob"].do(map[string]any{"type": "call-accept", "call": in["call"]})
	cs["bob"].waitFor(TypeCallStarted)
	if got := room.listeners(); !slices.Equal(got, owners("cy")) {
		t.Errorf("in a call: listeners %v, want only cy", got)
	}
}

// TestArchivePlayedForListeners: a talk spurt archived in a live room
// arrives played for those in the room as it is stored, who heard it
// live, and its talker; someone who comes in later finds it unplayed.
func TestArchivePlayedForListeners(t *testing.T) {
	testmedia.Opus(t, 1) // made before the connections, which it would delay
	h, store := storeHub(t)
	ts := serve(t, h)
	earsKey := newKey()
	ears := newClient(t, h)
	ears.join("walkie", "ears", map[string]string{"owner_key": earsKey})
	talker := wsJoin(t, wsURL(ts), "walkie", "talker", wsclient.Options{})
	audio := publishAudio(t, talker)
	testmedia.Stream(t, audio, nil, 1)

	got := ears.waitFor(TypeClipAdded)
	id := field(got, "clip", "id")
	if !played(t, got) || field(got, "clip", "author") != "talker" {
		t.Errorf("the listener was shown %v", got)
	}
	own := expectMsg(t, talker, TypeClipAdded)
	if field(own, "clip", "id") != id || !played(t, own) {
		t.Errorf("the talker was shown %v", own)
	}
	late := newClient(t, h)
	lateKey := newKey()
	late.join("walkie", "late", map[string]string{"owner_key": lateKey})
	for key, want := range map[string]bool{earsKey: true, lateKey: false} {
		list, err := store.List("walkie", clips.OwnerOf(key))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(c clips.Clip) bool { return c.ID == id })
		if i < 0 || list[i].Played != want {
			t.Errorf("catalog of %s: %+v, want played %v", key[:4], list, want)
		}
	}
}
