package idmap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// helperDir is where Debian installs the helpers; the fallback when they are
// not on PATH (a sanitised PATH often lacks /usr/bin in CI runners).
var helperDir = "/usr/bin"

// lookPath is exec.LookPath, replaced in tests.
var lookPath = exec.LookPath

// WriteFromParent writes the maps of the child pid, which must have been
// started in a new user namespace without mappings and not yet released.
// It does nothing unless m.Helpers: then Go's SysProcAttr.UidMappings wrote
// the maps already.
//
// It runs newuidmap first and then newgidmap. The order is not significant
// to the kernel, but both must finish before the child is released: until
// then the child's ids are the overflow id and it cannot setuid(2).
func (m Mapping) WriteFromParent(pid int) error {
	if !m.Helpers {
		return nil
	}
	if pid <= 0 {
		return fmt.Errorf("write id maps: pid %d: want the child's pid", pid)
	}
	// The two helpers are independent (each writes one file of the child's),
	// so they run side by side: each is a setuid exec of a few milliseconds.
	helpers := []struct {
		name string
		maps []syscall.SysProcIDMap
	}{{"newuidmap", m.UIDs}, {"newgidmap", m.GIDs}}
	errs := make([]error, len(helpers))
	var wg sync.WaitGroup
	for i, h := range helpers {
		wg.Go(func() {
			path, err := FindHelper(h.name)
			if err == nil {
				err = runHelper(path, HelperArgs(pid, h.maps))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	// In a fixed order, uid first, whichever finished first.
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// HelperArgs returns the arguments of newuidmap(1)/newgidmap(1) for pid:
// the pid, then "inside outside count" for each map line.
func HelperArgs(pid int, maps []syscall.SysProcIDMap) []string {
	args := make([]string, 0, 1+3*len(maps))
	args = append(args, strconv.Itoa(pid))
	for _, l := range maps {
		args = append(args, strconv.Itoa(l.ContainerID), strconv.Itoa(l.HostID), strconv.Itoa(l.Size))
	}
	return args
}

// FindHelper returns the full path of newuidmap or newgidmap: found on PATH,
// else in /usr/bin. It fails with ErrHelperMissing when neither has it, and,
// for an unprivileged caller, with ErrHelperNotPrivileged when the file is
// neither setuid root nor carries file capabilities (Fedora's way).
func FindHelper(name string) (string, error) {
	path, err := lookPath(name)
	if err != nil {
		path = filepath.Join(helperDir, name)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("find %s: %w (install the Debian package uidmap: apt-get install uidmap; or use --map self): %w",
			name, ErrHelperMissing, err)
	}
	if os.Geteuid() == 0 {
		// Root needs neither the setuid bit nor file capabilities.
		return path, nil
	}
	_, xerr := unix.Getxattr(path, "security.capability", nil)
	if !HelperPrivileged(fi, xerr == nil) {
		return "", fmt.Errorf("%s (%s, mode %v) is not setuid root, so it cannot write the maps: %w; "+
			"fix: sudo chown root %s && sudo chmod u+s %s (or reinstall the package uidmap), or use --map self",
			name, path, fi.Mode(), ErrHelperNotPrivileged, path, path)
	}
	return path, nil
}

// HelperPrivileged reports whether a helper file can raise the privileges
// it needs: setuid and owned by root, or carrying file capabilities.
func HelperPrivileged(fi os.FileInfo, hasFileCaps bool) bool {
	if hasFileCaps {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0 && fi.Mode()&os.ModeSetuid != 0 && fi.Mode().IsRegular()
}

func runHelper(path string, args []string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "no output"
		}
		var hint string
		if strings.Contains(msg, "not allowed") || strings.Contains(msg, "subuid") || strings.Contains(msg, "subgid") {
			hint = " (check the caller's ranges in /etc/subuid and /etc/subgid, or use --map self)"
		}
		return fmt.Errorf("%s %s: %w: %v: %s%s", filepath.Base(path), strings.Join(args, " "), ErrHelperFailed, err, msg, hint)
	}
	return nil
}

// ChildWrites tells whether the box's init stage writes these maps itself,
// right after it creates its user namespace: the caller's own uid and gid
// alone (an unprivileged --map self), the one map user_namespaces(7) lets
// a process write for itself, with setgroups denied first. Otherwise the
// supervisor writes them (WriteFiles, as root) or the helpers do
// (WriteFromParent), while the init stage waits.
func (m Mapping) ChildWrites() bool {
	return !m.Helpers && m.InitUID < 0
}

// Maps tells whether id, inside the namespace, is one the maps map.
func Maps(maps []syscall.SysProcIDMap, id int) bool {
	for _, l := range maps {
		if id >= l.ContainerID && id-l.ContainerID < l.Size {
			return true
		}
	}
	return false
}

// MapText renders map lines as uid_map and gid_map take them, one
// "inside outside count" line each.
func MapText(maps []syscall.SysProcIDMap) string {
	var b strings.Builder
	for _, l := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", l.ContainerID, l.HostID, l.Size)
	}
	return b.String()
}

// WriteFiles writes the maps of pid's user namespace through /proc/PID, as
// a root caller may (CAP_SETUID and CAP_SETGID where the namespace was
// made): setgroups first, then gid_map and uid_map. The process must have
// created the namespace and be waiting for its maps. WriteFilesAt is the
// same through a /proc/PID directory opened while the process could not
// have been reaped: a pid can be reused once its process is gone.
func (m Mapping) WriteFiles(pid int) error {
	dir, err := os.Open("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return fmt.Errorf("the box's user namespace: %w", err)
	}
	defer dir.Close()
	return m.WriteFilesAt(dir)
}

// WriteFilesAt writes the maps through dir, the process's /proc/PID: the
// files are opened relative to it, so they are the process's own or, once
// it has exited, none (procfs refuses lookups in a dead process's
// directory), never those of a process that reused its pid.
func (m Mapping) WriteFilesAt(dir *os.File) error {
	setgroups := "deny"
	if m.SetgroupsAllowed {
		setgroups = "allow"
	}
	for _, f := range []struct{ name, text string }{
		{"setgroups", setgroups}, {"gid_map", MapText(m.GIDs)}, {"uid_map", MapText(m.UIDs)},
	} {
		fd, err := unix.Openat(int(dir.Fd()), f.name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("write %s of the box's user namespace: %w", f.name, os.NewSyscallError("open", err))
		}
		n, err := unix.Write(fd, []byte(f.text))
		unix.Close(fd)
		if err == nil && n != len(f.text) {
			err = fmt.Errorf("short write (%d of %d bytes)", n, len(f.text))
		}
		if err != nil {
			return fmt.Errorf("write %s of the box's user namespace: %w", f.name, err)
		}
	}
	return nil
}
