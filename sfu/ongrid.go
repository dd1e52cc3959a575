package sfu

import (
	"sync"
	"time"

	"github.com/pion/interceptor"

	"parley/internal/tick"
)

// onGrid makes interceptors whose RTCP writer is bound at the next
// multiple of grid (see internal/tick), for an interceptor that starts a
// ticker when its writer is bound and passes the writer through: Pion's
// receiver reports. The reports of every publish connection then go out
// at the same instants, and an idle server wakes once a second for all of
// them instead of once for each.
type onGrid struct {
	inner interceptor.Factory
	grid  time.Duration
}

// NewInterceptor implements interceptor.Factory.
func (f onGrid) NewInterceptor(id string) (interceptor.Interceptor, error) {
	in, err := f.inner.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &onGridInterceptor{Interceptor: in, grid: f.grid}, nil
}

type onGridInterceptor struct {
	interceptor.Interceptor
	grid time.Duration

	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

// BindRTCPWriter binds w to the inner interceptor at the next multiple of
// the grid, and returns w as it is.
func (o *onGridInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.timer != nil {
		return w
	}
	o.timer = time.AfterFunc(time.Until(tick.Next(time.Now(), o.grid)), func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if !o.closed {
			o.Interceptor.BindRTCPWriter(w)
		}
	})
	return w
}

// Close closes the inner interceptor; a writer not bound yet is not.
func (o *onGridInterceptor) Close() error {
	o.mu.Lock()
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
	}
	o.mu.Unlock()
	return o.Interceptor.Close()
}
