package recorder

// block is a frame placed on the clip's timeline, waiting to be written.
type block struct {
	track int // index in the interleaver
	tc    int64
	key   bool
	data  []byte
}

// fifo is a queue that reuses its array: a ring that doubles when full.
type fifo[T any] struct {
	buf        []T
	head, size int
}

func (q *fifo[T]) push(v T) {
	if q.size == len(q.buf) {
		n := make([]T, max(8, 2*len(q.buf)))
		for i := 0; i < q.size; i++ {
			n[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = n, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = v
	q.size++
}

func (q *fifo[T]) peek() *T { return &q.buf[q.head] }

func (q *fifo[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return v
}

// interleaver puts the frames of a clip's tracks in timecode order. Each
// track's frames come in order, but the tracks run slightly apart: a frame
// waits in its assembler for a late packet, and sender reports shift one
// track against the other. A frame is written once every track has one
// waiting (the oldest goes first; at equal timecodes, the lower track,
// audio, first), or when the newest frame is more than maxDelay ms after
// it: a track that stops (a camera turned off) holds the others back no
// longer. With one track, frames pass at once.
type interleaver struct {
	queues   []fifo[block]
	maxDelay int64
	newest   int64
	held     int   // frames waiting
	heldSize int64 // their bytes
}

func newInterleaver(tracks int, maxDelay int64) *interleaver {
	return &interleaver{queues: make([]fifo[block], tracks), maxDelay: maxDelay}
}

func (il *interleaver) push(b block) {
	il.queues[b.track].push(b)
	il.held++
	il.heldSize += int64(len(b.data))
	if b.tc > il.newest {
		il.newest = b.tc
	}
}

// next returns the frame to write now, if any; with all, it returns what
// is held regardless of the other tracks.
func (il *interleaver) next(all bool) (block, bool) {
	best := -1
	waiting := true
	for i := range il.queues {
		q := &il.queues[i]
		if q.size == 0 {
			waiting = false
			continue
		}
		if best < 0 || q.peek().tc < il.queues[best].peek().tc {
			best = i
		}
	}
	if best < 0 {
		return block{}, false
	}
	if !all && !waiting && il.newest-il.queues[best].peek().tc <= il.maxDelay {
		return block{}, false
	}
	b := il.queues[best].pop()
	il.held--
	il.heldSize -= int64(len(b.data))
	return b, true
}
