package main

// containerd as a real client of the OCI runtime, as root: a private
// containerd (Debian's package) whose runc shim (containerd-shim-runc-v2)
// calls bin/sandbox-oci through `ctr run --runc-binary`.

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// privateContainerd starts a containerd of the test's own: its config, root
// and state directories and sockets under dir, the CRI plugin and the
// snapshotters it needs no storage for off (ctr --rootfs uses none). It never
// touches a system containerd. Its shims (daemons, re-parented away from
// it), their boxes and holders are killed and containerd stopped at the
// end, whether the test passed or not. sock is its grpc socket, in dir.
func privateContainerd(t *testing.T, containerd, dir, sock string) {
	t.Helper()
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", filepath.Join(dir, "opt"))
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(containerd, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: stopped by its pid alone, never by name
	// (another test may run a containerd of its own).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		// What is left of this containerd's: shims (their command line
		// names its socket), holders and the runtime (the state root
		// is under dir). Killed by pid.
		for _, p := range pgrep(dir) {
			pid, _, _ := strings.Cut(p, ":")
			if n, err := strconv.Atoi(pid); err == nil {
				syscall.Kill(n, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("containerd's log:\n%s", clip(string(b)))
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd exited before serving:\n%s", clip(string(b)))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd's socket %s did not appear in 20s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOCIContainerd: `ctr run --runc-binary bin/sandbox-oci` prints the
// payload's output and exits with its code; the box is in a user namespace
// that does not map host root; run -t, run -d, task exec (-t), task kill,
// task delete and container delete work; and nothing is left: no box, no
// holder, no state directory under the runtime root the shim gives
// (--runc-root/<namespace>), no cgroup. The rootfs is root's and has no /run, where containerd's default
// spec mounts a tmpfs (a busybox image has none either): the runtime makes
// that mount point as root, as it does a bind's (CallerMounts).
func TestOCIContainerd(t *testing.T) {
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		testenv.Skip(t, "containerd is not installed (apt-get install containerd)")
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		testenv.Skip(t, "ctr is not installed (apt-get install containerd)")
	}
	needRoot(t)
	need(t)
	oci := ociBin(t)
	dir := t.TempDir()
	// The box's ids (nobody) need not reach the rootfs through dir (pid 1
	// attaches a tree opened as root), but the state root's parents must
	// be writable only by their owner, as the runtime checks.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", env.rootfs, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if out, err := exec.Command("chown", "-R", "0:0", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "run")); !os.IsNotExist(err) {
		t.Fatalf("the rootfs has /run (%v): the test would not show its mount point is made", err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	ns := fmt.Sprintf("sandbox-test-%d", os.Getpid())
	ids := []string{"run", "tty", "detach"}
	t.Cleanup(func() {
		// A shim killed at the end leaves its socket where containerd
		// 1.6 puts them all, named after the address, the namespace and
		// the id (its shim.SocketAddress); one that exited removed it.
		for _, id := range ids {
			os.Remove(fmt.Sprintf("/run/containerd/s/%x", sha256.Sum256([]byte(filepath.Join(sock, ns, id)))))
		}
	})
	t.Cleanup(func() {
		// The parent of the boxes' leaves (cgroupsPath /NAMESPACE/ID),
		// which the runtime made and leaves behind, as runc does.
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", ns))
		for _, d := range append(m, filepath.Join("/sys/fs/cgroup", ns)) {
			os.Remove(d)
		}
	})
	privateContainerd(t, containerd, dir, sock)
	runcRoot := filepath.Join(dir, "runc")
	stateRoot := filepath.Join(runcRoot, ns) // the shim passes --root RUNCROOT/NAMESPACE
	run := func(args ...string) result {
		t.Helper()
		return runWith(t, runOpts{bin: ctr, root: true}, append([]string{"--address", sock, "--namespace", ns}, args...)...)
	}
	// ctr's flags for the runtime: this binary, a state root under dir
	// (not /run/containerd/runc), fifos under dir. ctr's default cpu
	// shares (1024, linux.resources.cpu) go on the box's cgroup.
	runFlags := []string{"--runc-binary", oci, "--runc-root", runcRoot, "--fifo-dir", filepath.Join(dir, "fifo"), "--rootfs", rootfs}
	t.Cleanup(func() {
		for _, id := range ids {
			run("task", "delete", "--force", id)
			run("container", "delete", id)
		}
	})
	marker := fmt.Sprintf("sandbox-test-ctrd-%d", os.Getpid())
	nothingLeft := func(t *testing.T, id string, cgroups []string) {
		t.Helper()
		if _, err := os.Lstat(filepath.Join(stateRoot, id)); !os.IsNotExist(err) {
			t.Errorf("the state directory %s is left (%v)", filepath.Join(stateRoot, id), err)
		}
		// The box's processes carry the marker; holders and the runtime
		// name the state root.
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := append(pgrep(marker), pgrep(runcRoot)...)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("processes left:\n%s", strings.Join(left, "\n"))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, cg := range cgroups {
			if _, err := os.Stat(cg); !os.IsNotExist(err) {
				t.Errorf("the box's cgroup %s is left (%v)", cg, err)
			}
		}
		// The box's leaf is at the config's cgroupsPath (/NAMESPACE/ID):
		// gone, and nothing below the namespace's cgroup, which create
		// made as a missing parent and leaves, as runc does (cleanup).
		for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/*"} {
			if m, _ := filepath.Glob(filepath.Join(root, ns, "*")); len(m) > 0 {
				if m = slices.DeleteFunc(m, func(p string) bool { st, err := os.Stat(p); return err != nil || !st.IsDir() }); len(m) > 0 {
					t.Errorf("cgroups below the namespace's are left: %v", m)
				}
			}
		}
	}

	t.Run("run", func(t *testing.T) {
		r := run(append(append([]string{"run", "--rm"}, runFlags...), "run", "/bin/sh", "-c",
			`: `+marker+`; echo out; echo err >&2; id; cat /proc/self/uid_map; grep -c " /run " /proc/self/mountinfo; exit 7`)...)
		if r.code != 7 || !strings.Contains(r.stdout, "out\n") || !strings.Contains(r.stderr, "err\n") {
			t.Fatalf("ctr run: want the output and exit 7\n%s", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) < 4 || !strings.HasPrefix(lines[1], "uid=0(root) gid=0(root)") {
			t.Fatalf("ctr run: id in the box:\n%s", r)
		}
		// Root inside, but in a user namespace that does not map host
		// root (nobody, or root's subordinate range).
		if f := strings.Fields(lines[2]); len(f) != 3 || f[0] != "0" || f[1] == "0" || f[2] == "4294967295" {
			t.Errorf("uid_map in the box: host root mapped?\n%s", r.stdout)
		}
		if lines[3] != "1" {
			t.Errorf("containerd's /run tmpfs is not mounted in the box:\n%s", r.stdout)
		}
		nothingLeft(t, "run", nil)
	})

	// runTTY is run in a terminal (script(1)), which ctr -t needs.
	runTTY := func(args ...string) result {
		t.Helper()
		if _, err := exec.LookPath("script"); err != nil {
			testenv.Skip(t, "script(1) is not installed (apt-get install bsdutils)")
		}
		cmd := shellQuote(ctr) + " --address " + shellQuote(sock) + " --namespace " + ns
		for _, a := range args {
			cmd += " " + shellQuote(a)
		}
		return runWith(t, runOpts{root: true, wrap: "script -qec " + shellQuote(cmd) + " /dev/null </dev/null"})
	}
	// ctr run -t: the shim's --console-socket, which gets the master of a
	// terminal of the box's own devpts. ctr needs a terminal: script(1).
	t.Run("tty", func(t *testing.T) {
		r := runTTY(append(append([]string{"run", "--rm", "-t"}, runFlags...), "tty", "/bin/sh", "-c", ": "+marker+"; tty; exit 5")...)
		if r.code != 5 || !strings.Contains(r.stdout, "/dev/pts/0") {
			t.Fatalf("ctr run -t: want a terminal and exit 5\n%s", r)
		}
		nothingLeft(t, "tty", nil)
	})

	t.Run("detach kill delete", func(t *testing.T) {
		r := run(append(append([]string{"run", "-d"}, runFlags...), "detach", "/bin/sh", "-c",
			`: `+marker+`; trap "exit 3" TERM; while :; do sleep 0.05; done`)...)
		if r.code != 0 {
			t.Fatalf("ctr run -d:\n%s", r)
		}
		r = run("task", "ls")
		var pid int
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "detach" && f[2] == "RUNNING" {
				fmt.Sscan(f[1], &pid)
			}
		}
		if pid == 0 {
			t.Fatalf("ctr task ls: detach is not running:\n%s", r)
		}
		// The box's cgroups as the host sees them, other than this
		// test's own: delete must remove any the runtime made.
		var cgroups []string
		mine, _ := os.ReadFile("/proc/self/cgroup")
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				parts := strings.SplitN(l, ":", 3)
				if len(parts) != 3 || strings.Contains(string(mine), l) {
					continue
				}
				// v1: the controller's hierarchy; v2: the unified one
				// (/sys/fs/cgroup/unified on a hybrid host).
				ctrl := strings.TrimPrefix(strings.Split(parts[1], ",")[0], "name=")
				if ctrl == "" {
					if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
						ctrl = "unified"
					}
				}
				cgroups = append(cgroups, filepath.Join("/sys/fs/cgroup", ctrl, parts[2]))
				// Where the shim reads the metrics and OOM events: the
				// config's cgroupsPath, the box's processes in its
				// child "box".
				if ctrl == "pids" || ctrl == "memory" || ctrl == "" {
					if want := "/" + ns + "/detach/box"; parts[2] != want {
						t.Errorf("the box's %s cgroup %s, want the config's cgroupsPath's child %s", parts[1], parts[2], want)
					}
				}
			}
		}
		// ctr task exec: the shim's exec --process --detach --pid-file;
		// it waits for the process itself (its subreaper).
		r = run("task", "exec", "--exec-id", "e1", "detach", "/bin/sh", "-c", `echo in-box; ps -o pid,args; exit 4`)
		if r.code != 4 || !strings.Contains(r.stdout, "in-box") || !strings.Contains(r.stdout, "2 /bin/sh -c : "+marker) {
			t.Errorf("ctr task exec: want its output and exit 4\n%s", r)
		}
		// ctr task exec -t: a terminal of the box's devpts, the shim
		// reading the exec's output until EOF as create's.
		r = runTTY("task", "exec", "-t", "--exec-id", "e2", "detach", "/bin/sh", "-c", "tty; exit 6")
		if r.code != 6 || !strings.Contains(r.stdout, "/dev/pts/") {
			t.Errorf("ctr task exec -t: want a terminal and exit 6\n%s", r)
		}
		if r := run("task", "kill", "detach"); r.code != 0 {
			t.Fatalf("ctr task kill:\n%s", r)
		}
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(run("task", "ls").stdout, "STOPPED") {
			if time.Now().After(deadline) {
				t.Fatalf("detach did not stop after SIGTERM:\n%s", run("task", "ls"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		// ctr reports a non-zero exit code when it deletes the task: the
		// payload's trap's.
		r = run("task", "delete", "detach")
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "exit code 3") {
			t.Fatalf("ctr task delete: want exit code 3\n%s", r)
		}
		if r := run("container", "delete", "detach"); r.code != 0 {
			t.Fatalf("ctr container delete:\n%s", r)
		}
		nothingLeft(t, "detach", cgroups)
	})
}
