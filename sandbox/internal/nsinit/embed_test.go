//go:build !sanitize

package nsinit

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPathSealed: the small init's memfd cannot be changed by anyone (its
// seals), which is what keeps /proc/1/exe of a box from being written
// through; and it is out of the way of the descriptors os/exec moves.
func TestPathSealed(t *testing.T) {
	if !Embedded() {
		if os.Getenv("CI") == "true" {
			t.Fatal("no small init embedded (make initbin builds it)")
		}
		t.Skip("no small init embedded: make initbin builds it")
	}
	p := Path()
	fd, err := strconv.Atoi(strings.TrimPrefix(p, "/proc/self/fd/"))
	if err != nil || fd < 64 {
		t.Fatalf("Path() = %q: want /proc/self/fd/N with N >= 64", p)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if seals&want != want {
		t.Fatalf("seals %#x, want at least %#x", seals, want)
	}
	if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		f.Close()
		if werr == nil {
			t.Fatal("wrote to the sealed init binary")
		}
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("the memfd is not close-on-exec (%#x, %v)", flags, err)
	}
	if Path() != p {
		t.Fatal("Path changed between calls")
	}
}

// TestPathAfterClose: a caller that closed the memfd, its number reused by
// another file, gets a new sealed memfd, never that other file executed.
func TestPathAfterClose(t *testing.T) {
	if !Embedded() {
		t.Skip("no small init embedded: make initbin builds it")
	}
	p := Path()
	fd, _ := strconv.Atoi(strings.TrimPrefix(p, "/proc/self/fd/"))
	f, err := os.CreateTemp(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Dup3(int(f.Fd()), fd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	q := Path()
	nfd, _ := strconv.Atoi(strings.TrimPrefix(q, "/proc/self/fd/"))
	if q == p || nfd < 64 {
		t.Fatalf("Path() = %q after its descriptor %d was replaced: want a new one", q, fd)
	}
	if seals, err := unix.FcntlInt(uintptr(nfd), unix.F_GET_SEALS, 0); err != nil || seals&unix.F_SEAL_WRITE == 0 {
		t.Fatalf("the new memfd is not sealed (%#x, %v)", seals, err)
	}
}
