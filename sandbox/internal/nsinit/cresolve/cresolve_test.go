package cresolve

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// scratch is a tree with a root for the helpers and, beside it, a directory
// they must never reach.
type scratch struct {
	base, root, outside string
}

// newScratch plants, in root, symlinks out of it in every form a rootfs or a
// bound directory can hold: absolute (to "/", to the outside directory by
// its host path), relative through "..", a chain, a loop, dangling, to a
// file.
func newScratch(t *testing.T) scratch {
	t.Helper()
	base := t.TempDir()
	s := scratch{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.root + "/a/b", s.outside + "/d", s.root + "/proc"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{s.outside + "/secret", s.root + "/file"} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"abs":       "/",
		"absout":    s.outside,
		"absfile":   s.outside + "/secret",
		"relout":    "../outside",
		"deep":      "a/b/../../../../outside/d",
		"a/b/up":    "../../..",
		"a/b/chain": "../../relout",
		"loop":      "loop",
		"dangling":  "nowhere/x",
		"tofile":    "file",
		"etc":       "/etc",
		"proc/self": "/proc/self",
	} {
		if err := os.Symlink(target, filepath.Join(s.root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// snapshot lists everything under dir but root, with each entry's kind and
// size: what the helpers must leave unchanged.
func (s scratch) snapshot(t *testing.T) string {
	t.Helper()
	var out []string
	filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, p+" error "+err.Error())
			return nil
		}
		if p == s.root {
			return filepath.SkipDir
		}
		info, _ := d.Info()
		size := int64(0)
		if info != nil && !d.IsDir() {
			size = info.Size()
		}
		out = append(out, p+" "+d.Type().String()+" "+strconv.FormatInt(size, 10))
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// inside checks that fd names root or something below it.
func (s scratch) inside(t *testing.T, fd int, what string) {
	t.Helper()
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		t.Fatalf("%s: readlink of its descriptor: %v", what, err)
	}
	if target != s.root && !strings.HasPrefix(target, s.root+"/") {
		t.Fatalf("%s resolved to %s, outside the root %s", what, target, s.root)
	}
}

var seeds = []string{
	"", "/", ".", "..", "../..", "/../../outside", "abs", "abs/outside", "absout", "absout/new", "absfile",
	"relout", "relout/secret", "relout/new/dir", "deep", "deep/x", "a/b/up", "a/b/up/outside", "a/b/chain/d",
	"loop", "loop/x", "dangling", "dangling/y", "tofile", "tofile/x", "etc/passwd", "proc/self/root",
	"proc/self/cwd/x", "a//b///../b/./new", strings.Repeat("n/", 2100), strings.Repeat("long", 80) + "/x",
	"a/" + strings.Repeat("x", 256),
}

// check runs one helper call in a fresh scratch tree and holds it to the
// rule: nothing outside the root is created, changed or opened.
func check(t *testing.T, mode byte, path string) {
	s := newScratch(t)
	before := s.snapshot(t)
	what := ""
	switch mode % 3 {
	case 0:
		what = "open_in(" + strconv.Quote(path) + ")"
		fd, err := OpenIn(s.root, path)
		if err == nil {
			s.inside(t, fd, what)
			syscall.Close(fd)
		}
	case 1, 2:
		what = "make_in(" + strconv.Quote(path) + ", file=" + strconv.FormatBool(mode%3 == 2) + ")"
		if err := MakeIn(s.root, path, mode%3 == 2); err == nil {
			// What it made must now open, inside the root.
			// make_in reports success for a last component that exists
			// as a symlink whose target does not (mkdirat's EEXIST):
			// then the caller's open_in fails, ENOENT, as do_bind's does.
			fd, err := OpenIn(s.root, path)
			if err != nil && err != syscall.ENOENT && err != syscall.ENOTDIR {
				t.Fatalf("%s succeeded, then open_in of it: %v", what, err)
			}
			if err == nil {
				s.inside(t, fd, what)
				syscall.Close(fd)
			}
		}
	}
	if after := s.snapshot(t); after != before {
		t.Fatalf("%s changed the tree outside the root:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

func TestResolveSeeds(t *testing.T) {
	for _, p := range seeds {
		for mode := byte(0); mode < 3; mode++ {
			check(t, mode, p)
		}
	}
}

// TestResolveStaysInside pins what the planted links resolve to.
func TestResolveStaysInside(t *testing.T) {
	s := newScratch(t)
	for path, want := range map[string]string{
		"abs":        s.root,
		"relout":     s.root + "/outside", // ".." stops at the root: not there
		"a/b/up":     s.root,
		"tofile":     s.root + "/file",
		"/../../a/b": s.root + "/a/b",
	} {
		fd, err := OpenIn(s.root, path)
		if err != nil {
			if want == s.root+"/outside" && err == syscall.ENOENT {
				continue
			}
			t.Errorf("open_in(%q): %v", path, err)
			continue
		}
		got, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		syscall.Close(fd)
		if got != want {
			t.Errorf("open_in(%q) = %s, want %s", path, got, want)
		}
	}
	// Through a link to the root itself: made in the root.
	if err := MakeIn(s.root, "a/b/up/new", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.root + "/new"); err != nil {
		t.Errorf("make_in(a/b/up/new) did not make root/new: %v", err)
	}
	// Through a link that leads out: refused, nothing made anywhere.
	if err := MakeIn(s.root, "relout/new", false); err != syscall.ENOENT {
		t.Errorf("make_in(relout/new) = %v, want ENOENT", err)
	}
	if _, err := os.Stat(s.outside + "/new"); err == nil {
		t.Error("make_in(relout/new) made it outside the root")
	}
}

// FuzzResolve: for any path, open_in and make_in act inside their root only.
func FuzzResolve(f *testing.F) {
	for i, p := range seeds {
		f.Add(byte(i), p)
	}
	f.Fuzz(func(t *testing.T, mode byte, path string) {
		if strings.IndexByte(path, 0) >= 0 || len(path) > 8192 {
			return // a C string; the Plan's strings are NUL-free (plan.go)
		}
		check(t, mode, path)
	})
}
