package main

// Limits and verdicts: --memory, --cpu-time, --pids, --timeout,
// --max-output and --rlimit, each driven through the built binary, and the
// --report JSON that says what ended the run. The cgroup limits run as root
// (they always work there) and as the unprivileged test user, before and
// after `sandbox cgroup-setup` delegated cgroups to that user.
//
// Time bounds are the generous ones (4 s for a 1 s timeout, 6 s for
// 1 s of CPU time): they catch a limit that is not enforced, not a slow
// machine.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// limReport is the --report JSON as the tests read it.
type limReport struct {
	Status      string         `json:"status"`
	ExitCode    int            `json:"exit_code"`
	Signal      int            `json:"signal"`
	WallTime    float64        `json:"wall_time"`
	CPUUser     float64        `json:"cpu_user"`
	CPUSys      float64        `json:"cpu_sys"`
	PeakMemory  int64          `json:"peak_memory"`
	OOMKilled   bool           `json:"oom_killed"`
	OutputBytes int64          `json:"output_bytes"`
	Error       string         `json:"error"`
	Limits      map[string]any `json:"limits"`
}

// limRun is one run of `sandbox exec` with a report.
type limRun struct {
	result
	report  limReport
	raw     []byte        // the report file as written
	elapsed time.Duration // as the test saw it, start to exit
}

func (r limRun) String() string {
	return fmt.Sprintf("%s\nafter %v, report:\n%s", r.result, r.elapsed.Round(time.Millisecond), r.raw)
}

// limExec runs `sandbox exec --report FILE FLAGS -- CMD...` with o and
// parses the report; the probe is bound read-only at /probe. The report
// goes to a directory the test user owns, because the box's supervisor may
// run as that user.
func limExec(t *testing.T, o runOpts, flags []string, cmd ...string) limRun {
	t.Helper()
	path := filepath.Join(hostDir(t), "report.json")
	args := append([]string{"exec", "--report", path, "--ro-bind", env.probe + ":/probe"}, flags...)
	args = append(append(args, "--"), cmd...)
	if o.wrap != "" {
		o.wrap += " " + limQuote(args)
	}
	start := time.Now()
	r := limRun{result: runWith(t, o, args...)}
	r.elapsed = time.Since(start)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sandbox %v wrote no report: %v\n%s", args, err, r.result)
	}
	r.raw = raw
	r.report = parseLimReport(t, raw)
	return r
}

// limQuote quotes args for sh.
func limQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// parseLimReport decodes a report and fails unless the file holds exactly
// one JSON object.
func parseLimReport(t *testing.T, raw []byte) limReport {
	t.Helper()
	var rep limReport
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not a JSON object: %v\n%s", err, raw)
	}
	if dec.More() {
		t.Fatalf("report holds more than one JSON value:\n%s", raw)
	}
	return rep
}

// want checks the verdict and the exit code of a run.
func (r limRun) want(t *testing.T, status string, code int) {
	t.Helper()
	if r.report.Status != status || r.report.ExitCode != code || r.code != code {
		t.Fatalf("want status %s and exit %d (in the report and as sandbox's exit status)\n%s", status, code, r)
	}
}

// asRoot is the caller itself (root in CI), for the cgroup limits that
// always work as root.
var asRoot = runOpts{root: true}

const mb = 1 << 20

func TestLimitMemoryRoot(t *testing.T) {
	needRoot(t)
	testMemory(t, asRoot)
}

// testMemory: an allocator past the limit is OOM-killed and the verdict
// says so; one within it runs and its peak is accounted.
func testMemory(t *testing.T, o runOpts) {
	t.Helper()
	t.Run("over", func(t *testing.T) {
		r := limExec(t, o, []string{"--memory", "64M"}, "/probe", "alloc", "400")
		r.want(t, "oom", 128+int(syscall.SIGKILL))
		if !r.report.OOMKilled {
			t.Errorf("oom_killed is false for an OOM verdict\n%s", r)
		}
		if strings.Contains(r.stdout, "allocated") {
			t.Errorf("400 MB were allocated under a 64 MB limit\n%s", r)
		}
		if got := r.report.Limits["memory"]; got != float64(64*mb) {
			t.Errorf("limits.memory = %v, want %d\n%s", got, 64*mb, r)
		}
	})
	t.Run("within", func(t *testing.T) {
		r := limExec(t, o, []string{"--memory", "256M"}, "/probe", "alloc", "32")
		r.want(t, "ok", 0)
		if !strings.Contains(r.stdout, "allocated: 32") {
			t.Errorf("the allocator did not finish\n%s", r)
		}
		if r.report.PeakMemory < 30*mb || r.report.OOMKilled {
			t.Errorf("peak_memory %d (want >= 30 MB), oom_killed %v\n%s", r.report.PeakMemory, r.report.OOMKilled, r)
		}
	})
}

// timeoutCases end only by the wall-clock limit: a sleeper, one that
// ignores SIGTERM (its sleep inherits that), one that stops itself.
var timeoutCases = []struct{ name, script string }{
	{"sleep", "exec sleep 20"},
	{"ignores TERM", `trap "" TERM; sleep 20; sleep 20`},
	{"stopped", "kill -STOP $$; sleep 20"},
}

func TestTimeoutRoot(t *testing.T) {
	needRoot(t)
	for _, tc := range timeoutCases {
		t.Run(tc.name, func(t *testing.T) { testTimeout(t, asRoot, tc.script) })
	}
}

func TestTimeoutUnprivileged(t *testing.T) {
	testTimeout(t, runOpts{}, timeoutCases[1].script)
}

func testTimeout(t *testing.T, o runOpts, script string) {
	t.Helper()
	r := limExec(t, o, []string{"--timeout", "1s"}, "/bin/sh", "-c", script)
	r.want(t, "timeout", 124)
	if r.elapsed > 4*time.Second {
		t.Errorf("a 1s timeout took %v to end the box\n%s", r.elapsed, r)
	}
	// The box is killed at the limit, not before.
	if r.report.WallTime < 0.99 {
		t.Errorf("wall_time %v is under the 1s timeout\n%s", r.report.WallTime, r)
	}
	if !strings.Contains(r.stderr, "timed out") {
		t.Errorf("stderr does not say it timed out\n%s", r)
	}
}

func TestCPUTimeLimit(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct{ name, script string }{
		{"spinner", "while :; do :; done"},
		// The parent only waits: only the total of all processes reaches
		// the limit before the 10s timeout.
		{"two spinners", `sh -c "while :; do :; done" & sh -c "while :; do :; done" & wait`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := limExec(t, asRoot, []string{"--cpu-time", "1s", "--timeout", "10s"}, "/bin/sh", "-c", tc.script)
			r.want(t, "cpu-time", 128+int(syscall.SIGKILL))
			if r.elapsed > 6*time.Second {
				t.Errorf("1s of CPU time took %v to end the box\n%s", r.elapsed, r)
			}
			// cpuacct.stat counts in 10 ms ticks: allow one short.
			if used := r.report.CPUUser + r.report.CPUSys; used < 0.95 {
				t.Errorf("cpu_user+cpu_sys = %v, under the 1s limit that ended it\n%s", used, r)
			}
		})
	}
}

func TestPidsForkBomb(t *testing.T) {
	needRoot(t)
	marker := randName("bomb")
	// Subshells fork without exec, so every process of the bomb carries the
	// marker in its command line.
	script := ": " + marker + "; b() { b | b & }; b; wait; sleep 30"
	r := limExec(t, asRoot, []string{"--pids", "32", "--timeout", "5s"}, "/bin/sh", "-c", script)
	if r.report.Status != "timeout" && r.report.Status != "exit" {
		t.Fatalf("want the bomb to end by the timeout or by itself\n%s", r)
	}
	if r.elapsed > 15*time.Second {
		t.Errorf("the bomb ran %v under a 5s timeout\n%s", r.elapsed, r)
	}
	// dash says "Cannot fork" when fork fails: the pids limit held it.
	if !strings.Contains(r.stderr, "Cannot fork") {
		t.Errorf("no fork ever failed under --pids 32\n%s", r)
	}
	if p := pgrep(marker); len(p) > 0 {
		t.Errorf("the fork bomb outlived sandbox: %v", p)
	}
}

func TestOutputLimit(t *testing.T) {
	const limit = 1024
	for _, tc := range []struct {
		name   string
		script string
		status string
	}{
		{"stdout", "exec yes", "output-limit"},
		{"stderr", "yes >&2", "output-limit"},
		{"both", "yes & yes >&2", "output-limit"},
		{"within", "echo within-the-limit", "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := limExec(t, runOpts{}, []string{"--max-output", "1K", "--timeout", "20s"}, "/bin/sh", "-c", tc.script)
			if tc.status == "ok" {
				r.want(t, "ok", 0)
				if !strings.Contains(r.stdout, "within-the-limit") {
					t.Errorf("output within the limit was lost\n%s", r)
				}
				return
			}
			r.want(t, "output-limit", 128+int(syscall.SIGKILL))
			// What passed: at most the limit from the box, plus sandbox's
			// own one-line message on stderr.
			msg := "sandbox: output limit 1K exceeded\n"
			through := len(r.stdout) + len(strings.Replace(r.stderr, msg, "", 1))
			if through > limit {
				t.Errorf("%d bytes of the box's output came through a 1K limit\n%s", through, r)
			}
			if len(r.stdout)+len(r.stderr) > 4096 {
				t.Errorf("%d bytes on stdout+stderr\n%s", len(r.stdout)+len(r.stderr), r)
			}
			if through < limit {
				t.Errorf("only %d bytes came through: the box's output up to the limit must pass\n%s", through, r)
			}
			if r.elapsed > 15*time.Second {
				t.Errorf("the limit took %v to stop `yes`\n%s", r.elapsed, r)
			}
		})
	}
}

// TestOutputLimitPayloadExitsAtOnce: a payload that writes past the limit
// and exits before the supervisor kills it still gets the output-limit
// verdict and a non-zero exit status (the exit and the overrun race).
func TestOutputLimitPayloadExitsAtOnce(t *testing.T) {
	for i := range 8 {
		r := limExec(t, runOpts{}, []string{"--max-output", "1K"}, "/bin/sh", "-c", "head -c 5000 /dev/zero")
		if r.report.Status != "output-limit" || r.code == 0 || r.report.ExitCode != r.code {
			t.Fatalf("run %d: want status output-limit and a non-zero exit status\n%s", i, r)
		}
	}
}

func TestRlimitNofile(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    runOpts
	}{{"unprivileged", runOpts{}}, {"root", asRoot}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.root {
				needRoot(t)
			}
			r := limExec(t, tc.o, []string{"--rlimit", "nofile=17"}, "/bin/sh", "-c", "ulimit -n; ulimit -Hn")
			r.want(t, "ok", 0)
			if got := strings.Fields(r.stdout); len(got) != 2 || got[0] != "17" || got[1] != "17" {
				t.Fatalf("ulimit -n, -Hn = %q, want 17 17\n%s", r.stdout, r)
			}
		})
	}
}

// TestReportFields parses the report as plain JSON and checks each field's
// type and value for a spinner stopped by --cpu-time (root, cgroup numbers)
// and by --timeout (the unprivileged user, rusage numbers where there is no
// cgroup).
func TestReportFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      runOpts
		flags  []string
		status string
		limit  string
	}{
		{"root cpu-time", asRoot, []string{"--cpu-time", "1s"}, "cpu-time", "cpu_time"},
		{"unprivileged timeout", runOpts{}, []string{"--timeout", "1s"}, "timeout", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.root {
				needRoot(t)
			}
			r := limExec(t, tc.o, tc.flags, "/bin/sh", "-c", "while :; do :; done")
			var m map[string]any
			if err := json.Unmarshal(r.raw, &m); err != nil {
				t.Fatal(err)
			}
			if m["status"] != tc.status {
				t.Errorf("status = %v, want %s", m["status"], tc.status)
			}
			integer := func(key string) {
				if v, ok := m[key].(float64); !ok || v != math.Trunc(v) || v < 0 {
					t.Errorf("%s = %#v, want a non-negative integer", key, m[key])
				}
			}
			for _, k := range []string{"exit_code", "signal", "peak_memory"} {
				integer(k)
			}
			for _, k := range []string{"wall_time", "cpu_user", "cpu_sys"} {
				if v, ok := m[k].(float64); !ok || v < 0 {
					t.Errorf("%s = %#v, want a non-negative number of seconds", k, m[k])
				}
			}
			if _, ok := m["oom_killed"].(bool); !ok {
				t.Errorf("oom_killed = %#v, want a bool", m["oom_killed"])
			}
			rep := r.report
			if rep.WallTime <= 0 || rep.WallTime > 10 {
				t.Errorf("wall_time = %v, want between 0 and 10 s", rep.WallTime)
			}
			// A spinner that ran about 1 s: on an idle machine it gets
			// nearly all of it, on a loaded one (CI shares 2 cores) much
			// less; 0.1 s still tells a count from a lost one (a few ms).
			if rep.CPUUser+rep.CPUSys <= 0.1 {
				t.Errorf("cpu_user+cpu_sys = %v for a spinner that ran about 1 s", rep.CPUUser+rep.CPUSys)
			}
			if rep.CPUUser+rep.CPUSys > rep.WallTime*float64(2*runtime.NumCPU())+0.1 {
				t.Errorf("cpu_user+cpu_sys = %v is more than the machine could spend in %v s", rep.CPUUser+rep.CPUSys, rep.WallTime)
			}
			if rep.PeakMemory <= 0 {
				t.Errorf("peak_memory = %d, want > 0", rep.PeakMemory)
			}
			if rep.Limits[tc.limit] != float64(1) {
				t.Errorf("limits.%s = %v, want 1", tc.limit, rep.Limits[tc.limit])
			}
			if t.Failed() {
				t.Logf("%s", r)
			}
		})
	}
}

// TestReportIgnoresPayloadOutput: whatever the payload prints, JSON
// included, passes through to stdout and stderr and never into the report.
func TestReportIgnoresPayloadOutput(t *testing.T) {
	fake := `{"status":"ok","exit_code":0,"signal":0,"wall_time":0,"oom_killed":false}`
	r := limExec(t, runOpts{}, nil, "/bin/sh", "-c", "echo '"+fake+"'; echo '"+fake+"' >&2; exit 3")
	r.want(t, "exit", 3)
	if !strings.Contains(r.stdout, fake) || !strings.Contains(r.stderr, fake) {
		t.Errorf("the payload's output did not pass through\n%s", r)
	}
	if bytes.Contains(r.raw, []byte(`"status":"ok"`)) || r.report.Error != "" {
		t.Errorf("the report holds the payload's line or an error\n%s", r)
	}
}

// TestReportOnSetupError: a box that cannot be set up still gets a report
// saying so, at every stage a setup can fail.
func TestReportOnSetupError(t *testing.T) {
	missing := "/nonexistent-" + randName("src")
	for _, tc := range []struct {
		name  string
		flags []string
		msg   string
	}{
		{"bad flag value", []string{"--memory", "lots"}, "--memory"},
		{"seccomp profile", []string{"--seccomp", missing + ".json"}, missing},
		{"bind in the init stage", []string{"--bind", missing + ":/x"}, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := limExec(t, runOpts{}, tc.flags, "true")
			r.want(t, "setup-error", 125)
			if !strings.Contains(r.report.Error, tc.msg) || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("report error and stderr must name %q\n%s", tc.msg, r)
			}
		})
	}
}

// TestCgroupRemovedAfterRun watches a box's cgroups while it runs (from
// /proc/PID/cgroup of a process in it) and checks that each is gone when
// sandbox returns, however the box ended.
func TestCgroupRemovedAfterRun(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name   string
		flags  []string
		script string // %s is the sleep that marks the box
		code   int
	}{
		{"exit", []string{"--memory", "64M", "--pids", "16"}, "%s; exit 0", 0},
		{"timeout", []string{"--memory", "64M", "--timeout", "1s"}, "%s; sleep 20", 124},
		{"cpu-time", []string{"--cpu-time", "1s", "--pids", "16"}, "%s; while :; do :; done", 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sleep := limSleep()
			args := append(append([]string{"exec"}, tc.flags...), "--", "/bin/sh", "-c", fmt.Sprintf(tc.script, sleep))
			dirs, r := limWatchCgroups(t, nil, "", sleep, args...)
			if r.code != tc.code {
				t.Fatalf("want exit %d\n%s", tc.code, r)
			}
			limAssertGone(t, dirs)
		})
	}
}

// limSleep is a sleep of about half a second whose command line no other
// process has: `sleep 0.5NNNNNN`.
func limSleep() string {
	return fmt.Sprintf("sleep 0.5%06d", time.Now().UnixNano()%1000000)
}

// limWatchCgroups starts sandbox with args as cred (nil: the caller), or
// as root through `sh -c WRAP ARGS` when wrap is set, waits for a process whose command line is marker, reads the box's
// cgroup directories from it, and returns them with the finished run.
func limWatchCgroups(t *testing.T, cred *syscall.Credential, wrap, marker string, args ...string) ([]string, result) {
	t.Helper()
	need(t)
	cmd := exec.Command(env.bin, args...)
	if wrap != "" {
		cmd, cred = exec.Command("/bin/sh", "-c", wrap+" "+limQuote(args)), nil
	}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp", "SANDBOX=" + env.bin}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	deadline := time.Now().Add(10 * time.Second)
	for len(dirs) == 0 && time.Now().Before(deadline) {
		for _, p := range pgrep(marker) {
			pid, _, _ := strings.Cut(p, ":")
			if d := limBoxCgroups(pid); len(d) > 0 {
				dirs = d
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatalf("never saw the box's cgroups (a process %q in a sandbox-* cgroup)\n%s", marker, r)
	}
	t.Logf("box cgroups: %v", dirs)
	return dirs, r
}

// limBoxCgroups returns the box's cgroup directories of process pid: those
// of its /proc/PID/cgroup lines whose last element is a box leaf
// (sandbox-HEX, as cgroup.New names it).
func limBoxCgroups(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return nil
	}
	unified := limUnified()
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && filepath.Base(parts[2]) == "box" {
			// The box's processes sit in the inner child of its cgroup.
			parts[2] = filepath.Dir(parts[2])
		}
		if len(parts) != 3 || !strings.HasPrefix(filepath.Base(parts[2]), "sandbox-") {
			continue
		}
		base := filepath.Base(parts[2])
		if _, err := strconv.ParseUint(strings.TrimPrefix(base, "sandbox-"), 16, 64); err != nil {
			continue // sandbox-<user> or sandbox-supervisor, not a leaf
		}
		switch {
		case parts[1] == "" && unified:
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", parts[2]))
		case parts[1] != "" && !strings.HasPrefix(parts[1], "name="):
			// A co-mounted hierarchy ("cpu,cpuacct") is one directory.
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", parts[1], parts[2]))
		}
	}
	return dirs
}

// limUnified tells whether the host has cgroup v2 alone.
func limUnified() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

func limAssertGone(t *testing.T, dirs []string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("the box's cgroup %s is left behind (%v)", d, err)
		}
	}
}

// TestCgroupDelegationAsUser: without delegation an unprivileged --memory
// fails with 125 and names the fix; after root runs the fix, the user's
// limits work and the user's box cgroups are removed after each run.
func TestCgroupDelegationAsUser(t *testing.T) {
	needRoot(t)
	need(t)
	u, err := user.LookupId(strconv.Itoa(env.uid))
	if err != nil {
		t.Fatal(err)
	}
	// What cgroup.Setup makes: sandbox-<user> per v1 controller, or one v2
	// directory (holding sandbox-supervisor once a box has run).
	top := "sandbox-" + u.Username
	var made []string
	if limUnified() {
		made = []string{filepath.Join("/sys/fs/cgroup", top, "sandbox-supervisor"), filepath.Join("/sys/fs/cgroup", top, "shell"), filepath.Join("/sys/fs/cgroup", top)}
	} else {
		for _, c := range []string{"memory", "cpu", "cpuacct", "pids"} {
			made = append(made, filepath.Join("/sys/fs/cgroup", c, top))
		}
	}
	removeMade := func() {
		for _, d := range made {
			os.Remove(d) // rmdir: only an empty cgroup goes
		}
	}
	// Left by an earlier run. An earlier test's box cgroup may still be
	// on its way out (the kernel frees a cgroup whose last task is dying
	// after the rmdir of its supervisor is tried), hence the retries.
	t.Cleanup(removeMade)
	var busy string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		removeMade()
		busy = ""
		for _, d := range made {
			if _, err := os.Stat(d); err == nil {
				busy = d
			}
		}
		if busy == "" || time.Now().After(deadline) {
			break
		}
	}
	if busy != "" {
		out, _ := exec.Command("sh", "-c", "find "+busy+" -name cgroup.procs | while read f; do echo \"$f: $(cat $f)\"; done").CombinedOutput()
		t.Fatalf("%s exists and cannot be removed (a box of %s still running?): the no-delegation case cannot be tested; in it:\n%s", busy, u.Username, out)
	}

	// The systemd user manager (v2) is kept out: this is the path without it.
	noBus := []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}
	r := runWith(t, runOpts{env: noBus}, "exec", "--memory", "64M", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "cgroup") || !strings.Contains(r.stderr, "cgroup-setup --user "+u.Username) {
		t.Fatalf("--memory without delegation: want exit 125 naming cgroups and `cgroup-setup --user %s`\n%s", u.Username, r)
	}

	if r := runWith(t, asRoot, "cgroup-setup", "--user", u.Username); r.code != 0 {
		t.Fatalf("cgroup-setup: %s", r)
	}
	// On v2 the user may only move processes inside the delegated
	// directory, so root starts the user's sandbox there, in the "shell"
	// child Setup made for it.
	o := runOpts{}
	if limUnified() {
		// Not run on this project's hybrid test host.
		o = runOpts{root: true, env: noBus, wrap: fmt.Sprintf(`echo $$ > /sys/fs/cgroup/%s/shell/cgroup.procs && exec setpriv --reuid=%d --regid=%d --clear-groups "$SANDBOX"`, top, env.uid, env.gid)}
	}
	testMemory(t, o)

	t.Run("removed", func(t *testing.T) {
		sleep := limSleep()
		dirs, r := limWatchCgroups(t, env.cred, o.wrap, sleep, "exec", "--memory", "64M", "--pids", "16", "--", "/bin/sh", "-c", sleep)
		if r.code != 0 {
			t.Fatalf("want exit 0\n%s", r)
		}
		for _, d := range dirs {
			if !strings.Contains(d, "/"+top+"/") {
				t.Errorf("box cgroup %s is not below the delegated %s", d, top)
			}
		}
		limAssertGone(t, dirs)
	})
}
