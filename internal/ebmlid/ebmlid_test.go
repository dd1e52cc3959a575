package ebmlid

import "testing"

// every is each ID of the package, by name.
var every = map[string]uint32{
	"EBML": EBML, "EBMLVersion": EBMLVersion, "EBMLReadVersion": EBMLReadVersion,
	"EBMLMaxIDLength": EBMLMaxIDLength, "EBMLMaxSizeLength": EBMLMaxSizeLength,
	"DocType": DocType, "DocTypeVersion": DocTypeVersion, "DocTypeReadVersion": DocTypeReadVersion,
	"Void": Void, "CRC32": CRC32,
	"Segment": Segment, "SeekHead": SeekHead, "Seek": Seek, "SeekID": SeekID, "SeekPosition": SeekPosition,
	"Info": Info, "Tracks": Tracks, "Cluster": Cluster, "Cues": Cues, "Tags": Tags,
	"Chapters": Chapters, "Attachments": Attachments,
	"TimecodeScale": TimecodeScale, "MuxingApp": MuxingApp, "WritingApp": WritingApp, "Duration": Duration,
	"TrackEntry": TrackEntry, "TrackNumber": TrackNumber, "TrackUID": TrackUID, "Name": Name,
	"TrackType": TrackType, "CodecID": CodecID, "CodecPrivate": CodecPrivate, "CodecDelay": CodecDelay,
	"SeekPreRoll": SeekPreRoll, "DefaultDuration": DefaultDuration, "ContentEncodings": ContentEncodings,
	"Audio": Audio, "SamplingFrequency": SamplingFrequency, "Channels": Channels,
	"Video": Video, "PixelWidth": PixelWidth, "PixelHeight": PixelHeight,
	"Timecode": Timecode, "SimpleBlock": SimpleBlock, "BlockGroup": BlockGroup, "Block": Block,
	"BlockDuration": BlockDuration, "ReferenceBlock": ReferenceBlock, "DiscardPadding": DiscardPadding,
	"CuePoint": CuePoint, "CueTime": CueTime, "CueTrackPositions": CueTrackPositions,
	"CueTrack": CueTrack, "CueClusterPosition": CueClusterPosition,
}

// TestIDs checks that every ID carries its length marker, that the
// top-level elements have the 4-byte IDs a reader resyncs on, and that
// no two elements share an ID.
func TestIDs(t *testing.T) {
	seen := map[uint32]string{}
	for name, id := range every {
		if Len(id) == 0 {
			t.Errorf("%s = %#x: not a valid EBML ID", name, id)
		}
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s are both %#x", name, other, id)
		}
		seen[id] = name
	}
	for _, id := range []uint32{EBML, Segment, SeekHead, Info, Tracks, Cluster, Cues, Tags, Chapters, Attachments} {
		if Len(id) != 4 {
			t.Errorf("%#x: a top-level ID of %d bytes", id, Len(id))
		}
	}
}

func TestLen(t *testing.T) {
	for _, c := range []struct {
		id   uint32
		want int
	}{
		{0xA3, 1}, {0x80, 1}, {0xFF, 1}, {0x7F, 0}, {0x00, 0},
		{0x4286, 2}, {0x4000, 2}, {0x7FFF, 2}, {0x8000, 0}, {0x2000, 0},
		{0x2AD7B1, 3}, {0x200000, 3}, {0x400000, 0}, {0x100000, 0},
		{0x1A45DFA3, 4}, {0x10000000, 4}, {0x20000000, 0}, {0x0F000000, 0},
	} {
		if got := Len(c.id); got != c.want {
			t.Errorf("Len(%#x) = %d, want %d", c.id, got, c.want)
		}
	}
}
