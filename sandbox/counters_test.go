package sandbox

import (
	"math"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroup"
)

// TestPlanKernelCounters: every box gets its user namespace's limits while
// its /proc/sys is writable, a devpts with a maximum, and default
// sigpending and msgqueue rlimits unless the caller gives them, never above
// the caller's own hard limit.
func TestPlanKernelCounters(t *testing.T) {
	defer func(f func(int, *unix.Rlimit) error) { getrlimit = f }(getrlimit)
	getrlimit = func(r int, rl *unix.Rlimit) error {
		rl.Cur, rl.Max = 1000, 1000 // the caller's msgqueue is below the default
		if r == unix.RLIMIT_SIGPENDING {
			rl.Cur, rl.Max = 60000, 60000
		}
		return nil
	}
	s := &Spec{Args: []string{"true"}, InotifyInstances: 3}
	p, err := buildPlan(s, fakeHost, payloadSpec{})
	if err != nil {
		t.Fatal(err)
	}
	l := ops(p)
	proc, sysctl, ro := indexOf(l, "proc /proc"), indexOf(l, "sysctl /proc/sys/user:"), indexOf(l, "readonly /proc/sys")
	if proc < 0 || sysctl != proc+1 || ro < sysctl {
		t.Errorf("sysctl at %d, want right after proc (%d) and before /proc/sys is read-only (%d):\n%s", sysctl, proc, ro, strings.Join(l, "\n"))
	}
	for _, want := range []string{"max_inotify_instances=3 ", "max_inotify_watches=8192 ", "max_user_namespaces=64"} {
		if !strings.Contains(l[sysctl], want) {
			t.Errorf("%q lacks %q", l[sysctl], want)
		}
	}
	if i := indexOf(l, "devpts /dev/pts newinstance"); i < 0 || !strings.Contains(l[i], "max=16") {
		t.Errorf("devpts without max=16:\n%s", strings.Join(l, "\n"))
	}
	for _, want := range []string{"rlimit sigpending=256:256", "rlimit msgqueue=1000:1000"} {
		if indexOf(l, want) < 0 {
			t.Errorf("no %q in\n%s", want, strings.Join(l, "\n"))
		}
	}
	s.Rlimits = []Rlimit{{Name: "sigpending", Soft: 7, Hard: 9}}
	p, _ = buildPlan(s, fakeHost, payloadSpec{})
	l = ops(p)
	if indexOf(l, "rlimit sigpending=7:9") < 0 || indexOf(l, "rlimit sigpending=256") >= 0 {
		t.Errorf("--rlimit sigpending must replace the default:\n%s", strings.Join(l, "\n"))
	}
}

// TestValidateCapSysAdminWithLimits: CAP_SYS_ADMIN with mount(2) allowed
// is the caller's policy in a box with a cgroup too: the limits and the
// accounting sit a level above the root of the box's cgroup namespace,
// where a payload that mounts cgroupfs cannot reach them
// (TestLimitsHoldAgainstMount in cmd/sandbox shows it).
func TestValidateCapSysAdminWithLimits(t *testing.T) {
	for _, s := range []Spec{
		{Seccomp: "off", CapAdd: []string{"CAP_SYS_ADMIN"}, Accounting: true},
		{Seccomp: "/p.json", CapAdd: []string{"sys_admin"}, Limits: cgroup.Limits{Pids: 5}},
		{Seccomp: "off", CapAdd: []string{"CAP_SYS_ADMIN"}, CPUTime: 1},
	} {
		s.Args = []string{"true"}
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
}

// TestPidMaxSysctl: the box's pid namespace is capped at the process cap
// plus the reserved pids, so that no uid of a --map auto box gets a cap of
// its own; not where the cgroup counts (--pids), nothing caps, or the host's
// pid_max is lower anyway.
func TestPidMaxSysctl(t *testing.T) {
	for _, c := range []struct {
		name    string
		s       Spec
		hostMax int
		want    string
	}{
		{"default", Spec{}, 4194304, "pid_max=1325"},
		{"nproc", Spec{Rlimits: []Rlimit{{Name: "nproc", Soft: 20, Hard: 50}}}, 4194304, "pid_max=351"},
		{"pids", Spec{Limits: cgroup.Limits{Pids: 64}}, 4194304, ""},
		{"unlimited", Spec{Rlimits: []Rlimit{{Name: "nproc", Soft: math.MaxUint64, Hard: math.MaxUint64}}}, 4194304, ""},
		{"host lower", Spec{}, 1000, ""},
	} {
		op, ok := pidMaxSysctl(&c.s, c.hostMax)
		got := ""
		if ok {
			got = op.Str[1]
			if op.Flags&FlagTry == 0 || op.Str[0] != "/proc/sys/kernel" {
				t.Errorf("%s: %+v, want a tried write under /proc/sys/kernel", c.name, op)
			}
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
