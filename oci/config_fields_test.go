package oci

import (
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
