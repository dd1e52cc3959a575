package feedback

import "time"

// URI names the header extension of the transport-wide sequence number.
const URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// How often feedback is sent: as libwebrtc does, often enough for a fast
// stream's estimate (every 50 ms at a megabit and more), and no more than
// a twentieth of the bitrate received for a slow one (every 250 ms for an
// audio stream of 32 kbit/s). Fifty audio publishers would otherwise
// cost the server 500 feedbacks a second, each an encryption and a send.
const (
	MinInterval = 50 * time.Millisecond
	MaxInterval = 250 * time.Millisecond
	// feedbackBits is the size of a feedback packet, encrypted and sent,
	// as libwebrtc counts it.
	feedbackBits = 68 * 8
)

// interval is the time until the next feedback after one that covered
// bytes received over d.
func interval(bytes int, d time.Duration) time.Duration {
	if bytes <= 0 || d <= 0 {
		return MaxInterval
	}
	bps := float64(bytes) * 8 / d.Seconds()
	return min(max(time.Duration(feedbackBits/(0.05*bps)*float64(time.Second)), MinInterval), MaxInterval)
}

// Sequence reads a transport-wide sequence number from the payload of
// its header extension.
func Sequence(ext []byte) (uint16, bool) {
	if len(ext) < 2 {
		return 0, false
	}
	return uint16(ext[0])<<8 | uint16(ext[1]), true
}
