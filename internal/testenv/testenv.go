// Package testenv holds the gates of the test tiers: what needs root, the
// unprivileged test user, a particular host. Every gate skips a test on a
// developer's machine that lacks what it needs, and fails it in CI
// (CI=true), where each test must run: a skip there would hide a missing
// feature. Only tests import this package.
package testenv

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// InCI tells whether the tests run in CI, where nothing may skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips t with the reason, or fails it in CI.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("cannot run in CI, where every test must: %s", why)
	}
	t.Skip(why)
}

// NeedRoot gates a test that needs root (CI runs as root).
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (%s)", why)
	}
}

// UserName is the unprivileged user the tests run boxes as:
// SANDBOX_TEST_USER, by default sandbox-test (`make testuser` creates it).
func UserName() string {
	if n := os.Getenv("SANDBOX_TEST_USER"); n != "" {
		return n
	}
	return "sandbox-test"
}

// User looks up the unprivileged test user.
func User(t testing.TB) (name string, uid, gid int) {
	t.Helper()
	name = UserName()
	u, err := user.Lookup(name)
	if err != nil {
		Skip(t, "needs the unprivileged user %s (make testuser creates it): %v", name, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return name, uid, gid
}

// CopyExecutable copies the executable at src into a fresh directory that
// every user may enter, and returns the copy's path: a test binary lives in
// a build directory the unprivileged test user cannot reach.
func CopyExecutable(t testing.TB, src string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sandbox-test-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// InVM tells whether the tests run in the VM stage (vm/run.sh sets
// SANDBOX_TEST_VM=1 in the guest).
func InVM() bool { return os.Getenv("SANDBOX_TEST_VM") == "1" }

// NeedCgroupV2 gates a test of the cgroup v2 paths: on a host without a
// unified hierarchy it skips, or fails in CI. CI runs these tests in its VM
// stage (`make vmtest`, a cgroup v2 guest); on a host that is not v2-only,
// `make test` leaves them out by name (the Makefile's V2ONLY), so that they
// neither run nor skip there.
func NeedCgroupV2(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return
	}
	if InVM() {
		t.Fatal("the VM stage's guest has no cgroup v2 hierarchy at /sys/fs/cgroup")
	}
	Skip(t, "needs a cgroup v2 host; make vmtest runs it in one (name a v2-only test TestCgroupV2* or TestSystemdUser*, the Makefile's V2ONLY, so that make test leaves it out elsewhere)")
}

// NeedUserManager gates a test of the systemd user manager path: the test
// user's bus must exist (lingering or a login session). The VM stage's
// guest has one; elsewhere it skips (fails in CI) like NeedCgroupV2.
func NeedUserManager(t testing.TB, uid int) {
	t.Helper()
	NeedCgroupV2(t)
	bus := fmt.Sprintf("/run/user/%d/bus", uid)
	if _, err := os.Stat(bus); err == nil {
		return
	}
	if InVM() {
		t.Fatalf("the VM stage's guest has no user bus at %s (is the test user lingering?)", bus)
	}
	Skip(t, "needs a systemd user manager for the test user (%s); make vmtest runs it with one", bus)
}
