package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"parley/internal/testmedia"
)

// BenchmarkRecordAudio measures the recorder's write path: a sink taking
// a packet, the frame assembler, and the WebM writer, for 3 s of Opus
// (150 packets) per iteration, into a file: a whole short clip, header
// and Cues included.
func BenchmarkRecordAudio(b *testing.B) {
	frames := testmedia.Opus(b, 3)
	pkts := testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000)
	n := 0
	for _, fp := range pkts {
		n += len(fp)
	}
	dir := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Create(filepath.Join(dir, "b.webm"))
		if err != nil {
			b.Fatal(err)
		}
		rec, err := Start(f, []Track{{Codec: testmedia.OpusCodec}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		sink := rec.Sink(0)
		for _, fp := range pkts {
			for _, p := range fp {
				sink.WriteRTP(p)
			}
		}
		if _, err := rec.Stop(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkRecordAudioSteady measures one packet of a long recording, in
// steady state: b.N packets of Opus with audio levels into one recorder,
// fed 32 at a time (a batch that wakes the recorder), each batch taken
// before the next is given, as a publisher's packets come spread in time.
// The header and the close are amortized over the run. The file is
// discarded: the figure is the recorder's work, not the disk's.
func BenchmarkRecordAudioSteady(b *testing.B) {
	frames := testmedia.Opus(b, 3)
	const levelID = 1
	var pkts []*rtp.Packet
	for _, fp := range testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000) {
		for _, p := range fp {
			if err := p.Header.SetExtension(levelID, []byte{byte(30)}); err != nil {
				b.Fatal(err)
			}
			pkts = append(pkts, p)
		}
	}
	rec, err := Start(&discard{}, []Track{{Codec: testmedia.OpusCodec, AudioLevelID: levelID}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	sink := rec.Sink(0)
	b.ReportAllocs()
	b.ResetTimer()
	var seq uint16
	var ts uint32
	base := pkts[0].Timestamp
	for i := 0; i < b.N; i++ {
		p := pkts[i%len(pkts)]
		if i%len(pkts) == 0 && i > 0 {
			seq += uint16(len(pkts))
			ts += uint32(len(pkts)) * 960
		}
		h := p.Header
		q := rtp.Packet{Header: h, Payload: p.Payload}
		q.SequenceNumber += seq
		q.Timestamp = base + ts + (p.Timestamp - base)
		sink.WriteRTP(&q)
		if (i+1)%wakeBatch == 0 {
			for rec.queued() > 0 {
				runtime.Gosched()
			}
		}
	}
	res, err := rec.Stop()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Dropped != 0 || res.Waveform == nil {
		b.Fatalf("%d packets dropped, waveform %v", res.Dropped, res.Waveform)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// queued is the number of packets waiting for the recorder's goroutine.
func (r *Recorder) queued() int {
	r.in.mu.Lock()
	defer r.in.mu.Unlock()
	return len(r.in.queue)
}

// discard is a file that keeps nothing.
type discard struct{ n, off int64 }

func (d *discard) Write(b []byte) (int, error) {
	d.off += int64(len(b))
	d.n = max(d.n, d.off)
	return len(b), nil
}

func (d *discard) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 1:
		off += d.off
	case 2:
		off += d.n
	}
	d.off = off
	return off, nil
}

// BenchmarkRecordAudio50 runs 50 recorders at once, each fed 50 Opus
// packets a second as a publisher sends them (one tick of 20 ms per
// iteration, a packet to each recorder), into files, and reports the
// recorded packets per second of the process's CPU time (user and system,
// from getrusage) and the share of one core that takes. Run it with
// -benchtime 10s or more: the figure is the average over the run.
func BenchmarkRecordAudio50(b *testing.B) {
	const recorders = 50
	frames := testmedia.Opus(b, 3)
	var pkts []*rtp.Packet
	for _, fp := range testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000) {
		pkts = append(pkts, fp...)
	}
	dir := b.TempDir()
	var recs []*Recorder
	var sinks []*Sink
	var files []*os.File
	for i := 0; i < recorders; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.webm", i)))
		if err != nil {
			b.Fatal(err)
		}
		rec, err := Start(f, []Track{{Codec: testmedia.OpusCodec}}, Options{MaxDuration: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		recs, sinks, files = append(recs, rec), append(sinks, rec.Sink(0)), append(files, f)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	var q rtp.Packet
	for i := 0; i < b.N; i++ {
		<-tick.C
		p := pkts[i%len(pkts)]
		cycle := i / len(pkts)
		q.Header = p.Header
		q.Payload = p.Payload
		q.SequenceNumber += uint16(cycle * len(pkts))
		q.Timestamp += uint32(cycle*len(pkts)) * 960
		for _, s := range sinks {
			s.WriteRTP(&q)
		}
	}
	for _, rec := range recs {
		if _, err := rec.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	for _, f := range files {
		f.Close()
	}
	n := float64(b.N * recorders)
	b.ReportMetric(n/cpu.Seconds(), "packets/CPU-s")
	b.ReportMetric(100*cpu.Seconds()/b.Elapsed().Seconds(), "%core")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
