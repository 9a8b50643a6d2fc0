package cgroup

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Membership
		wantErr bool
	}{
		{
			name: "hybrid, memory below the root",
			in:   "9:name=systemd:/\n4:memory:/process_api/7fd0\n2:cpuacct:/\n1:cpu:/\n0::/\n",
			want: Membership{V1: map[string]string{"name=systemd": "/", "memory": "/process_api/7fd0", "cpuacct": "/", "cpu": "/"}, Unified: "/"},
		},
		{
			name: "co-mounted controllers",
			in:   "3:cpu,cpuacct:/user.slice\n",
			want: Membership{V1: map[string]string{"cpu": "/user.slice", "cpuacct": "/user.slice"}},
		},
		{
			name: "unified only",
			in:   "0::/user.slice/user-1000.slice/session-2.scope\n",
			want: Membership{V1: map[string]string{}, Unified: "/user.slice/user-1000.slice/session-2.scope"},
		},
		{name: "garbage", in: "not a cgroup line\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcCgroup(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// hybridMountinfo is this project's build machine's layout.
const hybridMountinfo = `23 1 0:21 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []mount
		wantErr bool
	}{
		{
			name: "hybrid",
			in:   hybridMountinfo,
			want: []mount{
				{Root: "/", Point: "/sys/fs/cgroup/cpu", Controllers: []string{"cpu"}},
				{Root: "/", Point: "/sys/fs/cgroup/cpuacct", Controllers: []string{"cpuacct"}},
				{Root: "/", Point: "/sys/fs/cgroup/memory", Controllers: []string{"memory"}},
				{Root: "/", Point: "/sys/fs/cgroup/pids", Controllers: []string{"pids"}},
				{Root: "/", Point: "/sys/fs/cgroup/systemd", Controllers: []string{"name=systemd"}},
				{Root: "/", Point: "/sys/fs/cgroup/unified", V2: true},
			},
		},
		{
			name: "optional fields, co-mounted, escaped path, container root",
			in: `30 25 0:26 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct` + "\n" +
				`31 25 0:27 /x /my\040cg rw - cgroup2 cgroup2 rw,nsdelegate` + "\n",
			want: []mount{
				{Root: "/docker/abc", Point: "/sys/fs/cgroup/cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}},
				{Root: "/x", Point: "/my cg", V2: true},
			},
		},
		{name: "no separator", in: "1 2 3:4 / / rw\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// fakeProbe answers from sets of paths.
type fakeProbe struct{ existing, canWrite map[string]bool }

func (p fakeProbe) exists(path string) bool   { return p.existing[path] || p.canWrite[path] }
func (p fakeProbe) writable(path string) bool { return p.canWrite[path] }

func set(paths ...string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		m[p] = true
	}
	return m
}

func mustMounts(t *testing.T, s string) []mount {
	t.Helper()
	m, err := parseMountinfo(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSelf(t *testing.T, s string) Membership {
	t.Helper()
	m, err := ParseProcCgroup(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestChooseV1Parent(t *testing.T) {
	const self = "4:memory:/process_api/7fd0\n2:cpuacct:/\n1:cpu:/\n8:pids:/\n0::/\n"
	tests := []struct {
		name       string
		euid       int
		mountinfo  string
		self       string
		probe      fakeProbe
		ctrl       string
		wantDir    string
		wantRel    string
		wantErr    error
		wantInText []string
	}{
		{
			name: "root: below its own memory cgroup, not the hierarchy root",
			euid: 0, mountinfo: hybridMountinfo, self: self, ctrl: "memory",
			wantDir: "/sys/fs/cgroup/memory/process_api/7fd0", wantRel: "/process_api/7fd0",
		},
		{
			name: "root: own cpu cgroup is the root",
			euid: 0, mountinfo: hybridMountinfo, self: self, ctrl: "cpu",
			wantDir: "/sys/fs/cgroup/cpu", wantRel: "/",
		},
		{
			name: "root in a container: mount root is its own cgroup",
			euid: 0, ctrl: "memory",
			mountinfo: "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			self:      "4:memory:/docker/abc/sub\n",
			wantDir:   "/sys/fs/cgroup/memory/sub", wantRel: "/sub",
		},
		{
			name: "user: Setup's directory",
			euid: 1001, mountinfo: hybridMountinfo, self: self, ctrl: "memory",
			probe:   fakeProbe{canWrite: set("/sys/fs/cgroup/memory/sandbox-sbxtest", "/sys/fs/cgroup/memory/sandbox-sbxtest/cgroup.procs")},
			wantDir: "/sys/fs/cgroup/memory/sandbox-sbxtest", wantRel: "/sandbox-sbxtest",
		},
		{
			name: "user: own cgroup delegated to it wins",
			euid: 1001, mountinfo: hybridMountinfo, self: self, ctrl: "memory",
			probe: fakeProbe{canWrite: set("/sys/fs/cgroup/memory/process_api/7fd0", "/sys/fs/cgroup/memory/process_api/7fd0/cgroup.procs",
				"/sys/fs/cgroup/memory/sandbox-sbxtest", "/sys/fs/cgroup/memory/sandbox-sbxtest/cgroup.procs")},
			wantDir: "/sys/fs/cgroup/memory/process_api/7fd0", wantRel: "/process_api/7fd0",
		},
		{
			name: "user: Setup's directory exists but is not theirs",
			euid: 1001, mountinfo: hybridMountinfo, self: self, ctrl: "pids",
			probe:      fakeProbe{existing: set("/sys/fs/cgroup/pids/sandbox-sbxtest")},
			wantErr:    ErrNoDelegation,
			wantInText: []string{"pids", "/sys/fs/cgroup/pids/sandbox-sbxtest", "sudo sandbox cgroup-setup --user sbxtest"},
		},
		{
			name: "user: nothing delegated",
			euid: 1001, mountinfo: hybridMountinfo, self: self, ctrl: "memory",
			wantErr:    ErrNoDelegation,
			wantInText: []string{"memory cgroup", "/sys/fs/cgroup/memory/sandbox-sbxtest", "cgroup-setup --user sbxtest"},
		},
		{
			name: "controller not mounted",
			euid: 0, mountinfo: hybridMountinfo, self: self, ctrl: "freezer",
			wantErr: ErrNoController, wantInText: []string{"freezer"},
		},
		{
			name: "own cgroup not visible through the mount",
			euid: 0, ctrl: "memory",
			mountinfo:  "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			self:       "4:memory:/elsewhere\n",
			wantInText: []string{"outside the mount"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := host{euid: tt.euid, user: "sbxtest", setupDir: setupDirName("sbxtest"),
				mounts: mustMounts(t, tt.mountinfo), self: mustSelf(t, tt.self), probe: tt.probe}
			got, err := chooseV1Parent(h, tt.ctrl)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(tt.wantInText) > 0 {
				if err == nil {
					t.Fatalf("no error, want one naming %q", tt.wantInText)
				}
				for _, s := range tt.wantInText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.dir() != tt.wantDir || got.Rel != tt.wantRel {
				t.Errorf("got dir %s rel %s, want %s %s", got.dir(), got.Rel, tt.wantDir, tt.wantRel)
			}
		})
	}
}

func TestChooseV2Parent(t *testing.T) {
	const mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
	const scope = "/user.slice/user-1001.slice/user@1001.service/app.slice/run.scope"
	owned := func(dir string) fakeProbe {
		return fakeProbe{canWrite: set(dir, dir+"/cgroup.procs", dir+"/cgroup.subtree_control")}
	}
	tests := []struct {
		name       string
		euid       int
		self       string
		probe      fakeProbe
		want       string
		wantInText []string
	}{
		{name: "root: own cgroup", euid: 0, self: "0::/system.slice/ci.service\n", want: "/system.slice/ci.service"},
		{name: "user: delegated systemd scope", euid: 1001, self: "0::" + scope + "\n",
			probe: owned("/sys/fs/cgroup" + scope), want: scope},
		{name: "user: already moved into the supervisor leaf", euid: 1001, self: "0::" + scope + "/" + supervisorLeaf + "\n",
			probe: owned("/sys/fs/cgroup" + scope), want: scope},
		{name: "user: inside Setup's directory", euid: 1001, self: "0::/sandbox-sbxtest\n",
			probe: owned("/sys/fs/cgroup/sandbox-sbxtest"), want: "/sandbox-sbxtest"},
		{name: "user: in Setup's shell cgroup", euid: 1001, self: "0::/sandbox-sbxtest/shell\n",
			probe: fakeProbe{canWrite: set("/sys/fs/cgroup/sandbox-sbxtest", "/sys/fs/cgroup/sandbox-sbxtest/cgroup.procs",
				"/sys/fs/cgroup/sandbox-sbxtest/cgroup.subtree_control", "/sys/fs/cgroup/sandbox-sbxtest/shell",
				"/sys/fs/cgroup/sandbox-sbxtest/shell/cgroup.procs", "/sys/fs/cgroup/sandbox-sbxtest/shell/cgroup.subtree_control")},
			want: "/sandbox-sbxtest"},
		// The "outside it" bug: /sandbox-u/shell is inside
		// /sandbox-u; a cgroup root made for the shell goes up to the
		// directory the user owns.
		{name: "user: below Setup's directory in a cgroup root made", euid: 1001, self: "0::/sandbox-sbxtest/shell\n",
			probe: fakeProbe{existing: set("/sys/fs/cgroup/sandbox-sbxtest"),
				canWrite: owned("/sys/fs/cgroup/sandbox-sbxtest").canWrite}, want: "/sandbox-sbxtest"},
		{name: "user: Setup's directory exists but the caller is outside it", euid: 1001,
			self:       "0::/user.slice/user-1001.slice/session-3.scope\n",
			probe:      fakeProbe{existing: set("/sys/fs/cgroup/sandbox-sbxtest")},
			wantInText: []string{"/sys/fs/cgroup/sandbox-sbxtest", "session-3.scope", "systemd-run --user --scope -p Delegate=yes"}},
		{name: "user: session scope owned by root", euid: 1001,
			self:       "0::/user.slice/user-1001.slice/session-3.scope\n",
			wantInText: []string{"/sys/fs/cgroup/user.slice/user-1001.slice/session-3.scope", "Delegate=yes", "cgroup-setup --user sbxtest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mounts := mustMounts(t, mi)
			h := host{euid: tt.euid, user: "sbxtest", setupDir: setupDirName("sbxtest"),
				mounts: mounts, self: mustSelf(t, tt.self), probe: tt.probe}
			got, err := chooseV2Parent(h, mounts[0])
			if len(tt.wantInText) > 0 {
				if !errors.Is(err, ErrNoDelegation) {
					t.Fatalf("err = %v, want ErrNoDelegation", err)
				}
				for _, s := range tt.wantInText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
