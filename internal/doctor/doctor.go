// Package doctor reports what this host supports for `sandbox exec`, and how
// to fix what it lacks (`sandbox doctor`).
//
// Run gathers facts from the host (files under /proc and /sys, a few probe
// clones and syscalls) and hands each set to a pure Check* function, so the
// verdicts and messages are table-tested without the host in question.
package doctor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/network"
)

// Check is one line of the report.
type Check struct {
	// Name is what was checked, e.g. "user namespaces".
	Name string
	// Status is OK, WARN (a feature or flag will not work) or FAIL
	// (`sandbox exec` with default flags cannot work).
	Status string
	// Detail says what was found.
	Detail string
	// Fix says what to do when Status is not OK.
	Fix string
}

// Fatal reports whether any check failed, i.e. `sandbox exec` with its
// default flags cannot work on this host.
func Fatal(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Format prints one line per check, status and name in columns, plus an
// indented "fix:" line for each check that is not OK.
func Format(w io.Writer, checks []Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-4s %-17s %s\n", c.Status, c.Name, c.Detail)
		if c.Status != OK && c.Fix != "" {
			fmt.Fprintf(w, "     %-17s fix: %s\n", "", c.Fix)
		}
	}
}

// Run checks this host for the calling user and returns the checks in a
// fixed order: kernel, user namespaces, helpers, subordinate ids, cgroups,
// seccomp, landlock.
func Run() []Check {
	uid, gid := os.Getuid(), os.Getgid()
	root := os.Geteuid() == 0
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}

	var uts unix.Utsname
	release := "unknown"
	if err := unix.Uname(&uts); err == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}

	cf := cgroupFacts(root, name, uid)
	checks := []Check{
		CheckKernel(release),
		CheckUserNS(UserNSFacts{
			Root:             root,
			UnprivClone:      readTrim("/proc/sys/kernel/unprivileged_userns_clone"),
			MaxUserNS:        readTrim("/proc/sys/user/max_user_namespaces"),
			AppArmorRestrict: readTrim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
			UserProbe:        probeClone(syscall.CLONE_NEWUSER, root, uid, gid),
			AllProbe: probeClone(syscall.CLONE_NEWUSER|syscall.CLONE_NEWNS|syscall.CLONE_NEWPID|
				syscall.CLONE_NEWNET|syscall.CLONE_NEWIPC|syscall.CLONE_NEWUTS|unix.CLONE_NEWCGROUP, root, uid, gid),
		}),
		CheckHelpers(root, helperFacts()),
		CheckSubIDs(subIDFacts(root, name, uid)),
		CheckCgroups(cf),
		CheckSeccomp(readTrim("/proc/self/status"), readTrim("/proc/sys/kernel/seccomp/actions_avail")),
		CheckLandlock(landlockABI()),
		CheckNetUser(netUserFacts()),
	}
	if cf.Mode == cgroups.Unified && !root {
		checks = append(checks, CheckSystemdUser(cf.UserManager))
	}
	return checks
}

// readTrim returns the trimmed content of a file, or "" when it cannot be read.
func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// probeClone starts /bin/true cloned into the given namespaces, the way the
// supervisor starts the box's init (never unshare(2) in the Go runtime), and
// returns the errno of the clone. The child's ids are mapped so the probe
// also covers writing the maps; root maps to nobody, never to host root.
func probeClone(flags uintptr, root bool, uid, gid int) error {
	truePath, err := exec.LookPath("true")
	if err != nil {
		truePath = "/bin/true"
	}
	hostUID, hostGID := uid, gid
	attr := &syscall.SysProcAttr{Cloneflags: flags}
	if root {
		hostUID, hostGID = idmap.NobodyID, idmap.NobodyID
		// The child is host uid 0, which the map lacks: switch to inside 0.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
		attr.GidMappingsEnableSetgroups = true
	}
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostUID, Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostGID, Size: 1}}
	cmd := exec.Command(truePath)
	cmd.SysProcAttr = attr
	if err := cmd.Run(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errno
		}
		return err
	}
	return nil
}

func helperFacts() []HelperFact {
	var facts []HelperFact
	for _, n := range []string{"newuidmap", "newgidmap"} {
		p, err := idmap.FindHelper(n)
		facts = append(facts, HelperFact{Name: n, Path: p, Err: err})
	}
	return facts
}

func subIDFacts(root bool, name string, uid int) SubIDFacts {
	f := SubIDFacts{Root: root, User: name}
	f.UIDs, f.UIDSource, f.UIDErr = idmap.SubIDs("uid", name, uid)
	f.GIDs, f.GIDSource, f.GIDErr = idmap.SubIDs("gid", name, uid)
	return f
}

const cgroupRoot = "/sys/fs/cgroup"

func cgroupFacts(root bool, name string, uid int) CgroupFacts {
	f := CgroupFacts{Mode: cgroups.Mode(), Root: root, CallerUID: uid, User: name, V1: map[string]CgroupDir{}}
	if _, unified, err := cgroups.ParseCgroupFileUnified("/proc/self/cgroup"); err == nil {
		f.V2Path = unified
	}
	if f.Mode == cgroups.Unified {
		dir := filepath.Join(cgroupRoot, f.V2Path)
		f.V2Dir = statDir(dir)
		f.V2Controllers = readTrim(filepath.Join(dir, "cgroup.controllers"))
		if !root {
			um := cgroup.ProbeUserManager()
			f.UserManager = UserManagerFacts{Address: um.Address, Err: um.Err, Cgroup: um.Cgroup, Controllers: um.Controllers}
		}
	}
	for _, ctrl := range wantControllers {
		f.V1[ctrl] = statDir(filepath.Join(cgroupRoot, ctrl, "sandbox-"+name))
	}
	return f
}

func statDir(path string) CgroupDir {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return CgroupDir{Owner: -1}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return CgroupDir{Exists: true, Owner: -1}
	}
	return CgroupDir{Exists: true, Owner: int(st.Uid)}
}

// landlockABI asks the kernel for its Landlock ABI version (landlock(7)).
func landlockABI() (int, error) {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(abi), nil
}

// netUserFacts looks for pasta and tries /dev/net/tun.
func netUserFacts() NetUserFacts {
	var f NetUserFacts
	f.Pasta, _ = network.StackPath()
	if fi, err := os.Stat("/dev/net/tun"); err == nil {
		f.TunFound, f.TunMode = true, fi.Mode()
		t, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
		if err == nil {
			t.Close()
		}
		f.TunErr = err
	}
	return f
}
