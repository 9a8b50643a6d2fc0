package cgroup

import (
	"errors"
	"testing"
)

// CheckPath refuses what could climb out of the place an OCI config's
// cgroupsPath names, or name a hierarchy's root.
func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/default/id", "default/id", "/a", "a/b/c"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "/", "//", "/a/../b", "..", "a/..", "/a/./b", "/a//b", "a\x00b"} {
		if err := CheckPath(p); !errors.Is(err, ErrPath) {
			t.Errorf("CheckPath(%q): %v, want ErrPath", p, err)
		}
	}
}
