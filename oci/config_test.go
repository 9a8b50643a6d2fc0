package oci

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/sandbox"
)

var testHost = Host{
	UID: 1000, GID: 1000, Umask: 0o022,
	SubUIDs: []idmap.Range{{Start: 300000, Count: 65536}},
	SubGIDs: []idmap.Range{{Start: 300000, Count: 65536}},
	Exists:  func(p string) bool { return p != "/proc/timer_stats" },
}

// bundle is a bundle directory with an empty rootfs and the default spec
// (for uid 1000), changed by edit.
func bundle(t *testing.T, edit func(*specs.Spec)) *Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := DefaultSpec()
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	if edit != nil {
		edit(s)
	}
	return &Config{Bundle: dir, Spec: s}
}

func TestToSpecDefault(t *testing.T) {
	c := bundle(t, nil)
	r, err := ToSpec(c, testHost)
	if err != nil {
		t.Fatal(err)
	}
	sp := r.Spec
	if sp.Rootfs != filepath.Join(c.Bundle, "rootfs") {
		t.Errorf("rootfs %q", sp.Rootfs)
	}
	if !slices.Equal(sp.Args, []string{"sh"}) || sp.Workdir != "/" || sp.Hostname != "sandbox" {
		t.Errorf("args %q workdir %q hostname %q", sp.Args, sp.Workdir, sp.Hostname)
	}
	if sp.Map != idmap.ModeSelf || sp.UID != 0 || sp.GID != 0 {
		t.Errorf("map %q uid %d gid %d", sp.Map, sp.UID, sp.GID)
	}
	if sp.Net != "" {
		t.Errorf("net %q, want a network namespace of its own", sp.Net)
	}
	if !slices.Equal(sp.CapAdd, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}) {
		t.Errorf("caps %q", sp.CapAdd)
	}
	// /proc, /dev, /dev/pts are the box's own; /dev/shm is sized.
	if len(sp.Mounts) != 1 || sp.Mounts[0] != (sandbox.Mount{Type: "tmpfs", Dest: "/dev/shm", Size: 64 << 20}) {
		t.Errorf("mounts %+v", sp.Mounts)
	}
	if r.Seccomp != nil {
		t.Errorf("seccomp %s, want none (the default filter)", r.Seccomp)
	}
}

func TestToSpecMapsFields(t *testing.T) {
	c := bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"/bin/prog", "a b"}
		s.Process.Env = []string{"A=1", "PATH=/bin"}
		s.Process.Cwd = "/work"
		s.Process.User = specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0}}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 2048}, {Type: "RLIMIT_NPROC", Soft: 10, Hard: 10}}
		s.Process.NoNewPrivileges = false
		s.Hostname = "box1"
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro", "rprivate"}},
			specs.Mount{Destination: "/out", Source: "out", Options: []string{"bind", "rw"}},
			specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=755"}},
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"},
			specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}},
		)
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 300000, Size: 65536}}
		s.Linux.GIDMappings = s.Linux.UIDMappings
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
		s.Linux.MaskedPaths = []string{"/proc/kcore", "/proc/timer_stats", "/sys/firmware"}
		s.Linux.ReadonlyPaths = []string{"/proc/sys", "/proc/asound"}
	})
	r, err := ToSpec(c, testHost)
	if err != nil {
		t.Fatal(err)
	}
	sp := r.Spec
	if !slices.Equal(sp.Args, []string{"/bin/prog", "a b"}) || !slices.Equal(sp.Env, []string{"A=1", "PATH=/bin"}) || sp.Workdir != "/work" {
		t.Errorf("args %q env %q workdir %q", sp.Args, sp.Env, sp.Workdir)
	}
	if sp.Hostname != "box1" || sp.Map != idmap.ModeAuto {
		t.Errorf("hostname %q map %q", sp.Hostname, sp.Map)
	}
	want := []sandbox.Rlimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 10, Hard: 10}}
	if !slices.Equal(sp.Rlimits, want) {
		t.Errorf("rlimits %+v", sp.Rlimits)
	}
	wantMounts := []sandbox.Mount{
		{Type: "tmpfs", Dest: "/dev/shm", Size: 64 << 20},
		{Type: "ro-bind", Source: "/srv/data", Dest: "/data"},
		{Type: "bind", Source: filepath.Join(c.Bundle, "out"), Dest: "/out"},
		{Type: "tmpfs", Dest: "/scratch", Size: 1 << 20},
		{Type: "mqueue", Dest: "/dev/mqueue"},
	}
	if !slices.Equal(sp.Mounts, wantMounts) {
		t.Errorf("mounts\n got %+v\nwant %+v", sp.Mounts, wantMounts)
	}
	if !strings.Contains(string(r.Seccomp), `"mkdir"`) {
		t.Errorf("seccomp %s", r.Seccomp)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, n := range []string{"noNewPrivileges", "/sys"} {
		if !strings.Contains(notes, n) {
			t.Errorf("no note on %s in\n%s", n, notes)
		}
	}
}

func TestToSpecNoNetworkNamespaceIsHostNetwork(t *testing.T) {
	c := bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
			return n.Type == specs.NetworkNamespace || n.Type == specs.CgroupNamespace
		})
	})
	r, err := ToSpec(c, testHost)
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.Net != "host" {
		t.Errorf("net %q, want host", r.Spec.Net)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "cgroup namespace all the same") {
		t.Errorf("notes %q", r.Notes)
	}
}

// Every field the box cannot honour fails, naming the field.
func TestToSpecRefuses(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u32 := func(v uint32) *uint32 { return &v }
	for _, tc := range []struct {
		field string
		edit  func(*specs.Spec)
	}{
		{"ociVersion", func(s *specs.Spec) { s.Version = "0.9" }},
		{"root.path", func(s *specs.Spec) { s.Root.Path = "missing" }},
		{"process", func(s *specs.Spec) { s.Process = nil }},
		{"process.args", func(s *specs.Spec) { s.Process.Args = nil }},
		{"process.cwd", func(s *specs.Spec) { s.Process.Cwd = "rel" }},
		{"process.env[1]", func(s *specs.Spec) { s.Process.Env = []string{"A=1", "novalue"} }},
		{"process.user.additionalGids", func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{10} }},
		{"process.user.umask", func(s *specs.Spec) { s.Process.User.Umask = u32(0o077) }},
		{"process.rlimits[0].type", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} }},
		{"process.oomScoreAdj", func(s *specs.Spec) { v := 1001; s.Process.OOMScoreAdj = &v }},
		{"process.apparmorProfile", func(s *specs.Spec) { s.Process.ApparmorProfile = "docker-default" }},
		{"process.selinuxLabel", func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:x" }},
		{"mounts[4].type", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "nfs", Source: "h:/x"})
		}},
		{"mounts[4].options", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/x", Options: []string{"rbind", "noexec"}})
		}},
		{"mounts[4].options", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Options: []string{"noexec"}})
		}},
		{"mounts[4].options", func(s *specs.Spec) { // a read-only tmpfs must not become a writable one
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "tmpfs", Options: []string{"nosuid", "ro"}})
		}},
		{"mounts[0].options", func(s *specs.Spec) { s.Mounts[0].Options = append(s.Mounts[0].Options, "ro") }},
		{"mounts[0].options", func(s *specs.Spec) { s.Mounts[0].Options = []string{"nosuid", "hidepid=2"} }},
		{"mounts[4].options", func(s *specs.Spec) { // a read-only mqueue must not become a writable one
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Options: []string{"ro"}})
		}},
		{"mounts[4].uidMappings", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/x", Options: []string{"rbind"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}})
		}},
		{"mounts[4].destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "x", Type: "tmpfs"})
		}},
		{"hooks.createContainer[0].path", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "true"}}}
		}},
		{"hooks.startContainer[1].timeout", func(s *specs.Spec) {
			neg := -1
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true"}}, StartContainer: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/true", Timeout: &neg}}}
		}},
		{"hooks.poststart[1].path", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true"}, {Path: "true"}}}
		}},
		{"hooks.prestart[0].timeout", func(s *specs.Spec) {
			zero := 0
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}},
		{"hooks.poststop[0].env[0]", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Env: []string{"novalue"}}}}
		}},
		{"process.capabilities.bounding[1]", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL", "CAP_TEST"}}
		}},
		{"process.capabilities.ambient[0]", func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Ambient: []string{"kill"}}
		}},
		{"linux", func(s *specs.Spec) { s.Linux = nil }},
		{"linux.namespaces[7]", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}},
		{"linux.namespaces[7].type", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}},
		{"linux.namespaces[0].path", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/proc/1/ns/pid" }},
		{"linux.namespaces[5].path", func(s *specs.Spec) { s.Linux.Namespaces[5].Path = "rel/net" }},
		// A regular user's runtime cannot setns(2) anything.
		{"linux.namespaces[1].path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/proc/1/ns/ipc" }},
		{"linux.uidMappings", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}
		}},
		{"linux.uidMappings", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 400000, Size: 10}}
		}},
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.overcommit_memory": "1"} }},
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.pid_max": "100"} }},
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"} }},
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "other"} }}, // the hostname field says sandbox
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net/ipv4/ip_forward": "1"} }},
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4...x": "1"} }},
		{"linux.sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.conf.all/../../../../kernel/core_pattern": "|x"}
		}},
		{"linux.sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"fs.mqueue.x.y": "1"} }},
		{"linux.sysctl", func(s *specs.Spec) { // the runtime's own network
			s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}},
		{"linux.sysctl", func(s *specs.Spec) { // a joined network namespace is the engine's
			s.Linux.Namespaces[5].Path = "/proc/1/ns/net"
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}},
		{"linux.resources.memory.swap", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(32 << 20)}}
		}},
		{"linux.resources.memory.kernel", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(64 << 20)}}
		}},
		{"linux.resources.memory.swappiness", func(s *specs.Spec) {
			v := uint64(10)
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: &v}}
		}},
		{"linux.resources.memory.disableOOMKiller", func(s *specs.Spec) {
			v := true
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: &v}}
		}},
		{"linux.resources.cpu.cpus", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1"}}
		}},
		{"linux.resources.cpu.mems", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "0"}}
		}},
		{"linux.resources.cpu.realtimeRuntime", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}
		}},
		{"linux.resources.cpu.quota", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(10)}}
		}},
		{"linux.resources.blockIO", func(s *specs.Spec) {
			w := uint16(100)
			s.Linux.Resources = &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: &w}}
		}},
		{"linux.devices[0]", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sda", Type: "b"}} }},
		{"linux.maskedPaths[0]", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"etc/shadow"} }},
		{"linux.maskedPaths[1]", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"/etc/shadow", "/"} }},
		{"linux.readonlyPaths[0]", func(s *specs.Spec) { s.Linux.ReadonlyPaths = []string{"usr"} }},
		{"linux.rootfsPropagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "shared" }},
		{"linux.mountLabel", func(s *specs.Spec) { s.Linux.MountLabel = "x" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := ToSpec(bundle(t, tc.edit), testHost)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err %v, want a FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestLoadBundleErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadBundle(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("missing config: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{bad"), 0o644)
	if _, err := LoadBundle(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad JSON: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"65536k": 64 << 20, "1m": 1 << 20, "2G": 2 << 30, "100": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1t", "99999999999999999g"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "abc-1.2_3+x", strings.Repeat("f", 64)} {
		if err := checkID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "-a", "a/b", "a b", strings.Repeat("f", 1025)} {
		if err := checkID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

// A capability effective and permitted but outside the bounding set (the
// limit of what the process may ever hold) is not granted.
func TestToSpecCapabilitiesWithinBounding(t *testing.T) {
	c := bundle(t, func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  []string{"CAP_KILL"},
			Effective: []string{"CAP_KILL", "CAP_SYS_ADMIN"},
			Permitted: []string{"CAP_KILL", "CAP_SYS_ADMIN"},
		}
	})
	r, err := ToSpec(c, testHost)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Spec.CapAdd, []string{"CAP_KILL"}) {
		t.Errorf("capabilities %v, want [CAP_KILL]", r.Spec.CapAdd)
	}
}

// linux.resources onto the cgroup limits: memory (limit, reservation; swap
// above the limit is a note, the box gets none), cpu (quota and period as
// cores and period, shares), pids.
func TestToSpecResources(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	period, shares := uint64(50000), uint64(512)
	r, err := ToSpec(bundle(t, func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(128 << 20)},
			CPU:    &specs.LinuxCPU{Quota: i64(75000), Period: &period, Shares: &shares},
			Pids:   &specs.LinuxPids{Limit: i64(2048)},
		}
	}), testHost)
	if err != nil {
		t.Fatal(err)
	}
	l := r.Spec.Limits
	if l.Memory != 64<<20 || l.MemoryReservation != 32<<20 || l.CPUs != 1.5 || l.CPUPeriod != 50000 || l.CPUShares != 512 || l.Pids != 2048 {
		t.Errorf("limits %+v", l)
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "memory.swap") }) {
		t.Errorf("no note about swap: %q", r.Notes)
	}
	// -1 and 0 are "no limit", as in runc.
	r, err = ToSpec(bundle(t, func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1)}, Pids: &specs.LinuxPids{Limit: i64(0)}}
	}), testHost)
	if err != nil || r.Spec.Limits.Any() {
		t.Errorf("unlimited: %+v, %v", r.Spec.Limits, err)
	}
}

// linux.sysctl: the box's own namespaces' keys are kept for the init
// stage (net.* with a network namespace of its own); podman's
// ping_group_range in a joined network namespace is a note.
func TestToSpecSysctl(t *testing.T) {
	want := map[string]string{"kernel.shmmax": "65536", "net.ipv4.ip_forward": "1", "fs.mqueue.msg_max": "20"}
	r, err := ToSpec(bundle(t, func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"kernel.shmmax": "65536", "net.ipv4.ip_forward": "1", "fs.mqueue.msg_max": "20", "kernel.hostname": "h"}
		s.Hostname = ""
	}), testHost)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(r.Spec.Sysctls, want) || r.Spec.Hostname != "h" {
		t.Errorf("sysctls %v, want %v; hostname %q, want h (kernel.hostname)", r.Spec.Sysctls, want, r.Spec.Hostname)
	}
	r, err = ToSpec(bundle(t, func(s *specs.Spec) {
		s.Linux.Namespaces[5].Path = "/proc/1/ns/net"
		s.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": "0 0"}
	}), testHost)
	if err != nil || len(r.Spec.Sysctls) != 0 || !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "ping_group_range") }) {
		t.Errorf("ping_group_range in a joined namespace: %v, %v, notes %q", err, r.Spec.Sysctls, r.Notes)
	}
}

// An oomScoreAdj other than the runtime's is the Result's, for the runtime
// to take before it starts the box; the runtime's own needs nothing.
func TestToSpecOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		v    int
		want bool
	}{{500, true}, {-500, true}, {testHost.OOMScoreAdj, false}} {
		r, err := ToSpec(bundle(t, func(s *specs.Spec) { v := tc.v; s.Process.OOMScoreAdj = &v }), testHost)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.OOMScoreAdj != nil && *r.OOMScoreAdj == tc.v; got != tc.want {
			t.Errorf("oomScoreAdj %d: Result %v", tc.v, r.OOMScoreAdj)
		}
	}
}

// linux.cgroupsPath: host root's runtime takes it (refusing ".." and the
// systemd form, naming the field); a regular user's ignores it with a note.
func TestToSpecCgroupsPath(t *testing.T) {
	root := testHost
	root.UID, root.GID = 0, 0
	root.SubUIDs, root.SubGIDs = nil, nil
	at := func(p string) *Config {
		return bundle(t, func(s *specs.Spec) { s.Linux.CgroupsPath = p; s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil })
	}
	r, err := ToSpec(at("/default/id"), root)
	if err != nil {
		t.Fatal(err)
	}
	if r.CgroupsPath != "/default/id" {
		t.Errorf("root: CgroupsPath %q, want /default/id", r.CgroupsPath)
	}
	for _, p := range []string{"/default/../x", "system.slice:docker:id", "a//b"} {
		_, err := ToSpec(at(p), root)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "linux.cgroupsPath" {
			t.Errorf("root, %q: %v, want a FieldError naming linux.cgroupsPath", p, err)
		}
	}
	r, err = ToSpec(at("/default/id"), testHost)
	if err != nil || r.CgroupsPath != "" || !strings.Contains(strings.Join(r.Notes, "\n"), "linux.cgroupsPath") {
		t.Errorf("a regular user: CgroupsPath %q, notes %q, %v; want it ignored with a note", r.CgroupsPath, r.Notes, err)
	}
}
