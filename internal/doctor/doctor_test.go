package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/cgroups/v3"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// want is the expected outcome of one check: its status and substrings of
// its detail and fix.
type want struct {
	status    string
	detailHas []string
	fixHas    []string
}

func (w want) assert(t *testing.T, c Check) {
	t.Helper()
	if c.Status != w.status {
		t.Errorf("status %s, want %s (%+v)", c.Status, w.status, c)
	}
	for _, s := range w.detailHas {
		if !strings.Contains(c.Detail, s) {
			t.Errorf("detail %q lacks %q", c.Detail, s)
		}
	}
	for _, s := range w.fixHas {
		if !strings.Contains(c.Fix, s) {
			t.Errorf("fix %q lacks %q", c.Fix, s)
		}
	}
	if c.Status != OK && c.Fix == "" && c.Name != NameCgroups {
		t.Errorf("%s is %s without a fix", c.Name, c.Status)
	}
}

func TestCheckKernel(t *testing.T) {
	tests := []struct {
		release string
		want    want
	}{
		{"6.18.44-fc-v669", want{status: OK, detailHas: []string{"6.18.44"}}},
		{"5.12.0", want{status: OK}},
		{"5.11.22-generic", want{status: Warn, detailHas: []string{"mount_setattr"}, fixHas: []string{"5.12"}}},
		{"4.19.0-25-amd64", want{status: Warn}},
		{"5.15-rc1", want{status: OK}},
		{"garbage", want{status: Warn, detailHas: []string{"garbage"}}},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) { tt.want.assert(t, CheckKernel(tt.release)) })
	}
}

func TestCheckUserNS(t *testing.T) {
	tests := []struct {
		name string
		f    UserNSFacts
		want want
	}{
		{"works", UserNSFacts{MaxUserNS: "15000"}, want{status: OK, detailHas: []string{"15000"}}},
		{
			"debian knob off",
			UserNSFacts{UnprivClone: "0", MaxUserNS: "15000", UserProbe: syscall.EPERM},
			want{status: Fail, detailHas: []string{"EPERM", "kernel.unprivileged_userns_clone = 0"}, fixHas: []string{"sysctl -w kernel.unprivileged_userns_clone=1"}},
		},
		{
			"root is not stopped by the debian knob, so EPERM means something else",
			UserNSFacts{Root: true, UnprivClone: "0", UserProbe: syscall.EPERM},
			want{status: Fail, detailHas: []string{"container"}, fixHas: []string{"seccomp=unconfined"}},
		},
		{
			"max_user_namespaces 0",
			UserNSFacts{MaxUserNS: "0", UserProbe: syscall.ENOSPC},
			want{status: Fail, detailHas: []string{"ENOSPC", "user.max_user_namespaces = 0"}, fixHas: []string{"user.max_user_namespaces=15000"}},
		},
		{
			"max_user_namespaces used up",
			UserNSFacts{MaxUserNS: "10", UserProbe: syscall.ENOSPC},
			want{status: Fail, detailHas: []string{"(10)"}, fixHas: []string{"raise"}},
		},
		{
			"apparmor restriction blocks the namespaces inside",
			UserNSFacts{AppArmorRestrict: "1", AllProbe: syscall.EPERM},
			want{status: Fail, detailHas: []string{"alone works", "apparmor_restrict_unprivileged_userns = 1"}, fixHas: []string{"apparmor_restrict_unprivileged_userns=0"}},
		},
		{
			"docker seccomp profile",
			UserNSFacts{MaxUserNS: "15000", UserProbe: syscall.EPERM},
			want{status: Fail, detailHas: []string{"Docker"}, fixHas: []string{"seccomp=unconfined"}},
		},
		{
			"no CONFIG_USER_NS",
			UserNSFacts{UserProbe: syscall.EINVAL},
			want{status: Fail, detailHas: []string{"EINVAL", "CONFIG_USER_NS"}, fixHas: []string{"CONFIG_USER_NS"}},
		},
		{
			"wrapped errno",
			UserNSFacts{UnprivClone: "0", UserProbe: fmt.Errorf("fork/exec /bin/true: %w", syscall.EPERM)},
			want{status: Fail, detailHas: []string{"unprivileged_userns_clone"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckUserNS(tt.f)) })
	}
}

func TestCheckHelpers(t *testing.T) {
	ok := []HelperFact{{Name: "newuidmap", Path: "/usr/bin/newuidmap"}, {Name: "newgidmap", Path: "/usr/bin/newgidmap"}}
	missing := []HelperFact{{Name: "newuidmap", Err: fmt.Errorf("find newuidmap: %w", idmap.ErrHelperMissing)}, ok[1]}
	notSUID := []HelperFact{ok[0], {Name: "newgidmap", Path: "/usr/bin/newgidmap", Err: fmt.Errorf("x: %w", idmap.ErrHelperNotPrivileged)}}
	tests := []struct {
		name  string
		root  bool
		facts []HelperFact
		want  want
	}{
		{"present", false, ok, want{status: OK, detailHas: []string{"/usr/bin/newuidmap", "/usr/bin/newgidmap"}}},
		{"missing", false, missing, want{status: Warn, detailHas: []string{"--map self can"}, fixHas: []string{"apt-get install uidmap"}}},
		{"not setuid", false, notSUID, want{status: Warn, fixHas: []string{"chmod u+s /usr/bin/newgidmap"}}},
		{"root does not need them", true, missing, want{status: OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckHelpers(tt.root, tt.facts)) })
	}
}

func TestCheckSubIDs(t *testing.T) {
	r := []idmap.Range{{Start: 100000, Count: 65536}}
	tests := []struct {
		name string
		f    SubIDFacts
		want want
	}{
		{"both", SubIDFacts{User: "alice", UIDs: r, GIDs: r, UIDSource: "/etc/subuid", GIDSource: "/etc/subgid"},
			want{status: OK, detailHas: []string{"100000-165535", "/etc/subuid"}}},
		{"no subgid", SubIDFacts{User: "alice", UIDs: r},
			want{status: Warn, detailHas: []string{"/etc/subgid"}, fixHas: []string{"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"}}},
		{"none", SubIDFacts{User: "alice"},
			want{status: Warn, detailHas: []string{"/etc/subuid and /etc/subgid", "--map self"}}},
		{"root without ranges uses nobody", SubIDFacts{Root: true, User: "root"},
			want{status: OK, detailHas: []string{"nobody"}}},
		{"parse error", SubIDFacts{User: "alice", UIDErr: fmt.Errorf("parse /etc/subuid: line 3")},
			want{status: Warn, detailHas: []string{"line 3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckSubIDs(tt.f)) })
	}
}

func TestCheckCgroups(t *testing.T) {
	mine := CgroupDir{Exists: true, Owner: 1000}
	tests := []struct {
		name string
		f    CgroupFacts
		want want
	}{
		{"v2 delegated", CgroupFacts{Mode: cgroups.Unified, CallerUID: 1000, V2Path: "/user.slice/u", V2Dir: mine, V2Controllers: "cpuset cpu io memory pids"},
			want{status: OK, detailHas: []string{"v2", "delegated", "memory"}}},
		{"v2 delegated without cpu", CgroupFacts{Mode: cgroups.Unified, CallerUID: 1000, V2Path: "/u", V2Dir: mine, V2Controllers: "memory pids"},
			want{status: Warn, detailHas: []string{"not delegated: cpu"}, fixHas: []string{"Delegate="}}},
		{"v2 not owned", CgroupFacts{Mode: cgroups.Unified, CallerUID: 1000, V2Path: "/system.slice/x", V2Dir: CgroupDir{Exists: true, Owner: 0}, V2Controllers: "memory cpu pids"},
			want{status: Warn, detailHas: []string{"owned by uid 0"}, fixHas: []string{"systemd-run --user"}}},
		{"v2 not owned, user manager delegates", CgroupFacts{Mode: cgroups.Unified, CallerUID: 1000, V2Path: "/user.slice/user-1000.slice/session-2.scope",
			V2Dir: CgroupDir{Exists: true, Owner: 0}, V2Controllers: "memory cpu pids",
			UserManager: UserManagerFacts{Address: "unix:path=/run/user/1000/bus", Controllers: []string{"cpu", "memory", "pids"}}},
			want{status: OK, detailHas: []string{"delegated scope", "systemd user manager"}}},
		{"v2 root", CgroupFacts{Mode: cgroups.Unified, Root: true, V2Path: "/", V2Controllers: "memory cpu pids"},
			want{status: OK, detailHas: []string{"root"}}},
		{"v1 set up", CgroupFacts{Mode: cgroups.Legacy, CallerUID: 1000, User: "alice", V1: map[string]CgroupDir{"memory": mine, "cpu": mine, "pids": mine}},
			want{status: OK, detailHas: []string{"v1", "memory, cpu, pids"}}},
		{"hybrid, pids owned by root", CgroupFacts{Mode: cgroups.Hybrid, CallerUID: 1000, User: "alice",
			V1: map[string]CgroupDir{"memory": mine, "cpu": mine, "pids": {Exists: true, Owner: 0}}},
			want{status: Warn, detailHas: []string{"hybrid", "not delegated: pids", "sandbox-alice"}, fixHas: []string{"sandbox cgroup-setup"}}},
		{"v1 root", CgroupFacts{Mode: cgroups.Legacy, Root: true}, want{status: OK, detailHas: []string{"root"}}},
		{"unavailable", CgroupFacts{Mode: cgroups.Unavailable}, want{status: Warn, fixHas: []string{"cgroup2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckCgroups(tt.f)) })
	}
}

func TestCheckSystemdUser(t *testing.T) {
	tests := []struct {
		name string
		f    UserManagerFacts
		want want
	}{
		{"delegates all", UserManagerFacts{Address: "unix:path=/run/user/1000/bus", Cgroup: "/user.slice/user-1000.slice/user@1000.service",
			Controllers: []string{"cpu", "memory", "pids"}}, want{status: OK, detailHas: []string{"/run/user/1000/bus", "cpu, memory, pids"}}},
		{"no cpu", UserManagerFacts{Address: "unix:path=/run/user/1000/bus", Controllers: []string{"memory", "pids"}},
			want{status: Warn, detailHas: []string{"not delegated: cpu"}, fixHas: []string{"Delegate=memory cpu pids"}}},
		{"unreachable", UserManagerFacts{Address: "unix:path=/run/user/1000/bus", Err: errors.New("no systemd user manager reachable")},
			want{status: Warn, detailHas: []string{"no user manager"}, fixHas: []string{"loginctl enable-linger", "cgroup-setup"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckSystemdUser(tt.f)) })
	}
}

func TestCheckSeccomp(t *testing.T) {
	acts := "kill_process kill_thread trap errno user_notif trace log allow"
	tests := []struct {
		name, status, acts string
		want               want
	}{
		{"available", "Name:\tx\nSeccomp:\t0\nSeccomp_filters:\t0\n", acts, want{status: OK, detailHas: []string{"errno"}}},
		{"already filtered", "Seccomp:\t2\n", acts, want{status: OK, detailHas: []string{"stacks"}}},
		{"no CONFIG_SECCOMP", "Name:\tx\nNoNewPrivs:\t0\n", "", want{status: Fail, detailHas: []string{"CONFIG_SECCOMP"}, fixHas: []string{"--seccomp off"}}},
		{"no filter mode", "Seccomp:\t0\n", "", want{status: Fail, detailHas: []string{"CONFIG_SECCOMP_FILTER"}}},
		{"old kernel", "Seccomp:\t0\n", "kill trap errno trace allow", want{status: Warn, detailHas: []string{"kill_process"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckSeccomp(tt.status, tt.acts)) })
	}
}

func TestCheckLandlock(t *testing.T) {
	tests := []struct {
		name string
		abi  int
		err  error
		want want
	}{
		{"abi 4", 4, nil, want{status: Warn, detailHas: []string{"ABI version 4", "without scoping"}, fixHas: []string{"6.12"}}},
		{"abi 6", 6, nil, want{status: OK, detailHas: []string{"ABI version 6", "scoped"}}},
		{"abi 7", 7, nil, want{status: OK, detailHas: []string{"ABI version 7", "scoped"}}},
		{"not built", 0, syscall.ENOSYS, want{status: Warn, detailHas: []string{"CONFIG_SECURITY_LANDLOCK", "without scoping"}}},
		{"not enabled", 0, syscall.EOPNOTSUPP, want{status: Warn, fixHas: []string{"lsm="}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want.assert(t, CheckLandlock(tt.abi, tt.err)) })
	}
}

func TestFatal(t *testing.T) {
	tests := []struct {
		checks []Check
		want   bool
	}{
		{nil, false},
		{[]Check{{Status: OK}, {Status: Warn}}, false},
		{[]Check{{Status: OK}, {Status: Fail}}, true},
	}
	for _, tt := range tests {
		if got := Fatal(tt.checks); got != tt.want {
			t.Errorf("Fatal(%v) = %v, want %v", tt.checks, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	var b bytes.Buffer
	Format(&b, []Check{
		{Name: "user namespaces", Status: OK, Detail: "probe ok"},
		{Name: "subordinate ids", Status: Warn, Detail: "no range", Fix: "sudo usermod ..."},
	})
	wantOut := "OK   user namespaces   probe ok\n" +
		"WARN subordinate ids   no range\n" +
		"                       fix: sudo usermod ...\n"
	if b.String() != wantOut {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), wantOut)
	}
}

// TestRun runs the real checks on this host: it asserts the shape (every
// check present, in order, with a valid status) and, as root, that the
// namespace probe works, since root can always create user namespaces on a
// kernel that has them.
func TestRun(t *testing.T) {
	checks := Run()
	names := []string{NameKernel, NameUserNS, NameHelpers, NameSubIDs, NameCgroups, NameSeccomp, NameLandlock, NameNetUser}
	if len(checks) != len(names) {
		t.Fatalf("got %d checks, want %d: %+v", len(checks), len(names), checks)
	}
	for i, c := range checks {
		if c.Name != names[i] {
			t.Errorf("check %d is %q, want %q", i, c.Name, names[i])
		}
		if c.Status != OK && c.Status != Warn && c.Status != Fail {
			t.Errorf("%s: status %q", c.Name, c.Status)
		}
		if c.Detail == "" {
			t.Errorf("%s: empty detail", c.Name)
		}
	}
	var b bytes.Buffer
	Format(&b, checks)
	t.Logf("this host:\n%s", b.String())
	testenv.NeedRoot(t, "the probe assertions")
	if checks[1].Status != OK {
		t.Errorf("as root, the namespace probe failed: %+v", checks[1])
	}
}

func TestCheckNetUser(t *testing.T) {
	for _, tc := range []struct {
		f      NetUserFacts
		status string
		want   string
	}{
		{NetUserFacts{}, Warn, "apt-get install passt"},
		{NetUserFacts{Pasta: "/usr/bin/pasta"}, Warn, "modprobe tun"},
		{NetUserFacts{Pasta: "/usr/bin/pasta", TunFound: true, TunMode: 0o600, TunErr: os.ErrPermission}, Warn, "chmod 0666 /dev/net/tun"},
		{NetUserFacts{Pasta: "/usr/bin/pasta", TunFound: true, TunMode: 0o666}, OK, "--net user works"},
	} {
		c := CheckNetUser(tc.f)
		if c.Status != tc.status || !strings.Contains(c.Detail+" "+c.Fix, tc.want) {
			t.Errorf("%+v: got %+v, want %s naming %q", tc.f, c, tc.status, tc.want)
		}
	}
}
