package main

// The integration tests drive the built binary as an unprivileged user, the
// path the product exists for. Started as root (as CI is), they run the
// binary as SANDBOX_TEST_USER (default sandbox-test); in CI (CI=true) a test
// that cannot run that way fails instead of skipping.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

var env struct {
	dir      string // world-readable temp dir holding the binaries
	bin      string // the sandbox binary
	probe    string // the static probe program, "" if it failed to build
	rootfs   string // a busybox root filesystem
	cred     *syscall.Credential
	uid, gid int    // who the box runs as on the host
	skipWhy  string // why the unprivileged tests cannot run here
	setupErr string
}

func TestMain(m *testing.M) {
	code := func() int {
		if err := setup(); err != nil {
			env.setupErr = err.Error()
		}
		defer os.RemoveAll(env.dir)
		defer openTun()()
		code := m.Run()
		if code == 0 && sanitizerReport() {
			code = 1
		}
		return code
	}()
	os.Exit(code)
}

// openTun makes /dev/net/tun usable by the test user for the whole run (as
// root), and returns what restores its mode. pasta (--net user) and podman's
// slirp4netns make their tap devices through it; Debian's udev makes it
// 0666, a machine without udev may have it 0600. Once for the package, not
// per test: a test's restore would race another test's use.
func openTun() func() {
	fi, err := os.Stat("/dev/net/tun")
	if err != nil || os.Geteuid() != 0 || fi.Mode().Perm() == 0o666 {
		return func() {}
	}
	if os.Chmod("/dev/net/tun", 0o666) != nil {
		return func() {}
	}
	return func() { os.Chmod("/dev/net/tun", fi.Mode().Perm()) }
}

func setup() error {
	dir, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		return err
	}
	env.dir = dir
	// The unprivileged test user must reach the binaries.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	env.bin = filepath.Join(dir, "sandbox")
	if bin := os.Getenv("SANDBOX_TEST_BIN"); bin != "" {
		// A binary built elsewhere (make sanitize's), copied where the
		// test user can run it.
		b, err := os.ReadFile(bin)
		if err != nil {
			return fmt.Errorf("SANDBOX_TEST_BIN: %w", err)
		}
		if err := os.WriteFile(env.bin, b, 0o755); err != nil {
			return err
		}
	} else {
		// Built as `make build` builds it: static, so the tests run the product.
		build := exec.Command("go", "build", "-tags", "osusergo,netgo", "-ldflags", "-extldflags=-static", "-o", env.bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	// The probe does inside the box what a shell cannot; static, so it
	// runs in any rootfs. SANDBOX_TEST_PROBE: one built elsewhere (vm/run.sh
	// builds it on the host for a guest without a Go toolchain).
	probe := filepath.Join(dir, "probe")
	if p := os.Getenv("SANDBOX_TEST_PROBE"); p != "" {
		probe = p
	} else {
		cmd := exec.Command("go", "build", "-o", probe, "../../testdata/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build testdata/probe: %v\n%s", err, out)
		}
	}
	env.probe = probe
	env.rootfs = filepath.Join(dir, "rootfs")
	if out, err := exec.Command("sh", "../../testdata/mkrootfs.sh", env.rootfs).CombinedOutput(); err != nil {
		return fmt.Errorf("testdata/mkrootfs.sh: %v\n%s", err, out)
	}
	env.uid, env.gid = os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		name := testenv.UserName()
		u, err := user.Lookup(name)
		if err != nil {
			env.skipWhy = fmt.Sprintf("running as root and there is no unprivileged user %q to run the box as (create it, or set SANDBOX_TEST_USER): %v", name, err)
			return nil
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		env.uid, env.gid = uid, gid
		env.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	return nil
}

// sanitizerReport prints what the sanitizer build (make sanitize) wrote to
// its log, SANDBOX_SANITIZER_LOG, and tells whether there was anything: a
// report fails the run even when no test saw its effect.
func sanitizerReport() bool {
	p := os.Getenv("SANDBOX_SANITIZER_LOG")
	if p == "" {
		return false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sanitizer log %s: %v\n", p, err)
		return true
	}
	if len(b) == 0 {
		return false
	}
	fmt.Fprintf(os.Stderr, "FAIL: the sanitizers reported (%s):\n%s\n", p, b)
	return true
}

// need fails or skips the test when the rootless harness is not available.
func need(t *testing.T) {
	t.Helper()
	if env.setupErr != "" {
		t.Fatalf("test setup: %s", env.setupErr)
	}
	if env.skipWhy != "" {
		testenv.Skip(t, "%s", env.skipWhy)
	}
}

// result is one finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
	outFile        string // where stdout went, if a file (oci_test.go)
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, clip(r.stdout), clip(r.stderr))
}

// clip keeps a failure's message readable (and the VM stage's serial
// console fast) when a payload wrote megabytes.
func clip(s string) string {
	const max = 8 << 10
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s\n... (%d bytes in all)", s[:max], len(s))
}

// runOpts tunes one run of the binary.
type runOpts struct {
	env   []string   // extra variables for the sandbox process
	stdin string     // its stdin
	extra []*os.File // inherited as fds 3, 4, ...
	wrap  string     // run through `sh -c WRAP` with "$SANDBOX" set
	user  string     // as this user instead of the test user (needs root)
	root  bool       // as the caller itself (root in CI), not the test user
	bin   string     // this binary (the sandbox-oci link) instead of env.bin
}

// sandbox runs the binary with args as the unprivileged test user.
func runSandbox(t *testing.T, args ...string) result {
	t.Helper()
	return runWith(t, runOpts{}, args...)
}

func runWith(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if o.wrap != "" {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", o.wrap)
	} else if o.bin != "" {
		cmd = exec.CommandContext(ctx, o.bin, args...)
	} else {
		cmd = exec.CommandContext(ctx, env.bin, args...)
	}
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp", "SANDBOX=" + env.bin}, o.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	switch {
	case o.root:
		cmd.SysProcAttr.Credential = nil
	case o.user != "":
		cmd.SysProcAttr.Credential = credOf(t, o.user)
	}
	cmd.ExtraFiles = o.extra
	cmd.Stdin = strings.NewReader(o.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A box that leaks its stdout to a stray process must not hang the suite.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("run %v: did not finish in 60s\n%s", args, r)
	}
	return r
}

// box runs a shell command in a default box and fails the test unless it
// exits 0; it returns stdout.
func box(t *testing.T, script string, flags ...string) string {
	t.Helper()
	args := append(append([]string{"exec"}, flags...), "--", "/bin/sh", "-c", script)
	r := runSandbox(t, args...)
	if r.code != 0 {
		t.Fatalf("sandbox %v: want exit 0\n%s", args, r)
	}
	return r.stdout
}

// hostDir makes a directory the test user owns, for binds.
func hostDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(env.dir, "host-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, env.uid, env.gid); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	return d
}

// pgrep reports host processes whose command line contains s.
func pgrep(s string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// credOf is the credential of a local user; it needs root.
func credOf(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	needRoot(t)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (make testuser creates it)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// needRoot gates a test that needs root (to prepare the host, or to run the
// box as a root caller).
func needRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "to prepare the host or run as a root caller")
}
