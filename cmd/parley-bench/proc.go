package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// procStat is a process's CPU time (user + system), resident memory, and
// how many times its threads went to sleep (their voluntary context
// switches): each is a wake-up later, which on a virtual machine costs
// more than most of the work it wakes for.
type procStat struct {
	cpu    time.Duration
	rss    int64 // bytes
	sleeps int64
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status; pid 0 means
// this process.
func readProc(pid int) (procStat, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%s/stat: %d fields", dir, len(f))
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("%s/stat: bad utime/stime %q %q", dir, f[11], f[12])
	}
	out := procStat{cpu: time.Duration(ut+st) * clockTick}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procStat{}, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return procStat{}, fmt.Errorf("%s/status: VmRSS %q", dir, v)
			}
			out.rss = kb << 10
		}
	}
	// Per thread: the process's own status counts its first thread's.
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return procStat{}, err
	}
	for _, task := range tasks {
		status, err := os.ReadFile(dir + "/task/" + task.Name() + "/status")
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return procStat{}, fmt.Errorf("%s/task/%s/status: voluntary_ctxt_switches %q", dir, task.Name(), v)
				}
				out.sleeps += n
			}
		}
	}
	return out, nil
}

// cpusAllowed is how many CPUs this process may run on (its affinity
// mask, as taskset sets it).
func cpusAllowed() int {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if n := countCPUList(strings.TrimSpace(v)); n > 0 {
					return n
				}
			}
		}
	}
	return runtime.NumCPU()
}

// countCPUList counts the CPUs of a list such as "0-3,8,10-11"; 0 for a
// bad list.
func countCPUList(s string) int {
	cpus, err := parseCPUList(s)
	if err != nil {
		return 0
	}
	return len(cpus)
}

// onlineCPUs is the machine's number of CPUs, whatever this process's
// affinity.
func onlineCPUs() int {
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		if n := countCPUList(strings.TrimSpace(string(b))); n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// cpuModel is the machine's CPU, for the report.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// coreBusy is the time the given CPUs spent busy (everything but idle and
// iowait: user, system, interrupts and softirqs, whoever ran), from
// /proc/stat. On loopback, part of the kernel's work for the packets the
// server sends runs as softirqs that may or may not be charged to the
// server's process; the busy time of its core holds both.
func coreBusy(cpus []int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	var busy int64
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || !slices.Contains(cpus, n) {
			continue
		}
		found++
		for i, v := range f[1:] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			if i >= 8 { // guest time is already in user
				break
			}
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %s: %q", f[0], v)
			}
			busy += x
		}
	}
	if found != len(cpus) {
		return 0, fmt.Errorf("/proc/stat: %d of the CPUs %v found", found, cpus)
	}
	return time.Duration(busy) * clockTick, nil
}

// parseCPUList parses a taskset list such as "0" or "0-1,3".
func parseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
