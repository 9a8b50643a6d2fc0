package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSample is how often the box's processes are sampled when no cgroup
// counts their CPU time.
const cpuSample = 100 * time.Millisecond

// cpuSampler gives a box without CPU accounting in a cgroup a better lower
// bound of its CPU time than pid 1's rusage. rusage counts a process only
// when its parent waits for it; one whose parent ignores SIGCHLD (or sets
// SA_NOCLDWAIT) is reaped by the kernel as it exits (wait(2), NOTES) and
// its time is added nowhere. Neither pid 1 nor a PR_SET_CHILD_SUBREAPER can
// recover it: such a process never becomes a zombie anyone could wait for,
// and a subreaper only inherits orphans. Resetting SIGCHLD in the payload
// would change what the payload asked for. So the supervisor reads the own
// CPU time (utime, stime: without reaped children, which are counted in
// their own entries) of every process of the box every cpuSample, and keeps
// the last figure of each; what a process spent after its last sample is
// lost, so the result is still a lower bound, and Result.CPUExact says so.
type cpuSampler struct {
	seen map[procID]cpuPair
	// next is when tick samples again: a sample reads every process's
	// /proc/PID/stat, and a box with a thousand processes would make it
	// cost the supervisor a fifth of a core, outside every limit of the
	// box's; tick spaces the samples so that they take at most
	// 1/cpuSampleBudget of the time.
	next time.Time
}

// cpuSampleBudget bounds the share of time tick spends sampling (1/20).
const cpuSampleBudget = 20

// tick samples as sample does, unless the last sample was too recent for
// its cost.
func (c *cpuSampler) tick(pid int) {
	now := time.Now()
	if now.Before(c.next) {
		return
	}
	c.sample(pid)
	c.next = now.Add(time.Since(now) * cpuSampleBudget)
}

// procID names one process over time: a pid can be reused, a pid and its
// start time cannot.
type procID struct {
	pid   int
	start uint64
}

type cpuPair struct{ user, sys time.Duration }

// sample records the own CPU time of pid (the box's pid 1) and of all its
// descendants: every process of the box's pid namespace is one, as orphans
// go to its pid 1.
func (c *cpuSampler) sample(pid int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	type proc struct {
		ppid  int
		start uint64
		cpu   cpuPair
	}
	procs := map[int]proc{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if ppid, start, u, s, err := parseOwnCPU(string(b)); err == nil {
			procs[n] = proc{ppid, start, cpuPair{u, s}}
		}
	}
	// Whether a process descends from pid, each process decided once: a
	// box can hold a chain of a thousand processes, each the parent of the
	// next, and walking every one up to the root would cost the supervisor
	// (whose CPU no limit of the box's bounds) a million steps a sample.
	known := map[int]bool{pid: true}
	var chain []int
	in := func(n int) bool {
		chain = chain[:0]
		res := false
		for range len(procs) + 1 { // bounded: pid reuse cannot make it loop
			if r, ok := known[n]; ok {
				res = r
				break
			}
			p, ok := procs[n]
			if !ok {
				break
			}
			chain = append(chain, n)
			n = p.ppid
		}
		for _, c := range chain {
			known[c] = res
		}
		return res
	}
	if c.seen == nil {
		c.seen = map[procID]cpuPair{}
	}
	for n, p := range procs {
		if in(n) {
			c.seen[procID{n, p.start}] = p.cpu
		}
	}
}

// total is the sum over every process sampled.
func (c *cpuSampler) total() (user, sys time.Duration) {
	for _, p := range c.seen {
		user += p.user
		sys += p.sys
	}
	return user, sys
}

// parseOwnCPU reads the parent pid, the start time and the process's own
// user and system CPU time from the text of /proc/PID/stat (proc(5): fields
// 4, 22, 14 and 15).
func parseOwnCPU(stat string) (ppid int, start uint64, user, sys time.Duration, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, 0, 0, fmt.Errorf("parse /proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 20 {
		return 0, 0, 0, 0, fmt.Errorf("parse /proc/PID/stat: %d fields after the command name, want 20 or more", len(f))
	}
	var n [4]uint64
	for k, idx := range []int{1, 11, 12, 19} {
		if n[k], err = strconv.ParseUint(f[idx], 10, 64); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("parse /proc/PID/stat: field %d: %w", idx+3, err)
		}
	}
	tick := time.Second / userHZ
	return int(n[0]), n[3], time.Duration(n[1]) * tick, time.Duration(n[2]) * tick, nil
}
