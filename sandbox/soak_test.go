package sandbox

// The soak: thousands of runs through Run from one Go process, as a grader
// or CI runner calls the library, mixing every way a run ends. Afterwards
// the process holds no more descriptors, goroutines or memory than after a
// warm-up, and nothing is left on the host: no cgroup, mount, temp entry or
// process.
//
// The boxes run as the test process's user. make test runs as root, so each
// box maps root to nobody: the unprivileged caller's path is the CLI
// tests' (cmd/sandbox), while this one owns the library's resources. It runs
// in this process, not in a copy run as the test user, because that user's
// delegated v1 cgroups are removed and remade by
// TestCgroupDelegationAsUser, which runs at the same time in another
// package.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// soakRuns is the number of runs, SANDBOX_SOAK_RUNS or the 5,000:
// about a minute with soakWorkers on the project's 2-core test host.
func soakRuns() int {
	if n, err := strconv.Atoi(os.Getenv("SANDBOX_SOAK_RUNS")); err == nil && n > 0 {
		return n
	}
	return 5000
}

// soakWorkers is how many runs are under way at once.
const soakWorkers = 4

// Drift tolerances, after the warm-up: descriptors and goroutines must come
// back exactly (a leak of one per run would show as thousands); memory
// within soakRSSSlack, well under what one leaked buffer per run costs.
const (
	soakFDSlack        = 0
	soakGoroutineSlack = 0
	soakRSSSlack       = 16 << 20
)

// soakCase is one kind of run of the mix.
type soakCase struct {
	name string
	spec func() Spec
	ok   func(Result, error) bool
}

func soakCases(cgroups bool) []soakCase {
	cs := []soakCase{
		{"ok", func() Spec { return Spec{Args: []string{"/bin/true"}} },
			func(r Result, err error) bool { return err == nil && r.Status == StatusOK }},
		{"ok-accounted", func() Spec { return Spec{Args: []string{"/bin/true"}, Accounting: true} },
			func(r Result, err error) bool { return err == nil && r.Status == StatusOK }},
		{"exit", func() Spec {
			return Spec{Args: []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, MaxOutput: 1 << 20}
		},
			func(r Result, err error) bool { return err == nil && r.Status == StatusExit && r.ExitCode == 3 }},
		{"timeout", func() Spec {
			return Spec{Args: []string{"/bin/sh", "-c", "sleep 5 & sleep 5"}, Timeout: 30 * time.Millisecond}
		}, func(r Result, err error) bool {
			return err == nil && r.Status == StatusTimeout && r.ExitCode == ExitTimeout
		}},
		{"not-found", func() Spec { return Spec{Args: []string{"/no/such/command"}} },
			func(r Result, err error) bool {
				var ee *ExecError
				return errors.As(err, &ee) && r.ExitCode == 127
			}},
		{"setup-error", func() Spec {
			return Spec{Args: []string{"/bin/true"}, Mounts: []Mount{{Type: "bind", Source: "/no/such/source", Dest: "/x"}}}
		}, func(r Result, err error) bool {
			var se *SetupError
			return errors.As(err, &se) && r.Status == StatusSetupError && r.ExitCode == ExitSetup
		}},
		{"spec-error", func() Spec {
			return Spec{Args: []string{"/bin/true"}, Mounts: []Mount{{Type: "bind", Source: "relative", Dest: "/x"}}}
		},
			func(r Result, err error) bool {
				var se *SpecError
				return errors.As(err, &se) && r.Status == StatusSetupError
			}},
	}
	if cgroups {
		cs = append(cs,
			soakCase{"limited", func() Spec {
				return Spec{Args: []string{"/bin/sh", "-c", "exit 0"}, Limits: cgroup.Limits{Memory: 64 << 20, Pids: 32}}
			}, func(r Result, err error) bool { return err == nil && r.Status == StatusOK }},
			// tail keeps all of a line-less input: it grows past the limit.
			soakCase{"oom", func() Spec {
				return Spec{Args: []string{"/bin/sh", "-c", "head -c 64M /dev/zero | tail"}, Limits: cgroup.Limits{Memory: 16 << 20}}
			}, func(r Result, err error) bool { return err == nil && r.Status == StatusOOM }},
		)
	}
	return cs
}

// soakState is what must come back to where it was.
type soakState struct {
	fds, goroutines int
	rss, heap       int64
}

func (s soakState) String() string {
	return fmt.Sprintf("fds %d, goroutines %d, RSS %.1f MiB, heap in use %.1f MiB", s.fds, s.goroutines, float64(s.rss)/(1<<20), float64(s.heap)/(1<<20))
}

func soakMeasure(t *testing.T) soakState {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var s soakState
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(ents) - 1 // the directory's own descriptor
	// A goroutine of the last run may still be on its way out (a copier
	// returning after Run did): wait for the count to settle.
	s.goroutines = runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(10 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == s.goroutines {
			break
		}
		s.goroutines = n
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			s.rss = kb << 10
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = int64(ms.HeapInuse)
	return s
}

// soakLeaves lists the soak boxes' cgroup leaves below this process's own
// cgroups, where a root caller's boxes go.
func soakLeaves(t *testing.T, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
		if parts[1] == "" {
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
				dir = filepath.Join("/sys/fs/cgroup/unified", parts[2])
			}
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix+"-") {
				found = append(found, filepath.Join(dir, e.Name()))
			}
		}
	}
	return found
}

// soakChildren lists this process's children (a box's pid 1 not reaped).
func soakChildren() []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me {
				found = append(found, strings.TrimSpace(s[:i+1])+" "+f[0])
			}
		}
	}
	return found
}

func soakMounts(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			m[f[4]] = true // the mount point
		}
	}
	return m
}

func TestSoak(t *testing.T) {
	testenv.NeedRoot(t, "v1 memory cgroups for the oom runs; a box as root maps to nobody")
	if soakRace {
		// make test leaves it out of its -race run (-skip) and runs it on
		// a line of its own.
		testenv.Skip(t, "the soak runs without the race detector: go test -run TestSoak ./sandbox")
	}
	total := soakRuns()
	// The soak's own cgroup prefix: its leaves are told from other tests'
	// boxes, and their sweeps (cgroup/stale.go) never take them.
	defer func(old string) { cgroupName = old }(cgroupName)
	cgroupName = fmt.Sprintf("sandbox-soak%d", os.Getpid())
	// Whatever the library would leave in a temp directory lands here.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	probe, err := cgroup.New(cgroupName, cgroup.Limits{Memory: 16 << 20})
	if err != nil {
		testenv.Skip(t, "no memory cgroup for the oom runs: %v", err)
	}
	probe.Delete()
	cases := soakCases(err == nil)
	mounts := soakMounts(t)

	counts := make([]int, len(cases))
	var mu sync.Mutex
	var failures []string
	run := func(from, to int) {
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range soakWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					c := cases[i%len(cases)]
					res, err := Run(context.Background(), c.spec())
					mu.Lock()
					counts[i%len(cases)]++
					if !c.ok(res, err) && len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("run %d (%s): status %s exit %d, error %v", i, c.name, res.Status, res.ExitCode, err))
					}
					mu.Unlock()
				}
			}()
		}
		for i := from; i < to; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}

	warm := min(total/10, 300)
	run(0, warm)
	before := soakMeasure(t)
	start := time.Now()
	run(warm, total)
	elapsed := time.Since(start)
	after := soakMeasure(t)

	var mix []string
	for i, c := range cases {
		mix = append(mix, fmt.Sprintf("%s %d", c.name, counts[i]))
	}
	t.Logf("%d runs (%d warm-up) by %d workers: %v after the warm-up, %.1f runs/s; mix: %s",
		total, warm, soakWorkers, elapsed.Round(time.Millisecond), float64(total-warm)/elapsed.Seconds(), strings.Join(mix, ", "))
	t.Logf("before: %v", before)
	t.Logf("after:  %v", after)
	t.Logf("drift:  fds %+d, goroutines %+d, RSS %+.1f MiB, heap %+.1f MiB",
		after.fds-before.fds, after.goroutines-before.goroutines, float64(after.rss-before.rss)/(1<<20), float64(after.heap-before.heap)/(1<<20))
	for _, f := range failures {
		t.Error(f)
	}
	if d := after.fds - before.fds; d > soakFDSlack {
		t.Errorf("descriptors grew by %d over %d runs", d, total-warm)
	}
	if d := after.goroutines - before.goroutines; d > soakGoroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew by %d over %d runs:\n%s", d, total-warm, buf[:runtime.Stack(buf, true)])
	}
	if d := after.rss - before.rss; d > soakRSSSlack {
		t.Errorf("RSS grew by %.1f MiB over %d runs (tolerance %d MiB)", float64(d)/(1<<20), total-warm, soakRSSSlack>>20)
	}

	// Nothing left on the host.
	if p := soakChildren(); len(p) > 0 {
		t.Errorf("processes of the boxes left: %v", p)
	}
	if left := soakLeaves(t, cgroupName); len(left) > 0 {
		t.Errorf("%d box cgroups left: %v", len(left), left[:min(len(left), 5)])
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Errorf("temp entries left in TMPDIR: %v", ents)
	}
	for m := range soakMounts(t) {
		if !mounts[m] {
			t.Errorf("a mount appeared on the host during the soak: %s", m)
		}
	}
}
