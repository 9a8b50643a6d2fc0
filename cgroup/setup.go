package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupV1Controllers are the v1 controllers Setup delegates: those a limit
// or CPU accounting needs. cpuset is left out (a new cpuset cgroup needs
// cpus and mems copied in first) and so is freezer (Kill works without it).
var setupV1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// setupV2Controllers are the v2 controllers Setup enables for the subtree.
var setupV2Controllers = []string{"memory", "cpu", "pids"}

// Setup prepares cgroups for user (uid, gid) so that New works for them
// without root; it is `sandbox cgroup-setup --user NAME`, run once as root,
// and is idempotent.
//
// v1 and hybrid hosts: per controller (memory, cpu, cpuacct, pids) a
// directory sandbox-<user> below the root of the hierarchy, owned by the
// user (the directory, cgroup.procs and tasks). Below the root and not
// below root's own cgroup: root chooses to give the user this share of the
// machine, and the user's boxes then sit outside the v1 cgroups the user's
// own processes are in.
//
// Unified hosts: /sys/fs/cgroup/sandbox-<user> owned by the user (the
// directory, cgroup.procs, cgroup.subtree_control, cgroup.threads), with
// memory, cpu and pids enabled in the root's cgroup.subtree_control and in
// its own, and its child "shell", owned by the user too, where the user's
// shell or service is started (by root or a PAM module). v2 lets the user
// move only processes already inside a cgroup they own, and lets a cgroup
// give controllers to children only while it holds no process: the boxes
// go in sandbox-<user>, beside shell, which never gets controllers and so
// always takes new processes. With a systemd user manager no Setup is
// needed (New asks it for a delegated scope).
func Setup(user string, uid, gid int) error {
	if user == "" || filepath.Base(user) != user {
		return fmt.Errorf("cgroup setup: bad user name %q", user)
	}
	return setup(setupDirName(user), uid, gid)
}

// setup is Setup with the directory name given (tests use a throwaway one).
func setup(dir string, uid, gid int) error {
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	switch cgroups.Mode() {
	case cgroups.Legacy, cgroups.Hybrid:
		return setupV1(mounts, dir, uid, gid)
	case cgroups.Unified:
		return setupV2(dir, uid, gid)
	}
	return fmt.Errorf("cgroup setup: no cgroup file system at %s: %w", unifiedPoint, ErrNoController)
}

func setupV1(mounts []mount, dir string, uid, gid int) error {
	done := 0
	for _, ctrl := range setupV1Controllers {
		m, ok := findV1Mount(mounts, ctrl)
		if !ok {
			continue // not on this host: New reports it if a limit needs it
		}
		sub, err := v1Subsystem(ctrl, m)
		if err != nil {
			return fmt.Errorf("cgroup setup: %w", err)
		}
		path := filepath.Join(m.Point, dir)
		if _, err := cgroup1.New(cgroup1.StaticPath("/"+dir), &specs.LinuxResources{}, only(sub)); err != nil {
			return fmt.Errorf("cgroup setup: create %s cgroup %s: %w", ctrl, path, err)
		}
		if err := chownAll(path, uid, gid, "", "cgroup.procs", "tasks"); err != nil {
			return err
		}
		done++
	}
	if done == 0 {
		return fmt.Errorf("cgroup setup: none of the controllers %v is mounted: %w", setupV1Controllers, ErrNoController)
	}
	return nil
}

func setupV2(dir string, uid, gid int) error {
	path := filepath.Join(unifiedPoint, dir)
	mgr, err := cgroup2.NewManager(unifiedPoint, "/"+dir, &cgroup2.Resources{})
	if err != nil {
		return fmt.Errorf("cgroup setup: create %s: %w", path, err)
	}
	root, err := mgr.RootControllers()
	if err != nil {
		return fmt.Errorf("cgroup setup: read %s/cgroup.controllers: %w", unifiedPoint, err)
	}
	var enable []string
	for _, c := range setupV2Controllers {
		if contains(root, c) {
			enable = append(enable, c)
		}
	}
	// Enables them in the parent's (the root's) cgroup.subtree_control, so
	// that the user's directory has them in its cgroup.controllers.
	if err := mgr.ToggleControllers(enable, cgroup2.Enable); err != nil {
		return fmt.Errorf("cgroup setup: enable %v for %s: %w", enable, path, err)
	}
	shell, err := mgr.NewChild(SetupShell, &cgroup2.Resources{})
	if err != nil {
		return fmt.Errorf("cgroup setup: create %s: %w", filepath.Join(path, SetupShell), err)
	}
	// And in the user's directory's own, now that its child exists: its
	// boxes' cgroups get them at once. A process left in it by an older
	// setup makes this fail (EBUSY); New moves such processes out itself.
	if err := shell.ToggleControllers(enable, cgroup2.Enable); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("cgroup setup: enable %v below %s: %w", enable, path, err)
	}
	if err := chownAll(path, uid, gid, "", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"); err != nil {
		return err
	}
	return chownAll(filepath.Join(path, SetupShell), uid, gid, "", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads")
}

// SetupShell is the child of the user's v2 directory where Setup expects the
// user's shell or service to be started.
const SetupShell = "shell"

// chownAll gives dir and the named files in it to uid:gid ("" is dir).
func chownAll(dir string, uid, gid int, names ...string) error {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("cgroup setup: give %s to uid %d: %w", p, uid, err)
		}
	}
	return nil
}
