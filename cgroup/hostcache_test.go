package cgroup

import (
	"os"
	"reflect"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// The cached layout is what a fresh read gives, and stays so on reuse.
func TestCachedHostIsFresh(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		testenv.Skip(t, "no /proc: %v", err)
	}
	want, err := readMounts()
	if err != nil {
		t.Fatal(err)
	}
	self, err := readSelf()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h := host{euid: os.Geteuid()}
		if err := cachedHost(&h); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h.mounts, want) {
			t.Fatalf("round %d: cached mounts %+v, a fresh read %+v", i, h.mounts, want)
		}
		if !reflect.DeepEqual(h.self, self) {
			t.Fatalf("round %d: cached membership %+v, a fresh read %+v", i, h.self, self)
		}
		if h.user == "" {
			t.Fatalf("round %d: no user name", i)
		}
	}
}

// The descriptor the cache keeps tells a mount or an unmount in its
// namespace, once each, and nothing when nothing changed: a stale table is
// never reused.
func TestMountsChangedSeesMounts(t *testing.T) {
	testenv.NeedRoot(t, "mounts a tmpfs in a mount namespace of its own")
	dir := t.TempDir()
	errc := make(chan string, 1)
	go func() {
		// Never unlocked: the thread, in its own mount namespace, ends
		// with the goroutine.
		runtime.LockOSThread()
		errc <- func() string {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return "unshare: " + err.Error()
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return "make / private: " + err.Error()
			}
			fd, err := unix.Open("/proc/thread-self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return "open mountinfo: " + err.Error()
			}
			defer unix.Close(fd)
			if mountsChanged(fd) {
				return "a change reported before any mount"
			}
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
				return "mount: " + err.Error()
			}
			if !mountsChanged(fd) {
				return "a mount not reported"
			}
			if mountsChanged(fd) {
				return "a mount reported twice"
			}
			if err := unix.Unmount(dir, 0); err != nil {
				return "unmount: " + err.Error()
			}
			if !mountsChanged(fd) {
				return "an unmount not reported"
			}
			return ""
		}()
	}()
	if msg := <-errc; msg != "" {
		t.Fatal(msg)
	}
}
