package seccomp

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// Loading a filter cannot be undone, so the tests that load one do it in a
// child: the test binary started again with one of these variables set.
// TestMain handles them before any test runs (go-landlock's lltest does
// the same).
const (
	// envInstall makes the child install a program ("default" or a
	// profile's path) and then exec the command after "--".
	envInstall = "SANDBOX_SECCOMP_TEST_INSTALL"
	// envWork makes the child run a multi-threaded Go workload and report.
	envWork = "SANDBOX_SECCOMP_TEST_WORK"
)

func TestMain(m *testing.M) {
	if what := os.Getenv(envInstall); what != "" {
		os.Exit(installAndExec(what))
	}
	if os.Getenv(envWork) != "" {
		os.Exit(work())
	}
	os.Exit(m.Run())
}

func installAndExec(what string) int {
	var argv []string
	for i, a := range os.Args {
		if a == "--" {
			argv = os.Args[i+1:]
			break
		}
	}
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "child: no command after --")
		return 3
	}
	var prog []byte
	var err error
	if what == "default" {
		prog, err = DefaultProgram()
	} else {
		var p *Profile
		if p, err = LoadFile(what); err == nil {
			prog, err = p.Compile()
		}
	}
	if err == nil {
		err = Install(prog)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, envInstall+"=") {
			env = append(env, e)
		}
	}
	path, err := exec.LookPath(argv[0])
	if err == nil {
		err = unix.Exec(path, argv, env)
	}
	fmt.Fprintln(os.Stderr, "child: exec:", err)
	return 3
}

// work exercises the Go runtime under the filter: many OS threads, timers,
// a TCP connection over loopback, and a fork/exec. It prints the seccomp
// lines of /proc/self/status so the parent knows the filter was in force.
func work() int {
	var wg sync.WaitGroup
	results := make(chan int, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread() // forces new threads: clone without CLONE_NEW*
			sum := 0
			for j := 0; j < 1e5; j++ {
				sum += j % (i + 1)
			}
			results <- sum
		}(i)
	}
	wg.Wait()
	close(results)
	n := 0
	for range results {
		n++
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("work: listen:", err)
		return 1
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("pong"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println("work: dial:", err)
		return 1
	}
	buf := make([]byte, 4)
	_, err = c.Read(buf)
	c.Close()
	if err != nil {
		fmt.Println("work: read:", err)
		return 1
	}
	out, err := exec.Command("/bin/sh", "-c", "echo forked").Output()
	if err != nil {
		fmt.Println("work: exec:", err)
		return 1
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Seccomp") || strings.HasPrefix(line, "NoNewPrivs") {
			fmt.Println(strings.Join(strings.Fields(line), " "))
		}
	}
	fmt.Printf("work: goroutines=%d tcp=%s exec=%s", n, buf, out)
	return 0
}

// requireSeccomp skips when the kernel has no seccomp filter support, and
// fails instead in CI, where the feature is required.
func requireSeccomp(t *testing.T) {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err == nil && bytes.Contains(status, []byte("\nSeccomp:")) {
		return
	}
	testenv.Skip(t, "this kernel has no seccomp filters (no Seccomp line in /proc/self/status)")
}

// runUnder runs argv in a child that installs what ("default" or a
// profile path) first, and returns its output.
func runUnder(t *testing.T, what string, extraEnv []string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--"}, argv...)...)
	cmd.Env = append(append(os.Environ(), envInstall+"="+what), extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v under %s: %v\nstdout:\n%s\nstderr:\n%s", argv, what, err, out, stderr.String())
	}
	return string(out)
}

// buildProbe builds testdata/probe statically, as the box will run it, or
// returns $SANDBOX_PROBE, a probe built beforehand (for runs without a
// usable go tool, e.g. as another user).
func buildProbe(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SANDBOX_PROBE"); p != "" {
		return p
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			testenv.Skip(t, "no go tool to build testdata/probe")
		}
	}
	out := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command(goTool, "build", "-o", out, "../testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, b)
	}
	return out
}

// probeNames lists the names `probe syscall` knows.
func probeNames(t *testing.T, probe string) []string {
	out, err := exec.Command(probe, "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// parseProbe turns "name: result" lines into a map.
func parseProbe(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			m[k] = v
		}
	}
	return m
}

// TestLoadDefault loads the default program for real and checks, from
// inside, that blocked calls fail with the promised errno and ordinary
// work still succeeds.
func TestLoadDefault(t *testing.T) {
	requireSeccomp(t)
	probe := buildProbe(t)
	names := probeNames(t, probe)

	// What each probe name must report under the default program. The
	// names not listed must all be refused with EPERM.
	special := map[string]string{
		"mkdir":         "ok",
		"socket_unix":   "ok",
		"socket_inet":   "ok",
		"clone3":        "errno=ENOSYS",
		"unknown":       "errno=ENOSYS",
		"socket_vsock":  "errno=EAFNOSUPPORT",
		"socket_packet": "errno=EAFNOSUPPORT",
	}
	got := parseProbe(runUnder(t, "default", nil, append([]string{probe, "syscall"}, names...)...))
	var bad []string
	for _, n := range names {
		want, ok := special[n]
		if !ok {
			want = "errno=EPERM"
		}
		if got[n] != want {
			bad = append(bad, fmt.Sprintf("%s: got %q, want %q", n, got[n], want))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("under the default program:\n%s", strings.Join(bad, "\n"))
	}

	tio := parseProbe(runUnder(t, "default", nil, probe, "tiocsti"))
	if tio["tiocsti"] != "errno=EPERM" || tio["tiocsti_high"] != "errno=EPERM" {
		t.Errorf("TIOCSTI: got %v, want EPERM for both", tio)
	}

	caps := parseProbe(runUnder(t, "default", nil, probe, "caps"))
	if caps["Seccomp"] != "2" || caps["NoNewPrivs"] != "1" {
		t.Errorf("probe caps: got Seccomp=%q NoNewPrivs=%q, want 2 and 1", caps["Seccomp"], caps["NoNewPrivs"])
	}
}

// TestLoadDefaultOrdinaryPrograms: a multi-threaded Go program, a shell
// pipeline, and (where installed) python3 and gcc keep working.
func TestLoadDefaultOrdinaryPrograms(t *testing.T) {
	requireSeccomp(t)
	out := runUnder(t, "default", []string{envWork + "=1"}, os.Args[0])
	for _, want := range []string{"Seccomp: 2", "work: goroutines=64 tcp=pong exec=forked"} {
		if !strings.Contains(out, want) {
			t.Errorf("Go workload: output lacks %q:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	script := `set -e; echo a | tr a b; x=$(echo c); echo $x; mkdir "$1/d"; ls "$1"; cat /proc/self/status | grep '^Seccomp:' | tr -d '\t'`
	out = runUnder(t, "default", nil, "/bin/sh", "-c", script, "sh", dir)
	if want := "b\nc\nd\nSeccomp:2\n"; out != want {
		t.Errorf("shell: got %q, want %q", out, want)
	}

	if py, err := exec.LookPath("python3"); err == nil {
		code := `import threading, subprocess, os
ts = [threading.Thread(target=lambda: sum(range(10000))) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(subprocess.run(["echo", "sub"], capture_output=True, text=True).stdout.strip(), len(os.listdir("/")) > 0)`
		out = runUnder(t, "default", nil, py, "-c", code)
		if out != "sub True\n" {
			t.Errorf("python3: got %q", out)
		}
	} else {
		t.Log("python3 not installed; not checked")
	}

	if gcc, err := exec.LookPath("gcc"); err == nil {
		src := filepath.Join(dir, "hello.c")
		if err := os.WriteFile(src, []byte("#include <stdio.h>\n#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0); puts(\"hello\"); return 0; }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "hello")
		runUnder(t, "default", nil, gcc, "-pthread", "-o", bin, src)
		if out := runUnder(t, "default", nil, bin); out != "hello\n" {
			t.Errorf("gcc-built program: got %q", out)
		}
	} else {
		t.Log("gcc not installed; not checked")
	}
}

// TestLoadDenyMkdir loads the Docker-format fixture for real.
func TestLoadDenyMkdir(t *testing.T) {
	requireSeccomp(t)
	probe := buildProbe(t)
	got := parseProbe(runUnder(t, denyMkdirFixture, nil, probe, "syscall", "mkdir", "socket_unix", "keyctl"))
	want := map[string]string{"mkdir": "errno=EPERM", "socket_unix": "ok", "keyctl": "ok"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	dir := t.TempDir()
	out := runUnder(t, denyMkdirFixture, nil, "/bin/sh", "-c", `mkdir "$1/x" 2>&1; echo rc=$?`, "sh", dir)
	if !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "rc=1") {
		t.Errorf("mkdir(1) under deny-mkdir: got %q", out)
	}
}
