package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// bindRecorder is an interceptor that notes its writer and its Close.
type bindRecorder struct {
	interceptor.NoOp
	mu     sync.Mutex
	bound  interceptor.RTCPWriter
	closed bool
}

func (b *bindRecorder) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = w
	return w
}

func (b *bindRecorder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *bindRecorder) state() (interceptor.RTCPWriter, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bound, b.closed
}

type bindRecorderFactory struct{ made chan *bindRecorder }

func (f bindRecorderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	b := &bindRecorder{}
	f.made <- b
	return b, nil
}

// TestOnGrid: the writer reaches the inner interceptor at the grid's next
// instant; one closed before never does, and the inner one is closed.
func TestOnGrid(t *testing.T) {
	made := make(chan *bindRecorder, 2)
	var sent int
	w := interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { sent++; return 0, nil })

	f := onGrid{inner: bindRecorderFactory{made}, grid: 20 * time.Millisecond}
	in, err := f.NewInterceptor("a")
	if err != nil {
		t.Fatal(err)
	}
	inner := <-made
	if got := in.BindRTCPWriter(w); got == nil {
		t.Fatal("BindRTCPWriter returned no writer")
	}
	eventually(t, "the writer is bound to the inner interceptor", func() bool { b, _ := inner.state(); return b != nil })
	b, _ := inner.state()
	_, _ = b.Write(nil, nil)
	if sent != 1 {
		t.Error("the inner interceptor was bound to another writer")
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if _, closed := inner.state(); !closed {
		t.Error("the inner interceptor was not closed")
	}

	f.grid = time.Hour
	in, err = f.NewInterceptor("b")
	if err != nil {
		t.Fatal(err)
	}
	inner = <-made
	in.BindRTCPWriter(w)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if b, closed := inner.state(); b != nil || !closed {
		t.Errorf("closed before its instant: bound %v, closed %v; want never bound, closed", b != nil, closed)
	}
	o := in.(*onGridInterceptor)
	if o.timer.Stop() {
		t.Error("the pending bind was not stopped")
	}
}
