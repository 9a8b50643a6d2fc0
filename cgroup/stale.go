package cgroup

// Leaves left behind by a supervisor that died (SIGKILL, OOM kill, power to
// the process cut) without calling Delete.
//
// A supervisor holds an exclusive flock(2) on each of its leaf directories
// (an O_RDONLY|O_DIRECTORY descriptor, close-on-exec, so no box process
// inherits it) from New until Delete. The kernel drops a flock when the last
// descriptor of its open file goes, so a leaf whose lock can be taken has no
// living owner. New sweeps the siblings of the leaf it is about to make:
// each one named like a box leaf whose lock it gets is stale, and New kills
// what is left in it and removes it. flock works on cgroupfs directories
// (v1 and v2: it is the VFS's, not the file system's), needs only read
// access to the directory, and so works for a user in a delegated subtree as
// for root; it also works across pid namespaces, where an owner's pid would
// not.
//
// The race between making a leaf and locking it (a sweeper could take the
// lock of a leaf just made and remove it) is closed by a lock on the parent:
// a supervisor holds it shared from its mkdir until its leaf is locked, and
// a sweep takes it exclusive, without waiting: when another supervisor is
// making its leaf at that moment, this sweep is skipped and a later New
// does it.
//
// Only leaves named <prefix>-<16 hex digits> are swept: leaves made before
// the lock existed have 12 hex digits, and their owners (an older binary,
// maybe still running) do not lock them, so they are never taken for stale.
// systemd (unit cgroups) and runc/crun (a state directory naming the
// cgroup) keep owner records elsewhere; a box has no such place that
// survives its supervisor, the cgroup directory itself is the record.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// leafSuffixBytes is the size of a leaf name's random suffix; its length in
// hex (16) marks a leaf whose owner locks it (see above).
const leafSuffixBytes = 8

// staleWait bounds how long a sweep waits for the processes it killed in a
// stale leaf to leave it; a leaf still busy then is left to a later sweep.
const staleWait = 500 * time.Millisecond

// isLeafName tells whether base is a box leaf made under prefix by a
// supervisor that locks its leaves.
func isLeafName(base, prefix string) bool {
	rest, ok := strings.CutPrefix(base, prefix+"-")
	if !ok || len(rest) != 2*leafSuffixBytes {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// openDir opens dir for flock: O_RDONLY (flock on an O_PATH descriptor fails
// with EBADF), close-on-exec so that no child of the supervisor keeps a lock
// alive past it.
func openDir(dir string) (int, error) {
	return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// claimParent sweeps parent of stale leaves named <prefix>-<hex>, then holds
// parent's lock shared until the returned release is called, which the
// caller does once its own new leaf is locked (lockLeaf). Every failure
// here is ignored: a sweep is a clean-up, and a box that cannot lock its
// leaf still runs (it is then only not protected from its supervisor's
// death).
func claimParent(parent, prefix string) (release func()) {
	fd, err := openDir(parent)
	if err != nil {
		return func() {}
	}
	var stale []staleLeaf
	if !onlyOwnLeaves(fd, parent) && unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		stale = findStale(parent, prefix)
	}
	// Shared while our own leaf is made, so that no sweep takes it for
	// stale before it is locked. Converting EX to SH is not atomic in
	// flock(2), which is fine: a sweep that slips in between sees only
	// locked or stale leaves, and our leaf does not exist yet.
	//
	// Not a blocking LOCK_SH: whoever can read the directory can flock it
	// (it is world-readable, and a box with --rootfs / sees /sys), and one
	// holding it exclusive would stop every later box's setup for as long
	// as it likes. A sweep holds it only while it lists the leaves, so a
	// lock still held after parentWait is not a sweep's, and no sweep runs
	// while it is held: our leaf needs no protection from one.
	if !flockShared(fd, parentWait) {
		unix.Close(fd)
		fd = -1
	}
	// The stale leaves are ours alone now (we hold their locks, and names
	// are never reused): remove them outside the parent's lock, so that
	// other supervisors do not wait for the kill.
	for _, s := range stale {
		removeStale(s.dir)
		unix.Close(s.fd)
	}
	return func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// ownLeaves counts, per parent directory, the leaves this process holds
// locked and has not begun to remove (lockLeaf to unholdLeaves or
// closeLock): in a batch, the parent usually holds nothing else, and its
// sweep, a listing of the parent and of each leaf's lock per hierarchy and
// box, would find nothing.
var ownLeaves struct {
	mu       sync.Mutex
	byParent map[string]int
	parentOf map[int]string // a lock's descriptor to its leaf's parent
}

// onlyOwnLeaves tells whether every subdirectory of parent (open as fd) is
// a leaf this process holds locked, so that none can be stale: cgroupfs
// keeps a directory's link count at 2 plus its number of subdirectories.
// A leaf made by anyone else, stale or not, raises the count, and the
// sweep runs as before; so does any count on a file system where the link
// count means something else (fewer than 2 links).
func onlyOwnLeaves(fd int, parent string) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Nlink < 2 {
		return false
	}
	ownLeaves.mu.Lock()
	defer ownLeaves.mu.Unlock()
	return st.Nlink == 2+uint64(ownLeaves.byParent[parent])
}

// holdLeaf and dropLeaf keep ownLeaves: lock is the descriptor holding the
// lock of a leaf below parent.
func holdLeaf(lock int, parent string) {
	ownLeaves.mu.Lock()
	defer ownLeaves.mu.Unlock()
	if ownLeaves.byParent == nil {
		ownLeaves.byParent, ownLeaves.parentOf = map[string]int{}, map[int]string{}
	}
	ownLeaves.byParent[parent]++
	ownLeaves.parentOf[lock] = parent
}

func dropLeaf(lock int) {
	ownLeaves.mu.Lock()
	defer ownLeaves.mu.Unlock()
	parent, ok := ownLeaves.parentOf[lock]
	if !ok {
		return
	}
	delete(ownLeaves.parentOf, lock)
	if ownLeaves.byParent[parent]--; ownLeaves.byParent[parent] <= 0 {
		delete(ownLeaves.byParent, parent)
	}
}

type staleLeaf struct {
	dir string
	fd  int // holds the leaf's lock
}

// findStale lists the leaves under parent (locked exclusive by the caller)
// whose lock it can take, and returns them locked.
func findStale(parent, prefix string) []staleLeaf {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var stale []staleLeaf
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || !isLeafName(n, prefix) {
			continue
		}
		dir := filepath.Join(parent, n)
		fd, err := openDir(dir)
		if err != nil {
			continue
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
			unix.Close(fd) // its owner lives
			continue
		}
		stale = append(stale, staleLeaf{dir, fd})
	}
	return stale
}

// parentWait bounds how long claimParent waits for the shared lock of a
// parent that another process holds exclusive.
const parentWait = 200 * time.Millisecond

// flockShared takes fd's lock shared, waiting at most d for it.
func flockShared(fd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB)
		if err == nil {
			return true
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR || time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockLeaf takes the exclusive lock of the new leaf dir for the box's
// lifetime; -1 if it cannot open it (see claimParent). A lock that another
// process holds is an error: anyone who can read the parent can open a
// new leaf and flock it before its supervisor does (a sibling's mkdir is
// visible at once), and a leaf left unlocked while its box runs is taken
// for stale by the next sweep once that lock is let go, which kills the
// living box. The caller then removes the leaf; the box does not start.
func lockLeaf(dir string) (int, error) {
	fd, err := openDir(dir)
	if err != nil {
		return -1, nil
	}
	deadline := time.Now().Add(parentWait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			holdLeaf(fd, filepath.Dir(dir))
			return fd, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			unix.Close(fd)
			return -1, nil
		}
		if time.Now().After(deadline) {
			unix.Close(fd)
			return -1, fmt.Errorf("cgroup: %s is locked by another process (flock); refusing to run a box in a leaf that a sweep would take for stale", dir)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// removeStale kills what is left in a stale leaf and removes it. Its
// processes are normally gone already (the box's pid 1 dies with its
// supervisor, Pdeathsig, and the pid namespace with it); what can remain is
// a box frozen by a Kill the supervisor did not finish (v1 freezer), which
// must be thawed for its killed tasks to die.
func removeStale(dir string) error {
	if b, err := os.ReadFile(filepath.Join(dir, "freezer.state")); err == nil && strings.TrimSpace(string(b)) != "THAWED" {
		for _, p := range readPids(dir) {
			unix.Kill(p, unix.SIGKILL)
		}
		os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err == nil {
		// v2 (5.14+): the kernel kills every process of the cgroup.
		os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	}
	deadline := time.Now().Add(staleWait)
	for {
		// The box's processes sit in the leaf's inner child, and the box
		// may have made cgroups below it: the whole tree goes.
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				for _, pid := range readPids(p) {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
			return nil
		})
		err := removeTree(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readPids lists the processes of the cgroup at dir.
func readPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil && p > 0 {
			pids = append(pids, p)
		}
	}
	return pids
}
