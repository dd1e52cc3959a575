package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// inOwnNetns runs the calling test again in a network namespace of its
// own (unshare -n, its loopback up) and reports that run's outcome; it
// returns true in that run, where the test goes on. Without unshare, or
// the right to make a namespace, the test is skipped (fails with CI set).
func inOwnNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("PARLEY_BENCH_NETNS_TEST") != "" {
		return true
	}
	if raceEnabled {
		// A shaped link's timing is what the test measures; the race
		// detector's slowdown makes the generator, not the link, the
		// bottleneck. make test runs these tests again without it.
		t.Skip("measures a shaped link in real time: run without -race (make unit does)")
	}
	for _, tool := range []string{"unshare", "ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" is not installed")
		}
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		missing(t, "cannot make a network namespace: "+err.Error())
	}
	cmd := exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PARLEY_BENCH_NETNS_TEST=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the run in a network namespace: %v", err)
	}
	return false
}

// missing skips the test for want of a tool, or fails it with CI set.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// TestOwnNetnsRequired: the constrained scenario refuses to shape a
// loopback interface that shares its network with other interfaces.
func TestOwnNetnsRequired(t *testing.T) {
	if err := ownNetns(); err == nil {
		t.Skip("this test runs in a network namespace with only a loopback interface")
	}
	if _, err := openShaper(300_000, 2); err == nil {
		t.Fatal("the loopback interface of a shared network was shaped")
	}
}

// TestConstrained: of a simulcast publisher's subscribers, the one behind
// a 500 kbit/s link (the lowest layer and the audio take about 230, the
// next layer 500 more) settles on the lowest layer while the free ones keep
// the top one, and climbs back to the top once the limit is lifted; the
// report says when.
func TestConstrained(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	tg := startServer(t)
	sc := constrained(simulcast(Scenario{Name: "c", Publishers: 1, Subscribers: 2, Warmup: 300 * time.Millisecond, Measure: 3 * time.Second}, ""), 1, 500)
	res, err := run(context.Background(), tg, sc)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Constrain
	if c == nil {
		t.Fatalf("no constrained result: %+v", res)
	}
	t.Logf("%s", c.note(sc.Subscribers))
	if res.ReadySubscribers != 3 {
		t.Fatalf("ready %d, problems %v", res.ReadySubscribers, res.Problems)
	}
	// The free subscribers run congestion control on a loopback shared
	// with the generator, whose delays on a busy machine can hold one of
	// them a layer lower for a while: one on the top layer will do.
	t.Logf("problems: %v", res.Problems)
	// On the lowest layer: not above it, and not paused (the link
	// carries it twice over).
	if len(c.SettleMs) != 1 || c.SettleMs[0] <= 0 || len(c.Layers) != 1 || c.Layers[0] != 0 || c.FreeTop < 1 {
		t.Errorf("settled after %v ms on layers %v, %d free ones on the top layer", c.SettleMs, c.Layers, c.FreeTop)
	}
	if c.EstimateP50 <= 0 || c.EstimateP50 > 500 {
		t.Errorf("the estimate of a 500 kbit/s link: %.0f kbit/s", c.EstimateP50)
	}
	if len(c.ClimbMs) != 1 || c.ClimbMs[0] <= 0 {
		t.Errorf("back on the top layer after %v ms", c.ClimbMs)
	}
}
