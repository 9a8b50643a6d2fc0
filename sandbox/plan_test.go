package sandbox

import (
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/idmap"
)

// fakeHost is a merged-/usr host: /bin and /lib are links.
var fakeHost = host{
	pidMax: func() int { return 32768 },
	environ: func() []string {
		return []string{"PATH=/usr/bin:/bin", "TERM=xterm", "GITHUB_TOKEN=secret", "HOME=/home/u"}
	},
	lstat: func(p string) (fs.FileInfo, error) {
		switch p {
		case "/bin", "/lib", "/sbin":
			return fakeInfo{mode: fs.ModeSymlink}, nil
		case "/usr", "/etc", "/lib64":
			return fakeInfo{mode: fs.ModeDir}, nil
		}
		return nil, os.ErrNotExist
	},
	link:        func(p string) (string, error) { return "usr" + p, nil },
	landlockABI: func() int { return 7 },
}

type fakeInfo struct{ mode fs.FileMode }

func (f fakeInfo) Name() string       { return "" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return nil }

func ops(p *Plan) []string {
	var s []string
	for _, o := range p.Ops {
		s = append(s, o.String())
	}
	return s
}

func indexOf(list []string, prefix string) int {
	for i, s := range list {
		if strings.HasPrefix(s, prefix) {
			return i
		}
	}
	return -1
}

func TestPlanHostView(t *testing.T) {
	s := &Spec{Args: []string{"ls", "-l"}, Mounts: []Mount{{Type: "bind", Source: "/srv/w", Dest: "/work"}}}
	p, err := buildPlan(s, fakeHost, payloadSpec{seccomp: make([]byte, 16)})
	if err != nil {
		t.Fatal(err)
	}
	o := ops(p)
	for _, want := range []string{
		"tmpfs / mode=0755", "symlink /bin -> usr/bin", "bind /usr -> /usr (read-only)",
		"bind /etc -> /etc (read-only)", "bind /lib64 -> /lib64 (read-only)", "proc /proc",
		"bind /srv/w -> /work", "mask /proc/kcore", "pivot_root", "loopback", "fork",
		"seccomp (2 instructions)", "exec ls -l",
	} {
		if indexOf(o, want) < 0 {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(o, "\n"))
		}
	}
	for _, bad := range []string{"bind /home", "bind /root", "bind /run", "bind /var"} {
		if indexOf(o, bad) >= 0 {
			t.Errorf("plan exposes %s", bad)
		}
	}
	// Order: mounts before pivot, user mounts after defaults, masks after
	// user mounts, seccomp just before exec, fork between init and payload.
	order := []string{"tmpfs / ", "proc /proc", "tmpfs /tmp", "bind /srv/w", "mask /proc/kcore", "readonly /", "pivot_root", "fork", "credentials", "no_new_privs", "seccomp", "exec"}
	last := -1
	for _, step := range order {
		i := indexOf(o, step)
		if i <= last {
			t.Fatalf("%q at %d, want after %d:\n%s", step, i, last, strings.Join(o, "\n"))
		}
		last = i
	}
	if p.Ops[len(p.Ops)-2].Code != OpSeccomp {
		t.Fatal("seccomp is not the last step before exec")
	}
}

func TestPlanEnv(t *testing.T) {
	s := &Spec{Args: []string{"env"}, Env: []string{"TERM=dumb", "A=1"}}
	p, _ := buildPlan(s, fakeHost, payloadSpec{})
	exec := p.Ops[len(p.Ops)-1]
	env := strings.Split(strings.TrimSuffix(exec.Str[1], "\x00"), "\x00")
	want := []string{"PATH=/usr/bin:/bin", "TERM=dumb", "HOME=/root", "A=1"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env = %q, want %q", env, want)
	}
	if exec.Str[2] != "/usr/bin:/bin" {
		t.Fatalf("search path = %q", exec.Str[2])
	}
	s.KeepEnv = true
	p, _ = buildPlan(s, fakeHost, payloadSpec{})
	if !strings.Contains(p.Ops[len(p.Ops)-1].Str[1], "GITHUB_TOKEN=secret") {
		t.Fatal("--keep-env dropped the environment")
	}
}

func TestPlanRootfsNetHostCaps(t *testing.T) {
	s := &Spec{Args: []string{"true"}, Rootfs: "/srv/root", Net: "host", CapAdd: []string{"net_raw"}, UID: 5, GID: 6,
		Rlimits: []Rlimit{{Name: "nofile", Soft: 17, Hard: 17}}}
	p, _ := buildPlan(s, fakeHost, payloadSpec{mapping: idmap.Mapping{SetgroupsAllowed: true}})
	o := ops(p)
	// The namespaces first (--net host: no net namespace), then the root.
	if o[1] != "unshare mount,pid,ipc,uts,cgroup" || o[2] != "spawn pid 1" {
		t.Fatalf("namespaces:\n%s", strings.Join(o, "\n"))
	}
	if o[3] != "bind /srv/root -> / (read-only)" || indexOf(o, "bind /usr") >= 0 {
		t.Fatalf("rootfs plan:\n%s", strings.Join(o, "\n"))
	}
	// Everything --rootfs brings is read-only, nosuid and nodev down to
	// its last submount (issue #17).
	if want := FlagReadOnly | FlagNoDev | FlagNoSuid | FlagTopWritable; p.Ops[3].Flags&want != want {
		t.Fatalf("rootfs bind flags %#x, want %#x set", p.Ops[3].Flags, want)
	}
	if indexOf(o, "loopback") >= 0 {
		t.Fatal("--net host must not touch the host's loopback")
	}
	if indexOf(o, "credentials uid=5 gid=6 caps=0x2000") < 0 || indexOf(o, "rlimit nofile=17:17") < 0 {
		t.Fatalf("payload steps:\n%s", strings.Join(o, "\n"))
	}
	for _, op := range p.Ops {
		if op.Code == OpCreds && op.Flags&FlagSetgroups == 0 {
			t.Fatal("setgroups flag lost")
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	s := &Spec{Args: []string{"sh", "-c", "echo ü"}, Mounts: []Mount{{Type: "tmpfs", Dest: "/x"}}}
	p, _ := buildPlan(s, fakeHost, payloadSpec{seccomp: []byte{1, 2, 3, 4, 5, 6, 7, 0}})
	q, err := DecodePlan(p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip differs:\n%v\n%v", ops(p), ops(q))
	}
	// Truncation anywhere is refused.
	b := p.Encode()
	for _, n := range []int{0, 4, 9, 47, len(b) - 1} {
		if _, err := DecodePlan(b[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
}

func FuzzDecodePlan(f *testing.F) {
	// A small seed: the fuzzer's minimizer is quadratic in the input's size,
	// and a whole plan (kilobytes) stalls it.
	p := &Plan{Ops: []Op{
		{Code: OpBind, Flags: FlagReadOnly, Str: []string{"/usr", "/usr"}},
		{Code: OpRlimit, Arg: 7, Arg2: 17, Arg3: 17},
		{Code: OpExec, Str: []string{"true\x00", "PATH=/bin\x00", "/bin"}},
	}}
	f.Add(p.Encode())
	f.Add([]byte("SBX1\x01\x00\x00\x00"))
	h := &Plan{Ops: []Op{
		{Code: OpHookHold},
		{Code: OpHook, Flags: FlagStartHook, Arg: 5, Arg2: 1, Str: []string{"/bin/sh\x00sh\x00-c\x00true", "X=1", `{"id":"k"}`}},
	}}
	f.Add(h.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePlan(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		if got := p.Encode(); string(got) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestValidate(t *testing.T) {
	ok := Spec{Args: []string{"true"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod   func(*Spec)
		field string
	}{
		{func(s *Spec) { s.Args = nil }, "command"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "bind", Source: "rel", Dest: "/x"}} }, "--bind"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "ro-bind", Source: "/a", Dest: "rel"}} }, "--ro-bind"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "overlay", Dest: "/x"}} }, "mounts[0].type"},
		{func(s *Spec) { s.Workdir = "/proc/self/cwd" }, "--workdir"},
		{func(s *Spec) { s.Workdir = "/proc" }, "--workdir"},
		{func(s *Spec) { s.Env = []string{"NOVALUE"} }, "--env"},
		{func(s *Spec) { s.Net = "bridge" }, "--net"},
		{func(s *Spec) { s.Map = "all" }, "--map"},
		{func(s *Spec) { s.Rlimits = []Rlimit{{Name: "files", Soft: 1, Hard: 1}} }, "--rlimit"},
		{func(s *Spec) { s.Rlimits = []Rlimit{{Name: "nofile", Soft: 2, Hard: 1}} }, "--rlimit"},
		{func(s *Spec) { s.CapAdd = []string{"CAP_FLY"} }, "--cap-add"},
		{func(s *Spec) { s.Hostname = "a/b" }, "--hostname"},
		{func(s *Spec) { s.Timeout = -1 }, "--timeout"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "tmpfs", Dest: "/x", Size: -1}} }, "--tmpfs"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "bind", Source: "/a", Dest: "/x", Size: 1}} }, "--bind"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "mqueue", Source: "/a", Dest: "/dev/mqueue"}} }, "--mqueue"},
		{func(s *Spec) { s.Mounts = []Mount{{Type: "mqueue", Dest: "/dev/mqueue", Size: 1}} }, "--mqueue"},
		{func(s *Spec) { s.Landlock = "on" }, "--landlock"},
		{func(s *Spec) { s.AllowNet = []string{"10.0.0.0/8"} }, "--allow-net"},
		{func(s *Spec) { s.Net, s.DenyNet = "user", []string{"10.0.0.0/33"} }, "--deny-net"},
		{func(s *Spec) { s.Net, s.CapAdd = "user", []string{"net_admin"} }, "--cap-add"},
		{func(s *Spec) { s.Net, s.CapAdd = "user", []string{"CAP_NET_RAW"} }, "--cap-add"},
	} {
		s := ok
		tc.mod(&s)
		err := s.Validate()
		se, isSpec := err.(*SpecError)
		if !isSpec || !strings.Contains(se.Field, tc.field) {
			t.Errorf("want a SpecError naming %s, got %v", tc.field, err)
		}
	}
}

// TestPlanDefaultCaps: with no limit in the Spec, every tmpfs the box can
// write has a size and an inode cap, and the payload a process cap; a
// size, an nproc rlimit or a pids limit replaces the default.
func TestPlanDefaultCaps(t *testing.T) {
	s := &Spec{Args: []string{"true"}, Mounts: []Mount{{Type: "tmpfs", Dest: "/w"}}}
	p, _ := buildPlan(s, fakeHost, payloadSpec{})
	o := ops(p)
	for _, want := range []string{
		"tmpfs /tmp mode=1777,size=512m,nr_inodes=131072",
		"tmpfs /dev/shm mode=1777,size=64m,nr_inodes=16384",
		"tmpfs /dev mode=0755,size=1m,nr_inodes=256",
		"tmpfs /w mode=0755,size=512m,nr_inodes=131072",
		"rlimit nproc=1024:1024",
	} {
		if indexOf(o, want) < 0 {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(o, "\n"))
		}
	}
	if got := s.TmpfsSizes(); !reflect.DeepEqual(got, map[string]int64{"/tmp": 512 << 20, "/dev/shm": 64 << 20, "/w": 512 << 20}) {
		t.Errorf("TmpfsSizes = %v", got)
	}

	// A tmpfs on /tmp or /dev/shm resizes the box's own, in its place
	// (mode 1777, before the caller's mounts): no second tmpfs.
	s.Mounts = []Mount{{Type: "tmpfs", Dest: "/tmp/", Size: 2 << 30}, {Type: "tmpfs", Dest: "/dev/shm", Size: 3 << 20}, {Type: "tmpfs", Dest: "/w", Size: 5000}}
	o = ops(mustPlan(t, s))
	for _, want := range []string{"tmpfs /tmp mode=1777,size=2g,nr_inodes=524288", "tmpfs /dev/shm mode=1777,size=3m,nr_inodes=768", "tmpfs /w mode=0755,size=5000,nr_inodes=2"} {
		if indexOf(o, want) < 0 {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(o, "\n"))
		}
	}
	if n := strings.Count(strings.Join(o, "\n"), "tmpfs /tmp "); n != 1 {
		t.Errorf("%d tmpfs on /tmp, want 1:\n%s", n, strings.Join(o, "\n"))
	}

	for _, tc := range []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"nproc", func(s *Spec) { s.Rlimits = []Rlimit{{Name: "nproc", Soft: 5000, Hard: 6000}} }, "rlimit nproc=5000:6000"},
		{"pids", func(s *Spec) { s.Limits.Pids = 5000 }, ""},
	} {
		s := &Spec{Args: []string{"true"}}
		tc.mod(s)
		o := ops(mustPlan(t, s))
		if n := strings.Count(strings.Join(o, "\n"), "rlimit nproc"); tc.want == "" && n != 0 || tc.want != "" && (n != 1 || indexOf(o, tc.want) < 0) {
			t.Errorf("%s: want %q as the only nproc rlimit:\n%s", tc.name, tc.want, strings.Join(o, "\n"))
		}
	}
}

// TestPlanLandlock: the scoping op runs in the payload after no_new_privs
// and before seccomp; --landlock off and a kernel before ABI 6 leave it out,
// the latter with a note for --dry-run.
func TestPlanLandlock(t *testing.T) {
	s := &Spec{Args: []string{"true"}}
	p, _ := buildPlan(s, fakeHost, payloadSpec{seccomp: make([]byte, 8)})
	o := ops(p)
	ll := indexOf(o, "landlock scoped=abstract-unix-socket,signal")
	if ll < 0 || ll < indexOf(o, "no_new_privs") || ll > indexOf(o, "seccomp") || ll < indexOf(o, "fork") || len(p.Notes) != 0 {
		t.Fatalf("landlock op at %d, notes %q:\n%s", ll, p.Notes, strings.Join(o, "\n"))
	}
	if p.Ops[ll].Arg != 3 {
		t.Errorf("scopes = %#x, want LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET|LANDLOCK_SCOPE_SIGNAL", p.Ops[ll].Arg)
	}
	old := fakeHost
	old.landlockABI = func() int { return 5 }
	p, _ = buildPlan(s, old, payloadSpec{})
	if indexOf(ops(p), "landlock") >= 0 || len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "ABI 5") {
		t.Errorf("ABI 5: want no landlock op and a note; notes %q:\n%s", p.Notes, strings.Join(ops(p), "\n"))
	}
	s.Landlock = "off"
	p, _ = buildPlan(s, fakeHost, payloadSpec{})
	if indexOf(ops(p), "landlock") >= 0 || len(p.Notes) != 0 {
		t.Errorf("--landlock off: want no op and no note:\n%s", strings.Join(ops(p), "\n"))
	}
}

func mustPlan(t *testing.T, s *Spec) *Plan {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := buildPlan(s, fakeHost, payloadSpec{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlanUserns: who writes the maps of the box's user namespace. The
// caller's own ids alone: the init stage itself, no round trip. A root
// caller's (the supervisor) or ranges (newuidmap): the init stage waits, and
// a root caller's process switches to the mapped id.
func TestPlanUserns(t *testing.T) {
	s := &Spec{Args: []string{"true"}}
	self, err := idmap.Plan(idmap.Request{Mode: idmap.ModeSelf, CallerUID: 1000, CallerGID: 1001})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := buildPlan(s, fakeHost, payloadSpec{mapping: self})
	if u := p.Ops[0]; u.Code != OpUserns || len(u.Str) != 2 || u.Str[0] != "0 1000 1\n" || u.Str[1] != "0 1001 1\n" || u.Flags&FlagSwitchID != 0 {
		t.Fatalf("self: %+v", u)
	}
	if u := p.Ops[1]; u.Code != OpUnshare || u.Arg&unix.CLONE_NEWNET == 0 || u.Arg&unix.CLONE_NEWUSER != 0 {
		t.Fatalf("unshare: %+v", u)
	}
	root, err := idmap.Plan(idmap.Request{Mode: idmap.ModeSelf, CallerUID: 0, CallerGID: 0})
	if err != nil {
		t.Fatal(err)
	}
	p, _ = buildPlan(s, fakeHost, payloadSpec{mapping: root})
	if u := p.Ops[0]; len(u.Str) != 0 || u.Flags&(FlagSwitchID|FlagSetgroups) != FlagSwitchID|FlagSetgroups || u.Arg2 != 0 || u.Arg3 != 0 {
		t.Fatalf("root: %+v", u)
	}
	auto, err := idmap.Plan(idmap.Request{Mode: idmap.ModeAuto, CallerUID: 1000, CallerGID: 1000,
		SubUIDs: []idmap.Range{{Start: 100000, Count: 10}}, SubGIDs: []idmap.Range{{Start: 100000, Count: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ = buildPlan(s, fakeHost, payloadSpec{mapping: auto})
	if u := p.Ops[0]; len(u.Str) != 0 || u.Flags&FlagSwitchID != 0 {
		t.Fatalf("auto: %+v", u)
	}
}

// TestPlanNetUser: --net user holds the first process after the namespaces
// are made (OpNetHold, before pid 1 exists) and binds the supervisor's
// resolv.conf over the box's before the caller's own mounts.
func TestPlanNetUser(t *testing.T) {
	s := &Spec{Args: []string{"true"}, Net: "user", Mounts: []Mount{{Type: "ro-bind", Source: "/my/resolv.conf", Dest: "/etc/resolv.conf"}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	self, _ := idmap.Plan(idmap.Request{Mode: idmap.ModeSelf, CallerUID: 1000, CallerGID: 1000})
	p, err := buildPlan(s, fakeHost, payloadSpec{mapping: self, resolvConf: "/tmp/r.conf"})
	if err != nil {
		t.Fatal(err)
	}
	o := ops(p)
	unshare, hold, spawn := indexOf(o, "unshare"), indexOf(o, "net hold"), indexOf(o, "spawn pid 1")
	if !(unshare >= 0 && hold == unshare+1 && spawn == hold+1) || p.Ops[unshare].Arg&unix.CLONE_NEWNET == 0 {
		t.Errorf("want unshare (net), net hold, spawn in a row:\n%s", strings.Join(o, "\n"))
	}
	ours, theirs := indexOf(o, "bind /tmp/r.conf -> /etc/resolv.conf (read-only)"), indexOf(o, "bind /my/resolv.conf -> /etc/resolv.conf")
	if ours < 0 || theirs < ours {
		t.Errorf("want the box's resolv.conf bound, before the caller's own:\n%s", strings.Join(o, "\n"))
	}
	// A --rootfs without etc/resolv.conf: no bind (its mount point would
	// be made in the caller's tree), and a note says so.
	s.Rootfs, s.Mounts = "/r", nil
	p, _ = buildPlan(s, fakeHost, payloadSpec{mapping: self, resolvConf: "/tmp/r.conf"})
	if indexOf(ops(p), "bind /tmp/r.conf") >= 0 || len(p.Notes) == 0 || !strings.Contains(strings.Join(p.Notes, " "), "no etc/resolv.conf") {
		t.Errorf("--rootfs without resolv.conf: want no bind and a note:\n%s\n%v", strings.Join(ops(p), "\n"), p.Notes)
	}
	s.Rootfs = ""
	s.Net = "none"
	p, _ = buildPlan(s, fakeHost, payloadSpec{mapping: self})
	if indexOf(ops(p), "net hold") >= 0 || indexOf(ops(p), "bind /tmp/r.conf") >= 0 {
		t.Errorf("--net none: no hold, no resolv.conf:\n%s", strings.Join(ops(p), "\n"))
	}
}

// An mqueue mount (the OCI runtime's /dev/mqueue) is mounted by pid 1 in
// the box's /dev, before the root is made read-only and pivoted.
func TestPlanMqueue(t *testing.T) {
	s := &Spec{Args: []string{"true"}, Rootfs: "/srv/root", Mounts: []Mount{{Type: "mqueue", Dest: "/dev/mqueue/"}}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p, _ := buildPlan(s, fakeHost, payloadSpec{})
	o := ops(p)
	mq, dev, pivot := indexOf(o, "mqueue /dev/mqueue"), indexOf(o, "tmpfs /dev"), indexOf(o, "pivot_root")
	if mq < 0 || dev < 0 || mq < dev || mq > pivot {
		t.Fatalf("mqueue %d, /dev %d, pivot %d:\n%s", mq, dev, pivot, strings.Join(o, "\n"))
	}
}
