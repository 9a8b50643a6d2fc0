package sandbox

// Tests of issue #17 through the library: each runs real boxes in this
// process (as the caller running the tests: root in CI, where the box maps
// root to nobody). The integration tests of the same issue are in
// cmd/sandbox/init_bugs_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// runBox runs s with a deadline, and skips (fails in CI) where this host
// cannot make user namespaces.
func runBox(t *testing.T, s Spec) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, s)
	if errors.Is(err, ErrUserNSDisabled) {
		testenv.Skip(t, "%v", err)
	}
	return res, err
}

// bigEnv is an environment large enough that the Plan goes after the clone
// (over maxEarlyPlan), in variables each below execve's limit of 128 KiB.
func bigEnv() []string {
	v := strings.Repeat("x", 40<<10)
	return []string{"BIG1=" + v, "BIG2=" + v, "BIG3=" + v}
}

// TestLatePlanThenReleaseByte: a Plan over 64 KiB is sent by a goroutine,
// and a held init stage (--map auto, a cgroup on v1) then waits for a
// release byte on the same stream. The Plan's send is delayed here: in the
// old code the byte went first, pid 1 read it as the Plan's length, and the
// run never started.
func TestLatePlanThenReleaseByte(t *testing.T) {
	testHooks.hold = true
	testHooks.beforeLatePlan = func() { time.Sleep(300 * time.Millisecond) }
	t.Cleanup(func() { testHooks.hold, testHooks.beforeLatePlan = false, nil })
	res, err := runBox(t, Spec{Args: []string{"/bin/sh", "-c", `test ${#BIG3} -eq 40960`}, Env: bigEnv()})
	if err != nil || res.Status != StatusOK {
		t.Fatalf("a held box with a late Plan: %+v, %v", res, err)
	}
}

// TestSignalDuringSetupEndsBox: the kernel drops a default-action signal to
// a pid namespace's init, so before the payload exists pid 1 needs a handler
// for the signals the supervisor forwards, or SIGTERM does nothing and a run
// stuck in setup hangs. pid 1 is held in setup here (its Plan is 3 s late)
// when SIGTERM comes: the old code went on with the run.
func TestSignalDuringSetupEndsBox(t *testing.T) {
	testHooks.beforeLatePlan = func() { time.Sleep(3 * time.Second) }
	t.Cleanup(func() { testHooks.beforeLatePlan = nil })
	sigs := make(chan os.Signal, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		sigs <- syscall.SIGTERM
	}()
	start := time.Now()
	res, err := runBox(t, Spec{Args: []string{"true"}, Env: bigEnv(), Signals: sigs})
	// A signal to the supervisor cancels the run, whatever the box was
	// doing; the timing below is what shows pid 1 acted on it.
	if err != nil || res.Status != StatusCancelled || res.Signal != int(syscall.SIGTERM) || res.ExitCode != 128+15 {
		t.Fatalf("SIGTERM during setup: %+v, %v; want status cancelled, signal 15, exit 143", res, err)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("the box ended only after %v: the signal waited for the end of setup", took)
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFailedReleaseLeaksNothing: when release fails (the helpers or the
// cgroup move), the run must free the sync socket, the box's pipe ends and
// the output copiers. 20 failed runs of the old code left about 110 fds and
// 41 goroutines behind.
func TestFailedReleaseLeaksNothing(t *testing.T) {
	testHooks.release = func() error { return errors.New("forced failure") }
	t.Cleanup(func() { testHooks.release = nil })
	run := func(env []string) {
		var out, errOut bytes.Buffer
		res, err := runBox(t, Spec{Args: []string{"true"}, Env: env, MaxOutput: 1 << 20, Stdout: &out, Stderr: &errOut})
		if err == nil || !strings.Contains(err.Error(), "forced failure") || res.ExitCode != ExitSetup {
			t.Fatalf("want the forced setup failure, got %+v, %v", res, err)
		}
	}
	run(nil) // warm up: lazily made runtime and package state
	fds, gs := openFDs(t), runtime.NumGoroutine()
	const n = 20
	for i := 0; i < n; i++ {
		env := []string(nil)
		if i%2 == 1 {
			env = bigEnv() // with the late Plan's sender too
		}
		run(env)
	}
	// Goroutines that are ending may take a moment to be gone.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > gs && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := openFDs(t) - fds; d > 0 {
		t.Errorf("%d failed runs left %d more open descriptors", n, d)
	}
	if d := runtime.NumGoroutine() - gs; d > 0 {
		t.Errorf("%d failed runs left %d more goroutines", n, d)
	}
}

// TestCPUTimeWithoutCgroupCountsAutoreaped: without a cgroup, the CPU time
// of a process the kernel reaped (its parent ignored SIGCHLD) was counted
// nowhere: two 1-s spinners were reported as 0.0036 s. The figure is now at
// least what the box's processes were last seen to have spent, and CPUExact
// says it is a lower bound.
func TestCPUTimeWithoutCgroupCountsAutoreaped(t *testing.T) {
	if _, err := os.Stat("/usr/bin/perl"); err != nil {
		testenv.Skip(t, "needs /usr/bin/perl for the spinners: %v", err)
	}
	script := `$SIG{CHLD} = "IGNORE";
my @kids;
for (1 .. 2) {
	my $pid = fork;
	if (!$pid) { 1 while (times)[0] < 1.0; exit 0 }
	push @kids, $pid;
}
select(undef, undef, undef, 0.05) while grep { kill 0, $_ } @kids;`
	res, err := runBox(t, Spec{Args: []string{"/usr/bin/perl", "-e", script}})
	if err != nil || res.Status != StatusOK {
		t.Fatalf("%+v, %v", res, err)
	}
	if res.CPUExact {
		t.Errorf("CPUExact set for a box without a cgroup")
	}
	if cpu := res.CPUUser + res.CPUSys; cpu < 1500*time.Millisecond {
		t.Errorf("two spinners of 1 s CPU each, whose parent ignores SIGCHLD: cpu %v, want >= 1.5s", cpu)
	}
}

// ignoreSIGCHLDHelper is the variable that makes this test binary the
// helper of TestCallerIgnoresSIGCHLD.
const ignoreSIGCHLDHelper = "SANDBOX_TEST_IGNORE_SIGCHLD"

func TestMain(m *testing.M) {
	if os.Getenv(ignoreSIGCHLDHelper) == "1" {
		ignoreSIGCHLDAndRun()
		return
	}
	os.Exit(m.Run())
}

// ignoreSIGCHLDAndRun is a Go program that ignores SIGCHLD and then runs a
// box: it prints the Result and the error as JSON.
func ignoreSIGCHLDAndRun() {
	signal.Ignore(syscall.SIGCHLD)
	res, err := Run(context.Background(), Spec{
		Args:   []string{"/bin/sh", "-c", `grep -E '^Sig(Ign|Blk)' /proc/self/status /proc/1/status; exit 3`},
		Stdout: os.Stderr,
	})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(struct {
		Res Result
		Err string
	}{res, msg})
}

// TestCallerIgnoresSIGCHLD: a Go program that ignores SIGCHLD and calls Run
// crashed (a nil ProcessState in result), and its box's pid 1 inherited
// SIG_IGN for SIGCHLD, so the payload's status was lost. pid 1 now resets
// every disposition and the mask, the payload starts with the defaults, and
// the status comes through.
func TestCallerIgnoresSIGCHLD(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ignoreSIGCHLDHelper+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the helper failed: %v\n%s", err, stderr.String())
	}
	var got struct {
		Res Result
		Err string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("helper output %q: %v\n%s", out, err, stderr.String())
	}
	if strings.Contains(got.Err, "user namespace") {
		testenv.Skip(t, "%s", got.Err)
	}
	if got.Err != "" || got.Res.Status != StatusExit || got.Res.ExitCode != 3 {
		t.Fatalf("want status exit, code 3; got %+v, %q\n%s", got.Res, got.Err, stderr.String())
	}
	// The payload's grep and pid 1: nothing ignored, nothing blocked.
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want the SigIgn and SigBlk lines of two processes:\n%s", stderr.String())
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, fmt.Sprintf("\t%016x", 0)) {
			t.Errorf("%s: want no signal ignored or blocked", l)
		}
	}
}
