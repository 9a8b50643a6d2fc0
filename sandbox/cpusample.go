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
	// peak is the largest resident set of one process the samples saw,
	// in bytes: where there is no cgroup, the payload's processes that
	// the kill ends are reaped by the kernel, and their ru_maxrss reaches
	// no wait4 (only pid 1's own does).
	peak int64
	// next is when tick samples again: a sample reads each process's
	// /proc files, and a box with a thousand processes would make it
	// cost the supervisor a fifth of a core, outside every limit of the
	// box's; tick spaces the samples so that they take at most
	// 1/cpuSampleBudget of the time.
	next time.Time
}

// cpuSampleBudget bounds the share of time tick spends sampling (1/20).
const cpuSampleBudget = 20

// tick samples the box of pid 1 pid, unless the last sample was too recent
// for its cost.
func (c *cpuSampler) tick(pid int) {
	now := time.Now()
	if now.Before(c.next) {
		return
	}
	c.record(scanBox(pid))
	c.next = now.Add(time.Since(now) * cpuSampleBudget)
}

// procID names one process over time: a pid can be reused, a pid and its
// start time cannot.
type procID struct {
	pid   int
	start uint64
}

type cpuPair struct{ user, sys time.Duration }

// procStat is what /proc/PID/stat says of a process's CPU time.
type procStat struct {
	ppid     int
	start    uint64  // in clock ticks since boot
	own      cpuPair // utime, stime
	children cpuPair // cutime, cstime: the children it waited for
	rss      int64   // resident set, in bytes
}

// maxScan bounds one scan of a box: a box under no --pids limit can hold
// many processes, and the supervisor must not spend without bound on them.
const maxScan = 1 << 14

// scanBox reads the stat of pid (the box's pid 1) and of its descendants,
// which are all the box's processes (orphans go to its pid 1), by following
// /proc/PID/task/TID/children down the tree: only the box's own entries are
// read, not all of /proc.
func scanBox(pid int) map[procID]procStat {
	out := map[procID]procStat{}
	type entry struct{ pid, parent int }
	queue := []entry{{pid, -1}}
	for len(queue) > 0 && len(out) < maxScan {
		e := queue[0]
		queue = queue[1:]
		dir := "/proc/" + strconv.Itoa(e.pid)
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		st, err := parseStat(string(b))
		if err != nil || (e.parent >= 0 && st.ppid != e.parent) {
			continue // gone and its pid reused by another process
		}
		out[procID{e.pid, st.start}] = st
		tasks, _ := os.ReadDir(dir + "/task")
		for _, t := range tasks {
			kids, err := os.ReadFile(dir + "/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			for _, k := range strings.Fields(string(kids)) {
				if n, err := strconv.Atoi(k); err == nil {
					queue = append(queue, entry{n, e.pid})
				}
			}
		}
	}
	return out
}

// record keeps the own CPU time of each process of a scan.
func (c *cpuSampler) record(scan map[procID]procStat) {
	if c.seen == nil {
		c.seen = map[procID]cpuPair{}
	}
	for id, st := range scan {
		c.seen[id] = st.own
		c.peak = max(c.peak, st.rss)
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

// lostCPU is what pid 1's rusage will not count of a box killed now: the
// time of every process but pid 1 (pid) and of the children each has
// waited for. The kill ends them, the kernel reaps them
// (zap_pid_ns_processes ignores SIGCHLD), and nobody waits for them.
func lostCPU(pid int, scan map[procID]procStat) (user, sys time.Duration) {
	for id, st := range scan {
		if id.pid != pid {
			user += st.own.user + st.children.user
			sys += st.own.sys + st.children.sys
		}
	}
	return user, sys
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on every
// Linux architecture's ABI).
const userHZ = 100

// parseStat reads the parent pid, the start time, the process's own and
// its waited-for children's CPU time, and its resident set from the text of
// /proc/PID/stat (proc(5): fields 4, 22, 14 to 17, 24).
func parseStat(stat string) (procStat, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it are fixed.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("parse /proc/PID/stat: %d fields after the command name, want 20 or more", len(f))
	}
	var n [6]uint64
	for k, idx := range []int{1, 11, 12, 13, 14, 19} {
		v, err := strconv.ParseUint(f[idx], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("parse /proc/PID/stat: field %d: %w", idx+3, err)
		}
		n[k] = v
	}
	var rss int64
	if len(f) > 21 { // field 24, rss, in pages
		if v, err := strconv.ParseInt(f[21], 10, 64); err == nil && v > 0 {
			rss = v * int64(os.Getpagesize())
		}
	}
	tick := time.Second / userHZ
	d := func(v uint64) time.Duration { return time.Duration(v) * tick }
	return procStat{
		ppid: int(n[0]), start: n[5],
		own:      cpuPair{d(n[1]), d(n[2])},
		children: cpuPair{d(n[3]), d(n[4])},
		rss:      rss,
	}, nil
}
