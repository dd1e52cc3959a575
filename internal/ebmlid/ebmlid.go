// Package ebmlid holds the EBML and Matroska element IDs that parley
// writes (recorder) and reads (clips/probe), from RFC 8794 and RFC 9559,
// in one place so that the writer and the reader cannot disagree.
//
// An ID is given as its bytes, the length marker included (0x1A45DFA3,
// not 0x0A45DFA3): the top set bit of its first byte says how long it
// is, one byte for 0x80-0xFF up to four for 0x10-0x1F. Len returns it.
// The package owns nothing else: sizes, values and the layout of a clip
// are the writer's and the reader's.
package ebmlid

// The EBML header (RFC 8794) and the elements allowed anywhere.
const (
	EBML               = 0x1A45DFA3
	EBMLVersion        = 0x4286
	EBMLReadVersion    = 0x42F7
	EBMLMaxIDLength    = 0x42F2
	EBMLMaxSizeLength  = 0x42F3
	DocType            = 0x4282
	DocTypeVersion     = 0x4287
	DocTypeReadVersion = 0x4285
	Void               = 0xEC
	CRC32              = 0xBF
)

// The Segment and its top-level elements.
const (
	Segment      = 0x18538067
	SeekHead     = 0x114D9B74
	Seek         = 0x4DBB
	SeekID       = 0x53AB
	SeekPosition = 0x53AC
	Info         = 0x1549A966
	Tracks       = 0x1654AE6B
	Cluster      = 0x1F43B675
	Cues         = 0x1C53BB6B
	Tags         = 0x1254C367
	Chapters     = 0x1043A770
	Attachments  = 0x1941A469
)

// Info's children.
const (
	TimecodeScale = 0x2AD7B1
	MuxingApp     = 0x4D80
	WritingApp    = 0x5741
	Duration      = 0x4489
)

// A TrackEntry and its children.
const (
	TrackEntry        = 0xAE
	TrackNumber       = 0xD7
	TrackUID          = 0x73C5
	Name              = 0x536E
	TrackType         = 0x83
	CodecID           = 0x86
	CodecPrivate      = 0x63A2
	CodecDelay        = 0x56AA
	SeekPreRoll       = 0x56BB
	DefaultDuration   = 0x23E383
	ContentEncodings  = 0x6D80
	Audio             = 0xE1
	SamplingFrequency = 0xB5
	Channels          = 0x9F
	Video             = 0xE0
	PixelWidth        = 0xB0
	PixelHeight       = 0xBA
)

// A Cluster's children.
const (
	Timecode       = 0xE7
	SimpleBlock    = 0xA3
	BlockGroup     = 0xA0
	Block          = 0xA1
	BlockDuration  = 0x9B
	ReferenceBlock = 0xFB
	DiscardPadding = 0x75A2
)

// The Cues.
const (
	CuePoint           = 0xBB
	CueTime            = 0xB3
	CueTrackPositions  = 0xB7
	CueTrack           = 0xF7
	CueClusterPosition = 0xF1
)

// Len is the length in bytes of an ID, from its marker; 0 if id is not
// a valid ID (no marker where its bytes start, or bits before it).
func Len(id uint32) int {
	switch {
	case id >= 1<<24:
		if id>>28 == 1 {
			return 4
		}
	case id >= 1<<16:
		if id>>21 == 1 {
			return 3
		}
	case id >= 1<<8:
		if id>>14 == 1 {
			return 2
		}
	case id >= 1<<7:
		return 1
	}
	return 0
}
