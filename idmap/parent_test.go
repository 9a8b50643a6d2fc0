package idmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// requireRoot skips a test that needs root, except in CI (CI=true), which
// runs as root: there a skip would hide a broken core path, so it fails.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	testenv.NeedRoot(t, why)
}

type fakeInfo struct {
	mode fs.FileMode
	uid  uint32
}

func (f fakeInfo) Name() string       { return "newuidmap" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid} }

func TestHelperPrivileged(t *testing.T) {
	tests := []struct {
		name string
		fi   fakeInfo
		caps bool
		want bool
	}{
		{"setuid root", fakeInfo{0o755 | fs.ModeSetuid, 0}, false, true},
		{"setuid but owned by a user", fakeInfo{0o755 | fs.ModeSetuid, 1000}, false, false},
		{"root, no setuid bit", fakeInfo{0o755, 0}, false, false},
		{"file capabilities", fakeInfo{0o755, 0}, true, true},
		{"setuid directory", fakeInfo{0o755 | fs.ModeSetuid | fs.ModeDir, 0}, false, false},
	}
	for _, tt := range tests {
		if got := HelperPrivileged(tt.fi, tt.caps); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// withHelperDir makes FindHelper see only the files in a fresh directory.
func withHelperDir(t *testing.T) string {
	t.Helper()
	oldDir, oldLook := helperDir, lookPath
	t.Cleanup(func() { helperDir, lookPath = oldDir, oldLook })
	helperDir = t.TempDir()
	lookPath = func(name string) (string, error) { return "", exec.ErrNotFound }
	return helperDir
}

func TestWriteFromParentHelperMissing(t *testing.T) {
	withHelperDir(t)
	m := Mapping{Helpers: true, UIDs: []idm{{ContainerID: 0, HostID: 1000, Size: 1}}}
	err := m.WriteFromParent(os.Getpid())
	if !errors.Is(err, ErrHelperMissing) || !strings.Contains(err.Error(), "uidmap") {
		t.Fatalf("err = %v, want ErrHelperMissing naming the package uidmap", err)
	}
	// Without Helpers Go writes the maps, so nothing is looked up.
	m.Helpers = false
	if err := m.WriteFromParent(os.Getpid()); err != nil {
		t.Fatalf("Helpers=false: %v, want nil (nothing to do)", err)
	}
}

func TestWriteFromParentHelperFails(t *testing.T) {
	dir := withHelperDir(t)
	script := "#!/bin/sh\necho \"newuidmap: uid range [1-2) -> [5-6) not allowed\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "newuidmap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m := Mapping{Helpers: true, UIDs: []idm{{ContainerID: 1, HostID: 5, Size: 1}}}
	err := m.WriteFromParent(os.Getpid())
	if os.Geteuid() != 0 {
		// An unprivileged caller is stopped before running a helper that
		// could not work: the fake is not setuid.
		if !errors.Is(err, ErrHelperNotPrivileged) || !strings.Contains(err.Error(), "setuid") {
			t.Fatalf("err = %v, want ErrHelperNotPrivileged", err)
		}
		return
	}
	if !errors.Is(err, ErrHelperFailed) || !strings.Contains(err.Error(), "[1-2) -> [5-6) not allowed") ||
		!strings.Contains(err.Error(), fmt.Sprintf("newuidmap %d 1 5 1", os.Getpid())) {
		t.Fatalf("err = %v, want ErrHelperFailed with the helper's command line and stderr", err)
	}
}

const helperEnv = "IDMAP_TEST_HELPER"

// TestHelperProcess is not a test: TestWriteFromParentAsUser runs the test
// binary as an unprivileged user with IDMAP_TEST_HELPER=1, and this is what
// that process does: the real rootless path, end to end.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // an ordinary run: nothing to do, and nothing skipped
	}
	if err := helperMain(os.Stdout); err != nil {
		fmt.Fprintln(os.Stdout, "HELPER ERROR:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func helperMain(w io.Writer) error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	subU, srcU, err := SubIDs("uid", u.Username, os.Getuid())
	if err != nil {
		return err
	}
	subG, srcG, err := SubIDs("gid", u.Username, os.Getuid())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "SOURCES: %s %s\n", srcU, srcG)
	m, err := Plan(Request{Mode: ModeAuto, CallerUID: os.Getuid(), CallerGID: os.Getgid(),
		CallerName: u.Username, SubUIDs: subU, SubGIDs: subG})
	if err != nil {
		return err
	}
	cmd := exec.Command("/bin/sleep", "10")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sleep in a new user namespace: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := m.WriteFromParent(cmd.Process.Pid); err != nil {
		return err
	}
	for _, f := range []string{"uid_map", "gid_map"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", cmd.Process.Pid, f))
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fmt.Fprintf(w, "%s: %s\n", f, strings.Join(strings.Fields(l), " "))
		}
	}
	return nil
}

// ensureSubID makes sure file has a range for name, adding one if needed,
// and restores the file byte for byte when the test ends.
func ensureSubID(t *testing.T, file, name string, uid int) Range {
	t.Helper()
	orig, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	existed := err == nil
	ranges, err := ParseSubID(bytes.NewReader(orig), name, uid)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(ranges) > 0 {
		return ranges[0]
	}
	r := Range{Start: 100000, Count: 65536}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(file); err == nil {
		mode = fi.Mode().Perm()
	}
	add := orig
	if len(add) > 0 && add[len(add)-1] != '\n' {
		add = append(add, '\n')
	}
	add = append(add, fmt.Sprintf("%s:%d:%d\n", name, r.Start, r.Count)...)
	if err := os.WriteFile(file, add, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !existed {
			os.Remove(file)
			return
		}
		if err := os.WriteFile(file, orig, mode); err != nil {
			t.Errorf("restore %s: %v", file, err)
		}
	})
	return r
}

// TestWriteFromParentAsUser runs the rootless auto path for real: as the
// unprivileged test user (SANDBOX_TEST_USER, by default sandbox-test, made
// by `make testuser`), start a process in a new user namespace and write its
// maps through the setuid newuidmap/newgidmap.
func TestWriteFromParentAsUser(t *testing.T) {
	requireRoot(t, "to run a helper as the unprivileged test user")
	name, uid, gid := testenv.User(t)
	if _, err := FindHelper("newuidmap"); err != nil {
		t.Fatalf("newuidmap: %v", err)
	}
	ru := ensureSubID(t, "/etc/subuid", name, uid)
	rg := ensureSubID(t, "/etc/subgid", name, uid)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := testenv.CopyExecutable(t, exe)
	cmd := exec.Command(bin, "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = []string{helperEnv + "=1", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as %s: %v\n%s", name, err, out)
	}
	t.Logf("helper output:\n%s", out)
	for _, want := range []string{
		fmt.Sprintf("uid_map: 0 %d 1", uid),
		fmt.Sprintf("uid_map: 1 %d %d", ru.Start, ru.Count),
		fmt.Sprintf("gid_map: 0 %d 1", gid),
		fmt.Sprintf("gid_map: 1 %d %d", rg.Start, rg.Count),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("helper output lacks %q:\n%s", want, out)
		}
	}
}

// TestRootCallerRunsUnprivileged starts a child the way the supervisor does
// for a root caller and reads its host credentials from /proc: it must be the
// mapped unprivileged id, with no supplementary groups, never host root.
func TestRootCallerRunsUnprivileged(t *testing.T) {
	requireRoot(t, "to plan for a root caller")
	tests := []struct {
		name             string
		req              Request
		wantUID, wantGID string
	}{
		{"self, nobody", Request{Mode: ModeSelf}, "65534", "65534"},
		{"auto, configured range, --uid 5", Request{Mode: ModeAuto, UID: 5, GID: 7, RootRange: &Range{200000, 100}}, "200005", "200007"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Plan(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sleep", "10")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
			m.ApplyTo(cmd.SysProcAttr)
			if err := cmd.Start(); err != nil {
				t.Fatalf("start: %v", err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			if err := m.WriteFromParent(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			// Go returns from Start only after the child exec'd, so the
			// Credential switch is done by now.
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			fields := map[string][]string{}
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					fields[k] = strings.Fields(v)
				}
			}
			for _, id := range fields["Uid"] {
				if id != tt.wantUID {
					t.Errorf("Uid: %v, want all %s", fields["Uid"], tt.wantUID)
					break
				}
			}
			for _, id := range fields["Gid"] {
				if id != tt.wantGID {
					t.Errorf("Gid: %v, want all %s", fields["Gid"], tt.wantGID)
					break
				}
			}
			if len(fields["Groups"]) != 0 {
				t.Errorf("Groups: %v, want none (root's groups must not leak)", fields["Groups"])
			}
		})
	}
}
