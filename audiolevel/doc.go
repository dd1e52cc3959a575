// Package audiolevel reads the audio level that a publisher puts on each
// audio packet (RFC 6464, the header extension
// urn:ietf:params:rtp-hdrext:ssrc-audio-level) and makes two things of
// it: the waveform of a recorded clip (Waveform) and whether someone is
// speaking (Detector). It decodes no audio: the level is the encoder's own
// measure, one byte per packet.
//
// A level is the packet's loudness in -dBov: 0 is the loudest a signal
// can be, 127 silence. Speech into a usual microphone is about 20 to 45;
// a quiet room 60 and more.
//
// Nothing here allocates per packet or keeps a goroutine; the callers
// (the SFU's read loop, the recorder) own the values and their locking.
package audiolevel

// URI is the header extension's name in SDP.
const URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// Level is one packet's audio level in -dBov, 0 (loudest) to 127
// (silence).
type Level uint8

// Silence is the level of a packet with no sound.
const Silence Level = 127

// Parse reads the one-byte payload of the extension: the voice activity
// flag and the level. ok is false when the payload is not one (a
// publisher may send anything under the negotiated id).
func Parse(ext []byte) (l Level, voice, ok bool) {
	if len(ext) < 1 {
		return Silence, false, false
	}
	return Level(ext[0] & 0x7f), ext[0]&0x80 != 0, true
}

// Loudness maps a level onto 0..100 for people to see: 0 at -60 dBov and
// below (a quiet room), 100 at full scale, linear in decibels, so that
// speech (-20 to -45 dBov) fills the middle of the scale.
func (l Level) Loudness() int {
	const floor = 60
	if l >= floor {
		return 0
	}
	return (floor - int(l)) * 100 / floor
}
