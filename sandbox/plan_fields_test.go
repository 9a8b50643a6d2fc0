package sandbox

import (
	"strings"
	"syscall"
	"testing"

	"github.com/sandbox-dev/sandbox/idmap"
)

// A writable root (an OCI config's root.readonly false): the rootfs bind
// is nosuid and nodev as ever, its submounts read-only, and the last
// read-only op on "/" only restores the host's own read-only flag.
func TestPlanRootfsWritable(t *testing.T) {
	for _, writable := range []bool{false, true} {
		s := &Spec{Args: []string{"true"}, Rootfs: "/srv/root", RootfsWritable: writable}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		p := mustPlan(t, s)
		o := ops(p)
		if want := FlagReadOnly | FlagNoDev | FlagNoSuid | FlagTopWritable; p.Ops[3].Code != OpBind || p.Ops[3].Flags&want != want {
			t.Fatalf("writable %v: rootfs bind %s flags %#x, want %#x set", writable, o[3], p.Ops[3].Flags, want)
		}
		pivot := indexOf(o, "pivot_root")
		last := p.Ops[pivot-1]
		if last.Code != OpReadOnly || last.Str[0] != "/" || (last.Arg == ReadOnlyAsSource) != writable {
			t.Fatalf("writable %v: the op before the pivot is %s (arg %d)\n%s", writable, o[pivot-1], last.Arg, strings.Join(o, "\n"))
		}
	}
	s := &Spec{Args: []string{"true"}, RootfsWritable: true}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "rootfs_writable") {
		t.Errorf("a writable root without a rootfs: %v", err)
	}
}

// The caller's masked and read-only paths come after its mounts (a mask
// covers a mount below it) and the box's own, before the pivot.
func TestPlanMaskedReadOnlyPaths(t *testing.T) {
	s := &Spec{Args: []string{"true"}, Rootfs: "/srv/root", Mounts: []Mount{{Type: "tmpfs", Dest: "/data"}},
		MaskedPaths: []string{"/data/x/"}, ReadOnlyPaths: []string{"/etc"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	o := ops(mustPlan(t, s))
	mount, mask, own, ro, pivot := indexOf(o, "tmpfs /data"), indexOf(o, "mask /data/x"), indexOf(o, "mask /proc/kcore"),
		indexOf(o, "readonly /etc"), indexOf(o, "pivot_root")
	if mount < 0 || own < 0 || mask < own || mask < mount || ro < mask || pivot < ro {
		t.Fatalf("tmpfs %d, box's mask %d, mask %d, read-only %d, pivot %d:\n%s", mount, own, mask, ro, pivot, strings.Join(o, "\n"))
	}
	for _, bad := range []*Spec{
		{Args: []string{"true"}, MaskedPaths: []string{"/"}},
		{Args: []string{"true"}, MaskedPaths: []string{"rel"}},
		{Args: []string{"true"}, ReadOnlyPaths: []string{"rel"}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// Supplementary groups go to the credentials step where the mapping allows
// setgroups and maps them; elsewhere the Plan is refused.
func TestPlanGroups(t *testing.T) {
	auto := idmap.Mapping{GIDs: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 300000, Size: 100}},
		SetgroupsAllowed: true}
	s := &Spec{Args: []string{"true"}, Groups: []int{5, 100}}
	p, err := buildPlan(s, fakeHost, payloadSpec{mapping: auto})
	if err != nil {
		t.Fatal(err)
	}
	if o := ops(p); indexOf(o, "credentials uid=0 gid=0 caps=0x0 groups=5,100") < 0 {
		t.Fatalf("no groups in the credentials:\n%s", strings.Join(o, "\n"))
	}
	for _, tc := range []struct {
		groups []int
		m      idmap.Mapping
	}{
		{[]int{5}, idmap.Mapping{GIDs: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}}}},
		{[]int{101}, auto},
	} {
		s := &Spec{Args: []string{"true"}, Groups: tc.groups}
		if _, err := buildPlan(s, fakeHost, payloadSpec{mapping: tc.m}); err == nil || !strings.Contains(err.Error(), "groups") {
			t.Errorf("groups %v, mapping %+v: %v", tc.groups, tc.m, err)
		}
	}
}

// Joined IPC and UTS namespaces: joined before the box's user namespace,
// not unshared, no IPC limits or host name set in them; a host name or an
// mqueue mount with them is refused.
func TestPlanJoinIPCUTS(t *testing.T) {
	s := &Spec{Args: []string{"true"}, IPCNS: "/proc/7/ns/ipc", UTSNS: "/proc/7/ns/uts"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p := mustPlan(t, s)
	o := ops(p)
	if o[0] != "setns /proc/7/ns/ipc, /proc/7/ns/uts" || p.Ops[1].Code != OpUserns || o[2] != "unshare mount,pid,net,cgroup" {
		t.Fatalf("namespaces:\n%s", strings.Join(o, "\n"))
	}
	if indexOf(o, "sethostname") >= 0 || indexOf(o, "sysctl /proc/sys/kernel: shmmax") >= 0 {
		t.Fatalf("a host name or IPC limits set in joined namespaces:\n%s", strings.Join(o, "\n"))
	}
	for _, bad := range []*Spec{
		{Args: []string{"true"}, UTSNS: "/proc/7/ns/uts", Hostname: "x"},
		{Args: []string{"true"}, IPCNS: "/proc/7/ns/ipc", Mounts: []Mount{{Type: "mqueue", Dest: "/dev/mqueue"}}},
		{Args: []string{"true"}, IPCNS: "/proc/7/ns/ipc", Sysctls: map[string]string{"kernel.shmmax": "1"}},
		{Args: []string{"true"}, IPCNS: "rel"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
