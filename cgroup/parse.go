package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
)

// Membership is where a process sits in each cgroup hierarchy, as listed in
// /proc/PID/cgroup (cgroups(7)).
type Membership struct {
	// V1 maps a v1 controller ("memory", "cpu", ..., "name=systemd") to the
	// process's cgroup path in that hierarchy, e.g. "/process_api/7fd0".
	V1 map[string]string
	// Unified is the path in the v2 hierarchy (the "0::" line), "" if absent.
	Unified string
}

// ParseProcCgroup parses the content of /proc/PID/cgroup. Co-mounted v1
// controllers ("2:cpu,cpuacct:/x") each get their own entry.
func ParseProcCgroup(r io.Reader) (Membership, error) {
	v1, unified, err := cgroups.ParseCgroupFromReaderUnified(r)
	if err != nil {
		return Membership{}, fmt.Errorf("parse /proc/self/cgroup: %w", err)
	}
	return Membership{V1: v1, Unified: unified}, nil
}

// mount is one cgroup filesystem from /proc/self/mountinfo.
type mount struct {
	// Root is the path inside the hierarchy that is mounted (field 4): "/"
	// for the whole hierarchy, deeper for a bind mount or a cgroup namespace.
	Root string
	// Point is where it is mounted, e.g. "/sys/fs/cgroup/memory".
	Point string
	// V2 is true for a cgroup2 mount.
	V2 bool
	// Controllers are the v1 controllers of the hierarchy (from the super
	// options), e.g. ["cpu", "cpuacct"]; named hierarchies appear as
	// "name=systemd". Empty for cgroup2.
	Controllers []string
}

// v1Controllers are the super options of a cgroup v1 mount that are not
// controller names.
var v1NotControllers = map[string]bool{
	"rw": true, "ro": true, "noprefix": true, "clone_children": true,
	"xattr": true, "cpuset_v2_mode": true, "favordynmods": true,
}

// parseMountinfo returns the cgroup and cgroup2 mounts listed in the content
// of /proc/self/mountinfo (proc(5)), in order.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		line := s.Text()
		// The optional fields end at a lone "-"; after it come the
		// filesystem type, the source and the super options.
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			return nil, fmt.Errorf("parse mountinfo: no separator in %q", line)
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			return nil, fmt.Errorf("parse mountinfo: short line %q", line)
		}
		m := mount{Root: unescapeMountinfo(f[3]), Point: unescapeMountinfo(f[4])}
		switch g[0] {
		case "cgroup2":
			m.V2 = true
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if !v1NotControllers[o] && !strings.HasPrefix(o, "release_agent=") {
					m.Controllers = append(m.Controllers, o)
				}
			}
		default:
			continue
		}
		out = append(out, m)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space, ...) the
// kernel writes in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// findV1Mount returns the v1 mount of controller ctrl.
func findV1Mount(mounts []mount, ctrl string) (mount, bool) {
	for _, m := range mounts {
		if m.V2 {
			continue
		}
		for _, c := range m.Controllers {
			if c == ctrl {
				return m, true
			}
		}
	}
	return mount{}, false
}

// findV2Mount returns the cgroup2 mount at point (the unified mount point
// for the host's mode).
func findV2Mount(mounts []mount, point string) (mount, bool) {
	for _, m := range mounts {
		if m.V2 && m.Point == point {
			return m, true
		}
	}
	return mount{}, false
}

// inMount turns a path in a hierarchy (as /proc/self/cgroup lists it) into
// the path below the mount, which shows the hierarchy from m.Root down. It
// fails if the cgroup is not visible through the mount.
func inMount(m mount, cgPath string) (string, error) {
	rel, err := filepath.Rel(m.Root, cgPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("cgroup %s is outside the mount %s (root %s)", cgPath, m.Point, m.Root)
	}
	return filepath.Join("/", rel), nil
}

// prober answers the questions about the file system that choosing a parent
// cgroup needs; tests replace it with a table.
type prober interface {
	// exists reports whether path exists.
	exists(path string) bool
	// writable reports whether the caller may write path (access(2), W_OK).
	writable(path string) bool
}

// host is everything the choice of a parent cgroup depends on.
type host struct {
	euid   int
	user   string // the caller's user name, for the directory Setup made
	mounts []mount
	self   Membership
	probe  prober
	// setupDir is the name of the directory Setup made for the user:
	// setupDirName(user), or a test-specific name.
	setupDir string
}

// setupDirName is the directory Setup creates for user below the root of
// each hierarchy.
func setupDirName(user string) string { return "sandbox-" + user }

// v1Parent is where a box's leaf in a v1 hierarchy goes.
type v1Parent struct {
	Mount mount
	// Rel is the parent's path below the mount point, e.g. "/process_api/x".
	Rel string
}

// dir is the parent's absolute path on the file system.
func (p v1Parent) dir() string { return filepath.Join(p.Mount.Point, p.Rel) }

// chooseV1Parent picks the cgroup below which the box's leaf for controller
// ctrl goes: root uses its own cgroup (so the box stays inside every limit
// the caller is under); an unprivileged caller uses its own cgroup if it may
// write it (someone delegated it), else the directory Setup made for it.
func chooseV1Parent(h host, ctrl string) (v1Parent, error) {
	m, ok := findV1Mount(h.mounts, ctrl)
	if !ok {
		return v1Parent{}, fmt.Errorf("%s controller: %w", ctrl, ErrNoController)
	}
	own, ok := h.self.V1[ctrl]
	if !ok {
		return v1Parent{}, fmt.Errorf("%s controller: not in /proc/self/cgroup: %w", ctrl, ErrNoController)
	}
	rel, err := inMount(m, own)
	if err != nil {
		return v1Parent{}, fmt.Errorf("%s controller: %w", ctrl, err)
	}
	p := v1Parent{Mount: m, Rel: rel}
	if h.euid == 0 {
		return p, nil
	}
	if h.probe.writable(p.dir()) && h.probe.writable(filepath.Join(p.dir(), "cgroup.procs")) {
		return p, nil
	}
	d := v1Parent{Mount: m, Rel: "/" + h.setupDir}
	if h.probe.exists(d.dir()) && h.probe.writable(d.dir()) && h.probe.writable(filepath.Join(d.dir(), "cgroup.procs")) {
		return d, nil
	}
	return v1Parent{}, &DelegationError{Controller: ctrl, Path: d.dir(), User: h.user}
}

// supervisorLeaf is the child of a delegated v2 cgroup that New moves the
// caller into, when the caller sits in that cgroup itself: v2 lets a cgroup
// hand controllers to its children only while it holds no process
// ("no internal processes", cgroup-v2.rst), and the box's leaf must be a
// child of it.
const supervisorLeaf = "sandbox-supervisor"

// chooseV2Parent picks the v2 cgroup (a path below the mount) the box's leaf
// goes under. Root: its own cgroup. Unprivileged: Setup's directory if the
// caller runs in it or below it; else its own cgroup if it owns it (a
// systemd Delegate=yes scope). A cgroup the caller does not sit below is no
// use: v2 moves a process only when the mover may write cgroup.procs of the
// common ancestor of both cgroups (cgroup-v2.rst, "Delegation Containment").
func chooseV2Parent(h host, m mount) (string, error) {
	rel, err := inMount(m, h.self.Unified)
	if err != nil {
		return "", err
	}
	if filepath.Base(rel) == supervisorLeaf {
		rel = filepath.Dir(rel) // an earlier New moved us here
	}
	if h.euid == 0 {
		return rel, nil
	}
	delegated := func(rel string) bool {
		dir := filepath.Join(m.Point, rel)
		return h.probe.writable(dir) && h.probe.writable(filepath.Join(dir, "cgroup.procs")) &&
			h.probe.writable(filepath.Join(dir, "cgroup.subtree_control"))
	}
	// In or below Setup's directory (the user's shell in its "shell"
	// child, or in any cgroup below): boxes go in Setup's directory itself,
	// which holds no process and so may give its children controllers, and
	// never in the shell's cgroup, which could then take no new shell.
	sd := "/" + h.setupDir
	if (rel == sd || strings.HasPrefix(rel, sd+"/")) && delegated(sd) {
		return sd, nil
	}
	if delegated(rel) {
		return rel, nil
	}
	e := &DelegationError{Controller: "cgroup v2", Path: filepath.Join(m.Point, rel), User: h.user, V2: true}
	if d := filepath.Join(m.Point, h.setupDir); h.probe.exists(d) && rel != sd && !strings.HasPrefix(rel, sd+"/") {
		e.Path = d
		e.Outside = rel
	}
	return "", e
}

// osProbe is the prober of the real file system.
type osProbe struct{}

func (osProbe) exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func (osProbe) writable(path string) bool { return accessW(path) }
