package cgroup

// A box whose leaf is at a path its caller names (an OCI config's
// linux.cgroupsPath, for a runtime run as host root) instead of
// <own cgroup>/<prefix>-<hex>. The two levels stay: limits on the named
// leaf, processes in its child "box".

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrPath is matched by the errors about a path NewAt was given.
var ErrPath = errors.New("cgroup path refused")

// CheckPath tells whether path can name a box's leaf: absolute (below each
// hierarchy's root) or relative (below the caller's own cgroup), with no
// "." or ".." element (which could climb out of the place asked, or name a
// hierarchy's root) and not the root itself.
func CheckPath(path string) error {
	if path == "" || strings.ContainsRune(path, 0) {
		return fmt.Errorf("%w: %q: empty", ErrPath, path)
	}
	elems := strings.Split(strings.Trim(path, "/"), "/")
	for _, e := range elems {
		if e == "" || e == "." || e == ".." {
			return fmt.Errorf("%w: %q: an empty, \".\" or \"..\" element", ErrPath, path)
		}
	}
	return nil
}

// NewAt is New with the box's leaf at path (CheckPath) in every hierarchy:
// an absolute path is taken from the hierarchy's root, a relative one from
// this process's own cgroup. Only for host root (a regular user may use no
// cgroup but its own or Setup's). Missing parents are made and left behind
// (as runc does); the leaf must not exist: a cgroup someone else made may
// hold processes and limits that are not the box's, so NewAt refuses it
// rather than put the box in it. name is only what New's sweep of the
// parent's stale leaves looks for.
func NewAt(name string, l Limits, path string) (*Box, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	if hostUID(os.Geteuid()) != 0 {
		return nil, fmt.Errorf("%w: %q: only host root places a box's cgroup at a given path", ErrPath, path)
	}
	// CheckPath left no "." or ".." or empty element: Clean drops only
	// a trailing slash, which would otherwise make atParent the leaf.
	return newBoxAt(name, l, "", filepath.Clean(path))
}

// atParent is where the leaf at b.at goes, given the parent New would use
// (the caller's own cgroup, for root): its directory relative to the
// hierarchy (rel is the chosen parent's, "/" a hierarchy's root).
func (b *Box) atParent(own string) string {
	if filepath.IsAbs(b.at) {
		return filepath.Dir(b.at)
	}
	return filepath.Join(own, filepath.Dir(b.at))
}

// makeAtLeaf makes the parents of the leaf dir (in the hierarchy mounted at
// root) and the leaf itself, which must be new: mkdir(2) fails with EEXIST
// on any existing cgroup, so a leaf made here is one nobody else made,
// whatever its limits or processes. Nor may it go below another box's leaf
// (an existing cgroup under the root with a child "box"): its processes
// would count against that box's limits, and that box's kill and delete
// would reach them.
func makeAtLeaf(root, dir string) error {
	for p := filepath.Dir(dir); p != root && strings.HasPrefix(p, root+"/"); p = filepath.Dir(p) {
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(p, innerLeaf), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return fmt.Errorf("%w: %s is below %s, another box's cgroup", ErrPath, dir, p)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("cgroup: make the parents of %s: %w", dir, err)
	}
	if err := unix.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: %s exists already: a cgroup this box did not make (its processes and limits would not be the box's)", ErrPath, dir)
		}
		return fmt.Errorf("cgroup: make %s: %w", dir, err)
	}
	return nil
}

// isAtLeaf tells whether a recorded dir can be a leaf NewAt made, for host
// root only: below a hierarchy's root (never the root itself, nor a
// controller's mount), with the box's inner child. The record is root's
// (the OCI runtime's state root, checked), so this is a sanity check on
// it, not a proof: a cgroup of someone else's with a child named "box"
// passes it.
func isAtLeaf(dir string) bool {
	if hostUID(os.Geteuid()) != 0 {
		return false
	}
	rest := strings.TrimPrefix(dir, "/sys/fs/cgroup/")
	// v1: <controller>/<at...>; v2: <at...>. At least two elements below
	// the file system's root on v1 (a controller's mount is one).
	if n := len(strings.Split(rest, "/")); n < 2 && !isUnifiedRoot() {
		return false
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, innerLeaf), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	// A mount point of a hierarchy is never a leaf: its parent is on
	// another file system (the tmpfs at /sys/fs/cgroup, on v1).
	var a, p unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &p) != nil || a.Dev != p.Dev {
		return false
	}
	return true
}

// isUnifiedRoot tells whether /sys/fs/cgroup is cgroup2 itself (v2 only).
func isUnifiedRoot() bool {
	var st unix.Statfs_t
	return unix.Statfs(unifiedPoint, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
