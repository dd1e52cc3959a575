package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The constrained scenario: some subscribers of a simulcast publisher sit
// behind a slow link, the others do not, and all of them run congestion
// control. The slow link is a rate limit on what goes to the constrained
// subscribers' UDP ports, set with tc on the loopback interface of a
// network namespace of the generator's own (the server and every client
// talk over 127.0.0.1 there): for each port an htb class at the rate,
// holding at most 200 ms of it (a bfifo), as a home router's queue in
// front of a slow line does. The scenario measures how long the constrained subscribers
// take to settle on the lowest layer, what they lose once settled, and,
// once the limit is lifted, how long they take to climb back to the top
// layer; the free subscribers should keep the top layer throughout.

// shapedPorts are the client UDP ports of the constrained subscribers,
// from shapedPortBase: below Linux's ephemeral range, so that no other
// socket takes one.
const (
	shapedPortBase = 20032
	shapedPorts    = 64
)

// portRange hands out the shaped ports, one per socket.
type portRange struct {
	next  atomic.Int32
	limit int // ports shaped, from shapedPortBase
}

// take returns the next port of the range, or 0 once they are all taken.
func (r *portRange) take() int {
	n := int(r.next.Add(1)) - 1
	if n >= shapedPorts {
		return 0
	}
	return shapedPortBase + n
}

// listenShaped opens a UDP socket on a shaped port (the next free one).
func (r *portRange) listenShaped(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	for {
		port := r.take()
		if port == 0 || port >= shapedPortBase+r.limit {
			return nil, errors.New("all the shaped ports are taken: fewer constrained subscribers")
		}
		a := &net.UDPAddr{IP: laddr.IP, Port: port, Zone: laddr.Zone}
		c, err := net.ListenUDP(network, a)
		if err == nil {
			return c, nil
		}
		// Taken by someone else: the next one.
	}
}

// shaper is the rate limit on each shaped port.
type shaper struct {
	bps   int
	ports int // shaped: from shapedPortBase
}

// ownNetns tells whether this process runs in a network namespace whose
// only interface is the loopback one (as `unshare -n` makes it): only
// there may the generator shape the loopback interface, which nobody
// else uses.
func ownNetns() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("this network has the interface %s: it would shape the host's loopback interface", i.Name)
		}
	}
	return nil
}

// openShaper limits what goes to each of the first ports shaped ports to
// bps.
func openShaper(bps, ports int) (*shaper, error) {
	if err := ownNetns(); err != nil {
		return nil, fmt.Errorf("-constrained shapes the loopback interface, so it runs only in a network namespace of its own (%v): "+
			"unshare -n sh -c 'ip link set lo up && exec bin/parley-bench -server bin/parley ...'", err)
	}
	s := &shaper{bps: bps, ports: min(ports, shapedPorts)}
	burst := max(1600, bps/8/50) // 20 ms of the rate, at least a packet
	limit := max(3000, bps/8/5)  // 200 ms of the rate
	cmds := [][]string{
		{"qdisc", "replace", "dev", "lo", "root", "handle", "1:", "htb", "default", "1"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:1", "htb", "rate", "40gbit"},
	}
	for i := range s.ports {
		class := fmt.Sprintf("1:%x", 0x100+i)
		cmds = append(cmds,
			[]string{"class", "add", "dev", "lo", "parent", "1:", "classid", class, "htb", "rate", fmt.Sprintf("%dbit", bps), "ceil", fmt.Sprintf("%dbit", bps),
				"burst", fmt.Sprint(burst), "cburst", fmt.Sprint(burst)},
			[]string{"qdisc", "add", "dev", "lo", "parent", class, "handle", fmt.Sprintf("%x:", 0x100+i), "bfifo", "limit", fmt.Sprint(limit)})
	}
	for _, c := range cmds {
		if err := tc(c...); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, s.shape()
}

// shape sends what goes to each shaped port through its limited class.
func (s *shaper) shape() error {
	for i := range s.ports {
		if err := tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
			"match", "ip", "dport", fmt.Sprint(shapedPortBase+i), "0xffff", "flowid", fmt.Sprintf("1:%x", 0x100+i)); err != nil {
			return err
		}
	}
	return nil
}

// lift lets what goes to the shaped ports through unlimited again.
func (s *shaper) lift() error {
	return tc("filter", "del", "dev", "lo", "parent", "1:", "prio", "1")
}

// close removes the shaping.
func (s *shaper) close() { _ = tc("qdisc", "del", "dev", "lo", "root") }

func tc(args ...string) error {
	out, err := exec.Command("tc", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ConstrainedResult is what the constrained scenario measured.
type ConstrainedResult struct {
	Kbps        int `json:"kbps"`        // the limit
	Subscribers int `json:"subscribers"` // behind it
	// From the subscribers' joining to each one's being on the lowest
	// layer for good (until the window); -1 for one that never was.
	SettleMs    []float64 `json:"settle_ms"`
	Layers      []int     `json:"layers"`       // each one's layer at the end of the window (-1: paused)
	LossPercent float64   `json:"loss_percent"` // of their packets in the window
	EstimateP50 float64   `json:"estimate_kbps_p50"`
	FreeTop     int       `json:"free_on_top"` // free subscribers on the top layer at the end of the window
	FreeLoss    float64   `json:"free_loss_percent"`
	// From the limit's lifting to each one's reaching the top layer; -1
	// for one that did not within climbWait.
	ClimbMs []float64 `json:"climb_ms"`
}

// Waits of the constrained scenario, each bounded.
const (
	settleWait = 60 * time.Second
	climbWait  = 90 * time.Second
	pollEvery  = 250 * time.Millisecond
)

// layerOf asks the server which layer of its first simulcast video p
// receives now: -1 when paused or before one, -2 on no answer.
func layerOf(ctx context.Context, p *participant) int {
	d, err := askDownlink(ctx, p.c)
	if err != nil {
		return -2
	}
	if len(d.Videos) == 0 || d.Videos[0].Paused {
		return -1
	}
	return d.Videos[0].Layer
}

// settle waits, polling, until every constrained subscriber is on the
// lowest layer and every free one on the top layer (or settleWait
// passed), and notes in r when each constrained one came to the lowest
// layer for the last time.
func (r *ConstrainedResult) settle(ctx context.Context, free, shaped []*participant, since time.Time) error {
	top := len(simulcastLayers) - 1
	at := make([]time.Time, len(shaped))
	deadline := time.Now().Add(settleWait)
	for {
		done := true
		for i, p := range shaped {
			if l := layerOf(ctx, p); l != 0 {
				at[i] = time.Time{}
				done = false
			} else if at[i].IsZero() {
				at[i] = time.Now()
			}
		}
		for _, p := range free {
			done = done && layerOf(ctx, p) == top
		}
		if done || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	r.SettleMs = make([]float64, len(shaped))
	for i, t := range at {
		r.SettleMs[i] = -1
		if !t.IsZero() {
			r.SettleMs[i] = ms(t.Sub(since))
		}
	}
	return nil
}

// window notes what the subscribers received in the window: the layers
// at its end, the losses, the estimates.
func (r *ConstrainedResult) window(ctx context.Context, free, shaped []*participant) {
	top := len(simulcastLayers) - 1
	r.LossPercent = lossOf(shaped)
	r.FreeLoss = lossOf(free)
	var est []float64
	for _, p := range shaped {
		d, err := askDownlink(ctx, p.c)
		l := -2
		if err == nil {
			est = append(est, float64(d.Estimate)/1e3)
			l = -1
			if len(d.Videos) > 0 && !d.Videos[0].Paused {
				l = d.Videos[0].Layer
			}
		}
		r.Layers = append(r.Layers, l)
	}
	r.EstimateP50 = p50(est)
	for _, p := range free {
		if layerOf(ctx, p) == top {
			r.FreeTop++
		}
	}
}

// climb lifts the limit and waits, polling, until every constrained
// subscriber is on the top layer (or climbWait passed).
func (r *ConstrainedResult) climb(ctx context.Context, s *shaper, shaped []*participant) error {
	if err := s.lift(); err != nil {
		return err
	}
	top := len(simulcastLayers) - 1
	start := time.Now()
	r.ClimbMs = make([]float64, len(shaped))
	for i := range r.ClimbMs {
		r.ClimbMs[i] = -1
	}
	deadline := start.Add(climbWait)
	for {
		done := true
		for i, p := range shaped {
			if r.ClimbMs[i] >= 0 {
				continue
			}
			if layerOf(ctx, p) == top {
				r.ClimbMs[i] = ms(time.Since(start))
			} else {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// problems lists what the constrained scenario did not do as it should.
func (r *ConstrainedResult) problems(free int) []string {
	var out []string
	if slices.Contains(r.SettleMs, -1) {
		out = append(out, fmt.Sprintf("constrained subscribers that never settled on the lowest layer: settle times %v ms", r.SettleMs))
	}
	for _, l := range r.Layers {
		if l != 0 {
			out = append(out, fmt.Sprintf("constrained subscribers' layers at the end of the window: %v", r.Layers))
			break
		}
	}
	if r.FreeTop < free {
		out = append(out, fmt.Sprintf("only %d of %d free subscribers on the top layer at the end of the window", r.FreeTop, free))
	}
	if slices.Contains(r.ClimbMs, -1) {
		out = append(out, fmt.Sprintf("constrained subscribers that did not climb back to the top layer within %v: %v ms", climbWait, r.ClimbMs))
	}
	return out
}

// note sums up the constrained scenario for the table.
func (r *ConstrainedResult) note(free int) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d subscribers at %d kbit/s: settled on the lowest layer after %s ms, layers %v, loss %.2f%%, estimate %.0f kbit/s; "+
		"%d of %d free ones on the top layer, loss %.2f%%; limit lifted: back on the top layer after %s ms",
		r.Subscribers, r.Kbps, joinFloats(r.SettleMs), r.Layers, r.LossPercent, r.EstimateP50, r.FreeTop, free, r.FreeLoss, joinFloats(r.ClimbMs))
}

// lossOf is the share of the packets the participants' tracks lost in
// the window, in percent.
func lossOf(ps []*participant) float64 {
	var got, gaps, late uint64
	for _, p := range ps {
		for _, st := range p.sub.all() {
			got += st.packets.Load()
			gaps += st.gaps.Load()
			late += st.late.Load()
		}
	}
	lost := float64(gaps) - float64(late)
	if lost < 0 {
		lost = 0
	}
	if total := float64(got) + lost; total > 0 {
		return 100 * lost / total
	}
	return 0
}
