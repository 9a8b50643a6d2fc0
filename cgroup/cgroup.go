// Package cgroup puts a box in its own cgroup: limits (memory without swap,
// CPU quota, number of tasks), accounting (CPU time, peak memory, the
// kernel's OOM-kill counter), kill-all and cleanup, through
// github.com/containerd/cgroups/v3 (cgroup1 on legacy and hybrid hosts,
// cgroup2 on unified ones).
//
// Where a box's cgroup goes: always below the caller's own cgroup, or below
// a subtree delegated to the caller, never above, so that the box stays
// inside every limit the caller is under.
//
//   - root: below its own cgroup, per controller on v1 (from /proc/self/cgroup).
//   - unprivileged on v1: below its own cgroup if it may write it, else below
//     /sys/fs/cgroup/<controller>/sandbox-<user>, which `sandbox cgroup-setup
//     --user NAME` (Setup) made once as root. That directory sits below the
//     root of each hierarchy: root chose to hand it to the user, so the box
//     is then outside whatever v1 cgroup the caller itself is in.
//   - unprivileged on v2: in Setup's directory if the caller runs in it or
//     below it (its shell in sandbox-<user>/shell); else below its own
//     cgroup if it owns it (a systemd Delegate=yes scope); else New asks
//     the caller's systemd user manager for a transient scope with
//     Delegate=yes holding this process (systemd.go) and goes below that.
//   - v2, anyone: if processes sit in the chosen cgroup, New first moves
//     them all into its child "sandbox-supervisor", because v2 gives
//     controllers to children only of a cgroup that holds no process.
//   - NewAt (at.go), host root only: at a path its caller names (an OCI
//     config's linux.cgroupsPath), which must not exist yet.
//
// On a hybrid host the cgroup2 mount at /sys/fs/cgroup/unified has no
// controllers and is not used.
//
// Two levels per box: the limits and the accounting sit on the box's cgroup
// (sandbox-HEX), and the box's processes in its child "box", where the box's
// cgroup namespace is rooted. A payload that can mount cgroupfs sees only
// that child and what it makes below it: it may write the child's files
// (rootless, the box's root owns them), never the limits above it, and the
// counters the supervisor reads (cpu.stat, cpuacct.usage, memory.peak,
// memory.events) are hierarchical ones of the upper level, which the box
// cannot reset.
//
// The supervisor's order of calls:
//
//	box, err := cgroup.New("sandbox", limits) // before the box's init exists
//	defer box.Delete()
//	fd, ok := box.FD()                        // v2: clone straight into it
//	... start init (blocked on its sync pipe), with UseCgroupFD/CgroupFD if ok
//	if !ok { box.AddProc(pid) }               // before releasing init
//	... release init; poll box.CPUUsage() for --cpu-time
//	st, _ := box.Stats()                      // after init has exited
//	box.Kill(); box.Delete()
package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// unifiedPoint is where a unified (v2 only) host mounts cgroup2; the
// containerd library assumes it as well.
const unifiedPoint = "/sys/fs/cgroup"

// ErrNoAccounting is returned by CPUUsage when the box has no CPU
// accounting (the v1 cpuacct controller could not be used).
var ErrNoAccounting = errors.New("cgroup: no CPU accounting for this box (cpuacct controller not available or not delegated)")

// Box is one run's leaf cgroup (one per v1 controller, or one v2 cgroup).
// Its methods are safe for concurrent use.
type Box struct {
	mu      sync.Mutex
	leaf    string // the leaf's name, the same in every hierarchy
	prefix  string // the name New was given: leaf is prefix-HEX
	v1      []*v1Leaf
	v2      *cgroup2.Manager
	v2Dir   string
	v2Inner *cgroup2.Manager // the v2 leaf's child holding the processes
	fd      int              // O_PATH fd of the v2 leaf's inner child, -1 if none
	lock    int              // the v2 leaf's lock (stale.go), -1 if none
	at      string           // NewAt's path; "" for New's <prefix>-HEX
	deleted bool
}

// v1Leaf is the box's cgroup in one v1 hierarchy.
type v1Leaf struct {
	ctrl     string
	required bool // a limit lives here; otherwise it is only accounting
	cg       cgroup1.Cgroup
	dir      string
	inner    cgroup1.Cgroup // the leaf's child holding the processes
	lock     int            // the leaf's lock (stale.go), -1 if none
}

// innerLeaf is the child of a box's cgroup that holds its processes (see
// the package comment: limits above the root of the box's cgroup namespace).
const innerLeaf = "box"

// Stats are what the kernel accounted for a box.
type Stats struct {
	// PeakMemory is the highest memory use in bytes (v1
	// memory.max_usage_in_bytes, v2 memory.peak); 0 if unknown.
	PeakMemory int64
	// OOMKills is the kernel's count of processes the OOM killer killed in
	// the box (v1 memory.oom_control oom_kill, v2 memory.events oom_kill).
	OOMKills uint64
	// CPUUser and CPUSys are the CPU time spent in user and kernel mode
	// (v1 cpuacct.stat, in USER_HZ ticks of 10ms; v2 cpu.stat, in µs).
	CPUUser, CPUSys time.Duration
}

// New creates the box's leaf cgroup(s) for the controllers l needs, plus
// accounting (v1 cpuacct, memory for peak use, freezer for Kill) where the
// caller may have them: accounting never makes New fail, a limit does.
// name prefixes the leaf's name, which gets a random suffix. An error
// matching ErrNoDelegation names the controller, the path and the fix.
func New(name string, l Limits) (*Box, error) {
	return newBox(name, l, "")
}

// newBox is New with the name of Setup's directory replaced (for tests);
// "" means setupDirName(user).
func newBox(name string, l Limits, setupDir string) (*Box, error) {
	return newBoxAt(name, l, setupDir, "")
}

// newBoxAt is newBox with NewAt's path ("" for New's rule).
func newBoxAt(name string, l Limits, setupDir, at string) (*Box, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("cgroup: bad box name %q (one path element expected)", name)
	}
	if l.Memory < 0 || l.CPUs < 0 || l.Pids < 0 || l.MemoryReservation < 0 {
		return nil, fmt.Errorf("cgroup: negative limit in %+v", l)
	}
	suffix := make([]byte, leafSuffixBytes)
	if _, err := rand.Read(suffix); err != nil {
		return nil, fmt.Errorf("cgroup: random leaf name: %w", err)
	}
	h, err := readHost(setupDir)
	if err != nil {
		return nil, err
	}
	b := &Box{leaf: name + "-" + hex.EncodeToString(suffix), prefix: name, fd: -1, lock: -1, at: at}
	if at != "" {
		b.leaf = filepath.Base(at)
	}
	switch mode := cgroups.Mode(); mode {
	case cgroups.Legacy, cgroups.Hybrid:
		err = b.createV1(h, l)
	case cgroups.Unified:
		err = b.createV2(h, l)
	default:
		err = fmt.Errorf("cgroup: no cgroup file system at %s: %w", unifiedPoint, ErrNoController)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// readHost gathers what the choice of parent cgroups depends on.
func readHost(setupDir string) (host, error) {
	h := host{euid: hostUID(os.Geteuid()), probe: osProbe{}}
	if err := cachedHost(&h); err != nil {
		return h, err
	}
	h.setupDir = setupDir
	if h.setupDir == "" {
		h.setupDir = setupDirName(h.user)
	}
	return h, nil
}

// hostUID is the host's uid of this process's uid in its user namespace
// (the same outside one). Root of a user namespace (rootless podman runs
// its OCI runtime so) is a regular user on the host: the cgroups it may use
// are that user's, Setup's sandbox-<user> among them, not root's.
func hostUID(uid int) int {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return uid
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.Atoi(f[0])
		out, err2 := strconv.Atoi(f[1])
		n, err3 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && err3 == nil && uid >= in && uid-in < n {
			return out + uid - in
		}
	}
	return uid
}

// readSelf reads where this process sits, from /proc/self/cgroup.
func readSelf() (Membership, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return Membership{}, fmt.Errorf("cgroup: %w", err)
	}
	defer f.Close()
	self, err := ParseProcCgroup(f)
	if err != nil {
		return self, fmt.Errorf("cgroup: %w", err)
	}
	return self, nil
}

func readMounts() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	defer f.Close()
	m, err := parseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return m, nil
}

// v1Want lists the v1 controllers a box uses for l, and whether each is
// required (a limit) or only accounting.
func v1Want(l Limits) []struct {
	ctrl     string
	required bool
} {
	type w = struct {
		ctrl     string
		required bool
	}
	// cpu and pids without a limit too: where the box has no leaf of its
	// own in a hierarchy, its cgroup namespace there is rooted at the
	// caller's cgroup, and a payload that mounts cgroupfs could make
	// cgroups in the directory Setup gave the user, which would outlive
	// the box.
	out := []w{{"memory", l.memory()}, {"cpu", l.cpu()}, {"pids", l.Pids > 0}}
	// cpuacct for CPUUsage and Stats; freezer so that Kill can stop a fork
	// loop before signalling it.
	return append(out, w{"cpuacct", false}, w{"freezer", false})
}

// v1Controllers are every v1 controller v1Want may list.
var v1Controllers = []string{"memory", "cpu", "pids", "cpuacct", "freezer"}

// v1Subsystem returns the containerd subsystem for ctrl mounted at m. The
// library finds a controller at <dir>/<name>; co-mounted hierarchies
// ("cpu,cpuacct") are reached through the usual symlinks.
func v1Subsystem(ctrl string, m mount) (cgroup1.Subsystem, error) {
	root := filepath.Dir(m.Point)
	if filepath.Base(m.Point) != ctrl {
		if _, err := os.Stat(filepath.Join(root, ctrl)); err != nil {
			return nil, fmt.Errorf("cgroup: %s controller is mounted at %s but not reachable as %s: %w",
				ctrl, m.Point, filepath.Join(root, ctrl), ErrNoController)
		}
	}
	switch ctrl {
	case "memory":
		// The library's Stat reads every memory.<module>.* file; skip the
		// modules this kernel does not have instead of failing.
		var missing []string
		for _, mod := range []string{"memsw", "kmem", "kmem.tcp"} {
			if _, err := os.Stat(filepath.Join(m.Point, "memory."+mod+".usage_in_bytes")); err != nil {
				missing = append(missing, mod)
			}
		}
		return cgroup1.NewMemory(root, cgroup1.IgnoreModules(missing...)), nil
	case "cpu":
		return cgroup1.NewCpu(root), nil
	case "cpuacct":
		return cgroup1.NewCpuacct(root), nil
	case "pids":
		return cgroup1.NewPids(root), nil
	case "freezer":
		return cgroup1.NewFreezer(root), nil
	}
	return nil, fmt.Errorf("cgroup: %s controller: %w", ctrl, ErrNoController)
}

func only(s cgroup1.Subsystem) cgroup1.InitOpts {
	return cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return []cgroup1.Subsystem{s}, nil })
}

// createV1 makes one leaf per controller, each below the parent
// chooseV1Parent picks for it.
func (b *Box) createV1(h host, l Limits) error {
	// A box of another run may have had leaves in hierarchies this one
	// does not use (--pids there, not here): sweep those too.
	want := v1Want(l)
	used := map[string]bool{}
	for _, w := range want {
		used[w.ctrl] = true
	}
	for _, ctrl := range v1Controllers {
		if p, err := chooseV1Parent(h, ctrl); err == nil && !used[ctrl] {
			claimParent(p.dir(), b.prefix)()
		}
	}
	for _, w := range want {
		leaf, err := b.createV1Leaf(h, l, w.ctrl, w.required)
		if err != nil {
			// A refused path is refused in every hierarchy.
			if !w.required && !errors.Is(err, ErrPath) {
				continue // accounting only: the run goes on without it
			}
			b.removeAll()
			return err
		}
		b.v1 = append(b.v1, leaf)
	}
	return nil
}

func (b *Box) createV1Leaf(h host, l Limits, ctrl string, required bool) (*v1Leaf, error) {
	p, err := chooseV1Parent(h, ctrl)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	sub, err := cachedSubsystem(ctrl, p.Mount)
	if err != nil {
		return nil, err
	}
	if b.at != "" {
		p.Rel = b.atParent(p.Rel)
	}
	rel := filepath.Join(p.Rel, b.leaf)
	dir := filepath.Join(p.Mount.Point, rel)
	if b.at != "" && !slices.ContainsFunc(b.v1, func(v *v1Leaf) bool { return v.dir == dir }) {
		// Made here, new (makeAtLeaf); cgroup1.New then finds it. A
		// hierarchy of co-mounted controllers (cpu,cpuacct) has the leaf
		// made for the first already.
		if err := makeAtLeaf(p.Mount.Point, dir); err != nil {
			return nil, err
		}
	}
	memsw := false
	if ctrl == "memory" && l.Memory > 0 {
		// Only a memory limit writes memory.memsw.limit_in_bytes.
		_, err := os.Stat(filepath.Join(p.dir(), "memory.memsw.limit_in_bytes"))
		memsw = err == nil
	}
	res := v1Resources(l, memsw)
	if !required {
		res = v1Resources(Limits{}, false) // accounting leaves carry no limit
	}
	// Sweep what dead supervisors left here, and keep sweeps off our leaf
	// until it is locked (stale.go).
	// Not NewAt's parent: a config names it, not the runtime, and what
	// sits there is not this runtime's to kill (its leaf's name is not a
	// <prefix>-HEX a sweep takes).
	if b.at == "" {
		release := claimParent(p.dir(), b.prefix)
		defer release()
	}
	cg, err := cgroup1.New(cgroup1.StaticPath(rel), res, only(sub))
	if err != nil {
		os.Remove(dir) // made before a limit failed to apply; rmdir of an empty cgroup
		if isPermission(err) {
			return nil, fmt.Errorf("%w", &DelegationError{Controller: ctrl, Path: dir, User: h.user, Err: err})
		}
		return nil, fmt.Errorf("cgroup: create %s cgroup %s with %s: %w", ctrl, dir, describeV1(ctrl, l), err)
	}
	lock, err := lockLeaf(dir)
	if err != nil {
		removeTree(dir)
		return nil, err
	}
	inner, err := cg.New(innerLeaf, &specs.LinuxResources{})
	if err != nil {
		closeLock(&lock) // lets the lock go
		removeTree(dir)
		return nil, fmt.Errorf("cgroup: create %s cgroup %s: %w", ctrl, filepath.Join(dir, innerLeaf), err)
	}
	return &v1Leaf{ctrl: ctrl, required: required, cg: cg, dir: dir, inner: inner, lock: lock}, nil
}

// describeV1 names the values New writes for ctrl, for error messages.
func describeV1(ctrl string, l Limits) string {
	switch ctrl {
	case "memory":
		return fmt.Sprintf("memory.limit_in_bytes=%d memory.soft_limit_in_bytes=%d", l.Memory, l.MemoryReservation)
	case "cpu":
		return fmt.Sprintf("cpu.cfs_quota_us=%d cpu.cfs_period_us=%d cpu.shares=%d", l.quota(), l.period(), l.CPUShares)
	case "pids":
		return fmt.Sprintf("pids.max=%d", l.Pids)
	}
	return "no limit"
}

// createV2 makes the box's v2 leaf below the parent chooseV2Parent picks.
func (b *Box) createV2(h host, l Limits) error {
	m, ok := findV2Mount(h.mounts, unifiedPoint)
	if !ok {
		return fmt.Errorf("cgroup: no cgroup2 mount at %s: %w", unifiedPoint, ErrNoController)
	}
	parent, err := chooseV2Parent(h, m)
	var de *DelegationError
	if errors.As(err, &de) && h.euid != 0 {
		// No cgroup of the caller's own: ask its systemd user manager for
		// a delegated scope holding this process, and use that.
		if serr := startUserScope(h.euid, scopeName(b.leaf)); serr != nil {
			de.Systemd = serr
		} else if h.self, err = readSelf(); err == nil {
			parent, err = chooseV2Parent(h, m)
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	if b.at != "" {
		// Parents made here get their controllers from
		// cgroup2.NewManager, which enables them from the root down:
		// the root's are what there is.
		parent = b.atParent(parent)
	}
	parentDir := filepath.Join(m.Point, parent)
	avail, err := os.ReadFile(filepath.Join(parentDir, "cgroup.controllers"))
	if b.at != "" {
		avail, err = os.ReadFile(filepath.Join(m.Point, "cgroup.controllers"))
	}
	if err != nil {
		return fmt.Errorf("cgroup: read the controllers of %s: %w", parentDir, err)
	}
	have := strings.Fields(string(avail))
	for _, c := range v2Resources(l, false).EnabledControllers() {
		if !contains(have, c) {
			return fmt.Errorf("%w", &DelegationError{Controller: c, Path: parentDir, User: h.user, V2: true,
				Err: fmt.Errorf("the %s controller is not in its cgroup.controllers (%q)", c, strings.TrimSpace(string(avail)))})
		}
	}
	group := filepath.Join(parent, b.leaf)
	if b.at != "" {
		// Made here, new (makeAtLeaf); cgroup2.NewManager then finds it
		// and removes it if it fails.
		if err := makeAtLeaf(m.Point, filepath.Join(m.Point, group)); err != nil {
			return err
		}
	}
	// Sweep what dead supervisors left here, and keep sweeps off our leaf
	// until it is locked (stale.go).
	if b.at == "" { // not NewAt's parent (createV1Leaf)
		release := claimParent(parentDir, b.prefix)
		defer release()
	}
	create := func(res *cgroup2.Resources) (*cgroup2.Manager, error) {
		mgr, err := cgroup2.NewManager(m.Point, group, res)
		// Never at NewAt's path: the processes there are not this
		// caller's to move.
		if errors.Is(err, unix.EBUSY) && parent != "/" && b.at == "" {
			// Processes sit in parent (this one, and the user's shell
			// when it was started there), so it cannot hand controllers
			// to children: move them all into a child first, as podman
			// does in a delegated cgroup.
			if merr := moveAllV2(m.Point, parent); merr != nil {
				return nil, merr
			}
			mgr, err = cgroup2.NewManager(m.Point, group, res)
		}
		if b.at != "" && (errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOENT)) {
			// A cgroup with processes gives no controllers to children
			// (v2: EBUSY enabling them there, ENOENT below it): the
			// config's path cannot be honoured below it.
			return nil, fmt.Errorf("%w: %q: a cgroup above it holds processes or does not hand down the controllers (cgroup v2 gives controllers only to children of a cgroup without processes; a relative path is below the runtime's own cgroup): %v",
				ErrPath, b.at, err)
		}
		return mgr, err
	}
	mgr, err := create(v2Resources(l, contains(have, "memory")))
	if err != nil && !l.memory() && contains(have, "memory") {
		// Memory was asked for peak accounting only: go on without it.
		mgr, err = create(v2Resources(l, false))
	}
	dir := filepath.Join(m.Point, group)
	if err != nil {
		if isPermission(err) || errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%w", &DelegationError{Controller: strings.Join(v2Resources(l, false).EnabledControllers(), ","),
				Path: dir, User: h.user, V2: true, Err: err})
		}
		return fmt.Errorf("cgroup: create cgroup %s: %w", dir, err)
	}
	b.v2, b.v2Dir = mgr, dir
	if b.lock, err = lockLeaf(dir); err != nil {
		b.removeAll()
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil && l.Memory > 0 {
		if err := mgr.Update(v2SwapOff()); err != nil {
			b.removeAll()
			return fmt.Errorf("cgroup: turn swap off in %s (memory.swap.max=0): %w", dir, err)
		}
	}
	inner, err := mgr.NewChild(innerLeaf, &cgroup2.Resources{})
	if err != nil {
		b.removeAll()
		return fmt.Errorf("cgroup: create cgroup %s: %w", filepath.Join(dir, innerLeaf), err)
	}
	b.v2Inner = inner
	innerDir := filepath.Join(dir, innerLeaf)
	fd, err := unix.Open(innerDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.removeAll()
		return fmt.Errorf("cgroup: open %s: %w", innerDir, err)
	}
	b.fd = fd
	return nil
}

// moveAllV2 moves every process of <parent> into <parent>/sandbox-supervisor,
// until none is left (one forked meanwhile is moved on the next round).
func moveAllV2(point, parent string) error {
	g := filepath.Join(parent, supervisorLeaf)
	sup, err := cgroup2.NewManager(point, g, &cgroup2.Resources{})
	if err != nil {
		return fmt.Errorf("cgroup: create %s: %w", filepath.Join(point, g), err)
	}
	procs := filepath.Join(point, parent, "cgroup.procs")
	for range 100 {
		data, err := os.ReadFile(procs)
		if err != nil {
			return fmt.Errorf("cgroup: read %s: %w", procs, err)
		}
		pids := strings.Fields(string(data))
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			pid, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				continue
			}
			if err := sup.AddProc(pid); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("cgroup: move process %d from %s into %s (v2 lets a cgroup with processes give no controllers to its children): %w",
					pid, filepath.Join(point, parent), filepath.Join(point, g), err)
			}
		}
	}
	return fmt.Errorf("cgroup: processes keep appearing in %s", procs)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AddProc moves process pid into the box: into every v1 leaf, or the v2
// leaf. Call it before the process runs any payload code. A v1 accounting
// leaf that refuses the process is dropped, not reported.
func (b *Box) AddProc(pid int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v2 != nil {
		if err := b.v2Inner.AddProc(uint64(pid)); err != nil {
			return fmt.Errorf("cgroup: add pid %d to %s: %w", pid, filepath.Join(b.v2Dir, innerLeaf), err)
		}
		return nil
	}
	kept := b.v1[:0]
	for _, lf := range b.v1 {
		if err := lf.inner.AddProc(uint64(pid)); err != nil {
			if lf.required {
				return fmt.Errorf("cgroup: add pid %d to %s cgroup %s: %w", pid, lf.ctrl, filepath.Join(lf.dir, innerLeaf), err)
			}
			dropLeaf(lf.lock) // uncounted before it goes (unholdLeaves)
			removeTree(lf.dir)
			closeLock(&lf.lock)
			continue
		}
		kept = append(kept, lf)
	}
	b.v1 = kept
	return nil
}

// FD returns an O_PATH|O_DIRECTORY descriptor of the v2 leaf's inner child, for
// SysProcAttr.UseCgroupFD/CgroupFD (clone3 CLONE_INTO_CGROUP), and true; on
// v1 and hybrid hosts it returns false and the caller uses AddProc. The
// descriptor stays open until Delete.
func (b *Box) FD() (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fd, b.fd >= 0
}

func (b *Box) leafOf(ctrl string) *v1Leaf {
	for _, lf := range b.v1 {
		if lf.ctrl == ctrl {
			return lf
		}
	}
	return nil
}

// CanMeasureCPU reports whether CPUUsage works for this box (on v1 it needs
// the cpuacct controller, which is accounting and so optional in New).
func (b *Box) CanMeasureCPU() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v2 != nil || b.leafOf("cpuacct") != nil
}

// CPUUsage returns the CPU time used so far by everything in the box (v1
// cpuacct.usage, in ns; v2 cpu.stat usage_usec). It reads only the CPU
// files, so it is cheap enough to poll every few milliseconds.
func (b *Box) CPUUsage() (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v2 != nil {
		st, err := b.v2.StatFiltered(cgroup2.StatCPU)
		if err != nil {
			return 0, fmt.Errorf("cgroup: read cpu.stat of %s: %w", b.v2Dir, err)
		}
		return time.Duration(st.CPU.UsageUsec) * time.Microsecond, nil
	}
	lf := b.leafOf("cpuacct")
	if lf == nil {
		return 0, ErrNoAccounting
	}
	// cpuacct.usage alone: the library's Stat also reads and parses
	// cpuacct.stat and cpuacct.usage_percpu, which nothing here uses.
	ns, err := readUint(filepath.Join(lf.dir, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("cgroup: read cpuacct of %s: %w", lf.dir, err)
	}
	return time.Duration(ns), nil
}

// Stats returns the box's peak memory, OOM kills and CPU times. A value
// whose controller the box lacks stays zero; an error means a file of a
// controller it has could not be read.
func (b *Box) Stats() (Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var st Stats
	if b.v2 != nil {
		m, err := b.v2.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents)
		if err != nil {
			return st, fmt.Errorf("cgroup: read the stats of %s: %w", b.v2Dir, err)
		}
		if m.Memory != nil {
			st.PeakMemory = int64(m.Memory.MaxUsage)
		}
		if m.MemoryEvents != nil {
			st.OOMKills = m.MemoryEvents.OomKill
		}
		if m.CPU != nil {
			st.CPUUser = time.Duration(m.CPU.UserUsec) * time.Microsecond
			st.CPUSys = time.Duration(m.CPU.SystemUsec) * time.Microsecond
		}
		return st, nil
	}
	// The v1 files the figures come from, read directly: the library's Stat
	// reads about 20 files per box (memory.stat and four counters of each
	// memory module, cpuacct.usage_percpu), a third of the supervisor's
	// cgroup work per box in a batch, for values nothing here uses.
	var errs []error
	if lf := b.leafOf("memory"); lf != nil {
		peak, err := readUint(filepath.Join(lf.dir, "memory.max_usage_in_bytes"))
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: read the memory stats of %s: %w", lf.dir, err))
		} else {
			st.PeakMemory = int64(peak)
			// v1 counts an OOM kill only in the victim's own cgroup
			// (memcg_memory_event does not propagate it up on v1): add up
			// the leaf and everything below it, the box's own cgroups too.
			st.OOMKills = sumOOMKillsV1(lf.dir)
		}
	}
	if lf := b.leafOf("cpuacct"); lf != nil {
		user, sys, err := readCpuacctStat(filepath.Join(lf.dir, "cpuacct.stat"))
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroup: read the cpuacct stats of %s: %w", lf.dir, err))
		} else {
			st.CPUUser, st.CPUSys = user, sys
		}
	}
	return st, errors.Join(errs...)
}

// readUint reads a cgroup file holding one unsigned number.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// userHZ is the unit of v1 cpuacct.stat (USER_HZ, 100 on every Linux
// architecture's user ABI; the containerd library assumes it too).
const userHZ = 100

// readCpuacctStat returns the user and system times of a v1 cpuacct.stat
// ("user N\nsystem N\n", in USER_HZ ticks); a missing field is an error.
func readCpuacctStat(path string) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var haveUser, haveSys bool
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		d := time.Duration(n * uint64(time.Second) / userHZ)
		switch k {
		case "user":
			user, haveUser = d, true
		case "system":
			sys, haveSys = d, true
		}
	}
	if !haveUser || !haveSys {
		return 0, 0, fmt.Errorf("%s: no user or system field in %q", path, b)
	}
	return user, sys, nil
}

// Kill sends SIGKILL to every process in the box: v2 cgroup.kill; v1
// freezes the leaf where it has the freezer, so that nothing forks in
// between, kills what it lists and thaws; without a freezer (and on v2
// kernels before 5.14) it kills what is listed until the leaf is empty. It
// does not wait for the processes (the caller may be their parent and reap
// them); Delete waits.
func (b *Box) Kill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleted {
		return nil
	}
	if b.v2 != nil {
		if _, err := os.Stat(filepath.Join(b.v2Dir, "cgroup.kill")); err == nil {
			if err := b.v2.Kill(); err != nil {
				return fmt.Errorf("cgroup: write cgroup.kill of %s: %w", b.v2Dir, err)
			}
			return nil
		}
		// Not the library's fallback: it wait(2)s for the processes, which
		// would reap the caller's child behind its back, and its freeze
		// waits without bound.
		return killLoop(b.v2Dir, func() ([]int, error) {
			pids, err := b.v2.Procs(true)
			out := make([]int, len(pids))
			for i, p := range pids {
				out[i] = int(p)
			}
			return out, err
		})
	}
	if len(b.v1) == 0 {
		return nil
	}
	if fr := b.leafOf("freezer"); fr != nil {
		// The library's Freeze waits for FROZEN without bound, and a task
		// in uninterruptible sleep can keep the cgroup FREEZING for as long
		// as it sleeps: Kill must not hang the supervisor on it.
		if err := setFreezer(fr.dir, "FROZEN", freezeWait); err == nil {
			killListed(fr)
			// Frozen tasks die once thawed (cgroup-v1/freezer-subsystem.rst).
			setFreezer(fr.dir, "THAWED", freezeWait)
		}
	}
	lf := b.v1[0]
	return killLoop(lf.dir, func() ([]int, error) {
		procs, err := lf.cg.Processes(cgroup1.Name(lf.ctrl), true)
		out := make([]int, len(procs))
		for i, p := range procs {
			out[i] = p.Pid
		}
		return out, err
	})
}

// freezeWait bounds how long Kill waits for the v1 freezer.
const freezeWait = 100 * time.Millisecond

// setFreezer writes state to the v1 freezer.state of dir and waits up to
// wait for the cgroup to reach it.
func setFreezer(dir, state string, wait time.Duration) error {
	f := filepath.Join(dir, "freezer.state")
	if err := os.WriteFile(f, []byte(state), 0); err != nil {
		return fmt.Errorf("cgroup: write %s to %s: %w", state, f, err)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if cur, err := os.ReadFile(f); err != nil || strings.TrimSpace(string(cur)) == state {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func killListed(lf *v1Leaf) {
	procs, _ := lf.cg.Processes(cgroup1.Name(lf.ctrl), true)
	for _, p := range procs {
		unix.Kill(p.Pid, unix.SIGKILL)
	}
}

// killLoop kills what list returns until it returns nothing, so that a
// process forked between a listing and the kill is caught next round.
func killLoop(dir string, list func() ([]int, error)) error {
	for range 100 {
		pids, err := list()
		if err != nil {
			return fmt.Errorf("cgroup: list the processes of %s: %w", dir, err)
		}
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// deleteWait bounds how long Delete waits for killed processes to leave.
const deleteWait = 2 * time.Second

// Delete removes the box's leaf cgroup(s), retrying while processes that
// were killed are still exiting. Call Kill first. It is safe to call twice.
func (b *Box) Delete() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deleted {
		return nil
	}
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	b.unholdLeaves()
	var errs []error
	if b.v2 != nil {
		if err := retryDelete(func() error { return removeTree(b.v2Dir) }, nil); err != nil {
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", b.v2Dir, err))
		}
	}
	for _, lf := range b.v1 {
		if err := retryDelete(func() error { return removeTree(lf.dir) }, nil); err != nil {
			errs = append(errs, fmt.Errorf("cgroup: remove %s cgroup %s: %w", lf.ctrl, lf.dir, err))
		}
	}
	if deleteRemoved != nil {
		deleteRemoved()
	}
	// Released after the removal, removed or not: a leaf that could not
	// be removed now is left to the next New's sweep (stale.go).
	b.closeLocks()
	if len(errs) > 0 {
		return fmt.Errorf("%w (kill what is left with Kill, or remove the directories by hand)", errors.Join(errs...))
	}
	b.deleted = true
	return nil
}

// retryDelete calls del until it succeeds or deleteWait passes; the kernel
// refuses to remove a cgroup until its last process has exited.
func retryDelete(del func() error, done error) error {
	deadline := time.Now().Add(deleteWait)
	for {
		err := del()
		if err == nil || (done != nil && errors.Is(err, done)) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeAll undoes a partly made box after a failure in New.
func (b *Box) removeAll() {
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	b.unholdLeaves()
	if b.v2 != nil {
		removeTree(b.v2Dir)
	}
	for _, lf := range b.v1 {
		removeTree(lf.dir)
	}
	b.closeLocks()
	b.v1, b.v2, b.v2Inner = nil, nil, nil
}

// removeTree removes the cgroup dir and every cgroup below it (the box's
// inner child, and any the box made there itself), deepest first; a cgroup
// already gone is no error.
func removeTree(dir string) error {
	if removeTreeBy(dir, childDirs) == nil {
		return nil
	}
	// childDirs trusted a link count that may not count subdirectories on
	// this file system (or the tree changed): list every directory.
	return removeTreeBy(dir, listDirs)
}

func removeTreeBy(dir string, children func(string) ([]string, error)) error {
	names, err := children(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	for _, n := range names {
		if err := removeTreeBy(filepath.Join(dir, n), children); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		errs = append(errs, os.NewSyscallError("rmdir "+dir, err))
	}
	return errors.Join(errs...)
}

// childDirs names the subdirectories of the cgroup dir. cgroupfs (kernfs)
// keeps a directory's link count at 2 plus its number of subdirectories, so
// a box's cgroup need not be listed (20 to 30 control files per v1
// hierarchy, a listing per level at every box's end) to learn that it has
// no child, or only the inner one every box has; other counts are listed.
func childDirs(dir string) ([]string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	switch st.Nlink {
	case 2:
		return nil, nil
	case 3:
		var in unix.Stat_t
		if unix.Lstat(filepath.Join(dir, innerLeaf), &in) == nil && in.Mode&unix.S_IFMT == unix.S_IFDIR {
			return []string{innerLeaf}, nil
		}
	}
	return listDirs(dir)
}

// listDirs names the subdirectories of dir from a full listing.
func listDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, err
}

// sumOOMKillsV1 adds up the oom_kill counters of memory.oom_control in the
// v1 memory cgroup dir and every cgroup below it.
func sumOOMKillsV1(dir string) uint64 {
	var n uint64
	if data, err := os.ReadFile(filepath.Join(dir, "memory.oom_control")); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				if k, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
					n += k
				}
			}
		}
	}
	names, _ := childDirs(dir)
	for _, c := range names {
		n += sumOOMKillsV1(filepath.Join(dir, c))
	}
	return n
}

// closeLocks releases the locks of the box's leaves (stale.go).
func (b *Box) closeLocks() {
	closeLock(&b.lock)
	for _, lf := range b.v1 {
		closeLock(&lf.lock)
	}
}

// unholdLeaves takes the box's leaves out of this process's count of the
// leaves it holds below each parent (stale.go's ownLeaves) before they are
// removed, their locks still held: a leaf removed but still counted would
// make a stale leaf beside it pass for one of ours, and a New in between
// (another box of a batch) would skip the parent's sweep.
func (b *Box) unholdLeaves() {
	dropLeaf(b.lock)
	for _, lf := range b.v1 {
		dropLeaf(lf.lock)
	}
}

// deleteRemoved, when set (tests), runs in Delete between the removal of
// the leaves and the release of their locks.
var deleteRemoved func()

func closeLock(fd *int) {
	if *fd >= 0 {
		dropLeaf(*fd)
		unix.Close(*fd)
		*fd = -1
	}
}
