//go:build !sanitize

package nsinit

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestPathSealed: the small init's memfd cannot be changed by anyone (its
// seals), which is what keeps /proc/1/exe of a box from being written
// through; and it is out of the way of the descriptors os/exec moves.
func TestPathSealed(t *testing.T) {
	if !Embedded() {
		testenv.Skip(t, "no small init embedded: make initbin builds it")
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
		testenv.Skip(t, "no small init embedded: make initbin builds it")
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

// TestEmbeddedInitCurrent: the small init embedded is a build of this
// init.c. make rebuilds it when init.c changes; a plain go build or go test
// after an edit would embed the old one, and every box would run code that
// is not the source's. make records init.c's hash beside the binary.
func TestEmbeddedInitCurrent(t *testing.T) {
	if len(initBin()) == 0 {
		testenv.Skip(t, "no small init embedded: make initbin builds it")
	}
	want, err := os.ReadFile("initbin/sandbox-init.sha256")
	if err != nil {
		t.Fatalf("the small init has no recorded source hash (make initbin writes it): %v", err)
	}
	src, err := os.ReadFile("init.c")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != strings.TrimSpace(string(want)) {
		t.Fatalf("the embedded small init was built from another init.c (%s, now %s): run make initbin", strings.TrimSpace(string(want)), got)
	}
}
