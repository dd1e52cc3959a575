// Package s3test runs a real S3-compatible server for tests: versitygw
// with its POSIX backend, on 127.0.0.1, on a free port, storing in a
// temporary folder, with one bucket made, stopped by its PID when the test
// ends. versitygw is looked for on PATH, then in the module's bin/tools
// (where scripts/install-deps.sh puts it). Without it a test is skipped,
// or fails when CI is set.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is a running versitygw.
type Server struct {
	Endpoint  string // "http://127.0.0.1:PORT"
	Region    string
	Bucket    string // made at start
	AccessKey string
	SecretKey string
	// Dir is the POSIX backend's root: the bucket is the folder
	// Dir/Bucket, an object the file of its key under it (a test may put
	// files there behind the server's back).
	Dir string
	PID int
}

// Start runs a versitygw for t, with a bucket made, and returns it.
func Start(t testing.TB) Server {
	t.Helper()
	path := find()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("versitygw not found on PATH or in bin/tools: run scripts/install-deps.sh")
		}
		t.Skip("versitygw not found on PATH or in bin/tools: run scripts/install-deps.sh")
	}
	// A free port may be taken between the probe and versitygw's bind:
	// try again with another.
	for range 5 {
		s, err := start(t, path)
		if err == nil {
			return s
		}
		t.Logf("versitygw: %v; trying another port", err)
	}
	t.Fatal("versitygw did not start")
	return Server{}
}

// find returns versitygw's path, or "".
func find() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", "tools", "versitygw")
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p
			}
			return ""
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

func start(t testing.TB, path string) (Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Server{}, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := Server{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
		Region:    "us-east-1",
		Bucket:    "parley-test",
		AccessKey: "test" + randomHex(8),
		SecretKey: randomHex(20),
		Dir:       t.TempDir(),
	}
	var out bytes.Buffer
	cmd := exec.Command(path,
		"--port", "127.0.0.1:"+strconv.Itoa(port),
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "--quiet",
		"posix", s.Dir)
	// The secrets are given as flags, not in the environment: versitygw
	// reads ROOT_ACCESS_KEY and more from it, and the test's environment
	// is not its business.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Dir}
	cmd.Dir = s.Dir
	var mu sync.Mutex
	cmd.Stdout = lockedWriter{&mu, &out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return Server{}, fmt.Errorf("start: %w", err)
	}
	s.PID = cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}

	// Ready when the bucket can be made: poll, each try bounded, the whole
	// bounded.
	mc, err := minio.New("127.0.0.1:"+strconv.Itoa(port), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		stop()
		return Server{}, err
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = mc.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.Region})
		cancel()
		if err == nil {
			break
		}
		var ne net.Error
		if !errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded) {
			// An answer, and a refusal: not a server still starting.
			stop()
			return Server{}, fmt.Errorf("make bucket: %w (output: %s)", err, output())
		}
		select {
		case <-exited:
			return Server{}, fmt.Errorf("exited before it was ready: %s", output())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			stop()
			return Server{}, fmt.Errorf("not ready after 30 s: %v (output: %s)", err, output())
		}
	}
	t.Cleanup(stop)
	return s, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil // enough to say why it failed
	}
	return l.w.Write(p)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
