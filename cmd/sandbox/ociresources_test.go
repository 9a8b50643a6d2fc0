package main

// The OCI runtime's linux.resources (the box's cgroup, which outlives
// create and is removed by delete), linux.sysctl and ps, driven by hand as
// an engine drives them, as the unprivileged test user.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ociEdit rewrites the bundle's config.json through edit.
func ociEdit(t *testing.T, bundle string, edit func(s *specs.Spec)) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	edit(&s)
	data, _ = json.Marshal(&s)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ociDelegate gives the test user its cgroups (`sandbox cgroup-setup`, as
// root; idempotent), where a rootless box's cgroup goes on a v1 host.
func ociDelegate(t *testing.T) {
	t.Helper()
	needRoot(t)
	u, err := user.LookupId(strconv.Itoa(env.uid))
	if err != nil {
		t.Fatal(err)
	}
	if r := runWith(t, runOpts{root: true}, "cgroup-setup", "--user", u.Username); r.code != 0 {
		t.Fatalf("cgroup-setup:\n%s", r)
	}
}

// ociCgroups reads the cgroup leaves create recorded in state.json.
func ociCgroups(t *testing.T, root, id string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Cgroups []string `json:"cgroups"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Cgroups
}

// leafFile reads a file of the leaf of controller ctrl among dirs.
func leafFile(t *testing.T, dirs []string, ctrl, name string) string {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil && (limUnified() || strings.Contains(d, "/"+ctrl+"/")) {
			b, _ := os.ReadFile(filepath.Join(d, name))
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("no %s file %s in %v", ctrl, name, dirs)
	return ""
}

func resources(mem, pids, quota int64) *specs.LinuxResources {
	period := uint64(100000)
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem},
		Pids:   &specs.LinuxPids{Limit: &pids},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
	}
}

// userLeaves lists the box leaves in the test user's delegated memory (v1)
// or v2 directory: what a rootless box's cgroup would leave behind.
func userLeaves(t *testing.T) []string {
	t.Helper()
	u, err := user.LookupId(strconv.Itoa(env.uid))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", "sandbox-"+u.Username)
	if limUnified() {
		dir = filepath.Join("/sys/fs/cgroup", "sandbox-"+u.Username)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "sandbox-*"))
	return slices.DeleteFunc(m, func(p string) bool { return filepath.Base(p) == "sandbox-supervisor" })
}

// leftLeaves are the leaves in after but not in before that no process
// locks: those a box of another run (the machine may be shared) keeps are
// locked by their supervisors (cgroup/stale.go), one left behind is not.
func leftLeaves(before, after []string) []string {
	var left []string
	for _, d := range after {
		if slices.Contains(before, d) {
			continue
		}
		fd, err := syscall.Open(d, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // gone meanwhile
		}
		if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			left = append(left, d)
		}
		syscall.Close(fd)
	}
	return left
}

// linux.resources as the test user: the limits are on the box's cgroup
// (read from the host) and in force (a 400 MB allocation under 64 MiB is
// OOM-killed: 137, from end.json after create/start and from run); the
// cgroup outlives create and a later box's sweep (its leaves' locks kept
// by the holder); kill --all and ps use it; delete, delete --force and run
// remove it.
func TestOCIResources(t *testing.T) {
	ociDelegate(t)
	c := ociCallers[0]
	dd := []string{"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1"}
	bundle, root := ociBundle(t, c, dd...)
	ociEdit(t, bundle, func(s *specs.Spec) { s.Linux.Resources = resources(64<<20, 16, 50000) })

	t.Run("create start oom", func(t *testing.T) {
		if r := c.oci(t, root, "create", "--bundle", bundle, "oom"); r.code != 0 {
			t.Fatalf("create:\n%s", r)
		}
		dirs := ociCgroups(t, root, "oom")
		if len(dirs) == 0 {
			t.Fatal("no cgroup in state.json")
		}
		if !limUnified() {
			if got := leafFile(t, dirs, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
				t.Errorf("memory.limit_in_bytes %s, want 64 MiB", got)
			}
			if got := leafFile(t, dirs, "cpu", "cpu.cfs_quota_us"); got != "50000" {
				t.Errorf("cpu.cfs_quota_us %s, want 50000", got)
			}
		}
		if got := leafFile(t, dirs, "pids", "pids.max"); got != "16" {
			t.Errorf("pids.max %s, want 16", got)
		}
		if r := c.oci(t, root, "start", "oom"); r.code != 0 {
			t.Fatalf("start:\n%s", r)
		}
		waitStatus(t, c, root, "oom", specs.StateStopped)
		var end struct {
			Known  bool
			Status int `json:"wait_status"`
		}
		data, _ := os.ReadFile(filepath.Join(root, "oom", "end.json"))
		if err := json.Unmarshal(data, &end); err != nil || !end.Known {
			t.Fatalf("end.json %q: %v", data, err)
		}
		if ws := syscall.WaitStatus(end.Status); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("dd of 400 MB under 64 MiB: wait status %#x, want SIGKILL (137)", end.Status)
		}
		if r := c.oci(t, root, "delete", "oom"); r.code != 0 {
			t.Fatalf("delete:\n%s", r)
		}
		limAssertGone(t, dirs)
	})
	// A create that fails after its cgroup was made (a mount fails in
	// the box) leaves no cgroup; a field the cgroup cannot honour fails
	// naming it.
	t.Run("failed create leaves nothing", func(t *testing.T) {
		b, root := ociBundle(t, c, "/bin/true")
		before := userLeaves(t)
		ociEdit(t, b, func(s *specs.Spec) {
			s.Linux.Resources = resources(64<<20, 16, 50000)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/nonexistent-source", Options: []string{"rbind"}})
		})
		r := c.oci(t, root, "create", "--bundle", b, "bad")
		if r.code == 0 || !strings.Contains(r.stderr, "/nonexistent-source") {
			t.Fatalf("create: want an error naming the mount\n%s", r)
		}
		if left := leftLeaves(before, userLeaves(t)); len(left) > 0 {
			t.Errorf("cgroups left by a failed create: %v", left)
		}
		ociEdit(t, b, func(s *specs.Spec) { s.Mounts = s.Mounts[:len(s.Mounts)-1]; s.Linux.Resources.CPU.Cpus = "0" })
		r = c.oci(t, root, "create", "--bundle", b, "bad")
		if r.code == 0 || !strings.Contains(r.stderr, "linux.resources.cpu.cpus") {
			t.Fatalf("create with cpus: want an error naming linux.resources.cpu.cpus\n%s", r)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Errorf("state left: %v", ents)
		}
		if procs := pgrep("sandbox-hold bad"); len(procs) > 0 {
			t.Errorf("holder left: %v", procs)
		}
	})
	t.Run("run oom", func(t *testing.T) {
		before := userLeaves(t)
		r := c.oci(t, root, "run", "--bundle", bundle, "runoom")
		if r.code != 137 {
			t.Fatalf("run: exit %d, want 137 (OOM-killed)\n%s", r.code, r)
		}
		if left := leftLeaves(before, userLeaves(t)); len(left) > 0 {
			t.Errorf("cgroups left by run: %v", left)
		}
	})
	t.Run("fork loop capped", func(t *testing.T) {
		// The inner shell forks sleeps until a fork fails (and exits);
		// the outer one counts the box's processes with builtins.
		b, root := ociBundle(t, c, "/bin/sh", "-c", `sh -c 'i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done'; set -- /proc/[0-9]*; echo "procs $#"`)
		ociEdit(t, b, func(s *specs.Spec) { s.Linux.Resources = resources(256<<20, 8, 100000) })
		r := c.oci(t, root, "run", "--bundle", b, "forks")
		n := -1
		if f := strings.Fields(r.stdout); len(f) == 2 && f[0] == "procs" {
			n, _ = strconv.Atoi(f[1])
		}
		if n < 2 || n > 8 || !strings.Contains(r.stderr, "can't fork") {
			t.Fatalf("processes in a box with pids.max 8 after 30 forks: %d, want 2..8 and a failed fork\n%s", n, r)
		}
		t.Logf("%d processes in the box after 30 forks asked for", n)
	})
	t.Run("outlives a sweep; kill --all, ps, delete --force", func(t *testing.T) {
		// The shell survives a TERM (its trap) and waits for its sleeps:
		// the container ends only if they get the signal too.
		b, root := ociBundle(t, c, "/bin/sh", "-c", `trap "echo got TERM" TERM; sleep 100 & sleep 100 & wait; wait`)
		ociEdit(t, b, func(s *specs.Spec) { s.Linux.Resources = resources(64<<20, 16, 100000) })
		if r := c.oci(t, root, "create", "--bundle", b, "long"); r.code != 0 {
			t.Fatalf("create:\n%s", r)
		}
		if r := c.oci(t, root, "start", "long"); r.code != 0 {
			t.Fatalf("start:\n%s", r)
		}
		dirs := ociCgroups(t, root, "long")
		// A box of sandbox exec sweeps the leaves beside its own whose
		// lock it can take: the container's must not be one.
		if r := runSandbox(t, "exec", "--memory", "32M", "--", "true"); r.code != 0 {
			t.Fatalf("sandbox exec --memory:\n%s", r)
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); err != nil {
				t.Errorf("the container's cgroup was swept: %v", err)
			}
		}
		st := waitStatus(t, c, root, "long", specs.StateRunning)
		var pids []int
		for range 100 {
			r := c.oci(t, root, "ps", "--format", "json", "long")
			if r.code != 0 {
				t.Fatalf("ps:\n%s", r)
			}
			if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
				t.Fatalf("ps --format json: %v\n%s", err, r)
			}
			if len(pids) == 4 {
				break
			}
		}
		// pid 1, the shell and its two sleeps.
		if len(pids) != 4 || !slices.Contains(pids, st.Pid) {
			t.Errorf("ps --format json: %v, want pid 1 (%d) and 3 more", pids, st.Pid)
		}
		if r := c.oci(t, root, "ps", "long"); r.code != 0 || !strings.Contains(r.stdout, "PID") || !strings.Contains(r.stdout, "sleep 100") {
			t.Errorf("ps (table):\n%s", r)
		}
		// kill --all TERM: pid 1 passes TERM to the shell, which traps
		// it; the sleeps get it from the cgroup's list.
		if r := c.oci(t, root, "kill", "--all", "long", "TERM"); r.code != 0 {
			t.Fatalf("kill --all:\n%s", r)
		}
		waitStatus(t, c, root, "long", specs.StateStopped)
		if r := c.oci(t, root, "create", "--bundle", b, "long2"); r.code != 0 {
			t.Fatalf("create:\n%s", r)
		}
		dirs2 := ociCgroups(t, root, "long2")
		if r := c.oci(t, root, "delete", "--force", "long2"); r.code != 0 {
			t.Fatalf("delete --force:\n%s", r)
		}
		limAssertGone(t, dirs2)
		if r := c.oci(t, root, "delete", "long"); r.code != 0 {
			t.Fatalf("delete:\n%s", r)
		}
		limAssertGone(t, dirs)
	})
}

// linux.sysctl as the test user: the box's own namespaces' keys are set
// inside (kernel.shmmax of its IPC namespace, net.ipv4.ip_forward of its
// network namespace); a host-wide key, and keys that would leave
// /proc/sys, fail create naming the key, with nothing left behind.
func TestOCISysctl(t *testing.T) {
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/sh", "-c", "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward")
	ociEdit(t, bundle, func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"kernel.shmmax": "123456789", "net.ipv4.ip_forward": "1"}
	})
	r := c.oci(t, root, "run", "--bundle", bundle, "sys")
	if r.code != 0 || strings.Join(strings.Fields(r.stdout), " ") != "123456789 1" {
		t.Fatalf("run: want kernel.shmmax 123456789, ip_forward 1\n%s", r)
	}
	// The host's own are not what the box set.
	for f, v := range map[string]string{"/proc/sys/kernel/shmmax": "123456789"} {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) == v {
			t.Errorf("the host's %s is %s", f, v)
		}
	}
	for _, k := range []string{"vm.overcommit_memory", "kernel.pid_max", "kernel.domainname", "net/ipv4/ip_forward",
		"net.ipv4.conf.all/../../../../kernel/core_pattern", "kernel..shmmax"} {
		ociEdit(t, bundle, func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{k: "1"} })
		r := c.oci(t, root, "create", "--bundle", bundle, "bad")
		if r.code == 0 || !strings.Contains(r.stderr, "linux.sysctl") || !strings.Contains(r.stderr, k) {
			t.Errorf("%s: want create refused naming linux.sysctl and the key\n%s", k, r)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Errorf("%s: state left: %v", k, ents)
		}
	}
}

// ps without a cgroup (no linux.resources): pid 1 and its descendants,
// found by walking /proc, as the test user.
func TestOCIPsWithoutCgroup(t *testing.T) {
	c := ociCallers[0]
	bundle, root := ociBundle(t, c, "/bin/sh", "-c", "sleep 100 & sleep 100 & wait")
	if r := c.oci(t, root, "create", "--bundle", bundle, "ps"); r.code != 0 {
		t.Fatalf("create:\n%s", r)
	}
	defer c.oci(t, root, "delete", "--force", "ps")
	if got := ociCgroups(t, root, "ps"); len(got) != 0 {
		t.Fatalf("a cgroup without linux.resources: %v", got)
	}
	if r := c.oci(t, root, "start", "ps"); r.code != 0 {
		t.Fatalf("start:\n%s", r)
	}
	st := waitStatus(t, c, root, "ps", specs.StateRunning)
	var pids []int
	for range 100 {
		r := c.oci(t, root, "ps", "--format", "json", "ps")
		if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil || r.code != 0 {
			t.Fatalf("ps --format json: %v\n%s", err, r)
		}
		if len(pids) == 4 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 4 || pids[0] != st.Pid {
		t.Errorf("ps --format json: %v, want pid 1 (%d), the shell and its two sleeps", pids, st.Pid)
	}
	for _, p := range pids[1:] {
		if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline"); !strings.HasPrefix(string(cmd), "/bin/sh") && !strings.HasPrefix(string(cmd), "sleep") {
			t.Errorf("pid %d is not the box's: %q", p, cmd)
		}
	}
}

// cgHier is the directory of controller ctrl's hierarchy (v1), or the v2
// mount.
func cgHier(ctrl string) string {
	if limUnified() {
		return "/sys/fs/cgroup"
	}
	return filepath.Join("/sys/fs/cgroup", ctrl)
}

// linux.cgroupsPath for a root runtime (containerd, rootful podman): the
// box's leaf is at the path, in each hierarchy (an absolute path from its
// root, a relative one below the runtime's own cgroup), with the limits
// on it and the box's processes in its child "box"; delete removes it.
// A path with ".." and an existing cgroup (here with a process in it) are
// refused naming the field; a regular user's runtime ignores the path.
func TestOCICgroupsPath(t *testing.T) {
	c := ociCallers[1]
	c.gate(t)
	top := fmt.Sprintf("sandbox-cgpath-test-%d", os.Getpid())
	t.Cleanup(func() {
		// The parents create made are left, as runc leaves them.
		for _, ctrl := range []string{"memory", "pids", "cpu", "cpuacct", "freezer"} {
			os.Remove(filepath.Join(cgHier(ctrl), top, "busy"))
			os.Remove(filepath.Join(cgHier(ctrl), top))
		}
	})
	b, root := ociBundle(t, c, "/bin/sleep", "100")
	cgPath := "/" + top + "/box1"
	ociEdit(t, b, func(s *specs.Spec) { s.Linux.Resources = resources(64<<20, 16, 100000); s.Linux.CgroupsPath = cgPath })
	if r := c.oci(t, root, "create", "--bundle", b, "at"); r.code != 0 {
		t.Fatalf("create:\n%s", r)
	}
	// A failed check below must not leave the container (its holder) running.
	t.Cleanup(func() { c.oci(t, root, "delete", "--force", "at") })
	pidsDir := filepath.Join(cgHier("pids"), cgPath)
	memDir := filepath.Join(cgHier("memory"), cgPath)
	dirs := ociCgroups(t, root, "at")
	if !slices.Contains(dirs, pidsDir) {
		t.Errorf("state.json's cgroups %v: want %s", dirs, pidsDir)
	}
	if got := leafFile(t, []string{pidsDir}, "pids", "pids.max"); got != "16" {
		t.Errorf("%s/pids.max %s, want 16", pidsDir, got)
	}
	memFile := "memory.max"
	if !limUnified() {
		memFile = "memory.limit_in_bytes"
	}
	if got := leafFile(t, []string{memDir}, "memory", memFile); got != strconv.Itoa(64<<20) {
		t.Errorf("%s/%s %s, want 64 MiB", memDir, memFile, got)
	}
	st := waitStatus(t, c, root, "at", specs.StateCreated)
	procs, _ := os.ReadFile(filepath.Join(pidsDir, "box", "cgroup.procs"))
	if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(st.Pid)) {
		t.Errorf("pid 1 (%d) not in %s/box: %q", st.Pid, pidsDir, procs)
	}
	// Another config's path inside this box's cgroup (its box, or beside
	// it) is refused: that box would be under this one's limits, and this
	// one's kill and delete would reach it.
	for _, p := range []string{cgPath + "/box/nest", cgPath + "/nest"} {
		nb, nroot := ociBundle(t, c, "/bin/true")
		ociEdit(t, nb, func(s *specs.Spec) { s.Linux.CgroupsPath = p })
		if r := c.oci(t, nroot, "create", "--bundle", nb, "nest"); r.code == 0 || !strings.Contains(r.stderr, "linux.cgroupsPath") {
			t.Errorf("create with cgroupsPath %q inside another box's cgroup: want an error naming linux.cgroupsPath\n%s", p, r)
			c.oci(t, nroot, "delete", "--force", "nest")
		}
		if _, err := os.Stat(filepath.Join(cgHier("pids"), p)); !os.IsNotExist(err) {
			t.Errorf("%s made inside another box's cgroup (%v)", p, err)
		}
	}
	if r := c.oci(t, root, "delete", "--force", "at"); r.code != 0 {
		t.Fatalf("delete --force:\n%s", r)
	}
	limAssertGone(t, dirs)
	if len(dirs) == 0 {
		t.Error("no cgroup recorded")
	}

	// Relative: below the runtime's own cgroup. On v2 a cgroup that holds
	// processes gives no controllers to children: where the runtime's own
	// does (this test's, unless an earlier box moved them into
	// sandbox-supervisor), refused naming the field, with nothing left.
	rel := top + "/rel"
	ociEdit(t, b, func(s *specs.Spec) { s.Linux.CgroupsPath = rel })
	testOCICgroupsPathRelative(t, c, root, b, rel)

	refused := func(path, why string) {
		t.Helper()
		ociEdit(t, b, func(s *specs.Spec) { s.Linux.CgroupsPath = path })
		r := c.oci(t, root, "create", "--bundle", b, "bad")
		if r.code == 0 || !strings.Contains(r.stderr, "linux.cgroupsPath") {
			t.Errorf("create with cgroupsPath %q (%s): want an error naming linux.cgroupsPath\n%s", path, why, r)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Errorf("state left: %v", ents)
		}
	}
	// A create that fails after the cgroup was made (a bind's source is
	// missing) removes it.
	failPath := "/" + top + "/failed"
	ociEdit(t, b, func(s *specs.Spec) {
		s.Linux.CgroupsPath = failPath
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/nonexistent-source", Options: []string{"rbind"}})
	})
	if r := c.oci(t, root, "create", "--bundle", b, "failed"); r.code == 0 || !strings.Contains(r.stderr, "/nonexistent-source") {
		t.Errorf("create: want an error naming the mount\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(cgHier("pids"), failPath)); !os.IsNotExist(err) {
		t.Errorf("a failed create left its cgroup %s (%v)", failPath, err)
	}
	ociEdit(t, b, func(s *specs.Spec) { s.Mounts = s.Mounts[:len(s.Mounts)-1] })

	refused("/"+top+"/../escape", "a .. element")
	refused("machine.slice:libpod:x", "systemd's form")
	// A cgroup someone else made, with a process in it: never the box's.
	busy := filepath.Join(cgHier("pids"), top, "busy")
	if err := os.MkdirAll(busy, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("/bin/sleep", "100")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	if err := os.WriteFile(filepath.Join(busy, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	refused("/"+top+"/busy", "an existing cgroup with a process")
	if _, err := os.Stat(busy); err != nil {
		t.Errorf("the existing cgroup was removed: %v", err)
	}
	if procs, _ := os.ReadFile(filepath.Join(busy, "cgroup.procs")); !strings.Contains(string(procs), strconv.Itoa(sleep.Process.Pid)) {
		t.Errorf("the existing cgroup's process left it: %q", procs)
	}
	if sleep.Process.Signal(syscall.Signal(0)) != nil {
		t.Error("the existing cgroup's process was killed")
	}
	sleep.Process.Kill()
	sleep.Wait()

	// A regular user's runtime: ignored, no cgroup at the path.
	u := ociCallers[0]
	ub, uroot := ociBundle(t, u, "/bin/true")
	upath := "/" + top + "/user"
	ociEdit(t, ub, func(s *specs.Spec) { s.Linux.CgroupsPath = upath })
	if r := u.oci(t, uroot, "create", "--bundle", ub, "u"); r.code != 0 {
		t.Fatalf("create as a regular user with cgroupsPath:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(cgHier("pids"), upath)); !os.IsNotExist(err) {
		t.Errorf("a regular user's box made a cgroup at the config's path (%v)", err)
	}
	if r := u.oci(t, uroot, "delete", "--force", "u"); r.code != 0 {
		t.Fatalf("delete --force:\n%s", r)
	}
}

// testOCICgroupsPathRelative is TestOCICgroupsPath's relative path: the
// leaf below the runtime's own cgroup, removed by delete; or, on v2 where
// that cgroup holds processes, a refusal naming the field that leaves
// nothing.
func testOCICgroupsPathRelative(t *testing.T, c ociCaller, root, b, rel string) {
	t.Helper()
	r := c.oci(t, root, "create", "--bundle", b, "rel")
	if r.code != 0 && limUnified() && strings.Contains(r.stderr, "linux.cgroupsPath") && strings.Contains(r.stderr, "holds processes") {
		t.Logf("relative cgroupsPath refused on v2: %s", r.stderr)
		self, _ := os.ReadFile("/proc/self/cgroup")
		own := strings.TrimSpace(strings.TrimPrefix(string(self), "0::"))
		leaf := filepath.Join("/sys/fs/cgroup", own, rel)
		if _, err := os.Stat(leaf); !os.IsNotExist(err) {
			t.Errorf("the refused create left %s (%v)", leaf, err)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 0 {
			t.Errorf("the refused create left state: %v", ents)
		}
		os.Remove(filepath.Dir(leaf)) // the parent create made
		return
	}
	if r.code != 0 {
		t.Fatalf("create (relative path):\n%s", r)
	}
	t.Cleanup(func() { c.oci(t, root, "delete", "--force", "rel") })
	dirs := ociCgroups(t, root, "rel")
	for _, d := range dirs {
		if !strings.HasSuffix(d, "/"+rel) {
			t.Errorf("relative cgroupsPath %q: leaf %s", rel, d)
		}
	}
	if r := c.oci(t, root, "delete", "--force", "rel"); r.code != 0 {
		t.Fatalf("delete --force:\n%s", r)
	}
	limAssertGone(t, dirs)
	for _, d := range dirs {
		os.Remove(filepath.Dir(d)) // the parent create made
	}
}
