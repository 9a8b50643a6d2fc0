package oci

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// root.readonly: false leaves the root writable (as permissions allow),
// true keeps it read-only; neither is a note.
func TestToSpecRootReadonly(t *testing.T) {
	for _, ro := range []bool{true, false} {
		r, err := ToSpec(bundle(t, func(s *specs.Spec) { s.Root.Readonly = ro }), testHost)
		if err != nil {
			t.Fatal(err)
		}
		if r.Spec.RootfsWritable == ro {
			t.Errorf("root.readonly %v: RootfsWritable %v", ro, r.Spec.RootfsWritable)
		}
		if n := strings.Join(r.Notes, "\n"); strings.Contains(n, "root.readonly") {
			t.Errorf("root.readonly %v: a note: %s", ro, n)
		}
	}
}

// Masked and read-only paths of the config's own are kept (cleaned); the
// box's own are not asked twice.
func TestToSpecMaskedReadonlyPaths(t *testing.T) {
	r, err := ToSpec(bundle(t, func(s *specs.Spec) {
		s.Linux.MaskedPaths = []string{"/proc/kcore", "/etc/shadow", "/sys/firmware/"}
		s.Linux.ReadonlyPaths = []string{"/proc/sys", "/usr/"}
	}), testHost)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Spec.MaskedPaths, []string{"/etc/shadow", "/sys/firmware"}) || !slices.Equal(r.Spec.ReadOnlyPaths, []string{"/usr"}) {
		t.Errorf("masked %q, read-only %q", r.Spec.MaskedPaths, r.Spec.ReadOnlyPaths)
	}
}

// additionalGids: kept where the box's user namespace allows setgroups and
// maps them (the caller's subordinate range, an engine's user namespace);
// refused naming the field with the caller's gid alone, or a gid unmapped.
func TestToSpecAdditionalGids(t *testing.T) {
	sub := func(s *specs.Spec) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 300000, Size: 65536}}
		s.Linux.GIDMappings = s.Linux.UIDMappings
	}
	engine := testHost
	engine.UID, engine.GID = 0, 0
	engine.UserNSUIDs = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 300000, Size: 65536}}
	engine.UserNSGIDs = engine.UserNSUIDs
	for _, tc := range []struct {
		name   string
		h      Host
		edit   func(*specs.Spec)
		gids   []uint32
		want   []int
		refuse bool
	}{
		{"the caller's gid alone", testHost, nil, []uint32{5}, nil, true},
		{"the primary gid only", testHost, nil, []uint32{0}, nil, false},
		{"subordinate range", testHost, sub, []uint32{0, 5, 10, 5}, []int{5, 10}, false},
		{"outside the range", testHost, sub, []uint32{5, 65537}, nil, true},
		{"an engine's user namespace", engine, func(s *specs.Spec) { s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil }, []uint32{7}, []int{7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ToSpec(bundle(t, func(s *specs.Spec) {
				if tc.edit != nil {
					tc.edit(s)
				}
				s.Process.User.AdditionalGids = tc.gids
			}), tc.h)
			if tc.refuse {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "process.user.additionalGids" {
					t.Fatalf("err %v, want one naming process.user.additionalGids", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Spec.Groups, tc.want) {
				t.Errorf("groups %v, want %v", r.Spec.Groups, tc.want)
			}
		})
	}
}

// ipc and uts namespaces joined by path (a CRI pod's pause container's),
// for a root runtime: the paths go to the Spec; a hostname, kernel.hostname
// or an IPC sysctl in a joined namespace is refused naming the field; the
// mqueue mount is left out (a note).
func TestToSpecJoinIPCUTS(t *testing.T) {
	root := testHost
	root.UID, root.GID = 0, 0
	join := func(s *specs.Spec) {
		s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
		s.Hostname = ""
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"})
		for i, n := range s.Linux.Namespaces {
			switch n.Type {
			case specs.IPCNamespace:
				s.Linux.Namespaces[i].Path = "/proc/7/ns/ipc"
			case specs.UTSNamespace:
				s.Linux.Namespaces[i].Path = "/proc/7/ns/uts"
			}
		}
	}
	r, err := ToSpec(bundle(t, join), root)
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.IPCNS != "/proc/7/ns/ipc" || r.Spec.UTSNS != "/proc/7/ns/uts" {
		t.Errorf("ipc %q uts %q", r.Spec.IPCNS, r.Spec.UTSNS)
	}
	for _, m := range r.Spec.Mounts {
		if m.Type == "mqueue" {
			t.Errorf("an mqueue mount in a joined ipc namespace: %+v", r.Spec.Mounts)
		}
	}
	if n := strings.Join(r.Notes, "\n"); !strings.Contains(n, "/dev/mqueue (mqueue): not mounted") {
		t.Errorf("no note on the mqueue mount:\n%s", n)
	}
	for field, edit := range map[string]func(*specs.Spec){
		"hostname":     func(s *specs.Spec) { s.Hostname = "pod" },
		"linux.sysctl": func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1000"} },
	} {
		_, err := ToSpec(bundle(t, func(s *specs.Spec) { join(s); edit(s) }), root)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s in joined namespaces: err %v, want one naming it", field, err)
		}
	}
	_, err = ToSpec(bundle(t, func(s *specs.Spec) { join(s); s.Linux.Sysctl = map[string]string{"kernel.hostname": "pod"} }), root)
	if err == nil || !strings.Contains(err.Error(), "kernel.hostname") {
		t.Errorf("kernel.hostname in a joined uts namespace: %v", err)
	}
}
