package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/internal/testenv"
	"golang.org/x/sys/unix"
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

// newAtLeaf makes a leaf at path with NewAt, its locks handed off as the
// OCI runtime hands them, and removes it and the parents made for it at
// the end of the test. It returns the leaf's directories.
func newAtLeaf(t *testing.T, path string) []string {
	t.Helper()
	b, err := NewAt("sandbox", Limits{Pids: 8}, path)
	if err != nil {
		t.Fatal(err)
	}
	dirs := b.Dirs()
	b.HandOff()
	t.Cleanup(func() {
		RemoveLeaves(dirs, "sandbox")
		for _, d := range dirs {
			// rmdir up to the first that is not empty, or a mount.
			for p := filepath.Dir(d); p != "/" && os.Remove(p) == nil; p = filepath.Dir(p) {
			}
		}
	})
	return dirs
}

// A record (state.json) naming a leaf NewAt did not make is refused: a
// hierarchy's mount, the file system's root, a cgroup without the box's
// inner child; one NewAt made passes, and RemoveLeaves removes it.
func TestCheckLeafAt(t *testing.T) {
	testenv.NeedRoot(t, "NewAt is host root's")
	top := fmt.Sprintf("/sandbox-at-test-%d", os.Getpid())
	dirs := newAtLeaf(t, top+"/leaf")
	if len(dirs) == 0 {
		t.Fatal("no leaf")
	}
	for _, d := range dirs {
		if !strings.HasSuffix(d, top+"/leaf") {
			t.Errorf("leaf %s, want it at %s", d, top+"/leaf")
		}
		if err := checkLeaf(d, "sandbox"); err != nil {
			t.Errorf("NewAt's leaf refused: %v", err)
		}
		// Its parent has no child "box": not a leaf.
		if err := checkLeaf(filepath.Dir(d), "sandbox"); err == nil {
			t.Errorf("the parent %s passed checkLeaf", filepath.Dir(d))
		}
	}
	if _, err := NewAt("sandbox", Limits{Pids: 8}, top+"/leaf"); !errors.Is(err, ErrPath) {
		t.Errorf("NewAt on an existing leaf: %v, want ErrPath", err)
	}
	for _, d := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"} {
		if err := checkLeaf(d, "sandbox"); err == nil {
			t.Errorf("%s passed checkLeaf", d)
		}
	}
	if err := RemoveLeaves(dirs, "sandbox"); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left (%v)", d, err)
		}
	}
}

// A config naming a path inside another box's leaf (its inner child or
// beside it) is refused: the new box's processes would count against the
// other box's limits, and the other box's kill and delete would reach them.
func TestNewAtInsideBox(t *testing.T) {
	testenv.NeedRoot(t, "NewAt is host root's")
	top := fmt.Sprintf("/sandbox-at-nest-%d", os.Getpid())
	newAtLeaf(t, top+"/leaf")
	for _, p := range []string{top + "/leaf/box/x", top + "/leaf/x", top + "/leaf/box/a/b"} {
		nb, err := NewAt("sandbox", Limits{Pids: 8}, p)
		if err == nil {
			nd := nb.Dirs()
			nb.HandOff()
			RemoveLeaves(nd, "sandbox")
			for _, d := range nd {
				os.Remove(filepath.Dir(d))
			}
			t.Errorf("NewAt(%q) inside another box's leaf: made %v", p, nd)
		} else if !errors.Is(err, ErrPath) {
			t.Errorf("NewAt(%q): %v, want ErrPath", p, err)
		}
	}
}

// On a v1 host with co-mounted controllers (cpu,cpuacct, the usual), the
// leaf NewAt made for one controller is the one of the other: not a
// cgroup someone else made.
func TestNewAtCoMounted(t *testing.T) {
	testenv.NeedRoot(t, "NewAt is host root's")
	h, err := readHost("")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findV1Mount(h.mounts, "cpu"); !ok {
		testenv.Skip(t, "no v1 cpu hierarchy")
	}
	// cpuacct's hierarchy is cpu's (as if co-mounted).
	var ms []mount
	for _, m := range h.mounts {
		if !m.V2 && slices.Contains(m.Controllers, "cpuacct") {
			continue
		}
		if !m.V2 && slices.Contains(m.Controllers, "cpu") {
			m.Controllers = append(slices.Clone(m.Controllers), "cpuacct")
		}
		ms = append(ms, m)
	}
	real := h.mounts
	h.mounts = ms
	h.self.V1 = maps.Clone(h.self.V1)
	h.self.V1["cpuacct"] = h.self.V1["cpu"]
	top := fmt.Sprintf("/sandbox-at-comount-%d", os.Getpid())
	b := &Box{leaf: "leaf", prefix: "sandbox", fd: -1, lock: -1, at: top + "/leaf"}
	err = b.createV1(h, Limits{Pids: 8})
	b.removeAll()
	for _, m := range real {
		// The library's cpuacct leaf is in the real cpuacct hierarchy.
		os.Remove(filepath.Join(m.Point, top, "leaf", innerLeaf))
		os.Remove(filepath.Join(m.Point, top, "leaf"))
		os.Remove(filepath.Join(m.Point, top))
	}
	if err != nil {
		t.Fatalf("co-mounted cpu,cpuacct: %v", err)
	}
}

// A path with a trailing slash names the same leaf as without: not a
// child of it named after its last element.
func TestNewAtTrailingSlash(t *testing.T) {
	testenv.NeedRoot(t, "NewAt is host root's")
	top := fmt.Sprintf("/sandbox-at-slash-%d", os.Getpid())
	for _, d := range newAtLeaf(t, top+"/leaf/") {
		if !strings.HasSuffix(d, top+"/leaf") {
			t.Errorf("cgroupsPath %q: leaf %s", top+"/leaf/", d)
		}
	}
}

// NewAt does not sweep the parent a config names (not the runtime's own
// cgroup): host root would kill the processes of whatever unlocked cgroup
// named like a box's leaf sits there, and remove it.
func TestNewAtNoSweep(t *testing.T) {
	testenv.NeedRoot(t, "NewAt is host root's")
	pidsRoot := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(pidsRoot, "cgroup.procs")); err != nil {
		testenv.Skip(t, "no v1 pids hierarchy")
	}
	top := fmt.Sprintf("/sandbox-at-sweep-%d", os.Getpid())
	other := filepath.Join(pidsRoot, top, "sandbox-"+strings.Repeat("00", leafSuffixBytes))
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("/bin/sleep", "100")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sleep.Process.Kill()
		sleep.Wait()
		os.Remove(other)
		os.Remove(filepath.Join(pidsRoot, top))
	}()
	if err := os.WriteFile(filepath.Join(other, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	newAtLeaf(t, top+"/x")
	if sleep.Process.Signal(unix.Signal(0)) != nil {
		t.Error("the process in the parent's other cgroup was killed")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the parent's other cgroup was removed: %v", err)
	}
}
