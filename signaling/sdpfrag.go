package signaling

import (
	"errors"
	"fmt"
	"strings"
)

// sdpFragType is the media type of the PATCH bodies of WHIP and WHEP
// sessions (RFC 8840): trickled candidates and ICE restarts.
const sdpFragType = "application/trickle-ice-sdpfrag"

// maxFragBytes bounds a PATCH body.
const maxFragBytes = 16 << 10

// maxFragCandidates bounds the candidates of one PATCH.
const maxFragCandidates = 64

// sdpFrag is what a trickle-ice-sdpfrag says: the ICE credentials (new
// ones ask for an ICE restart) and candidates, each with the mid of its
// media section.
type sdpFrag struct {
	ufrag, pwd string
	candidates []fragCandidate
	end        bool // a=end-of-candidates
}

type fragCandidate struct {
	mid   string
	value string // "candidate:..."
}

var errBadFrag = errors.New("not a trickle-ice-sdpfrag")

// parseSDPFrag reads a trickle-ice-sdpfrag. Lines other than the ICE
// credentials, m=, a=mid, a=candidate and a=end-of-candidates are
// ignored, as RFC 8840 allows.
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	mid := ""
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "m="):
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			if len(f.candidates) == maxFragCandidates {
				return sdpFrag{}, fmt.Errorf("%w: more than %d candidates", errBadFrag, maxFragCandidates)
			}
			f.candidates = append(f.candidates, fragCandidate{mid: mid, value: strings.TrimPrefix(line, "a=")})
		case line == "a=end-of-candidates":
			f.end = true
		case len(line) < 2 || line[1] != '=':
			return sdpFrag{}, fmt.Errorf("%w: line %q", errBadFrag, truncate(line, 40))
		}
	}
	if (f.ufrag == "") != (f.pwd == "") {
		return sdpFrag{}, fmt.Errorf("%w: an ICE restart gives both ice-ufrag and ice-pwd", errBadFrag)
	}
	if !iceChars(f.ufrag) || !iceChars(f.pwd) {
		return sdpFrag{}, fmt.Errorf("%w: bad ICE credentials", errBadFrag)
	}
	return f, nil
}

// iceChars tells whether s is made of ice-char (RFC 8839: ALPHA, DIGIT,
// "+" and "/") and is at most 256 of them.
func iceChars(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// iceCredentials returns the first ice-ufrag and ice-pwd of an SDP.
func iceCredentials(sdp string) (ufrag, pwd string) {
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok && ufrag == "" {
			ufrag = v
		}
		if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok && pwd == "" {
			pwd = v
		}
	}
	return ufrag, pwd
}

// restartOffer is offer with the ICE credentials and candidates of f: the
// offer a client that restarts ICE with f would have sent. Its old
// candidates go; the new ones go in the first media section, which
// bundles the others.
func restartOffer(offer string, f sdpFrag) string {
	var b strings.Builder
	first := true
	for _, line := range strings.SplitAfter(offer, "\n") {
		bare := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(bare, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + f.ufrag + "\r\n")
			continue
		case strings.HasPrefix(bare, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + f.pwd + "\r\n")
			continue
		case strings.HasPrefix(bare, "a=candidate:"), bare == "a=end-of-candidates":
			continue
		}
		b.WriteString(line)
		if strings.HasPrefix(bare, "m=") && first {
			first = false
			for _, c := range f.candidates {
				b.WriteString("a=" + c.value + "\r\n")
			}
			if f.end {
				b.WriteString("a=end-of-candidates\r\n")
			}
		}
	}
	return b.String()
}

// answerFrag is the sdpfrag of an answer to an ICE restart: the server's
// new credentials and its candidates (RFC 9725 4.3.2).
func answerFrag(answer string) string {
	var b strings.Builder
	ufrag, pwd := iceCredentials(answer)
	b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
	b.WriteString("a=ice-pwd:" + pwd + "\r\n")
	inMedia := false
	for _, line := range strings.Split(answer, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "m="):
			if inMedia {
				return b.String() // the first section's candidates serve the bundle
			}
			inMedia = true
			b.WriteString(line + "\r\n")
		case inMedia && (strings.HasPrefix(line, "a=mid:") || strings.HasPrefix(line, "a=candidate:") || line == "a=end-of-candidates"):
			b.WriteString(line + "\r\n")
		}
	}
	return b.String()
}
