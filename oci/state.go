package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The state directory: one directory per container under the root, made
// by create (mkdir, so that two creates of one id cannot both succeed) and
// removed by delete. Every command on a container holds an flock on its
// directory for as long as it reads or changes it.
//
//	ROOT/ID/state.json   the record below
//	ROOT/ID/start.sock   the holder's socket; `start` connects to it
//	ROOT/ID/seccomp.json the config's linux.seccomp, when it has one
//	ROOT/ID/config.json  the bundle's config.json as create read it (exec's)
//	ROOT/ID/end.json     how pid 1 ended, written by the holder

// ErrNotExist is a container id with no state directory.
var ErrNotExist = errors.New("container does not exist")

// record is state.json.
type record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pid_start"` // pid 1's start time (/proc/PID/stat), against pid reuse
	HolderPid   int               `json:"holder_pid"`
	Started     bool              `json:"started"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Notes       []string          `json:"notes,omitempty"`
	// Cgroups are the box's cgroup leaves (linux.resources), which
	// outlive create: delete removes them (cgroup.RemoveLeaves).
	Cgroups []string `json:"cgroups,omitempty"`
}

// end is end.json.
type end struct {
	Known  bool   `json:"known"`
	Status int    `json:"wait_status"`
	Error  string `json:"error,omitempty"`
}

// DefaultRoot is where state lives without --root: $XDG_RUNTIME_DIR/sandbox
// for a regular user, /run/sandbox for root.
func DefaultRoot() string {
	// Root in a user namespace (rootless podman runs its runtime so) is
	// a regular user on the host, as runc also judges.
	if os.Geteuid() != 0 || inUserNS() {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return filepath.Join(d, "sandbox")
		}
		return filepath.Join(os.TempDir(), "sandbox-"+strconv.Itoa(os.Getuid()))
	}
	return "/run/sandbox"
}

// container is one open, locked state directory.
type container struct {
	dir string
	fd  int // the directory, flocked
	rec record
}

func checkID(id string) error {
	ok := id != "" && len(id) <= 1024
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && strings.IndexByte("_.+-", c) >= 0
	}
	if !ok {
		return fmt.Errorf("container id %q: want letters, digits and _.+- (not starting with one of those four)", id)
	}
	return nil
}

// checkRoot refuses a state root that another user could change: one not
// owned by this process's euid, or writable by its group or others, or not
// a directory (followed through symlinks: a link to a directory of ours is
// harmless, a link to someone else's is refused by its owner). Without
// it, a user who made /tmp/sandbox-UID first (the default root when
// $XDG_RUNTIME_DIR is unset), or any shared writable --root, could plant
// ROOT/ID/state.json with a pid of the victim's own processes, which kill
// and delete --force then signal, or a bundle and pid that exec joins.
func checkRoot(root string) error {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return fmt.Errorf("state root %s: %w", root, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("state root %s: not a directory", root)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("state root %s: owned by uid %d, not by this user (%d): another user could forge its state", root, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("state root %s: writable by group or others (mode %o): another user could forge its state", root, st.Mode&0o7777)
	}
	// Nor may another user rename it, or a directory above it, away and
	// put one of theirs in its place: every directory above is writable
	// by its owner alone (or sticky, as /tmp), and owned by this user, by
	// root, or by the overflow id (root, seen from a user namespace).
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("state root %s: %w", root, err)
	}
	overflow := 65534
	if b, err := os.ReadFile("/proc/sys/kernel/overflowuid"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			overflow = n
		}
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("state root %s: %s: %w", root, d, err)
		}
		if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 && uid != overflow {
			return fmt.Errorf("state root %s: %s is owned by uid %d: another user could replace the root", root, d, st.Uid)
		}
		if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
			return fmt.Errorf("state root %s: %s is writable by group or others and not sticky (mode %o): another user could replace the root", root, d, st.Mode&0o7777)
		}
		if d == "/" {
			return nil
		}
	}
}

// open locks and reads the container's state.
func open(root, id string) (*container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := checkRoot(root); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%s: %w", id, ErrNotExist)
		}
		return nil, err
	}
	dir := filepath.Join(root, id)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%s: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	c := &container{dir: dir, fd: fd}
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err == nil {
		err = json.Unmarshal(data, &c.rec)
	}
	if err != nil {
		// A directory without a state: a create in progress or one that
		// died half way; delete removes it.
		c.rec.ID = id
		return c, fmt.Errorf("%s: no state (a create in progress, or one that failed): %w", id, err)
	}
	return c, nil
}

// openState is open for a command that needs the container's state: on any
// error nothing stays open or locked.
func openState(root, id string) (*container, error) {
	c, err := open(root, id)
	if err != nil && c != nil {
		c.close()
		c = nil
	}
	return c, err
}

func (c *container) close() { unix.Close(c.fd) }

// sockPath names the start socket through the directory's descriptor: a
// socket's path is limited to 107 bytes, and a state root under a long
// $XDG_RUNTIME_DIR with a 64-digit id (podman's) is longer.
func (c *container) sockPath() string {
	return "/proc/self/fd/" + strconv.Itoa(c.fd) + "/start.sock"
}

func (c *container) save() error {
	data, err := json.MarshalIndent(c.rec, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(c.dir, "state.json"), data)
}

// writeAtomic writes a file whole or not at all (a reader never sees half).
// The temporary file is a new one of a random name (O_EXCL): in a
// directory another user may write (an engine's --pid-file), a symlink
// planted at a fixed name would be followed, and a root runtime would
// write the file it names.
func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// status tells the container's OCI status from pid 1: gone (or a zombie,
// or its pid reused) is stopped.
func (c *container) status() specs.ContainerState {
	if c.rec.Pid <= 0 {
		return specs.StateStopped
	}
	st, start, ok := procStat(c.rec.Pid)
	if !ok || start != c.rec.PidStart || st == 'Z' || st == 'X' {
		return specs.StateStopped
	}
	if !c.rec.Started {
		return specs.StateCreated
	}
	return specs.StateRunning
}

// ociState is the state as `state` prints it.
func (c *container) ociState() specs.State {
	st := c.status()
	s := specs.State{
		Version: specs.Version, ID: c.rec.ID, Status: st,
		Bundle: c.rec.Bundle, Annotations: c.rec.Annotations,
	}
	if st != specs.StateStopped {
		s.Pid = c.rec.Pid
	}
	return s
}

// procStat reads a process's state letter and start time (fields 3 and 22
// of /proc/PID/stat).
func procStat(pid int) (byte, uint64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], start, true
}

// waitGone waits until pid 1 is stopped, up to d.
func (c *container) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for c.status() != specs.StateStopped {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// signal sends sig to pid 1 through a pidfd taken before its start time
// is checked again: a pid 1 that ended (and whose pid was reused) between
// the caller's status check and the signal is not mistaken for the new
// process with its number.
func (c *container) signal(sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(c.rec.Pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil
	case errors.Is(err, unix.ENOSYS):
		// Before Linux 5.3: the check and the kill, as close as they go.
		if _, start, ok := procStat(c.rec.Pid); !ok || start != c.rec.PidStart {
			return nil
		}
		err = unix.Kill(c.rec.Pid, sig)
	case err != nil:
	default:
		defer unix.Close(fd)
		if _, start, ok := procStat(c.rec.Pid); !ok || start != c.rec.PidStart {
			return nil // the pidfd is of another process, or of none
		}
		err = unix.PidfdSendSignal(fd, sig, nil, 0)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill %d: %w", c.rec.Pid, err)
	}
	return nil
}

// inUserNS tells whether this process is in a user namespace other than
// the host's (whose uid_map maps all 2^32-1 ids from 0).
func inUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}
