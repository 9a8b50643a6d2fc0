package doctor

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3"

	"github.com/sandbox-dev/sandbox/idmap"
)

// The checks below are pure: each takes what Run read from the host and
// returns one Check, so every verdict and message is table-tested.

// Check names, in the order Run reports them.
const (
	NameKernel    = "kernel"
	NameUserNS    = "user namespaces"
	NameHelpers   = "uid/gid helpers"
	NameSubIDs    = "subordinate ids"
	NameCgroups   = "cgroups"
	NameSystemd   = "systemd user"
	NameSeccomp   = "seccomp"
	NameLandlock  = "landlock"
	NameNetUser   = "net user"
	minKernelText = "5.12"
)

// Statuses of a Check.
const (
	OK   = "OK"
	Warn = "WARN"
	Fail = "FAIL"
)

// CheckKernel judges the release string of uname(2). mount_setattr(2),
// which makes bind mounts read-only recursively in one call, arrived in 5.12.
func CheckKernel(release string) Check {
	c := Check{Name: NameKernel, Status: OK, Detail: "Linux " + release}
	major, minor, ok := parseRelease(release)
	if !ok {
		c.Status = Warn
		c.Detail = fmt.Sprintf("cannot read the version in release %q", release)
		c.Fix = "run on Linux " + minKernelText + " or newer"
		return c
	}
	if major < 5 || (major == 5 && minor < 12) {
		c.Status = Warn
		c.Detail = fmt.Sprintf("Linux %s is older than %s: no mount_setattr(2), so read-only binds are not recursive", release, minKernelText)
		c.Fix = "upgrade to Linux " + minKernelText + " or newer"
	}
	return c
}

func parseRelease(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	// The minor may run into a suffix: "12-rc1", "6+".
	end := 0
	for end < len(parts[1]) && parts[1][end] >= '0' && parts[1][end] <= '9' {
		end++
	}
	minor, err2 := strconv.Atoi(parts[1][:end])
	return major, minor, err1 == nil && err2 == nil
}

// UserNSFacts is what CheckUserNS judges. Sysctl values are the trimmed file
// contents, or "" when the knob does not exist on this kernel.
type UserNSFacts struct {
	Root             bool
	UnprivClone      string // kernel.unprivileged_userns_clone (Debian, Ubuntu)
	MaxUserNS        string // user.max_user_namespaces
	AppArmorRestrict string // kernel.apparmor_restrict_unprivileged_userns (Ubuntu 23.10+)
	// UserProbe is the error of cloning a child into a new user namespace
	// alone; AllProbe of cloning it into user, mount, pid, net, ipc, uts and
	// cgroup namespaces at once with its id mapped, as `sandbox exec` does.
	UserProbe, AllProbe error
}

// CheckUserNS judges whether the caller can create the box's namespaces,
// and when not, names the knob that explains the errno.
func CheckUserNS(f UserNSFacts) Check {
	c := Check{Name: NameUserNS, Status: OK}
	if f.UserProbe != nil {
		c.Status = Fail
		c.Detail, c.Fix = explainUserNS(f, f.UserProbe, "clone(CLONE_NEWUSER)")
		return c
	}
	if f.AllProbe != nil {
		c.Status = Fail
		c.Detail, c.Fix = explainUserNS(f, f.AllProbe, "clone(CLONE_NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS|NEWCGROUP)")
		c.Detail = "a user namespace alone works, but " + c.Detail
		return c
	}
	c.Detail = "probe ok: user, mount, pid, net, ipc, uts and cgroup namespaces"
	if f.MaxUserNS != "" {
		c.Detail += "; user.max_user_namespaces = " + f.MaxUserNS
	}
	return c
}

func explainUserNS(f UserNSFacts, err error, call string) (detail, fix string) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Sprintf("%s failed: %v", call, err), "run `sandbox doctor` again; if it persists, report it"
	}
	detail = fmt.Sprintf("%s failed: %s (%s)", call, errno.Error(), errnoName(errno))
	switch errno {
	case syscall.EPERM, syscall.EACCES:
		switch {
		case !f.Root && f.UnprivClone == "0":
			return detail + ": kernel.unprivileged_userns_clone = 0",
				"sudo sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)"
		case !f.Root && f.AppArmorRestrict == "1":
			return detail + ": kernel.apparmor_restrict_unprivileged_userns = 1",
				"sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or install an AppArmor profile for sandbox that allows `userns,`"
		default:
			return detail + ": not a kernel knob; a seccomp filter or LSM of the container this runs in blocks it (Docker's default profile does)",
				"run on the host, or start the container with --security-opt seccomp=unconfined --security-opt apparmor=unconfined"
		}
	case syscall.ENOSPC:
		if f.MaxUserNS == "0" {
			return detail + ": user.max_user_namespaces = 0",
				"sudo sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)"
		}
		return detail + fmt.Sprintf(": the limit user.max_user_namespaces (%s) or a nesting limit is used up", f.MaxUserNS),
			"raise user.max_user_namespaces with sysctl, or end processes that hold user namespaces"
	case syscall.EUSERS:
		return detail + ": user namespaces are nested 32 deep already", "run from a less nested namespace"
	case syscall.EINVAL:
		return detail + ": the kernel lacks namespace support (CONFIG_USER_NS and friends)",
			"use a kernel built with CONFIG_USER_NS, CONFIG_PID_NS, CONFIG_NET_NS, CONFIG_IPC_NS, CONFIG_UTS_NS, CONFIG_CGROUPS"
	}
	return detail, "see clone(2) for " + errnoName(errno)
}

// errnoName returns the symbolic name of the common errnos, for searchable messages.
func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		syscall.EPERM: "EPERM", syscall.EACCES: "EACCES", syscall.ENOSPC: "ENOSPC",
		syscall.EUSERS: "EUSERS", syscall.EINVAL: "EINVAL", syscall.ENOMEM: "ENOMEM",
	}
	if n, ok := names[e]; ok {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}

// HelperFact is what Run found for newuidmap or newgidmap.
type HelperFact struct {
	Name string
	Path string // "" when missing
	Err  error  // from idmap.FindHelper
}

// CheckHelpers judges newuidmap/newgidmap. They are needed only for
// `--map auto` by an unprivileged caller, so a problem is a warning.
func CheckHelpers(root bool, facts []HelperFact) Check {
	c := Check{Name: NameHelpers, Status: OK}
	var found, bad []string
	for _, h := range facts {
		if h.Err != nil {
			bad = append(bad, h.Err.Error())
			continue
		}
		found = append(found, h.Path)
	}
	if len(bad) == 0 {
		c.Detail = strings.Join(found, ", ")
		if root {
			c.Detail += " (root writes its maps itself; the helpers are for unprivileged callers)"
		} else {
			c.Detail += " (setuid root)"
		}
		return c
	}
	c.Status = Warn
	c.Detail = strings.Join(bad, "; ") + "; --map auto cannot work, --map self can"
	c.Fix = "sudo apt-get install uidmap"
	for _, h := range facts {
		if errors.Is(h.Err, idmap.ErrHelperNotPrivileged) {
			c.Fix = fmt.Sprintf("sudo chmod u+s %s (owned by root), or reinstall the package uidmap", h.Path)
		}
	}
	if root {
		// Root never uses the helpers (Plan writes through Go).
		c.Status = OK
		c.Fix = ""
	}
	return c
}

// SubIDFacts is what Run found in the subordinate id databases.
type SubIDFacts struct {
	Root       bool
	User       string
	UIDs, GIDs []idmap.Range
	UIDSource  string
	GIDSource  string
	UIDErr     error
	GIDErr     error
}

// CheckSubIDs judges the caller's subordinate ranges, which `--map auto`
// needs (and which a root caller's box uses instead of nobody).
func CheckSubIDs(f SubIDFacts) Check {
	c := Check{Name: NameSubIDs, Status: OK}
	fix := fmt.Sprintf("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", f.User)
	if f.UIDErr != nil || f.GIDErr != nil {
		c.Status = Warn
		c.Detail = strings.Join(nonNil(f.UIDErr, f.GIDErr), "; ")
		c.Fix = "fix the line named above"
		return c
	}
	var missing []string
	if len(f.UIDs) == 0 {
		missing = append(missing, "/etc/subuid")
	}
	if len(f.GIDs) == 0 {
		missing = append(missing, "/etc/subgid")
	}
	if len(missing) > 0 {
		if f.Root {
			c.Detail = fmt.Sprintf("root has no range in %s: boxes run as nobody (%d), one id", strings.Join(missing, " and "), idmap.NobodyID)
			return c
		}
		c.Status = Warn
		c.Detail = fmt.Sprintf("no range for %s in %s: --map auto cannot work, --map self can", f.User, strings.Join(missing, " and "))
		c.Fix = fix
		return c
	}
	c.Detail = fmt.Sprintf("uids %s (%s), gids %s (%s)", rangesText(f.UIDs), f.UIDSource, rangesText(f.GIDs), f.GIDSource)
	return c
}

func nonNil(errs ...error) []string {
	var s []string
	for _, e := range errs {
		if e != nil {
			s = append(s, e.Error())
		}
	}
	return s
}

func rangesText(rs []idmap.Range) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

// CgroupDir is what Run found at one cgroup directory.
type CgroupDir struct {
	Exists bool
	Owner  int
}

// CgroupFacts is what CheckCgroups judges.
type CgroupFacts struct {
	Mode      cgroups.CGMode
	Root      bool
	CallerUID int
	User      string
	// V2Path is the caller's own cgroup (from /proc/self/cgroup, "0::"),
	// V2Dir its directory and V2Controllers the content of its
	// cgroup.controllers.
	V2Path        string
	V2Dir         CgroupDir
	V2Controllers string
	// V1 maps a v1 controller (memory, cpu, pids) to its directory
	// /sys/fs/cgroup/<controller>/sandbox-<user>, made by `sandbox cgroup-setup`.
	V1 map[string]CgroupDir
	// UserManager is what the caller's systemd user manager offers (v2,
	// unprivileged): a reachable one gives sandbox a delegated scope.
	UserManager UserManagerFacts
}

// UserManagerFacts is what CheckSystemdUser judges.
type UserManagerFacts struct {
	// Address is the user bus tried; Err why the manager could not be
	// used (nil: it answered).
	Address string
	Err     error
	// Cgroup is the manager's cgroup, Controllers those delegated to it.
	Cgroup      string
	Controllers []string
}

// usable reports whether the manager answered and delegates every
// controller a limit needs.
func (u UserManagerFacts) usable() bool {
	return u.Address != "" && u.Err == nil && len(missingOf(wantControllers, u.Controllers)) == 0
}

// CheckSystemdUser judges, on a v2 host, whether the caller's systemd user
// manager is reachable for delegation and which controllers it delegates.
func CheckSystemdUser(f UserManagerFacts) Check {
	c := Check{Name: NameSystemd, Status: OK}
	if f.Err != nil {
		c.Status = Warn
		c.Detail = fmt.Sprintf("no user manager for delegated scopes: %v", f.Err)
		c.Fix = "as root `loginctl enable-linger USER` (or log in through PAM) so that systemd runs a user manager; " +
			"without systemd: `sudo sandbox cgroup-setup --user USER`"
		return c
	}
	c.Detail = fmt.Sprintf("user manager at %s (cgroup %s) delegates: %s", f.Address, f.Cgroup, orNone(f.Controllers))
	if missing := missingOf(wantControllers, f.Controllers); len(missing) > 0 {
		c.Status = Warn
		c.Detail += "; not delegated: " + strings.Join(missing, ", ")
		c.Fix = "`sudo systemctl edit user@.service` with [Service] Delegate=memory cpu pids"
	}
	return c
}

// wantControllers are the controllers behind --memory, --cpus and --pids.
var wantControllers = []string{"memory", "cpu", "pids"}

// CheckCgroups judges the cgroup version and which controllers the caller
// may use. Limits are optional, so problems are warnings.
func CheckCgroups(f CgroupFacts) Check {
	c := Check{Name: NameCgroups, Status: OK}
	switch f.Mode {
	case cgroups.Unified:
		have := strings.Fields(f.V2Controllers)
		missing := missingOf(wantControllers, have)
		switch {
		case f.Root:
			c.Detail = fmt.Sprintf("v2 (unified); root; %s has controllers: %s", f.V2Path, orNone(have))
		case !f.V2Dir.Exists:
			c.Status = Warn
			c.Detail = fmt.Sprintf("v2 (unified); own cgroup %s not found under /sys/fs/cgroup", f.V2Path)
		case f.V2Dir.Owner != f.CallerUID && f.UserManager.usable():
			c.Detail = fmt.Sprintf("v2 (unified); own cgroup %s is not delegated; boxes go in a delegated scope from the systemd user manager (controllers: %s)",
				f.V2Path, orNone(f.UserManager.Controllers))
		case f.V2Dir.Owner != f.CallerUID:
			c.Status = Warn
			c.Detail = fmt.Sprintf("v2 (unified); own cgroup %s is owned by uid %d, not delegated to uid %d: --memory, --cpus, --pids unavailable",
				f.V2Path, f.V2Dir.Owner, f.CallerUID)
		default:
			c.Detail = fmt.Sprintf("v2 (unified); %s delegated, controllers: %s", f.V2Path, orNone(have))
			if len(missing) > 0 {
				c.Status = Warn
				c.Detail += "; not delegated: " + strings.Join(missing, ", ")
			}
		}
		if c.Status != OK {
			c.Fix = "run in a systemd user session with delegation: `sudo systemctl edit user@.service` with [Service] Delegate=memory cpu pids, " +
				"or start under `systemd-run --user --scope -p Delegate=yes`; without systemd: `sudo sandbox cgroup-setup --user " + f.User + "`"
		}
		return c
	case cgroups.Legacy, cgroups.Hybrid:
		kind := "v1 (legacy)"
		if f.Mode == cgroups.Hybrid {
			kind = "hybrid (v1 controllers, v2 without them)"
		}
		var ok, missing []string
		for _, ctrl := range wantControllers {
			d := f.V1[ctrl]
			if f.Root || (d.Exists && d.Owner == f.CallerUID) {
				ok = append(ok, ctrl)
			} else {
				missing = append(missing, ctrl)
			}
		}
		if f.Root {
			c.Detail = kind + "; root: memory, cpu, pids usable"
			return c
		}
		c.Detail = fmt.Sprintf("%s; delegated to %s: %s", kind, f.User, orNone(ok))
		if len(missing) > 0 {
			c.Status = Warn
			c.Detail += fmt.Sprintf("; not delegated: %s (no /sys/fs/cgroup/<controller>/sandbox-%s owned by uid %d)",
				strings.Join(missing, ", "), f.User, f.CallerUID)
			c.Fix = "sudo sandbox cgroup-setup (creates /sys/fs/cgroup/<controller>/sandbox-" + f.User + " owned by " + f.User + ")"
		}
		return c
	}
	c.Status = Warn
	c.Detail = "no cgroup filesystem at /sys/fs/cgroup: --memory, --cpus, --pids unavailable"
	c.Fix = "mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)"
	return c
}

func missingOf(want, have []string) []string {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	var m []string
	for _, w := range want {
		if !set[w] {
			m = append(m, w)
		}
	}
	sort.Strings(m)
	return m
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// CheckSeccomp judges seccomp support from /proc/self/status and
// /proc/sys/kernel/seccomp/actions_avail ("" when missing). The default
// profile is on unless --seccomp off, so missing seccomp is a failure.
func CheckSeccomp(status, actionsAvail string) Check {
	c := Check{Name: NameSeccomp, Status: OK}
	mode := ""
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			mode = strings.TrimSpace(v)
		}
	}
	fix := "use a kernel with CONFIG_SECCOMP_FILTER, or run with --seccomp off (no syscall filter)"
	switch {
	case mode == "":
		c.Status, c.Detail, c.Fix = Fail, "no Seccomp field in /proc/self/status: kernel without CONFIG_SECCOMP", fix
		return c
	case strings.TrimSpace(actionsAvail) == "":
		c.Status, c.Detail, c.Fix = Fail, "no /proc/sys/kernel/seccomp/actions_avail: kernel without CONFIG_SECCOMP_FILTER", fix
		return c
	}
	acts := strings.Fields(actionsAvail)
	c.Detail = "filters available; actions: " + strings.Join(acts, " ")
	if mode == "2" {
		// Filters stack, so ours still loads; the outer one may refuse
		// syscalls the box needs.
		c.Detail += "; this process is already filtered (mode 2), the box's filter stacks on it"
	}
	if missingOf([]string{"errno", "kill_process"}, acts) != nil {
		c.Status = Warn
		c.Detail += "; lacks errno or kill_process, which the default profile uses"
		c.Fix = "use Linux 4.14 or newer"
	}
	return c
}

// CheckLandlock judges the result of landlock_create_ruleset(NULL, 0,
// LANDLOCK_CREATE_RULESET_VERSION): the ABI version, or the errno. A box's
// payload is scoped from abstract unix sockets and signals outside it from
// ABI 6 (Linux 6.12) on; before, it runs without that scoping.
func CheckLandlock(abi int, err error) Check {
	c := Check{Name: NameLandlock, Status: OK}
	var errno syscall.Errno
	const noScoping = "; boxes run without scoping of abstract unix sockets and signals (with --net host, the host's abstract sockets are reachable)"
	switch {
	case err == nil && abi >= 6:
		c.Detail = fmt.Sprintf("ABI version %d: boxes are scoped from abstract unix sockets and signals outside them", abi)
	case err == nil:
		c.Status, c.Detail = Warn, fmt.Sprintf("ABI version %d, scoping needs 6%s", abi, noScoping)
		c.Fix = "use Linux 6.12 or newer"
	case errors.As(err, &errno) && errno == syscall.ENOSYS:
		c.Status, c.Detail = Warn, "kernel without Landlock (CONFIG_SECURITY_LANDLOCK, Linux 5.13+)"+noScoping
		c.Fix = "use a kernel built with CONFIG_SECURITY_LANDLOCK"
	case errors.As(err, &errno) && errno == syscall.EOPNOTSUPP:
		c.Status, c.Detail = Warn, "Landlock is built in but not enabled at boot"+noScoping
		c.Fix = "add landlock to the lsm= kernel parameter (see /sys/kernel/security/lsm)"
	default:
		c.Status, c.Detail = Warn, fmt.Sprintf("landlock_create_ruleset: %v%s", err, noScoping)
		c.Fix = "see landlock(7)"
	}
	return c
}

// NetUserFacts are what `--net user` needs: pasta, and a /dev/net/tun the
// caller may open (pasta makes the box's tap device through it).
type NetUserFacts struct {
	Pasta    string // its path, "" if not found
	TunErr   error  // opening /dev/net/tun read-write
	TunMode  os.FileMode
	TunFound bool
}

// CheckNetUser judges whether `--net user` can work.
func CheckNetUser(f NetUserFacts) Check {
	c := Check{Name: NameNetUser, Status: OK}
	switch {
	case f.Pasta == "":
		c.Status, c.Detail = Warn, "pasta is not installed: --net user exits 125"
		c.Fix = "apt-get install passt"
	case !f.TunFound:
		c.Status, c.Detail = Warn, "no /dev/net/tun: pasta cannot make the box's interface, --net user exits 125"
		c.Fix = "load the tun module (modprobe tun)"
	case f.TunErr != nil:
		c.Status, c.Detail = Warn, fmt.Sprintf("%s found, but /dev/net/tun (mode %#o) cannot be opened: %v; --net user exits 125", f.Pasta, f.TunMode.Perm(), f.TunErr)
		c.Fix = "as root: chmod 0666 /dev/net/tun (Debian's udev default)"
	default:
		c.Detail = f.Pasta + " and /dev/net/tun: --net user works"
	}
	return c
}
