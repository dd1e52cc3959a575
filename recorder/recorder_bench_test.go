package recorder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp/codecs"

	"parley/internal/testmedia"
)

// BenchmarkRecordAudio measures the recorder's write path: a sink taking
// a packet, the sample builder, and the WebM writer, for 3 s of Opus
// (150 packets) per iteration, into a file.
func BenchmarkRecordAudio(b *testing.B) {
	frames := testmedia.Opus(b, 3)
	pkts := testmedia.Packets(frames, &codecs.OpusPayloader{}, 48000, 1000)
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
	b.ReportMetric(float64(b.N*len(pkts))/b.Elapsed().Seconds(), "packets/s")
}
