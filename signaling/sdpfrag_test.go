package signaling

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSDPFrag(t *testing.T) {
	f, err := parseSDPFrag("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host\r\na=end-of-candidates\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.ufrag != "EsAw" || f.pwd != "P2uYro0UCOQ4zxjKXaWCBui1" || len(f.candidates) != 1 || f.candidates[0].mid != "0" ||
		f.candidates[0].value != "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host" || !f.end {
		t.Errorf("parsed %+v", f)
	}
	for _, bad := range []string{
		"garbage",
		"a=ice-ufrag:abc\r\n", // no password
		"a=ice-ufrag:a b\r\na=ice-pwd:secretsecret\r\n", // not ice-chars
		"a=ice-ufrag:" + strings.Repeat("a", 300) + "\r\na=ice-pwd:x\r\n",
		strings.Repeat("a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n", maxFragCandidates+1),
	} {
		if _, err := parseSDPFrag(bad); !errors.Is(err, errBadFrag) {
			t.Errorf("parseSDPFrag(%.40q) = %v, want errBadFrag", bad, err)
		}
	}
}

// TestRestartOffer: the offer a restart stands for has the fragment's
// credentials everywhere and its candidates in the first section only.
func TestRestartOffer(t *testing.T) {
	offer := "v=0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\n" +
		"a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\n"
	f := sdpFrag{ufrag: "new", pwd: "newpwd", candidates: []fragCandidate{{mid: "0", value: "candidate:2 1 udp 1 192.0.2.2 9 typ host"}}}
	got := restartOffer(offer, f)
	if strings.Contains(got, "old") || strings.Count(got, "a=ice-ufrag:new") != 3 || strings.Count(got, "a=ice-pwd:newpwd") != 3 {
		t.Errorf("credentials not replaced:\n%s", got)
	}
	if strings.Contains(got, "192.0.2.1") || strings.Count(got, "a=candidate:") != 1 ||
		strings.Index(got, "a=candidate:2") > strings.Index(got, "m=video") {
		t.Errorf("candidates:\n%s", got)
	}
	frag := answerFrag(got)
	if !strings.HasPrefix(frag, "a=ice-ufrag:new\r\na=ice-pwd:newpwd\r\nm=audio") || !strings.Contains(frag, "a=mid:0\r\n") ||
		!strings.Contains(frag, "a=candidate:2") || strings.Contains(frag, "m=video") {
		t.Errorf("answerFrag:\n%s", frag)
	}
}

// FuzzSDPFrag: a PATCH body of any bytes is parsed or refused, never a
// panic; a parsed one makes an offer with its credentials and candidates
// and nothing of the old ones.
func FuzzSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\na=end-of-candidates\r\n")
	f.Add("a=mid:0\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\n")
	f.Add("garbage")
	offer := "v=0\r\na=ice-ufrag:oldufrag\r\na=ice-pwd:oldpassword\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:9 1 udp 1 198.51.100.9 9 typ host\r\n"
	f.Fuzz(func(t *testing.T, body string) {
		frag, err := parseSDPFrag(body)
		if err != nil {
			return
		}
		if frag.ufrag == "" {
			return // candidates alone: no restart
		}
		got := restartOffer(offer, frag)
		if !strings.Contains(got, "a=ice-ufrag:"+frag.ufrag+"\r\n") || strings.Contains(got, "198.51.100.9") {
			t.Fatalf("restart offer of %q:\n%s", body, got)
		}
		_ = answerFrag(got)
	})
}
