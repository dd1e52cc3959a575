package mirror_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"parley/clips/mirror"
	"parley/internal/s3test"
	"parley/objstore"
)

// BenchmarkPullRoom is what a node pays to take up a room from the bucket
// into an empty folder (one Pull per op): 100 clips of 40 KB (media and
// metadata) and 20 played files, from a versitygw on this machine.
func BenchmarkPullRoom(b *testing.B) {
	s := s3test.Start(b)
	c, err := objstore.New(objstore.Config{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, PathStyle: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	put := func(key string, data []byte, typ string) {
		if _, err := c.Put(ctx, key, bytes.NewReader(data), int64(len(data)), typ); err != nil {
			b.Fatal(err)
		}
	}
	media := bytes.Repeat([]byte{0x1a}, 40<<10)
	const clips, owners = 100, 20
	for i := range clips {
		id := fmt.Sprintf("%013x%016x", 0x19a00000000+i, i)
		put("rooms/chat/clips/"+id+".webm", media, "video/webm")
		put("rooms/chat/clips/"+id+".json", fmt.Appendf(nil, `{"id":%q,"room":"chat","bytes":%d}`, id, len(media)), "application/json")
	}
	for i := range owners {
		put(fmt.Sprintf("rooms/chat/played/%064x.json", i), []byte(`{"clips":[]}`), "application/json")
	}
	b.SetBytes(clips * int64(len(media)))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		for _, d := range []string{"clips", "played"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o750); err != nil {
				b.Fatal(err)
			}
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			b.Fatal(err)
		}
		m := mirror.New(c, slog.New(slog.DiscardHandler))
		b.StartTimer()
		res, err := m.Pull(ctx, "chat", root, mirror.Limits{})
		b.StopTimer()
		root.Close()
		if err != nil || res.Fetched != 2*clips+owners {
			b.Fatalf("Pull: %+v, %v; want %d files fetched", res, err, 2*clips+owners)
		}
		b.StartTimer()
	}
}
