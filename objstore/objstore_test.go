package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"parley/internal/leakcheck"
	"parley/internal/s3test"
	"parley/objstore"
)

func newClient(t *testing.T, s s3test.Server, edit func(*objstore.Config)) *objstore.Client {
	t.Helper()
	cfg := objstore.Config{
		Endpoint:  s.Endpoint,
		Bucket:    s.Bucket,
		Region:    s.Region,
		AccessKey: s.AccessKey,
		SecretKey: s.SecretKey,
		PathStyle: true,
		Prefix:    "clips",
		Timeout:   5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := objstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// pattern returns n bytes that differ at every offset of a range test.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestPutOpenRange(t *testing.T) {
	leakcheck.Check(t)
	s := s3test.Start(t)
	// The requests to the store, to count them.
	tr := &countingTransport{next: &http.Transport{}}
	t.Cleanup(tr.next.CloseIdleConnections)
	c := newClient(t, s, func(c *objstore.Config) { c.Transport = tr })
	ctx := context.Background()
	data := pattern(1000)
	info, err := c.Put(ctx, "room-1/0193a.webm", bytes.NewReader(data), int64(len(data)), "video/webm")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 1000 || info.ETag == "" {
		t.Fatalf("put: %+v", info)
	}
	// The object is under the prefix, in the backend's folder.
	if _, err := os.Stat(filepath.Join(s.Dir, s.Bucket, "clips", "room-1", "0193a.webm")); err != nil {
		t.Fatalf("object not under the prefix: %v", err)
	}

	st, err := c.Stat(ctx, "room-1/0193a.webm")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != 1000 || st.ContentType != "video/webm" || st.ModTime.IsZero() {
		t.Fatalf("stat: %+v", st)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := c.Open(r.Context(), "room-1/0193a.webm")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer o.Close()
		w.Header().Set("Content-Type", o.ContentType)
		http.ServeContent(w, r, "", o.ModTime, o)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		rng        string
		code       int
		start, end int // the bytes wanted, [start, end)
	}{
		{"bytes=10-19", http.StatusPartialContent, 10, 20},
		{"bytes=990-", http.StatusPartialContent, 990, 1000},
		{"bytes=-5", http.StatusPartialContent, 995, 1000},
		{"", http.StatusOK, 0, 1000},
	} {
		tr.reset()
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.code {
			t.Fatalf("Range %q: status %d, want %d: %s", tc.rng, resp.StatusCode, tc.code, body)
		}
		if !bytes.Equal(body, data[tc.start:tc.end]) {
			t.Fatalf("Range %q: got %d bytes %x, want %x", tc.rng, len(body), body, data[tc.start:tc.end])
		}
		if resp.Header.Get("Content-Type") != "video/webm" {
			t.Fatalf("Range %q: Content-Type %q", tc.rng, resp.Header.Get("Content-Type"))
		}
		// One HEAD (Open), one GET of the range.
		if got := tr.reset(); got != "HEAD GET" {
			t.Fatalf("Range %q: the store got %q, want one HEAD and one GET", tc.rng, got)
		}
	}

	// A read that goes on after a seek back reads the right bytes.
	o, err := c.Open(ctx, "room-1/0193a.webm")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(o, buf); err != nil || !bytes.Equal(buf, data[:4]) {
		t.Fatalf("read: %x %v", buf, err)
	}
	if _, err := o.Seek(500, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(o, buf); err != nil || !bytes.Equal(buf, data[500:504]) {
		t.Fatalf("read after seek: %x %v", buf, err)
	}
}

// TestMultipart puts 17 MiB with 5 MiB parts (4 parts: 5+5+5+2): the
// object comes back whole, and an upload that fails in its third part
// leaves nothing listed and no upload open.
func TestMultipart(t *testing.T) {
	leakcheck.Check(t)
	s := s3test.Start(t)
	c := newClient(t, s, func(c *objstore.Config) { c.PartSize = objstore.MinPartSize })
	ctx := context.Background()
	data := pattern(17 << 20)
	f, err := os.Create(filepath.Join(t.TempDir(), "clip.webm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	info, err := c.PutFile(ctx, "room/big.webm", f, "video/webm")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A multipart upload's ETag is the parts' MD5 followed by "-" and
	// their number.
	if info.Size != int64(len(data)) || !strings.HasSuffix(strings.Trim(info.ETag, `"`), "-4") {
		t.Fatalf("put: %+v (want 4 parts)", info)
	}
	o, err := c.Open(ctx, "room/big.webm")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d equal bytes", len(got), err, len(data))
	}

	// openUploads sees an open upload.
	core, err := minio.NewCore(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := core.NewMultipartUpload(ctx, s.Bucket, "clips/room/open.webm", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := openUploads(t, s); n != 1 {
		t.Fatalf("%d uploads listed, want the one just begun", n)
	}
	if err := core.AbortMultipartUpload(ctx, s.Bucket, "clips/room/open.webm", id); err != nil {
		t.Fatal(err)
	}

	// A reader that fails after 12 MiB: in the third part.
	failing := io.MultiReader(bytes.NewReader(data[:12<<20]), errReader{})
	if _, err := c.Put(ctx, "room/broken.webm", failing, int64(len(data)), "video/webm"); err == nil {
		t.Fatal("put of a failing reader succeeded")
	}
	l, err := c.List(ctx, "room/", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Objects) != 1 || l.Objects[0].Key != "room/big.webm" {
		t.Fatalf("after a failed upload, listed %+v, want only room/big.webm", l.Objects)
	}
	if n := openUploads(t, s); n != 0 {
		t.Fatalf("%d multipart uploads left open after a failed upload", n)
	}
}

// countingTransport notes the methods of the requests it carries.
type countingTransport struct {
	next *http.Transport
	mu   sync.Mutex
	seen []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.seen = append(c.seen, r.Method)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// reset returns the methods seen since the last reset.
func (c *countingTransport) reset() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.Join(c.seen, " ")
	c.seen = nil
	return s
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

// openUploads counts the multipart uploads the store has open.
func openUploads(t *testing.T, s s3test.Server) int {
	t.Helper()
	core, err := minio.NewCore(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := core.ListMultipartUploads(ctx, s.Bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Uploads)
}

func TestListDelete(t *testing.T) {
	leakcheck.Check(t)
	s := s3test.Start(t)
	c := newClient(t, s, nil)
	ctx := context.Background()
	for _, k := range []string{"a/1.webm", "a/1.json", "a/2.webm", "ab/1.webm", "b/1.webm"} {
		if _, err := c.Put(ctx, k, strings.NewReader(k), int64(len(k)), "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	// Another prefix's objects are not this client's.
	other := newClient(t, s, func(c *objstore.Config) { c.Prefix = "other" })
	if _, err := other.Put(ctx, "a/9.webm", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}

	keys := func(l objstore.Listing) string {
		var k []string
		for _, o := range l.Objects {
			k = append(k, o.Key)
		}
		return strings.Join(k, " ")
	}
	l, err := c.List(ctx, "a/", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(l); got != "a/1.json a/1.webm a/2.webm" || l.Truncated || len(l.Skipped) > 0 {
		t.Fatalf("list a/: %q truncated %v skipped %v", got, l.Truncated, l.Skipped)
	}
	if l.Objects[0].Size != int64(len("a/1.json")) || l.Objects[0].ModTime.IsZero() {
		t.Fatalf("list entry: %+v", l.Objects[0])
	}
	l, err = c.List(ctx, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(l); got != "a/1.json a/1.webm a/2.webm" || !l.Truncated {
		t.Fatalf("list with limit 3: %q truncated %v", got, l.Truncated)
	}

	if err := c.Delete(ctx, "a/1.webm"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "a/1.webm"); err != nil {
		t.Fatalf("delete of a deleted key: %v", err)
	}
	l, err = c.List(ctx, "a", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(l); got != "a/1.json a/2.webm ab/1.webm" {
		t.Fatalf("list a after delete: %q", got)
	}

	_, err = c.Stat(ctx, "a/1.webm")
	if !errors.Is(err, objstore.ErrNotExist) || !strings.Contains(err.Error(), `"a/1.webm"`) {
		t.Fatalf("stat of a deleted key: %v, want ErrNotExist naming the key", err)
	}
	_, err = c.Open(ctx, "nothing/here.webm")
	if !errors.Is(err, objstore.ErrNotExist) || !strings.Contains(err.Error(), `"nothing/here.webm"`) {
		t.Fatalf("open of a missing key: %v, want ErrNotExist naming the key", err)
	}
	t.Logf("missing key: %v", err)
}

// TestOddListing: files put in the bucket's folder behind the server's
// back, with names no key may have, are skipped and reported.
func TestOddListing(t *testing.T) {
	s := s3test.Start(t)
	c := newClient(t, s, nil)
	ctx := context.Background()
	if _, err := c.Put(ctx, "r/good.webm", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Dir, s.Bucket, "clips", "r")
	for _, name := range []string{"bad name.webm", "émoji.webm", "a;b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("odd"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.List(ctx, "r/", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Objects) != 1 || l.Objects[0].Key != "r/good.webm" {
		t.Fatalf("listed %+v, want only r/good.webm", l.Objects)
	}
	if len(l.Skipped) != 3 {
		t.Fatalf("skipped %q, want the 3 odd names", l.Skipped)
	}
	t.Logf("skipped: %q", l.Skipped)
}

// TestHostileListing: a store that lists keys outside the prefix, twice,
// with negative or huge sizes. Each is skipped and reported.
func TestHostileListing(t *testing.T) {
	const listing = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>b-1</Name><Prefix>clips/r/</Prefix><KeyCount>6</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>clips/r/ok.webm</Key><Size>3</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>"e"</ETag></Contents>
<Contents><Key>clips/r/ok.webm</Key><Size>3</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>"e"</ETag></Contents>
<Contents><Key>elsewhere/x.webm</Key><Size>3</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>
<Contents><Key>clips/r/../../etc</Key><Size>3</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>
<Contents><Key>clips/r/neg.webm</Key><Size>-5</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>
<Contents><Key>clips/r/huge.webm</Key><Size>99999999999999999</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>
</ListBucketResult>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, listing)
	}))
	defer srv.Close()
	c, err := objstore.New(objstore.Config{Endpoint: srv.URL, Bucket: "b-1", AccessKey: "k", SecretKey: "s", PathStyle: true, Prefix: "clips"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.List(context.Background(), "r/", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Objects) != 1 || l.Objects[0].Key != "r/ok.webm" || l.Objects[0].Size != 3 {
		t.Fatalf("listed %+v, want only r/ok.webm", l.Objects)
	}
	if len(l.Skipped) != 5 {
		t.Fatalf("skipped %q, want 5", l.Skipped)
	}
	t.Logf("skipped: %q", l.Skipped)
}

// TestBadKeys: keys that could leave the prefix, or that are not names
// parley makes, are refused before any request (the endpoint is a port
// nobody listens on: a request would fail otherwise).
func TestBadKeys(t *testing.T) {
	c, err := objstore.New(objstore.Config{Endpoint: "http://" + closedAddr(t), Bucket: "parley", AccessKey: "k", SecretKey: "s", PathStyle: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{
		"", "..", "../x", "a/../b", "a//b", "/a", "a/", ".hidden", "a/./b", "a b", "a\\b", "a?b", "a%2fb",
		"a\x00b", "é", "a/b\n", strings.Repeat("a", objstore.MaxKeyLen+1),
	} {
		if objstore.ValidKey(key) {
			t.Errorf("ValidKey(%q) = true", key)
		}
		_, err := c.Stat(ctx, key)
		if !errors.Is(err, objstore.ErrBadKey) {
			t.Errorf("Stat(%q): %v, want ErrBadKey", key, err)
		}
		if _, err := c.Put(ctx, key, strings.NewReader("x"), 1, ""); !errors.Is(err, objstore.ErrBadKey) {
			t.Errorf("Put(%q): %v, want ErrBadKey", key, err)
		}
		if err := c.Delete(ctx, key); !errors.Is(err, objstore.ErrBadKey) {
			t.Errorf("Delete(%q): %v, want ErrBadKey", key, err)
		}
		if _, err := c.Open(ctx, key); !errors.Is(err, objstore.ErrBadKey) {
			t.Errorf("Open(%q): %v, want ErrBadKey", key, err)
		}
		if _, err := c.PresignGet(ctx, key, time.Minute); !errors.Is(err, objstore.ErrBadKey) {
			t.Errorf("PresignGet(%q): %v, want ErrBadKey", key, err)
		}
	}
	for _, key := range []string{"a", "room_1/0193f0a2b3c4d5e6f7a8b9c0d1e2f.webm", "My-Room/x.part.json"} {
		if !objstore.ValidKey(key) {
			t.Errorf("ValidKey(%q) = false", key)
		}
	}
	if _, err := c.List(ctx, "../", 10); !errors.Is(err, objstore.ErrBadKey) {
		t.Errorf("List(../): %v, want ErrBadKey", err)
	}
}

func TestWrongCredentials(t *testing.T) {
	leakcheck.Check(t)
	s := s3test.Start(t)
	c := newClient(t, s, func(c *objstore.Config) { c.SecretKey = "not-the-secret" })
	ctx := context.Background()
	_, err := c.Put(ctx, "r/x.webm", strings.NewReader("x"), 1, "")
	if !errors.Is(err, objstore.ErrDenied) || !strings.Contains(err.Error(), "check the access key") {
		t.Fatalf("put with a wrong secret: %v, want ErrDenied", err)
	}
	t.Logf("wrong secret: %v", err)
	if err := c.Check(ctx); !errors.Is(err, objstore.ErrDenied) {
		t.Fatalf("check with a wrong secret: %v, want ErrDenied", err)
	}
	good := newClient(t, s, nil)
	if err := good.Check(ctx); err != nil {
		t.Fatal(err)
	}
	missing := newClient(t, s, func(c *objstore.Config) { c.Bucket = "no-such-bucket" })
	if err := missing.Check(ctx); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("check of a missing bucket: %v, want ErrNotExist", err)
	}
}

// TestServerDown: a store that does not answer (a listener that accepts
// and never replies) and one that is gone (a closed port) give a clear
// error within the timeout.
func TestServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, cn) // held open, never answered
		}
	}()
	defer func() {
		ln.Close()
		<-done
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for _, tc := range []struct{ name, addr string }{
		{"silent", ln.Addr().String()},
		{"closed", closedAddr(t)},
	} {
		c, err := objstore.New(objstore.Config{Endpoint: "http://" + tc.addr, Bucket: "parley", AccessKey: "k", SecretKey: "s", PathStyle: true, Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.Stat(context.Background(), "r/x.webm")
		took := time.Since(start)
		if !errors.Is(err, objstore.ErrUnreachable) || !strings.Contains(err.Error(), tc.addr) {
			t.Fatalf("%s: stat: %v, want ErrUnreachable naming the endpoint", tc.name, err)
		}
		if took > 3*time.Second {
			t.Fatalf("%s: stat took %s with a timeout of 500ms", tc.name, took)
		}
		t.Logf("%s store, after %s: %v", tc.name, took.Round(time.Millisecond), err)
	}
}

// closedAddr returns a 127.0.0.1 address nobody listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPresignGet(t *testing.T) {
	leakcheck.Check(t)
	s := s3test.Start(t)
	c := newClient(t, s, nil)
	ctx := context.Background()
	data := pattern(100)
	if _, err := c.Put(ctx, "r/p.webm", bytes.NewReader(data), 100, "video/webm"); err != nil {
		t.Fatal(err)
	}
	u, err := c.PresignGet(ctx, "r/p.webm", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", u.String(), nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[10:20]) {
		t.Fatalf("presigned GET: %d %x", resp.StatusCode, body)
	}
	if _, err := c.PresignGet(ctx, "r/p.webm", 8*24*time.Hour); err == nil {
		t.Fatal("presign for 8 days accepted")
	}
}

func TestNewChecksConfig(t *testing.T) {
	ok := objstore.Config{Endpoint: "http://127.0.0.1:9000", Bucket: "parley", AccessKey: "k", SecretKey: "s"}
	if _, err := objstore.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*objstore.Config){
		"endpoint with a path": func(c *objstore.Config) { c.Endpoint = "http://127.0.0.1:9000/bucket" },
		"endpoint ftp":         func(c *objstore.Config) { c.Endpoint = "ftp://127.0.0.1" },
		"no endpoint":          func(c *objstore.Config) { c.Endpoint = "" },
		"bucket upper case":    func(c *objstore.Config) { c.Bucket = "Parley" },
		"bucket short":         func(c *objstore.Config) { c.Bucket = "p" },
		"bucket IP":            func(c *objstore.Config) { c.Bucket = "10.0.0.1" },
		"no secret":            func(c *objstore.Config) { c.SecretKey = "" },
		"prefix with ..":       func(c *objstore.Config) { c.Prefix = "a/.." },
		"prefix ending in /":   func(c *objstore.Config) { c.Prefix = "a/" },
		"region with a space":  func(c *objstore.Config) { c.Region = "eu west" },
		"small parts":          func(c *objstore.Config) { c.PartSize = 1 << 20 },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := objstore.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestHostileReads: a store whose answers to GET do not match the object
// it described: shorter, longer, the whole object for a range, or a body
// that stops coming. Each is an error, the last within the timeout.
func TestHostileReads(t *testing.T) {
	leakcheck.Check(t)
	data := pattern(100)
	var mode atomic.Value // set before each case, read by the handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Last-Modified", "Fri, 02 Jan 2026 03:04:05 GMT")
		h.Set("ETag", `"abc"`)
		h.Set("Content-Type", "video/webm")
		if r.Method == http.MethodHead {
			h.Set("Content-Length", "100")
			return
		}
		switch mode.Load() {
		case "short":
			h.Set("Content-Length", "100")
			_, _ = w.Write(data[:50]) // and the connection ends
		case "long":
			h.Set("Content-Length", "200")
			_, _ = w.Write(append(data, data...))
		case "whole for a range":
			h.Set("Content-Length", "100")
			_, _ = w.Write(data)
		case "stalls":
			h.Set("Content-Length", "100")
			_, _ = w.Write(data[:10])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c, err := objstore.New(objstore.Config{Endpoint: srv.URL, Bucket: "b-1", AccessKey: "k", SecretKey: "s", PathStyle: true, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		mode   string
		seek   int64
		want   error  // errors.Is, or nil
		substr string // in the error
	}{
		{"short", 0, io.ErrUnexpectedEOF, `read "r/x.webm": the store's answer ended at 50 of 100 bytes`},
		{"long", 0, nil, "the store answered 200 bytes for the 100 from offset 0"},
		{"whole for a range", 10, nil, "the store answered 100 bytes for the 90 from offset 10"},
		{"stalls", 0, objstore.ErrUnreachable, "no data from"},
	} {
		mode.Store(tc.mode)
		o, err := c.Open(context.Background(), "r/x.webm")
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != 100 || o.ContentType != "video/webm" {
			t.Fatalf("open: %+v", o.Info)
		}
		if _, err := o.Seek(tc.seek, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := io.ReadAll(o)
		took := time.Since(start)
		o.Close()
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.substr) {
			t.Fatalf("%s: read %d bytes, %v; want an error with %q", tc.mode, len(got), err, tc.substr)
		}
		if took > 3*time.Second {
			t.Fatalf("%s: the read took %s with a timeout of 300ms", tc.mode, took)
		}
		t.Logf("%s, after %s: %v", tc.mode, took.Round(time.Millisecond), err)
	}
}
