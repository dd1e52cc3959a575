package sfu

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestSimGroups: the SIM group of an m-section is read, and the offer
// Pion sees keeps only its first SSRC and that one's RTX; a malformed or
// lone group is left as it is.
func TestSimGroups(t *testing.T) {
	offer := strings.Join([]string{
		"v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
		"m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=ssrc:5 cname:x",
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97", "a=mid:1",
		"a=ssrc-group:SIM 10 20 30",
		"a=ssrc-group:FID 10 11", "a=ssrc-group:FID 20 21", "a=ssrc-group:FID 30 31",
		"a=ssrc:10 cname:x", "a=ssrc:11 cname:x", "a=ssrc:20 cname:x", "a=ssrc:21 cname:x", "a=ssrc:30 cname:x", "a=ssrc:31 cname:x",
		"m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:2", "a=ssrc-group:SIM 40 x 50", "a=ssrc:40 cname:x",
		"m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:3", "a=ssrc-group:SIM 60 60", "a=ssrc:60 cname:x",
		"m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:4", "a=ssrc-group:SIM 70", "a=ssrc:70 cname:x", "",
	}, "\r\n")
	seen, groups := simGroups(offer)
	want := map[string]simGroup{"1": {ssrcs: []uint32{10, 20, 30}, rtx: map[uint32]uint32{20: 21, 30: 31}}}
	if !maps.EqualFunc(groups, want, func(a, b simGroup) bool { return slices.Equal(a.ssrcs, b.ssrcs) && maps.Equal(a.rtx, b.rtx) }) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	for _, gone := range []string{"a=ssrc-group:SIM 10", "FID 20", "FID 30", "a=ssrc:20 ", "a=ssrc:21 ", "a=ssrc:30 ", "a=ssrc:31 "} {
		if strings.Contains(seen, gone) {
			t.Errorf("Pion is shown %q", gone)
		}
	}
	for _, kept := range []string{"a=ssrc:5 ", "a=ssrc-group:FID 10 11\r\n", "a=ssrc:10 ", "a=ssrc:11 ",
		"a=ssrc-group:SIM 40 x 50", "a=ssrc-group:SIM 60 60", "a=ssrc-group:SIM 70", "a=mid:4\r\n"} {
		if !strings.Contains(seen, kept) {
			t.Errorf("Pion is not shown %q:\n%s", kept, seen)
		}
	}
	if same, groups := simGroups("v=0\r\nm=video 9 X 96\r\na=mid:0\r\n"); groups != nil || same != "v=0\r\nm=video 9 X 96\r\na=mid:0\r\n" {
		t.Errorf("an offer without a SIM group is changed: %q, %v", same, groups)
	}
}
