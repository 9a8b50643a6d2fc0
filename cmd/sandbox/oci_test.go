package main

// The OCI runtime interface (sandbox-oci): the lifecycle driven by hand as
// an engine drives it, then podman as a real client.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/internal/testenv"
)

var ociLink struct {
	once sync.Once
	path string
	err  error
}

// ociBin is the sandbox-oci link to the built binary, as make build makes it.
func ociBin(t *testing.T) string {
	t.Helper()
	need(t)
	ociLink.once.Do(func() {
		ociLink.path = filepath.Join(env.dir, "sandbox-oci")
		ociLink.err = os.Symlink("sandbox", ociLink.path)
	})
	if ociLink.err != nil {
		t.Fatal(ociLink.err)
	}
	return ociLink.path
}

// ociCaller is who runs the runtime: the test user, or root.
type ociCaller struct {
	name string
	root bool
}

var ociCallers = []ociCaller{{"rootless", false}, {"root", true}}

func (c ociCaller) gate(t *testing.T) {
	t.Helper()
	if c.root {
		needRoot(t)
	}
}

// oci runs sandbox-oci --root ROOT ARGS... as the caller. The stdio of
// create and run go to the box, which holds them as long as it lives (an
// engine gives it conmon's pipes): here files, read back.
func (c ociCaller) oci(t *testing.T, root string, args ...string) result {
	t.Helper()
	args = append([]string{"--root", root}, args...)
	if !slices.Contains(args, "create") && !slices.Contains(args, "run") && !slices.Contains(args, "exec") {
		return runWith(t, runOpts{bin: ociBin(t), root: c.root}, args...)
	}
	dir := hostDir(t)
	out, errf := filepath.Join(dir, "out"), filepath.Join(dir, "err")
	wrap := "exec " + shellQuote(ociBin(t))
	for _, a := range args {
		wrap += " " + shellQuote(a)
	}
	wrap += " </dev/null >" + out + " 2>" + errf
	r := runWith(t, runOpts{wrap: wrap, root: c.root})
	o, _ := os.ReadFile(out)
	e, _ := os.ReadFile(errf)
	r.stdout, r.stderr, r.outFile = string(o), string(e), out
	return r
}

// readOut reads a create's, run's or exec's stdout again (a detached
// process writes it later).
func readOut(r result) string {
	o, _ := os.ReadFile(r.outFile)
	return string(o)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ociBundle makes a bundle (the busybox rootfs, the runtime's own default
// config with args) in a directory the caller owns, and a state root.
func ociBundle(t *testing.T, c ociCaller, args ...string) (bundle, root string) {
	t.Helper()
	bundle, root = hostDir(t), hostDir(t)
	if c.root {
		// The state root is the caller's own: the runtime refuses one
		// another user owns (TestOCIStateRootOfAnotherUser).
		if err := os.Chown(root, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	r := c.oci(t, root, "spec", "--bundle", bundle)
	if r.code != 0 {
		t.Fatalf("spec:\n%s", r)
	}
	ociEdit(t, bundle, func(s *specs.Spec) {
		s.Root.Path = env.rootfs
		s.Process.Args = args
	})
	return bundle, root
}

// ociStarted makes a bundle (ociBundle), creates and starts container x
// from it, and deletes it at the end of the test.
func ociStarted(t *testing.T, c ociCaller, args ...string) (bundle, root string) {
	t.Helper()
	bundle, root = ociBundle(t, c, args...)
	if r := c.oci(t, root, "create", "--bundle", bundle, "x"); r.code != 0 {
		t.Fatalf("create:\n%s", r)
	}
	t.Cleanup(func() { c.oci(t, root, "delete", "--force", "x") })
	if r := c.oci(t, root, "start", "x"); r.code != 0 {
		t.Fatalf("start:\n%s", r)
	}
	return bundle, root
}

func ociState(t *testing.T, c ociCaller, root, id string) specs.State {
	t.Helper()
	r := c.oci(t, root, "state", id)
	if r.code != 0 {
		t.Fatalf("state %s:\n%s", id, r)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("state %s: %v\n%s", id, err, r)
	}
	return st
}

// waitStatus polls state until the container has the status.
func waitStatus(t *testing.T, c ociCaller, root, id string, want specs.ContainerState) specs.State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := ociState(t, c, root, id)
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s, want %s", id, st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOCIVersionFeaturesAndGlobalFlags(t *testing.T) {
	bin := ociBin(t)
	r := runWith(t, runOpts{bin: bin}, "--version")
	if r.code != 0 || !strings.Contains(r.stdout, "sandbox-oci version") || !strings.Contains(r.stdout, "spec: "+specs.Version) {
		t.Fatalf("--version:\n%s", r)
	}
	// Global flags of runc's and crun's, known or not, before the command.
	log := filepath.Join(hostDir(t), "log.json")
	r = runWith(t, runOpts{bin: bin}, "--root", hostDir(t), "--log", log, "--log-format", "json",
		"--systemd-cgroup", "--debug", "--cgroup-manager=cgroupfs", "features")
	if r.code != 0 {
		t.Fatalf("features:\n%s", r)
	}
	var f struct {
		OCIVersionMax string
		Linux         struct{ Namespaces []string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil || f.OCIVersionMax != specs.Version || len(f.Linux.Namespaces) != 7 {
		t.Fatalf("features: %v %+v\n%s", err, f, r)
	}
	// An error goes to stderr and, as JSON lines, to --log.
	r = runWith(t, runOpts{bin: bin}, "--root", hostDir(t), "--log", log, "--log-format", "json", "state", "nosuch")
	if r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("state of a missing container:\n%s", r)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var line struct{ Level, Msg string }
	if err := json.Unmarshal(data, &line); err != nil || line.Level != "error" || !strings.Contains(line.Msg, "does not exist") {
		t.Fatalf("log %q: %v", data, err)
	}
}

// create, state, start, kill, delete, as an engine drives them, rootless
// and as root.
func TestOCILifecycle(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", `trap "echo got TERM; exit 3" TERM; echo started; while :; do sleep 0.05; done`)
			pidFile := filepath.Join(root, "pid")
			r := c.oci(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, "c1")
			if r.code != 0 {
				t.Fatalf("create:\n%s", r)
			}
			st := ociState(t, c, root, "c1")
			pid, _ := os.ReadFile(pidFile)
			if st.Status != specs.StateCreated || st.ID != "c1" || st.Bundle != bundle || strconv.Itoa(st.Pid) != string(pid) || st.Pid <= 0 {
				t.Fatalf("state after create: %+v (pid file %q)", st, pid)
			}
			// Created: pid 1 waits, the payload has not run.
			if out, _ := os.ReadFile("/proc/" + string(pid) + "/status"); !strings.Contains(string(out), "sandbox-init") {
				t.Errorf("pid %s is not the box's pid 1:\n%s", pid, out)
			}
			if r := c.oci(t, root, "create", "--bundle", bundle, "c1"); r.code == 0 || !strings.Contains(r.stderr, "exists") {
				t.Errorf("a second create of c1:\n%s", r)
			}
			if r := c.oci(t, root, "start", "c1"); r.code != 0 {
				t.Fatalf("start:\n%s", r)
			}
			waitStatus(t, c, root, "c1", specs.StateRunning)
			if r := c.oci(t, root, "start", "c1"); r.code == 0 {
				t.Errorf("a second start:\n%s", r)
			}
			if r := c.oci(t, root, "delete", "c1"); r.code == 0 || !strings.Contains(r.stderr, "running") {
				t.Errorf("delete of a running container:\n%s", r)
			}
			// Running is the payload started, not its trap set: a TERM
			// sent before that killed the shell (wait status 15).
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(readOut(r), "started"); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the payload did not start:\n%s", readOut(r))
				}
			}
			if r := c.oci(t, root, "kill", "c1", "TERM"); r.code != 0 {
				t.Fatalf("kill:\n%s", r)
			}
			st = waitStatus(t, c, root, "c1", specs.StateStopped)
			if st.Pid != 0 {
				t.Errorf("a stopped container's pid: %d", st.Pid)
			}
			var end struct {
				Known  bool
				Status int `json:"wait_status"`
			}
			data, _ := os.ReadFile(filepath.Join(root, "c1", "end.json"))
			if err := json.Unmarshal(data, &end); err != nil || !end.Known || end.Status != 3<<8 {
				t.Errorf("end.json %q: %v (want exit 3)", data, err)
			}
			if r := c.oci(t, root, "kill", "c1", "KILL"); r.code == 0 {
				t.Errorf("kill of a stopped container:\n%s", r)
			}
			if r := c.oci(t, root, "delete", "c1"); r.code != 0 {
				t.Fatalf("delete:\n%s", r)
			}
			if _, err := os.Stat(filepath.Join(root, "c1")); !os.IsNotExist(err) {
				t.Errorf("state left after delete: %v", err)
			}
			if r := c.oci(t, root, "state", "c1"); r.code == 0 {
				t.Errorf("state after delete:\n%s", r)
			}
		})
	}
}

// exec: a process joins a running box (its namespaces, its filters), as
// a command and from a process.json, attached and detached.
func TestOCIExec(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			_, root := ociStarted(t, c, "/bin/sleep", "100")
			if !c.root {
				// pid 1 is not dumpable: only a caller with
				// CAP_SYS_PTRACE where it was started may open its
				// namespaces (root; root of an engine's user
				// namespace, as rootless podman runs its runtime,
				// which the podman test covers).
				r := c.oci(t, root, "exec", "x", "/bin/true")
				if r.code == 0 || !strings.Contains(r.stderr, "CAP_SYS_PTRACE") {
					t.Fatalf("rootless exec: want a clear refusal\n%s", r)
				}
				return
			}
			r := c.oci(t, root, "exec", "x", "/bin/sh", "-c",
				`ps -o pid,args; hostname; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status; exit 4`)
			if r.code != 4 || !strings.Contains(r.stdout, "1 sandbox-init") || !strings.Contains(r.stdout, "2 /bin/sleep 100") ||
				!strings.Contains(r.stdout, "\nsandbox\n") || !strings.Contains(r.stdout, "NoNewPrivs:\t1") || !strings.Contains(r.stdout, "Seccomp:\t2") {
				t.Fatalf("exec (want the box's processes, hostname, filters, exit 4):\n%s", r)
			}
			proc := filepath.Join(root, "process.json")
			os.WriteFile(proc, []byte(`{"args":["/bin/sh","-c","echo $A $(pwd) $(id -u)"],"cwd":"/tmp","env":["A=1"],"user":{"uid":0,"gid":0}}`), 0o644)
			pidFile := filepath.Join(root, "exec.pid")
			r = c.oci(t, root, "exec", "--process", proc, "--detach", "--pid-file", pidFile, "x")
			if r.code != 0 {
				t.Fatalf("exec --detach:\n%s", r)
			}
			if pid, err := os.ReadFile(pidFile); err != nil || len(pid) == 0 {
				t.Errorf("pid file: %q %v", pid, err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(r.stdout, "1 /tmp 0") {
				if time.Now().After(deadline) {
					t.Fatalf("exec --process: no output\n%s", r)
				}
				time.Sleep(20 * time.Millisecond)
				r.stdout = readOut(r)
			}
			if r := c.oci(t, root, "exec", "x", "/nonexistent"); r.code == 0 || !strings.Contains(r.stderr, "/nonexistent") {
				t.Errorf("exec of a missing command:\n%s", r)
			}
		})
	}
}

// A created container never started is deleted (killed) without --force;
// a running one with --force; nothing of either is left.
func TestOCIDeleteCreatedAndForce(t *testing.T) {
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/sleep", "100")
	for _, id := range []string{"a", "b"} {
		if r := c.oci(t, root, "create", "--bundle", bundle, id); r.code != 0 {
			t.Fatalf("create %s:\n%s", id, r)
		}
	}
	pidA := ociState(t, c, root, "a").Pid
	if r := c.oci(t, root, "delete", "a"); r.code != 0 {
		t.Fatalf("delete a created container:\n%s", r)
	}
	if r := c.oci(t, root, "start", "b"); r.code != 0 {
		t.Fatalf("start b:\n%s", r)
	}
	pidB := waitStatus(t, c, root, "b", specs.StateRunning).Pid
	if r := c.oci(t, root, "delete", "--force", "b"); r.code != 0 {
		t.Fatalf("delete --force:\n%s", r)
	}
	for _, pid := range []int{pidA, pidB} {
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); len(st) > 0 && !strings.Contains(string(st), ") Z") {
			t.Errorf("pid 1 %d left: %s", pid, st)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("state left: %v", ents)
	}
	if r := c.oci(t, root, "delete", "--force", "nosuch"); r.code != 0 {
		t.Errorf("delete --force of a missing container:\n%s", r)
	}
}

// run: the payload's output and exit status, nothing left after.
func TestOCIRun(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", "echo out; echo err >&2; cat /etc/rootfs-marker; hostname; exit 7")
			r := c.oci(t, root, "run", "--bundle", bundle, "r1")
			if r.code != 7 || r.stdout != "out\nthis is the busybox rootfs\nsandbox\n" || !strings.Contains(r.stderr, "err") {
				t.Fatalf("run:\n%s", r)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left: %v", ents)
			}
		})
	}
}

// A config that maps the caller at 0 and its subordinate range from 1
// gets it (newuidmap, as --map auto); any other mapping is refused.
func TestOCIRunSubordinateMapping(t *testing.T) {
	c := ociCallers[0]
	need(t)
	subU, _, err := idmap.SubIDs("uid", testenv.UserName(), env.uid)
	subG, _, err2 := idmap.SubIDs("gid", testenv.UserName(), env.uid)
	if err != nil || err2 != nil || len(subU) == 0 || len(subG) == 0 {
		testenv.Skip(t, "the test user has no subordinate ranges (make testuser gives it some): %v %v", err, err2)
	}
	bundle, root := ociBundle(t, c, "/bin/sh", "-c", "cat /proc/self/uid_map; id -u")
	p := filepath.Join(bundle, "config.json")
	data, _ := os.ReadFile(p)
	var s specs.Spec
	json.Unmarshal(data, &s)
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(env.uid), Size: 1}, {ContainerID: 1, HostID: subU[0].Start, Size: subU[0].Count}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(env.gid), Size: 1}, {ContainerID: 1, HostID: subG[0].Start, Size: subG[0].Count}}
	data, _ = json.Marshal(&s)
	os.WriteFile(p, data, 0o644)
	r := c.oci(t, root, "run", "--bundle", bundle, "m")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "0 "+strconv.Itoa(env.uid)+" 1" ||
		strings.Join(strings.Fields(lines[1]), " ") != fmt.Sprintf("1 %d %d", subU[0].Start, subU[0].Count) || lines[2] != "0" {
		t.Fatalf("run with the subordinate range %v:\n%s", subU[0], r)
	}
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 400000, Size: 1}}
	data, _ = json.Marshal(&s)
	os.WriteFile(p, data, 0o644)
	if r := c.oci(t, root, "run", "--bundle", bundle, "m"); r.code == 0 || !strings.Contains(r.stderr, "linux.uidMappings") {
		t.Errorf("a mapping the box cannot make:\n%s", r)
	}
}

// A bad bundle fails create with an error that names what is wrong, and
// leaves no state, no process.
func TestOCIBadBundleLeavesNothing(t *testing.T) {
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/true")
	good, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	for _, tc := range []struct {
		name, want string
		edit       func(m map[string]any)
		raw        string
	}{
		{name: "missing config", want: "config.json", raw: "-"},
		{name: "bad JSON", want: "config.json", raw: "{"},
		{name: "unknown namespace", want: "linux.namespaces[7].type", edit: func(m map[string]any) {
			l := m["linux"].(map[string]any)
			l["namespaces"] = append(l["namespaces"].([]any), map[string]any{"type": "bogus"})
		}},
		{name: "rootfs absent", want: "root.path", edit: func(m map[string]any) {
			m["root"].(map[string]any)["path"] = "/nonexistent/rootfs"
		}},
		{name: "mount fails in the box", want: "/nonexistent-source", edit: func(m map[string]any) {
			m["mounts"] = append(m["mounts"].([]any), map[string]any{"destination": "/x", "type": "bind", "source": "/nonexistent-source", "options": []any{"rbind"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(bundle, "config.json")
			switch {
			case tc.raw == "-":
				os.Remove(p)
			case tc.raw != "":
				os.WriteFile(p, []byte(tc.raw), 0o644)
			default:
				var m map[string]any
				json.Unmarshal(good, &m)
				tc.edit(m)
				data, _ := json.Marshal(m)
				os.WriteFile(p, data, 0o644)
			}
			r := c.oci(t, root, "create", "--bundle", bundle, "bad")
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("create: want an error naming %q\n%s", tc.want, r)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left: %v", ents)
			}
			if procs := pgrep("sandbox-hold bad"); len(procs) > 0 {
				t.Errorf("holder left: %v", procs)
			}
		})
	}
}

// Concurrent creates of one id: exactly one wins; concurrent commands on
// one container do not break its state.
func TestOCIConcurrentCommands(t *testing.T) {
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/sleep", "100")
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = c.oci(t, root, "create", "--bundle", bundle, "same").code
		}()
	}
	wg.Wait()
	won := 0
	for _, code := range codes {
		if code == 0 {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded: %v", won, len(codes), codes)
	}
	results := make([]result, 6)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				results[i] = c.oci(t, root, "start", "same")
			} else {
				results[i] = c.oci(t, root, "state", "same")
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("command %d:\n%s", i, r)
		}
	}
	waitStatus(t, c, root, "same", specs.StateRunning)
	if r := c.oci(t, root, "delete", "--force", "same"); r.code != 0 {
		t.Fatalf("delete:\n%s", r)
	}
}

// waitExited polls podman inspect until the container has exited with
// code. Not podman wait, nor an attached run, where avoidable: podman
// waits for conmon to be gone, and where the host's pid 1 does not reap
// orphans (this CI container's does not) conmon stays a zombie, which
// podman takes for alive until its 20 s timeout.
func waitExited(t *testing.T, run func(...string) result, id string, code int) {
	t.Helper()
	want := "exited " + strconv.Itoa(code)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id)
		// "stopped": podman has the exit code, and waits for conmon
		// (see above) before it calls the container exited.
		if got := strings.TrimSpace(r.stdout); got == want || got == "stopped "+strconv.Itoa(code) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %q\n%s", id, strings.TrimSpace(r.stdout), want, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// podman as a real client, rootless as the test user. podman cannot pull
// images here; it runs a busybox --rootfs the caller can write (podman
// adds /etc/mtab), with rlimits below this host's hard limits.
func TestOCIPodmanRootless(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		testenv.Skip(t, "podman is not installed (apt-get install podman)")
	}
	needRoot(t) // to give the test user a home, a runtime dir and a rootfs
	need(t)
	base := hostDir(t)
	home, xdg, rootfs := filepath.Join(base, "home"), filepath.Join(base, "xdg"), filepath.Join(base, "rootfs")
	for _, d := range []string{home, xdg} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", env.rootfs, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if out, err := exec.Command("chown", "-R", strconv.Itoa(env.uid)+":"+strconv.Itoa(env.gid), home, xdg, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	oci := ociBin(t)
	run := func(args ...string) result {
		t.Helper()
		return runWith(t, runOpts{bin: podman, env: []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + xdg}},
			append([]string{"--runtime", oci}, args...)...)
	}
	t.Cleanup(func() {
		run("rm", "--all", "--force")
		// podman's storage holds files of the test user's subordinate ids.
		runWith(t, runOpts{bin: podman, env: []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + xdg}}, "system", "reset", "--force")
	})
	// --network none: podman's default network (slirp4netns) needs
	// /dev/net/tun, which "default network" below checks on its own.
	limits := []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none"}

	t.Run("run", func(t *testing.T) {
		r := run(append(append([]string{"run", "--rm"}, limits...), "--rootfs", rootfs, "/bin/sh", "-c",
			"id; cat /proc/self/uid_map; touch /podman-wrote && echo WROTE; exit 7")...)
		if r.code != 7 || !strings.Contains(r.stdout, "uid=0(root) gid=0(root)") {
			t.Fatalf("podman run:\n%s", r)
		}
		// podman asks for a writable root (root.readonly false): the
		// rootfs is the test user's, the box's root.
		if _, err := os.Stat(filepath.Join(rootfs, "podman-wrote")); err != nil || !strings.Contains(r.stdout, "WROTE\n") {
			t.Errorf("podman run: the payload did not write into its writable root: %v\n%s", err, r)
		}
		// The box's root is the engine's root (the test user), its other
		// ids the user's subordinate range, as with runc.
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) < 3 || strings.Join(strings.Fields(lines[1]), " ") != "0 0 1" || strings.Join(strings.Fields(lines[2]), " ") != "1 1 65536" {
			t.Errorf("uid_map in the box (relative to podman's namespace):\n%s", r.stdout)
		}
	})
	// podman's default rootless network: slirp4netns in a network
	// namespace podman made, which the box joins (linux.namespaces path).
	t.Run("default network", func(t *testing.T) {
		probe := runWith(t, runOpts{wrap: "exec 3<>/dev/net/tun"})
		if probe.code != 0 {
			testenv.Skip(t, "the test user cannot open /dev/net/tun, which slirp4netns needs: %s", probe.stderr)
		}
		r := run(append(append([]string{"run", "-d"}, limits[:4]...), "--rootfs", rootfs, "/bin/sh", "-c", "ip link show tap0 >/dev/null && echo tap0")...)
		if r.code != 0 {
			t.Fatalf("podman run -d with slirp4netns:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		defer run("rm", "-f", id)
		waitExited(t, run, id, 0)
		if r := run("logs", id); !strings.Contains(r.stdout, "tap0") {
			t.Fatalf("no tap0 in the box:\n%s", r)
		}
	})
	// A terminal: the box's own, its master passed to conmon through
	// --console-socket.
	t.Run("tty", func(t *testing.T) {
		r := run(append(append([]string{"run", "-d", "-t"}, limits...), "--rootfs", rootfs, "/bin/sh", "-c", "tty; exit 5")...)
		if r.code != 0 {
			t.Fatalf("podman run -dt:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		waitExited(t, run, id, 5)
		if r := run("logs", id); !strings.Contains(r.stdout, "/dev/pts/0") {
			t.Errorf("podman logs:\n%s", r)
		}
		run("rm", id)
	})
	t.Run("interactive tty", func(t *testing.T) {
		if _, err := exec.LookPath("script"); err != nil {
			testenv.Skip(t, "script(1) is not installed (apt-get install bsdutils)")
		}
		cmd := shellQuote(podman) + " --runtime " + shellQuote(oci) + " run --rm -it " + strings.Join(limits, " ") +
			" --rootfs " + shellQuote(rootfs) + " /bin/sh"
		r := runWith(t, runOpts{env: []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + xdg},
			wrap: `(sleep 1; printf 'echo typed-$((40+2))\nexit 4\n') | script -qec ` + shellQuote(cmd) + ` /dev/null`})
		if r.code != 4 || !strings.Contains(r.stdout, "typed-42") {
			t.Fatalf("podman run -it:\n%s", r)
		}
	})
	t.Run("detach stop rm", func(t *testing.T) {
		podmanDetachStopRm(t, run, append(append([]string{"run", "-d"}, limits...), "--rootfs", rootfs))
	})
	// --memory 64M on a 400 MB allocation: 137. Rootless podman passes
	// limits to its runtime on cgroup v2 only; on v1 it drops them itself
	// (its warning below) and hands an empty linux.resources. There a
	// wrapper puts the limit podman dropped back into config.json, so
	// that the rest of the way is podman's: the runtime as root of
	// podman's user namespace places the cgroup in the user's delegated
	// one (cgroup-setup), conmon reaps pid 1, podman reports 137.
	t.Run("memory", func(t *testing.T) {
		// Detached, then waited for through inspect (waitExited): an
		// attached run pays conmon's 20 s here.
		args := append(append(append([]string{"run", "-d", "--memory", "64M"}, limits...), "--rootfs", rootfs),
			"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1")
		ddRun := func(run func(...string) result, code int) result {
			t.Helper()
			r := run(args...)
			if r.code != 0 {
				t.Fatalf("podman run -d --memory 64M:\n%s", r)
			}
			id := strings.TrimSpace(r.stdout)
			waitExited(t, run, id, code)
			run("rm", id)
			return r
		}
		if limUnified() {
			ddRun(run, 137) // 400 MB under 64 MiB: OOM-killed
			return
		}
		if r := ddRun(run, 0); !strings.Contains(r.stderr, "ignored on cgroups V1 rootless") {
			t.Fatalf("rootless podman on cgroup v1: want podman's own warning that it drops --memory\n%s", r)
		}
		ociDelegate(t)
		wrapper := filepath.Join(base, "oci-with-limits")
		script := "#!/bin/sh\nb=\nfor a; do [ \"$b\" = 1 ] && sed -i 's/\"resources\":{}/\"resources\":{\"memory\":{\"limit\":67108864}}/' \"$a/config.json\"; b=; " +
			"[ \"$a\" = --bundle ] && b=1; done\nexec " + shellQuote(oci) + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		ddRun(func(a ...string) result {
			t.Helper()
			return runWith(t, runOpts{bin: podman, env: []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + xdg}}, append([]string{"--runtime", wrapper}, a...)...)
		}, 137)
	})
	t.Run("exec", func(t *testing.T) {
		r := run(append(append([]string{"run", "-d"}, limits...), "--rootfs", rootfs, "/bin/sleep", "100")...)
		if r.code != 0 {
			t.Fatalf("podman run -d:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		defer run("rm", "-f", id)
		r = run("exec", "-e", "X=1", "-w", "/tmp", id, "/bin/sh", "-c", `echo "$X $(pwd)"; ps -o pid,args; exit 6`)
		if r.code != 6 || !strings.Contains(r.stdout, "1 /tmp") || !strings.Contains(r.stdout, "2 /bin/sleep 100") {
			t.Fatalf("podman exec:\n%s", r)
		}
		// A terminal of the box's devpts, through --console-socket.
		r = run("exec", "-t", id, "/bin/sh", "-c", "tty; exit 3")
		if r.code != 3 || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Fatalf("podman exec -t:\n%s", r)
		}
	})
	t.Run("kill", func(t *testing.T) {
		r := run(append(append([]string{"run", "-d"}, limits...), "--rootfs", rootfs, "/bin/sleep", "100")...)
		if r.code != 0 {
			t.Fatalf("podman run -d:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		if r := run("kill", id); r.code != 0 {
			t.Fatalf("podman kill:\n%s", r)
		}
		waitExited(t, run, id, 137)
		if r := run("rm", id); r.code != 0 {
			t.Fatalf("podman rm:\n%s", r)
		}
	})
}

// A hostile local user pre-creates the state root (the default without
// $XDG_RUNTIME_DIR is /tmp/sandbox-UID, a name anyone can take first) or
// shares a writable one, and plants ROOT/ID/state.json naming a process of
// the victim's: kill and delete --force must not signal it, and create
// must not put the victim's containers there.
func TestOCIStateRootOfAnotherUser(t *testing.T) {
	needRoot(t)
	c := ociCallers[0] // the test user is the victim
	bundle, _ := ociBundle(t, c, "true")
	for _, tc := range []struct {
		name string
		uid  int
		mode os.FileMode
	}{
		{"another user's", 0, 0o755},                // the attacker (root here: any other uid) owns it
		{"world-writable", env.uid, 0o777},          // the victim's, but anyone may plant entries
		{"under a writable parent", env.uid, 0o700}, // the victim's, but its parent is anyone's
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := exec.Command("sleep", "60")
			victim.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { victim.Process.Kill(); victim.Wait() }()
			pid := victim.Process.Pid
			stat := func() []string {
				data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				s := string(data)
				return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			}
			f := stat()
			root := hostDir(t)
			if tc.mode == 0o700 {
				// Anyone could rename the victim's root away and put a
				// directory of theirs with a forged state in its place.
				if err := os.Chmod(root, 0o777); err != nil {
					t.Fatal(err)
				}
				root = filepath.Join(root, "state")
				if err := os.Mkdir(root, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chown(root, tc.uid, 0); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(root, tc.mode); err != nil {
				t.Fatal(err)
			}
			forged := filepath.Join(root, "forged")
			os.Mkdir(forged, 0o755)
			rec := fmt.Sprintf(`{"id":"forged","bundle":%q,"pid":%d,"pid_start":%s,"started":true}`, bundle, pid, f[19])
			if err := os.WriteFile(filepath.Join(forged, "state.json"), []byte(rec), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"kill", "forged", "KILL"}, {"delete", "--force", "forged"}, {"state", "forged"}, {"exec", "forged", "/bin/true"}} {
				if r := c.oci(t, root, args...); r.code == 0 || !strings.Contains(r.stderr, "state root") {
					t.Errorf("%s in a state root %s:\n%s", args[0], tc.name, r)
				}
			}
			time.Sleep(50 * time.Millisecond)
			if f := stat(); len(f) < 1 || f[0] == "Z" {
				t.Errorf("the victim's process %d was killed through a forged state.json", pid)
			}
			if r := c.oci(t, root, "create", "--bundle", bundle, "mine"); r.code == 0 || !strings.Contains(r.stderr, "state root") {
				c.oci(t, root, "delete", "--force", "mine")
				t.Errorf("create in a state root %s:\n%s", tc.name, r)
			}
		})
	}
}

// exec runs with the config create read, not with whatever the bundle's
// config.json says by then: a payload that can write the bundle (a bind
// of it, or of a directory above it), or anyone else who can, must not
// grant the next exec capabilities, or take away its filter.
func TestOCIExecUsesCreatedConfig(t *testing.T) {
	c := ociCallers[1]
	c.gate(t)
	bundle, root := ociStarted(t, c, "/bin/sleep", "100")
	capEff := func() string {
		r := c.oci(t, root, "exec", "x", "/bin/sh", "-c", `grep -E "^(CapEff|Seccomp):" /proc/self/status`)
		if r.code != 0 {
			t.Fatalf("exec:\n%s", r)
		}
		return r.stdout
	}
	before := capEff()
	p := filepath.Join(bundle, "config.json")
	data, _ := os.ReadFile(p)
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	all := []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_DAC_OVERRIDE"}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	data, _ = json.Marshal(&s)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if after := capEff(); after != before {
		t.Errorf("exec took the bundle's config.json as changed after create:\nbefore %safter  %s", before, after)
	}
	// The bundle gone (an engine may remove it): exec still works.
	os.Remove(p)
	capEff()
}

// A holder late to write end.json (here stopped until after its box was
// deleted and a new container made with the same id) must not write it
// into the new container's directory.
func TestOCILateHolderAfterRecreate(t *testing.T) {
	needRoot(t) // to stop and continue the holder
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/sleep", "100")
	if r := c.oci(t, root, "create", "--bundle", bundle, "x"); r.code != 0 {
		t.Fatalf("create:\n%s", r)
	}
	var rec struct {
		Holder int `json:"holder_pid"`
	}
	data, _ := os.ReadFile(filepath.Join(root, "x", "state.json"))
	if err := json.Unmarshal(data, &rec); err != nil || rec.Holder <= 0 {
		t.Fatalf("state.json %q: %v", data, err)
	}
	syscall.Kill(rec.Holder, syscall.SIGSTOP)
	defer syscall.Kill(rec.Holder, syscall.SIGCONT)
	if r := c.oci(t, root, "delete", "--force", "x"); r.code != 0 {
		t.Fatalf("delete:\n%s", r)
	}
	if r := c.oci(t, root, "create", "--bundle", bundle, "x"); r.code != 0 {
		t.Fatalf("create again:\n%s", r)
	}
	defer c.oci(t, root, "delete", "--force", "x")
	syscall.Kill(rec.Holder, syscall.SIGCONT)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", rec.Holder)); err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	if data, err := os.ReadFile(filepath.Join(root, "x", "end.json")); err == nil {
		t.Errorf("the old holder wrote the new container's end.json: %s", data)
	}
	if st := ociState(t, c, root, "x"); st.Status != specs.StateCreated {
		t.Errorf("the new container: %s", st.Status)
	}
}

// The holder writes end.json under the state directory's lock, as every
// command changes the directory: an engine deletes a container as soon as
// it has reaped pid 1 (containerd's shim), and a file the holder made after
// delete's RemoveAll read the directory failed the delete (ENOTEMPTY).
// While the lock is held, the holder writes nothing; once it is released,
// end.json appears.
func TestOCIHolderWritesEndUnderLock(t *testing.T) {
	needRoot(t) // to lock the test user's state directory
	c := ociCallers[0]
	_, root := ociStarted(t, c, "/bin/sleep", "1")
	dir := filepath.Join(root, "x")
	lock, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Pid int `json:"pid"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "state.json"))
	if err := json.Unmarshal(data, &rec); err != nil || rec.Pid <= 0 {
		t.Fatalf("state.json %q: %v", data, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// Gone, or a zombie nobody reaps (this machine's pid 1 may not).
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", rec.Pid)); err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid 1 (%d) did not end", rec.Pid)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if data, err := os.ReadFile(filepath.Join(dir, "end.json")); err == nil {
		t.Fatalf("the holder wrote end.json while the directory was locked: %s", data)
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "end.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no end.json once the lock was released")
		}
	}
}

// --pid-file in a directory another user may write: a symlink planted
// where the runtime writes its temporary file must not be followed (a
// root runtime would overwrite the file it names).
func TestOCIPidFilePlantedSymlink(t *testing.T) {
	c := ociCallers[1]
	c.gate(t)
	bundle, root := ociBundle(t, c, "/bin/true")
	shared := hostDir(t)
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(root, "victim")
	if err := os.WriteFile(victim, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(shared, "pid")
	for _, planted := range []string{pidFile + ".tmp"} {
		if err := os.Symlink(victim, planted); err != nil {
			t.Fatal(err)
		}
		os.Lchown(planted, env.uid, env.gid)
	}
	r := c.oci(t, root, "create", "--bundle", bundle, "--pid-file", pidFile, "x")
	defer c.oci(t, root, "delete", "--force", "x")
	if data, _ := os.ReadFile(victim); string(data) != "root's\n" {
		t.Errorf("the file a planted symlink names was written: %q\n%s", data, r)
	}
	if r.code == 0 {
		if pid, err := os.ReadFile(pidFile); err != nil || len(pid) == 0 {
			t.Errorf("pid file: %q %v", pid, err)
		}
	}
}

// spec in a directory another user may write: a dangling symlink planted
// as config.json must not be followed (a root runtime would create the
// file it names, anywhere).
func TestOCISpecPlantedSymlink(t *testing.T) {
	c := ociCallers[1]
	c.gate(t)
	shared, private := hostDir(t), hostDir(t)
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(private, 0, 0); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(private, "made-by-root")
	planted := filepath.Join(shared, "config.json")
	if err := os.Symlink(target, planted); err != nil {
		t.Fatal(err)
	}
	os.Lchown(planted, env.uid, env.gid)
	r := c.oci(t, private, "spec", "--bundle", shared)
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("spec followed a planted symlink and made %s:\n%s", target, r)
	}
	if r.code == 0 {
		t.Errorf("spec over a planted symlink succeeded:\n%s", r)
	}
}

// podman as a real client, as host root (a root engine): the runtime runs
// as host root, the box as nobody or root's subordinate range, never as
// host root. The binds of podman's per-container files (userdata, mode 0700,
// root's) are opened by the init stage as root before the box's user
// namespace and attached in pid 1, and their mount points made in the
// root-owned rootfs as root (oci: CallerMounts). Containers are named, and
// removed by name: the host's root storage is shared.
func TestOCIPodmanRoot(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		testenv.Skip(t, "podman is not installed (apt-get install podman)")
	}
	needRoot(t)
	need(t)
	rootfs := filepath.Join(hostDir(t), "rootfs")
	if out, err := exec.Command("cp", "-a", env.rootfs, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	// Root's, and without the mount points podman binds (/etc/hostname,
	// /etc/hosts, /run/.containerenv): the box's ids could make none.
	if out, err := exec.Command("chown", "-R", "0:0", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	if err := os.Chmod(filepath.Dir(rootfs), 0o755); err != nil {
		t.Fatal(err)
	}
	oci := ociBin(t)
	run := func(args ...string) result {
		t.Helper()
		return runWith(t, runOpts{bin: podman, root: true}, append([]string{"--runtime", oci}, args...)...)
	}
	prefix := fmt.Sprintf("sandbox-test-ociroot-%d-", os.Getpid())
	var names []string
	name := func(n string) string {
		names = append(names, prefix+n)
		return prefix + n
	}
	t.Cleanup(func() {
		for _, n := range names {
			run("rm", "--force", n)
		}
	})
	limits := []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network", "none"}
	runArgs := func(n string, extra ...string) []string {
		a := append([]string{"run", "--name", name(n)}, extra...)
		return append(append(a, limits...), "--rootfs", rootfs)
	}

	t.Run("run", func(t *testing.T) {
		r := run(append(runArgs("run", "--rm"), "/bin/sh", "-c",
			`id; cat /proc/self/uid_map; cat /etc/hostname; `+
				`echo x 2>/dev/null >/etc/hosts && echo WROTE-HOSTS; touch /x 2>/dev/null && echo WROTE-ROOT; `+
				`grep -q shared: /proc/self/mountinfo && echo SHARED; grep -E ' /etc/hosts ' /proc/self/mountinfo; exit 7`)...)
		if r.code != 7 || !strings.Contains(r.stdout, "uid=0(root) gid=0(root)") {
			t.Fatalf("podman run:\n%s", r)
		}
		// Root inside, but not host root: nobody, or root's range.
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if f := strings.Fields(lines[1]); len(lines) < 3 || len(f) != 3 || f[0] != "0" || f[1] == "0" {
			t.Errorf("uid_map in the box: host root mapped?\n%s", r.stdout)
		}
		if lines[2] == "" {
			t.Errorf("no /etc/hostname from podman:\n%s", r.stdout)
		}
		// podman's /etc/hosts is root's (0644): the box's ids may not
		// write it; the rootfs is read-only.
		if strings.Contains(r.stdout, "WROTE") {
			t.Errorf("the box wrote a file of host root's:\n%s", r.stdout)
		}
		// The trees attached are private (a clone of a shared mount is
		// its peer), and nosuid, nodev as every bind.
		if strings.Contains(r.stdout, "SHARED") || !strings.Contains(r.stdout, "userdata/hosts /etc/hosts rw,nosuid,nodev") {
			t.Errorf("podman's /etc/hosts bind in the box:\n%s", r.stdout)
		}
	})
	// With CAP_SYS_ADMIN and a filter that allows the mount calls
	// (podman's default profile does, given the capability), a payload
	// could clear the host's own flags below a bind, which the attached
	// trees do not lock: refused. The default filter refuses the mount
	// family: allowed.
	t.Run("cap_sys_admin", func(t *testing.T) {
		r := run(append(runArgs("capadmin", "--rm", "--cap-add", "SYS_ADMIN"), "/bin/true")...)
		if r.code == 0 || !strings.Contains(r.stderr, "CAP_SYS_ADMIN") {
			t.Fatalf("podman run --cap-add SYS_ADMIN (podman's profile):\n%s", r)
		}
		r = run(append(runArgs("capadmin2", "--rm", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"),
			"/bin/sh", "-c", "mount -o remount,bind,rw / 2>/dev/null && echo REMOUNTED; exit 0")...)
		if r.code != 0 || strings.Contains(r.stdout, "REMOUNTED") {
			t.Fatalf("podman run --cap-add SYS_ADMIN with the default filter:\n%s", r)
		}
	})
	// podman's default network as root: a bridge in a network namespace
	// podman made (netavark or CNI), which the box joins, and podman's
	// /etc/resolv.conf bound.
	t.Run("default network", func(t *testing.T) {
		r := run("run", "--rm", "--name", name("net"), "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
			"--rootfs", rootfs, "/bin/sh", "-c", "ip -o -4 addr show eth0; grep -q nameserver /etc/resolv.conf && echo RESOLV")
		if r.code != 0 && (strings.Contains(r.stderr, "netavark") || strings.Contains(r.stderr, "CNI") || strings.Contains(r.stderr, "iptables")) {
			testenv.Skip(t, "podman's root network cannot be set up here: %s", r.stderr)
		}
		if r.code != 0 || !strings.Contains(r.stdout, "inet ") || !strings.Contains(r.stdout, "RESOLV") {
			t.Fatalf("podman run with its default network:\n%s", r)
		}
	})
	t.Run("detach stop rm", func(t *testing.T) {
		podmanDetachStopRm(t, run, runArgs("detach", "-d"))
	})
	// linux.resources from a root engine: --memory 64M on a 400 MB
	// allocation is OOM-killed (137); --pids-limit caps a fork loop;
	// --cpus sets the CFS quota of the box's cgroup (read from the host,
	// through pid 1's /proc/PID/cgroup). podman's default pids limit
	// (2048) is in every other subtest.
	t.Run("memory", func(t *testing.T) {
		r := run(append(runArgs("memory", "--rm", "--memory", "64M"), "/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1")...)
		if r.code != 137 {
			t.Fatalf("podman run --memory 64M, 400 MB: exit %d, want 137\n%s", r.code, r)
		}
	})
	t.Run("pids limit", func(t *testing.T) {
		r := run(append(runArgs("pids", "--rm", "--pids-limit", "8"), "/bin/sh", "-c",
			`sh -c 'i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done'; set -- /proc/[0-9]*; echo "procs $#"`)...)
		n := -1
		if f := strings.Fields(r.stdout); len(f) == 2 && f[0] == "procs" {
			n, _ = strconv.Atoi(f[1])
		}
		if n < 2 || n > 8 || !strings.Contains(r.stderr, "can't fork") {
			t.Fatalf("--pids-limit 8, 30 forks: %d processes, want 2..8 and a failed fork\n%s", n, r)
		}
	})
	t.Run("cpus", func(t *testing.T) {
		r := run(append(runArgs("cpus", "-d", "--cpus", "0.5"), "/bin/sleep", "100")...)
		if r.code != 0 {
			t.Fatalf("podman run -d --cpus 0.5:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		defer run("rm", "-f", id)
		pid := strings.TrimSpace(run("inspect", "--format", "{{.State.Pid}}", id).stdout)
		quota := podmanCPUQuota(t, pid)
		if quota != "50000 100000" {
			t.Errorf("the box's CFS quota and period: %q, want 50000 100000", quota)
		}
	})
	t.Run("exec", func(t *testing.T) {
		r := run(append(runArgs("exec", "-d"), "/bin/sleep", "100")...)
		if r.code != 0 {
			t.Fatalf("podman run -d:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		r = run("exec", "-e", "X=1", "-w", "/tmp", id, "/bin/sh", "-c", `echo "$X $(pwd)"; ps -o pid,args; cat /proc/self/uid_map; exit 6`)
		if r.code != 6 || !strings.Contains(r.stdout, "1 /tmp") || !strings.Contains(r.stdout, "2 /bin/sleep 100") {
			t.Fatalf("podman exec:\n%s", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) != 3 || f[0] != "0" || f[1] == "0" {
			t.Errorf("uid_map of the joined process: host root mapped?\n%s", r.stdout)
		}
		r = run("exec", "-t", id, "/bin/sh", "-c", "tty; exit 3")
		if r.code != 3 || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Fatalf("podman exec -t:\n%s", r)
		}
		// The process joins the container's cgroup (podman's default
		// pids limit made one), the root of the box's cgroup namespace:
		// a process left in the runtime's would show a path above it.
		r = run("exec", id, "cat", "/proc/self/cgroup")
		want := []string{":pids:/\n", ":memory:/\n"}
		if limUnified() {
			want = []string{"0::/\n"}
		}
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("podman exec: not in the container's cgroup (want %q):\n%s", w, r)
			}
		}
		if r := run("rm", "-f", id); r.code != 0 {
			t.Fatalf("podman rm -f:\n%s", r)
		}
	})
	t.Run("kill", func(t *testing.T) {
		r := run(append(runArgs("kill", "-d"), "/bin/sleep", "100")...)
		if r.code != 0 {
			t.Fatalf("podman run -d:\n%s", r)
		}
		id := strings.TrimSpace(r.stdout)
		if r := run("kill", id); r.code != 0 {
			t.Fatalf("podman kill:\n%s", r)
		}
		waitExited(t, run, id, 137)
		if r := run("rm", id); r.code != 0 {
			t.Fatalf("podman rm:\n%s", r)
		}
	})
}

// podmanDetachStopRm: podman run -d (runD, then the command), logs, inspect,
// stop (the payload's TERM trap, exit 3), rm.
func podmanDetachStopRm(t *testing.T, run func(...string) result, runD []string) {
	r := run(append(runD, "/bin/sh", "-c",
		`trap "echo got TERM; exit 3" TERM; echo up; while :; do sleep 0.05; done`)...)
	if r.code != 0 {
		t.Fatalf("podman run -d:\n%s", r)
	}
	id := strings.TrimSpace(r.stdout)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(run("logs", id).stdout, "up") {
		if time.Now().After(deadline) {
			t.Fatalf("no output from %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := run("inspect", "--format", "{{.State.Status}}", id); strings.TrimSpace(r.stdout) != "running" {
		t.Fatalf("inspect:\n%s", r)
	}
	if r := run("stop", "-t", "10", id); r.code != 0 {
		t.Fatalf("podman stop:\n%s", r)
	}
	if r := run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id); strings.TrimSpace(r.stdout) != "exited 3" {
		t.Errorf("after stop:\n%s", r)
	}
	if r := run("logs", id); !strings.Contains(r.stdout, "got TERM") {
		t.Errorf("logs:\n%s", r)
	}
	if r := run("rm", id); r.code != 0 {
		t.Fatalf("podman rm:\n%s", r)
	}
}

// podmanCPUQuota reads the CFS quota and period of the box's cgroup (the
// parent of pid's own, its "box" child) from the host.
func podmanCPUQuota(t *testing.T, pid string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && limUnified():
			b, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", filepath.Dir(f[2]), "cpu.max"))
			return strings.TrimSpace(string(b))
		case slices.Contains(strings.Split(f[1], ","), "cpu"):
			dir := filepath.Join("/sys/fs/cgroup/cpu", filepath.Dir(f[2]))
			q, _ := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
			p, _ := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
			return strings.TrimSpace(string(q)) + " " + strings.TrimSpace(string(p))
		}
	}
	t.Fatalf("no cpu cgroup for pid %s:\n%s", pid, data)
	return ""
}

// A root runtime makes missing mount points in the rootfs as host root:
// a bind's, and a tmpfs's of the box's own (containerd's /run). The
// rootfs is the image's: a symlink planted in it, absolute, climbing with
// "..", or dangling at the mount point itself, must resolve inside it
// (RESOLVE_IN_ROOT, component by component), never make anything in the
// host directory it names. The target is root's: only host root could
// write there.
func TestOCIRootMountPointPlantedSymlink(t *testing.T) {
	c := ociCallers[1]
	c.gate(t)
	for _, tc := range []struct {
		name, link, to, dst string
		bind                bool
	}{
		{"tmpfs below an absolute link", "run", "TARGET", "/run/sub", false},
		{"tmpfs below a climbing link", "run", "../../../../../../../../TARGET", "/run/sub", false},
		{"tmpfs on a dangling link", "run", "TARGET/made", "/run", false},
		{"tmpfs below a link in a link", "run", "/lnk/sub", "/run/a/b", false},
		{"bind below an absolute link", "work", "TARGET", "/work/sub", true},
		{"bind on a dangling link", "work", "TARGET/made", "/work", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle, root := ociBundle(t, c, "/bin/true")
			target := hostDir(t)
			if err := os.Chown(target, 0, 0); err != nil {
				t.Fatal(err)
			}
			rootfs := filepath.Join(hostDir(t), "rootfs")
			if out, err := exec.Command("cp", "-a", env.rootfs, rootfs).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, out)
			}
			if out, err := exec.Command("chown", "-R", "0:0", rootfs).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v\n%s", err, out)
			}
			os.RemoveAll(filepath.Join(rootfs, tc.link))
			if err := os.Symlink(strings.ReplaceAll(tc.to, "TARGET", target), filepath.Join(rootfs, tc.link)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(rootfs, "lnk")); err != nil {
				t.Fatal(err)
			}
			m := specs.Mount{Destination: tc.dst, Type: "tmpfs", Source: "tmpfs"}
			if tc.bind {
				m = specs.Mount{Destination: tc.dst, Type: "bind", Source: hostDir(t), Options: []string{"rbind", "ro"}}
			}
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Root.Path = rootfs
				s.Mounts = append(s.Mounts, m)
			})
			r := c.oci(t, root, "run", "--bundle", bundle, "m")
			assertEmpty(t, target)
			t.Logf("run (exit %d): %s", r.code, r.stderr)
		})
	}
}

// Hooks in the runtime's namespaces: prestart and createRuntime at create
// (status created, pid 1's pid), poststart at start (running), poststop at
// delete, each with the state on stdin, in the listed order; a failed
// poststart is a warning and start succeeds; a failed createRuntime fails
// create and leaves no container, no holder and no process behind.
func TestOCIHooks(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", "sleep 0.3")
			out := hostDir(t)
			hook := func(name string) specs.Hook {
				return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `cat > "$1/` + name + `"; echo ` + name + ` >> "$1/order"`, "sh", out}}
			}
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Annotations = map[string]string{"k": "v"}
				s.Hooks = &specs.Hooks{
					Prestart:      []specs.Hook{hook("prestart")},
					CreateRuntime: []specs.Hook{hook("createRuntime1"), hook("createRuntime2")},
					Poststart:     []specs.Hook{{Path: "/bin/false"}, hook("poststart")},
					Poststop:      []specs.Hook{hook("poststop")},
				}
			})
			if r := c.oci(t, root, "create", "--bundle", bundle, "h1"); r.code != 0 {
				t.Fatalf("create:\n%s", r)
			}
			created := ociState(t, c, root, "h1")
			r := c.oci(t, root, "start", "h1")
			if r.code != 0 || !strings.Contains(r.stderr, "warning: hooks.poststart[0] (/bin/false)") {
				t.Fatalf("start: want success with a warning on poststart[0]\n%s", r)
			}
			waitStatus(t, c, root, "h1", specs.StateStopped)
			if r := c.oci(t, root, "delete", "h1"); r.code != 0 {
				t.Fatalf("delete:\n%s", r)
			}
			order, _ := os.ReadFile(filepath.Join(out, "order"))
			if want := "prestart\ncreateRuntime1\ncreateRuntime2\npoststart\npoststop\n"; string(order) != want {
				t.Errorf("hooks ran %q, want %q", order, want)
			}
			for name, status := range map[string]specs.ContainerState{"prestart": specs.StateCreated, "createRuntime2": specs.StateCreated,
				"poststart": specs.StateRunning, "poststop": specs.StateStopped} {
				data, _ := os.ReadFile(filepath.Join(out, name))
				var st specs.State
				if err := json.Unmarshal(data, &st); err != nil {
					t.Errorf("%s: stdin %q: %v", name, data, err)
					continue
				}
				if st.ID != "h1" || st.Status != status || st.Bundle != created.Bundle || st.Annotations["k"] != "v" ||
					(status != specs.StateStopped && st.Pid != created.Pid) {
					t.Errorf("%s: state %+v, want status %s, pid %d", name, st, status, created.Pid)
				}
			}

			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo no network >&2; exit 4"}}}}
			})
			r = c.oci(t, root, "create", "--bundle", bundle, "h2")
			if r.code == 0 || !strings.Contains(r.stderr, "hooks.createRuntime[0]") || !strings.Contains(r.stderr, "no network") {
				t.Errorf("create with a failing createRuntime hook: want an error naming it\n%s", r)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left: %v", ents)
			}
			if procs := pgrep("sandbox-hold h2"); len(procs) > 0 {
				t.Errorf("holder left: %v", procs)
			}
		})
	}
}

// process.oomScoreAdj: the payload has it; below the runtime's own it
// needs CAP_SYS_RESOURCE, so a regular user's create fails naming the
// field, and leaves nothing behind.
func TestOCIOOMScoreAdj(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			bundle, root := ociBundle(t, c, "/bin/cat", "/proc/self/oom_score_adj")
			set := func(v int) { ociEdit(t, bundle, func(s *specs.Spec) { s.Process.OOMScoreAdj = &v }) }
			set(500)
			if r := c.oci(t, root, "run", "--bundle", bundle, "o1"); r.code != 0 || r.stdout != "500\n" {
				t.Errorf("run with oomScoreAdj 500:\n%s", r)
			}
			set(-500)
			r := c.oci(t, root, "run", "--bundle", bundle, "o2")
			// Root may lower it with CAP_SYS_RESOURCE, which a container
			// running these tests may lack.
			if c.root && hasCapSysResource(t) {
				if r.code != 0 || r.stdout != "-500\n" {
					t.Errorf("run as root with oomScoreAdj -500:\n%s", r)
				}
			} else if r.code == 0 || !strings.Contains(r.stderr, "process.oomScoreAdj") || !strings.Contains(r.stderr, "CAP_SYS_RESOURCE") {
				t.Errorf("run without CAP_SYS_RESOURCE with oomScoreAdj -500: want an error naming the field\n%s", r)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left: %v", ents)
			}
		})
	}
}

// hasCapSysResource tells whether this (root) process has CAP_SYS_RESOURCE.
func hasCapSysResource(t *testing.T) bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n&(1<<24) != 0 // CAP_SYS_RESOURCE
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}

// A run whose payload cannot start (its cwd is missing) says why on
// stderr, not only by its exit status.
func TestOCIRunSetupErrorSaid(t *testing.T) {
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/true")
	ociEdit(t, bundle, func(s *specs.Spec) { s.Process.Cwd = "/nonexistent-cwd" })
	r := c.oci(t, root, "run", "--bundle", bundle, "s1")
	if r.code == 0 || !strings.Contains(r.stderr, "the payload did not start") || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("run with a missing cwd: want an error on stderr\n%s", r)
	}
}

// The config's mqueue mount is the box's own message queue file system
// (its IPC namespace's), nosuid, nodev, noexec.
func TestOCIMqueue(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", "grep ' /dev/mqueue ' /proc/self/mountinfo")
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Type == "mqueue" })
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
					Options: []string{"nosuid", "noexec", "nodev"}})
			})
			r := c.oci(t, root, "run", "--bundle", bundle, "m1")
			f := strings.Fields(r.stdout)
			if r.code != 0 || len(f) < 10 || !strings.Contains(r.stdout, " - mqueue ") ||
				!strings.Contains(f[5], "nosuid") || !strings.Contains(f[5], "nodev") || !strings.Contains(f[5], "noexec") {
				t.Errorf("/dev/mqueue in mountinfo: want an mqueue mount, nosuid, nodev, noexec\n%s", r)
			}
		})
	}
}

// createContainer and startContainer hooks run in the box's namespaces,
// run by its pid 1: createContainer before pivot_root (it sees the host's
// tree, which the payload cannot), startContainer after it (it sees the
// box's root) as the payload; each gets the state on stdin. A failing or
// hanging createContainer fails create and leaves nothing; a failing
// startContainer keeps the payload from running.
func TestOCIContainerHooks(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			out := hostDir(t)
			left := fmt.Sprintf("sleep 2%d.5", time.Now().UnixNano()%100000)
			// The box's ids (a root caller's: nobody or root's range)
			// write here.
			if err := os.Chmod(out, 0o777); err != nil {
				t.Fatal(err)
			}
			// The hooks of the runtime (a root caller's: root) and of
			// the box all append here.
			order := filepath.Join(out, "order")
			if err := os.WriteFile(order, nil, 0o666); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(order, 0o666); err != nil {
				t.Fatal(err)
			}
			bundle, root := ociBundle(t, c, "/bin/sh", "-c",
				`readlink /proc/self/ns/uts > /tmp/out/payload.uts; readlink /proc/self/ns/mnt > /tmp/out/payload.mnt; `+
					`test -e "$HOSTPATH" && echo yes > /tmp/out/payload.host || echo no > /tmp/out/payload.host`)
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Process.Env = append(s.Process.Env, "HOSTPATH="+out)
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp/out", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
				s.Annotations = map[string]string{"k": "v"}
				s.Hooks = &specs.Hooks{
					CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c",
						`cat > "$1/cc.state"; readlink /proc/self/ns/uts > "$1/cc.uts"; readlink /proc/self/ns/mnt > "$1/cc.mnt"; ` +
							`test -e "$1" && echo yes > "$1/cc.host"; echo "$X" > "$1/cc.env"; echo createContainer >> "$1/order"; ` +
							`pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$1/cc.state"); ls /proc/$pid/fd > /dev/null 2>&1 && echo open > "$1/cc.fd" || echo denied > "$1/cc.fd"`, "sh", out},
						Env: []string{"X=createContainer"}},
						// It leaves a process behind, which must not live on in the box.
						{Path: "/bin/sh", Args: []string{"sh", "-c", "setsid " + left + " > /dev/null 2>&1 < /dev/null &"}}},
					StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c",
						`cat > /tmp/out/sc.state; readlink /proc/self/ns/mnt > /tmp/out/sc.mnt; test -d /tmp/out && echo box > /tmp/out/sc.root; ` +
							`echo startContainer >> /tmp/out/order`}}},
					// The spec runs createRuntime before createContainer.
					CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", `cat > "$1/cr.state"; echo createRuntime >> "$1/order"`, "sh", out}}},
				}
			})
			if r := c.oci(t, root, "create", "--bundle", bundle, "k1"); r.code != 0 {
				t.Fatalf("create:\n%s", r)
			}
			created := ociState(t, c, root, "k1")
			if p := pgrep(left); len(p) > 0 {
				t.Errorf("what a createContainer hook left running lives on: %v", p)
			}
			if r := c.oci(t, root, "start", "k1"); r.code != 0 {
				t.Fatalf("start:\n%s", r)
			}
			waitStatus(t, c, root, "k1", specs.StateStopped)
			if r := c.oci(t, root, "delete", "k1"); r.code != 0 {
				t.Fatalf("delete:\n%s", r)
			}
			read := func(name string) string {
				b, _ := os.ReadFile(filepath.Join(out, name))
				return strings.TrimSpace(string(b))
			}
			hostUTS, _ := os.Readlink("/proc/self/ns/uts")
			if u := read("cc.uts"); u == "" || u == hostUTS || u != read("payload.uts") {
				t.Errorf("createContainer's uts namespace %q, the host's %q, the payload's %q: want the payload's", u, hostUTS, read("payload.uts"))
			}
			if m := read("cc.mnt"); m == "" || m != read("payload.mnt") || m != read("sc.mnt") {
				t.Errorf("mount namespaces: createContainer %q, startContainer %q, payload %q: want one", m, read("sc.mnt"), read("payload.mnt"))
			}
			if read("cc.host") != "yes" || read("payload.host") != "no" {
				t.Errorf("host path %s: createContainer saw %q, the payload %q: want yes (before pivot_root), no", out, read("cc.host"), read("payload.host"))
			}
			if read("cc.fd") != "denied" {
				t.Errorf("createContainer could list pid 1's descriptors: %q, want denied (pid 1 not dumpable)", read("cc.fd"))
			}
			if read("sc.root") != "box" {
				t.Errorf("startContainer did not see the box's root (after pivot_root): %q", read("sc.root"))
			}
			if read("cc.env") != "createContainer" {
				t.Errorf("createContainer's env: %q", read("cc.env"))
			}
			if o := read("order"); o != "createRuntime\ncreateContainer\nstartContainer" {
				t.Errorf("hooks ran %q, want createRuntime, createContainer, startContainer", o)
			}
			for name, status := range map[string]specs.ContainerState{"cc.state": specs.StateCreating, "sc.state": specs.StateCreated, "cr.state": specs.StateCreated} {
				var st specs.State
				if err := json.Unmarshal([]byte(read(name)), &st); err != nil {
					t.Errorf("%s: stdin %q: %v", name, read(name), err)
					continue
				}
				if st.ID != "k1" || st.Status != status || st.Bundle != created.Bundle || st.Annotations["k"] != "v" || st.Pid != created.Pid {
					t.Errorf("%s: state %+v, want status %s, pid %d", name, st, status, created.Pid)
				}
			}

			// A failing startContainer: start goes through (as runc's),
			// the payload never runs, the container stops.
			os.Remove(filepath.Join(out, "payload.uts"))
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}}}}
			})
			if r := c.oci(t, root, "create", "--bundle", bundle, "k2"); r.code != 0 {
				t.Fatalf("create:\n%s", r)
			}
			c.oci(t, root, "start", "k2")
			waitStatus(t, c, root, "k2", specs.StateStopped)
			c.oci(t, root, "delete", "k2")
			if read("payload.uts") != "" {
				t.Errorf("the payload ran after a failing startContainer hook")
			}
			r := c.oci(t, root, "run", "--bundle", bundle, "k5")
			if r.code == 0 || !strings.Contains(r.stderr, "the payload did not start: hooks.startContainer (setup step") ||
				!strings.Contains(r.stderr, "exit status 3") || read("payload.uts") != "" {
				t.Errorf("run with a failing startContainer hook: want an error naming it, no payload\n%s", r)
			}

			// A failing createContainer fails create, naming it.
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}}}}
			})
			r = c.oci(t, root, "create", "--bundle", bundle, "k3")
			if r.code == 0 || !strings.Contains(r.stderr, "hooks.createContainer[1] (/bin/sh): exit status 3") {
				t.Errorf("create with a failing createContainer hook: want an error naming it\n%s", r)
			}
			// A failing createRuntime, run while pid 1 waits before
			// the createContainer hooks, fails create before them.
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{
					CreateRuntime:   []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 4"}}},
					CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", `echo ran > "$1/cc6"`, "sh", out}}},
				}
			})
			r = c.oci(t, root, "create", "--bundle", bundle, "k6")
			if r.code == 0 || !strings.Contains(r.stderr, "hooks.createRuntime[0]") || read("cc6") != "" {
				t.Errorf("create with a failing createRuntime before createContainer: want an error naming it, createContainer not run (%q)\n%s", read("cc6"), r)
			}
			// A hanging one is killed at its timeout, with what it
			// started, and fails create.
			marker := fmt.Sprintf("sleep 1%d.5", time.Now().UnixNano()%100000)
			one := 1
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sh", Timeout: &one,
					Args: []string{"sh", "-c", "setsid " + marker + " & " + marker}}}}
			})
			t0 := time.Now()
			r = c.oci(t, root, "create", "--bundle", bundle, "k4")
			if r.code == 0 || !strings.Contains(r.stderr, "hooks.createContainer[0] (/bin/sh): did not exit within its timeout (1s)") {
				t.Errorf("create with a hanging createContainer hook: want an error naming it\n%s", r)
			}
			if d := time.Since(t0); d > 10*time.Second {
				t.Errorf("create with a hook of timeout 1s took %v", d)
			}
			if p := pgrep(marker); len(p) > 0 {
				t.Errorf("the hook's processes outlived it: %v", p)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left: %v", ents)
			}
			for _, id := range []string{"k3", "k4", "k6"} {
				if procs := pgrep("sandbox-hold " + id); len(procs) > 0 {
					t.Errorf("holder left: %v", procs)
				}
			}
		})
	}
}

// TestOCIHookForkChain: a createContainer hook leaves a process that forks
// and exits without end, each child carrying on (a "runner": never the same
// pid for long, each re-parented to pid 1 as its parent exits). pid 1's
// kill of a hook's leftovers must still end, promptly, with the runner
// dead: the round of re-reading its children must not chase it for as long
// as it runs (here until its own deadline, far past the test's bound).
func TestOCIHookForkChain(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			runner := staticC(t, `#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	long end = atol(argv[1]);
	if (fork() != 0)
		_exit(0); // the hook itself ends at once
	for (;;) {
		if (time(NULL) >= end)
			_exit(0);
		pid_t p = fork();
		if (p < 0)
			continue;
		if (p != 0 && fork() != 0)
			_exit(0); // two children go on, re-parented
	}
}
`)
			const runFor = 25 * time.Second
			end := strconv.FormatInt(time.Now().Add(runFor).Unix(), 10)
			r, took := createWithHook(t, c, specs.Hook{Path: runner, Args: []string{"runner", end}})
			if took > 10*time.Second {
				t.Errorf("create with a hook that left a fork-and-exit runner took %v (the runner ran for %v): pid 1 chased it", took, runFor)
			}
			if r.code != 0 {
				t.Errorf("create:\n%s", r)
			}
			if p := pgrep(runner); len(p) > 0 {
				t.Errorf("the runner lives on: %v", p)
			}
		})
	}
}

// TestOCIHookFakesChildrenList: a createContainer hook is the box's root
// (CAP_SYS_CHROOT, CAP_SYS_ADMIN over the box's mounts): it can leave its
// chroot, put a tmpfs over the new root's /proc and a FIFO where pid 1 reads
// its children, and leave a process running. pid 1 must neither block on
// the FIFO nor take the list it finds for the truth: the leftover is killed
// and create ends promptly (an error or not).
func TestOCIHookFakesChildrenList(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			marker := fmt.Sprintf("sleep 3%d.5", time.Now().UnixNano()%100000)
			hook := staticC(t, `#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	// argv[1]: a directory to chroot into and climb out of.
	char done[4096];
	snprintf(done, sizeof done, "%s/planted", argv[1]);
	FILE *f = fopen(done, "w");
	if (!f || chroot(argv[1]) < 0) { perror("chroot"); return 1; }
	for (int i = 0; i < 64; i++)
		chdir("..");
	if (chroot(".") < 0) { perror("chroot ."); return 1; }
	if (mount("tmpfs", "/newroot/proc", "tmpfs", 0, NULL) < 0) { perror("mount"); return 1; }
	mkdir("/newroot/proc/self", 0755);
	mkdir("/newroot/proc/self/task", 0755);
	mkdir("/newroot/proc/self/task/1", 0755);
	if (mkfifo("/newroot/proc/self/task/1/children", 0644) < 0) { perror("mkfifo"); return 1; }
	fputs("yes", f);
	fclose(f);
	if (fork() == 0) {
		setsid();
		execl("/bin/sh", "sh", "-c", argv[2], (char *)NULL);
		_exit(1);
	}
	return 0;
}
`)
			jail := sharedDir(t)
			one := 1
			r, took := createWithHook(t, c, specs.Hook{Path: hook, Args: []string{"hook", jail, marker}, Timeout: &one})
			if took > 10*time.Second {
				t.Errorf("create with a hook that faked pid 1's children list took %v\n%s", took, r)
			}
			if b, _ := os.ReadFile(filepath.Join(jail, "planted")); string(b) != "yes" {
				t.Errorf("the hook did not plant its FIFO: %q\n%s", b, r)
			}
			if p := pgrep(marker); len(p) > 0 {
				t.Errorf("the hook's leftover lives on: %v\n%s", p, r)
			}
		})
	}
}

// TestOCIHookEdges: a hook is a process of the box, not the engine: a
// signal it sends pid 1 while pid 1 waits for it (a SIGTERM, which from
// outside ends a box stuck in setup) must not end the box as if the engine
// had killed it, with a status of its choosing. A startContainer hook gets
// the payload's confinement (no_new_privs, the seccomp filter). A hook's
// timeout of any size is a timeout (a huge one overflowed pid 1's
// nanoseconds and killed the hook at once).
func TestOCIHookEdges(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			out := sharedDir(t)
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", "echo ran > /tmp/out/payload; exit 7")
			huge := 1 << 40
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp/out", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
				s.Hooks = &specs.Hooks{
					CreateContainer: []specs.Hook{{Path: "/bin/sh", Timeout: &huge, Args: []string{"sh", "-c", "kill -USR1 1; sleep 0.3"}}},
					StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c",
						`grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status > /tmp/out/sc.status; kill -TERM 1; sleep 0.3`}}},
				}
			})
			r := c.oci(t, root, "run", "--bundle", bundle, "e1")
			b, _ := os.ReadFile(filepath.Join(out, "payload"))
			if r.code != 7 || strings.TrimSpace(string(b)) != "ran" {
				t.Errorf("run: exit %d, payload %q: want 7, ran (the hooks' signals to pid 1 ignored, a timeout of %d not past)\n%s", r.code, b, huge, r)
			}
			b, _ = os.ReadFile(filepath.Join(out, "sc.status"))
			if st := string(b); !strings.Contains(st, "NoNewPrivs:\t1") || !strings.Contains(st, "Seccomp:\t2") {
				t.Errorf("startContainer hook: %q, want no_new_privs and a seccomp filter", st)
			}
		})
	}
}

// sharedDir is a host directory the box's ids (a root caller's: nobody or
// root's range) can write.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := hostDir(t)
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

// staticC builds the C program src, static, where the box's ids can run it
// (a hook's path is the host's); no gcc: the test is skipped.
func staticC(t *testing.T, src string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		testenv.Skip(t, "no gcc to build a test program: %v", err)
	}
	dir := hostDir(t)
	c, bin := filepath.Join(dir, "prog.c"), filepath.Join(dir, "prog")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-O2", "-static", "-o", bin, c).CombinedOutput(); err != nil {
		testenv.Skip(t, "gcc -static: %v\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// createWithHook creates a container of /bin/true with one createContainer
// hook, h, and says how long create took; the container is deleted at the
// test's end.
func createWithHook(t *testing.T, c ociCaller, h specs.Hook) (result, time.Duration) {
	t.Helper()
	bundle, root := ociBundle(t, c, "/bin/true")
	ociEdit(t, bundle, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{h}}
	})
	t0 := time.Now()
	r := c.oci(t, root, "create", "--bundle", bundle, "h1")
	took := time.Since(t0)
	t.Cleanup(func() { c.oci(t, root, "delete", "--force", "h1") })
	return r, took
}
