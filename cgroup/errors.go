package cgroup

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNoDelegation means the caller may not create the cgroups a limit needs.
// It is matched with errors.Is; the error itself is a *DelegationError whose
// message names the controller, the path tried and the fix.
var ErrNoDelegation = errors.New("no cgroup delegated to this user")

// ErrNoController means a controller a limit needs is not mounted or not
// enabled on this host; no delegation can fix that.
var ErrNoController = errors.New("controller not available on this host (see `sandbox doctor`)")

// DelegationError says which controller could not be used, where, and how to
// fix it.
type DelegationError struct {
	// Controller is the v1 controller ("memory", "cpu", "pids", ...), or a v2
	// controller or "cgroup v2" for the unified hierarchy.
	Controller string
	// Path is the cgroup directory that was tried.
	Path string
	// User is the caller's user name, for the fix.
	User string
	// V2 is set on a unified (cgroup v2) host.
	V2 bool
	// Outside is set on v2 when Setup's directory exists but the caller runs
	// in another cgroup (this one), where v2 does not let it move processes.
	Outside string
	// Err is the underlying error (EACCES, EBUSY, ...), if any.
	Err error
	// Systemd is why the caller's systemd user manager gave no delegated
	// scope (v2), if it was asked.
	Systemd error
}

func (e *DelegationError) Error() string {
	user := e.User
	if user == "" {
		user = "NAME"
	}
	msg := fmt.Sprintf("%s cgroup: cannot create a box cgroup in %s", e.Controller, e.Path)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Outside != "" {
		msg += fmt.Sprintf(" (this process runs in %s, outside it: cgroup v2 only moves processes"+
			" between cgroups whose common ancestor the user may write)", e.Outside)
	}
	if e.Systemd != nil {
		msg += fmt.Sprintf(" (and no delegated scope from systemd: %v)", e.Systemd)
	}
	if e.V2 {
		return msg + fmt.Sprintf("; fix: let your systemd user manager run, which sandbox then asks for a delegated scope "+
			"(as root: `loginctl enable-linger %s`, or log in through PAM), or start sandbox in a cgroup delegated to you, e.g. "+
			"`systemd-run --user --scope -p Delegate=yes sandbox exec ...`, or without systemd have root run "+
			"`sudo sandbox cgroup-setup --user %s` and start your shell inside /sys/fs/cgroup/%s/%s", user, user, setupDirName(user), SetupShell)
	}
	return msg + fmt.Sprintf("; fix: run once as root `sudo sandbox cgroup-setup --user %s`", user)
}

// Is makes errors.Is(err, ErrNoDelegation) true.
func (e *DelegationError) Is(target error) bool { return target == ErrNoDelegation }

// Unwrap returns the underlying error.
func (e *DelegationError) Unwrap() error { return e.Err }

// isPermission reports whether err is the kernel refusing the caller
// (rather than a broken host): those become a DelegationError.
func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS)
}

// accessW reports whether the caller may write path.
func accessW(path string) bool { return unix.Access(path, unix.W_OK) == nil }
