package probe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Ogg (RFC 3533) carrying one Opus stream (RFC 7845).

const (
	oggContinued = 0x01
	oggBOS       = 0x02
	oggEOS       = 0x04
	// maxHeadPacket caps the OpusHead kept in memory (family 1 or 255
	// with 255 channels takes 21+255 bytes).
	maxHeadPacket = 512
)

var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04C11DB7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}

// oggPacket is what is kept of a packet being reassembled: its first bytes
// and its length.
type oggPacket struct {
	head []byte
	n    int64
}

func probeOgg(r *bufio.Reader) (Info, error) {
	var (
		info     = Info{Container: "ogg"}
		serial   uint32
		seq      uint32
		pages    int
		packets  int // complete packets
		cur      *oggPacket
		head     opusHead
		headRaw  []byte
		eos      bool
		granule  int64 = -1 // last granule position seen on an audio page
		first    int64 = -1 // start of the audio: first audio page's granule minus its samples
		audio    int        // audio packets
		hdr      [27]byte
		segTable [255]byte
		page     = make([]byte, 0, 255*255)
	)
	for {
		n, err := io.ReadFull(r, hdr[:])
		if err != nil {
			if errors.Is(err, ErrTooBig) {
				return info, err
			}
			if n == 0 && errors.Is(err, io.EOF) && pages > 0 {
				break
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return info, fmt.Errorf("%w: inside an Ogg page header", ErrTruncated)
			}
			return info, err
		}
		if string(hdr[:4]) != "OggS" {
			if pages == 0 {
				return info, fmt.Errorf("%w: no Ogg capture pattern", ErrNotMedia)
			}
			return info, fmt.Errorf("%w: no Ogg page at the end of page %d", ErrInvalid, pages)
		}
		if hdr[4] != 0 {
			return info, fmt.Errorf("%w: Ogg version %d", ErrInvalid, hdr[4])
		}
		flags := hdr[5]
		if flags&^7 != 0 {
			return info, fmt.Errorf("%w: Ogg header flags 0x%02x", ErrInvalid, flags)
		}
		pageGranule := int64(binary.LittleEndian.Uint64(hdr[6:]))
		pageSerial := binary.LittleEndian.Uint32(hdr[14:])
		pageSeq := binary.LittleEndian.Uint32(hdr[18:])
		crc := binary.LittleEndian.Uint32(hdr[22:])
		nseg := int(hdr[26])
		if _, err := io.ReadFull(r, segTable[:nseg]); err != nil {
			return info, oggReadErr(err)
		}
		size := 0
		for _, l := range segTable[:nseg] {
			size += int(l)
		}
		page = page[:size]
		if _, err := io.ReadFull(r, page); err != nil {
			return info, oggReadErr(err)
		}
		hdr[22], hdr[23], hdr[24], hdr[25] = 0, 0, 0, 0
		sum := oggCRC(0, hdr[:])
		sum = oggCRC(sum, segTable[:nseg])
		sum = oggCRC(sum, page)
		if sum != crc {
			return info, fmt.Errorf("%w: Ogg page %d has a bad CRC", ErrInvalid, pages)
		}

		switch {
		case pages == 0:
			if flags&oggBOS == 0 {
				return info, fmt.Errorf("%w: the first Ogg page does not begin a stream", ErrInvalid)
			}
			serial, seq = pageSerial, pageSeq
		case flags&oggBOS != 0 || pageSerial != serial:
			return info, fmt.Errorf("%w: more than one logical Ogg stream", ErrCodec)
		case eos:
			return info, fmt.Errorf("%w: Ogg page after the end of the stream", ErrInvalid)
		case pageSeq != seq+1:
			return info, fmt.Errorf("%w: Ogg page %d follows page %d", ErrInvalid, pageSeq, seq)
		default:
			seq = pageSeq
		}
		pages++
		if flags&oggEOS != 0 {
			eos = true
		}
		if (flags&oggContinued != 0) != (cur != nil) {
			return info, fmt.Errorf("%w: Ogg page %d breaks packet continuation", ErrInvalid, pages-1)
		}

		// Packets ending on this page.
		ended := 0
		pageSamples := int64(0)
		off := 0
		for i, l := range segTable[:nseg] {
			seg := page[off : off+int(l)]
			off += int(l)
			if cur == nil {
				cur = &oggPacket{}
			}
			keep := 8
			if packets == 0 {
				keep = maxHeadPacket
			}
			if room := keep - len(cur.head); room > 0 {
				cur.head = append(cur.head, seg[:min(room, len(seg))]...)
			}
			cur.n += int64(l)
			if l == 255 {
				continue
			}
			// The packet ends here.
			switch packets {
			case 0:
				if pages != 1 || i != nseg-1 {
					return info, fmt.Errorf("%w: OpusHead must be alone on the first Ogg page", ErrInvalid)
				}
				if cur.n > maxHeadPacket {
					return info, fmt.Errorf("%w: OpusHead of %d bytes", ErrInvalid, cur.n)
				}
				if len(cur.head) < 8 || string(cur.head[:8]) != "OpusHead" {
					return info, fmt.Errorf("%w: the Ogg stream is not Opus", ErrCodec)
				}
				h, err := parseOpusHead(cur.head)
				if err != nil {
					return info, err
				}
				head, headRaw = h, cur.head
			case 1:
				if len(cur.head) < 8 || string(cur.head[:8]) != "OpusTags" {
					return info, fmt.Errorf("%w: no OpusTags after OpusHead", ErrInvalid)
				}
			default:
				s := OpusSamples(cur.head)
				if s == 0 {
					return info, fmt.Errorf("%w: malformed Opus packet %d", ErrInvalid, packets)
				}
				audio++
				pageSamples += int64(s)
			}
			packets++
			ended++
			cur = nil
		}
		if ended == 0 {
			continue
		}
		if pageGranule == -1 {
			return info, fmt.Errorf("%w: Ogg page %d ends a packet but has no granule position", ErrInvalid, pages-1)
		}
		if pageSamples == 0 {
			// Header pages.
			if pageGranule != 0 {
				return info, fmt.Errorf("%w: Opus header page with granule position %d", ErrInvalid, pageGranule)
			}
			continue
		}
		if pageGranule < 0 || pageGranule < granule {
			return info, fmt.Errorf("%w: granule position goes from %d to %d", ErrInvalid, granule, pageGranule)
		}
		if first < 0 {
			first = max(pageGranule-pageSamples, 0)
		}
		granule = pageGranule
	}
	if cur != nil {
		return info, fmt.Errorf("%w: the last Ogg packet is incomplete", ErrTruncated)
	}
	if packets < 2 {
		return info, fmt.Errorf("%w: Opus headers incomplete", ErrTruncated)
	}
	if audio == 0 {
		return info, fmt.Errorf("%w: no Opus audio packet", ErrInvalid)
	}
	// Granule positions count decoded samples at 48 kHz, the pre-skip
	// included (RFC 7845, section 4).
	total := granule - first - int64(head.preSkip)
	if total < 0 {
		total = 0
	}
	if total > maxTime/1e9*48000 {
		return info, fmt.Errorf("%w: granule position %d", ErrInvalid, granule)
	}
	info.Duration = time.Duration(total/48000)*time.Second + time.Duration(total%48000)*time.Second/48000
	info.Blocks = audio
	info.Tracks = []Track{{
		Number: 1, Kind: "audio", Codec: "opus", CodecPrivate: headRaw,
		SampleRate: 48000, Channels: head.channels, Blocks: audio,
		CodecDelay: time.Duration(head.preSkip) * time.Second / 48000,
	}}
	return info, nil
}

func oggReadErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: inside an Ogg page", ErrTruncated)
	}
	return err
}
