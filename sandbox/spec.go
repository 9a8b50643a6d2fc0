// Package sandbox runs a command in a box it cannot leave: new user, mount,
// pid, net, ipc, uts and cgroup namespaces, a new root, a fresh /proc and
// /dev, optional cgroup limits and a seccomp filter.
//
// Spec describes one run; Run executes it and returns a Result. Run is the
// supervisor: it makes every decision in Go (the Spec becomes a Plan, an
// ordered list of typed ops) and starts the init stage, a small C executor
// (internal/nsinit) that runs in the new namespaces before any Go runtime
// and carries the Plan out op by op.
package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/network"
)

// Spec is the one description of a run. The CLI builds it from flags; Go
// programs (graders, CI runners) build it directly. It is JSON-serialisable
// but for the stdio streams.
type Spec struct {
	// Args is the command and its arguments. Args[0] is looked up in the
	// box's PATH when it has no slash.
	Args []string `json:"args"`
	// Rootfs is a directory to use as the new root (read-only). Empty: a
	// fresh tmpfs holding a read-only view of the host's /usr, /bin, /sbin,
	// /lib*, and /etc.
	Rootfs string `json:"rootfs,omitempty"`
	// RootfsWritable leaves the top of Rootfs writable as its owners and
	// modes allow the box's ids (an OCI config's root.readonly false): it
	// stays nosuid and nodev, read-only where the host has it read-only,
	// and the mounts the host has below it stay read-only.
	RootfsWritable bool `json:"rootfs_writable,omitempty"`
	// Mounts are applied in order, after the root and before /proc, /dev
	// and /tmp are final, so a later mount can cover an earlier one.
	Mounts []Mount `json:"mounts,omitempty"`
	// MaskedPaths are box paths hidden as the box's own masks hide theirs
	// (an OCI config's linux.maskedPaths): an empty read-only tmpfs over a
	// directory, /dev/null bound read-only over anything else; a missing
	// path is skipped. ReadOnlyPaths are made read-only, recursively. Both
	// are resolved inside the new root (a symlink in it cannot lead them
	// out), after every mount, so that they cover what is mounted below
	// them; the box's own masks and read-only paths stay.
	MaskedPaths   []string `json:"masked_paths,omitempty"`
	ReadOnlyPaths []string `json:"read_only_paths,omitempty"`
	// Workdir is the working directory inside the box (default /).
	Workdir string `json:"workdir,omitempty"`
	// Env adds KEY=VALUE variables to the box's environment.
	Env []string `json:"env,omitempty"`
	// KeepEnv passes the caller's whole environment. Without it the
	// environment is cleared but for PATH, TERM, LANG and HOME.
	KeepEnv bool `json:"keep_env,omitempty"`
	// Hostname is the box's host name (default "sandbox").
	Hostname string `json:"hostname,omitempty"`
	// IPCNS and UTSNS are IPC and UTS namespaces to join (paths, such as
	// /proc/PID/ns/ipc of a pod's first container: an OCI config's
	// namespace path) instead of the box's own. They are joined by the
	// init stage's first process as the caller, before the box's user
	// namespace exists (setns(2) needs CAP_SYS_ADMIN over the namespace
	// and in the caller's own user namespace: root, or root of an engine's
	// user namespace). The box's root has no capability in a namespace
	// another user namespace owns: it sets no host name in a joined UTS
	// namespace (Hostname must be empty), and neither the IPC limits nor a
	// message queue file system (mqueue mounts, IPC sysctls refused) in a
	// joined IPC namespace, whose own stand.
	IPCNS string `json:"ipc_ns,omitempty"`
	UTSNS string `json:"uts_ns,omitempty"`
	// Net is "none" (default: an own network namespace with loopback only),
	// "host" (share the caller's network) or "user" (an own network
	// namespace joined to the outside by pasta, under an egress policy
	// that keeps the box from the host, the LAN and link-local addresses:
	// see package network).
	Net string `json:"net,omitempty"`
	// AllowNet opens holes in the egress policy of Net "user": CIDR[:PORT]
	// entries (network.ParseRule), allowed before anything is denied.
	AllowNet []string `json:"allow_net,omitempty"`
	// DenyNet adds CIDR[:PORT] entries to the denied destinations of Net
	// "user".
	DenyNet []string `json:"deny_net,omitempty"`
	// UID and GID are the payload's identity inside the box (default 0).
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Groups are the payload's supplementary groups, gids inside the box
	// (an OCI config's additionalGids). They need a mapping where
	// setgroups(2) is allowed (--map auto, a root caller's, an engine's
	// user namespace's) that maps each of them. Without: none.
	Groups []int `json:"groups,omitempty"`
	// Map chooses the id mapping: idmap.ModeSelf (default: the caller's id
	// alone) or idmap.ModeAuto (also the caller's subordinate ranges).
	Map idmap.Mode `json:"map,omitempty"`
	// Limits are the cgroup limits (memory, cpu quota, pids).
	Limits cgroup.Limits `json:"limits"`
	// Sysctls are set in the box (an OCI config's linux.sysctl), after
	// its /proc is mounted and before the payload starts: only those of
	// the box's own namespaces (sysctl.go); net.* needs Net none.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Rlimits are set on the payload before it execs. Without an entry for
	// sigpending or msgqueue the box gets a small default of each (see
	// DefaultSigpending, DefaultMsgqueue): the kernel charges both to the
	// caller's own user.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// InotifyInstances and InotifyWatches cap the box's inotify instances
	// and watches (user.max_inotify_* of the box's user namespace), which
	// the kernel also charges to the caller's user (0: DefaultInotifyInstances,
	// DefaultInotifyWatches).
	InotifyInstances int `json:"inotify_instances,omitempty"`
	InotifyWatches   int `json:"inotify_watches,omitempty"`
	// Timeout is the wall-clock limit for the whole box (0: none).
	Timeout time.Duration `json:"timeout,omitempty"`
	// CPUTime is the CPU time limit of all the box's processes together
	// (0: none). It needs cgroup accounting.
	CPUTime time.Duration `json:"cpu_time,omitempty"`
	// MaxOutput limits stdout plus stderr in bytes (0: none); the box is
	// killed when it is exceeded.
	MaxOutput int64 `json:"max_output,omitempty"`
	// Seccomp is "default", "off", or the path of a Docker/OCI JSON profile.
	Seccomp string `json:"seccomp,omitempty"`
	// Landlock is "default" (the payload is scoped away from abstract unix
	// sockets and signals outside the box where the kernel can: Landlock
	// ABI 6, Linux 6.12) or "off".
	Landlock string `json:"landlock,omitempty"`
	// CapAdd lists capabilities (e.g. "CAP_NET_RAW" or "net_raw") the
	// payload keeps inside its namespaces. All others are dropped.
	CapAdd []string `json:"cap_add,omitempty"`

	// TTY gives the payload a new pseudo-terminal as its controlling
	// terminal; the supervisor relays it to Stdin and Stdout (which should
	// be the caller's terminal) and passes on window size changes.
	TTY bool `json:"tty,omitempty"`

	// Accounting asks for a cgroup even without limits, for exact peak
	// memory and OOM counts; when none can be had the run goes on anyway.
	Accounting bool `json:"accounting,omitempty"`

	// Signals, when set, are forwarded to the box's pid 1, which passes
	// them to the payload (the CLI forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT).
	Signals <-chan os.Signal `json:"-"`

	// Stdin, Stdout and Stderr are the box's stdio; nil means /dev/null
	// (Stdin) or discard. Nothing of them is passed into the box: it gets
	// pipes, which the supervisor relays (into an *os.File with splice),
	// so it can neither change a terminal nor seek, truncate or reopen a
	// file. Run does not wait for the stdin relay to finish reading.
	Stdin  io.Reader `json:"-"`
	Stdout io.Writer `json:"-"`
	Stderr io.Writer `json:"-"`
}

// Mount is one filesystem operation of the Spec.
type Mount struct {
	// Type is "bind", "ro-bind", "tmpfs" or "mqueue" (the box's own
	// message queues; the OCI runtime's, not a flag of exec's).
	Type string `json:"type"`
	// Source is a host path (bind, ro-bind).
	Source string `json:"source,omitempty"`
	// Dest is the path inside the box.
	Dest string `json:"dest"`
	// Size caps a tmpfs, in bytes; 0 means the default (DefaultTmpfsSize,
	// DefaultShmSize for /dev/shm). A tmpfs on /tmp or /dev/shm does not
	// stack on the box's own: it sets that one's size (TmpfsSizes).
	Size int64 `json:"size,omitempty"`
}

// Rlimit is one resource limit: Name as in --rlimit (nofile, as, ...).
type Rlimit struct {
	Name string `json:"name"`
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// MaxCPUs bounds --cpus and an OCI config's CPU quota: far above any
// machine, far below a CFS quota the kernel refuses.
const MaxCPUs = 1 << 20

// SpecError is a Spec that cannot run; Field names the flag to fix.
type SpecError struct {
	Field string
	Msg   string
}

func (e *SpecError) Error() string { return e.Field + ": " + e.Msg }

func specErr(field, format string, a ...any) error {
	return &SpecError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Validate checks the Spec before anything is started: every check is a
// named rule, and the first failure names the field (flag) at fault.
func (s *Spec) Validate() error {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return specErr("command", "no command given: use `sandbox exec [flags] -- CMD [ARG...]`")
	}
	for _, a := range s.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return specErr("command", "argument contains a NUL byte")
		}
	}
	if s.RootfsWritable && s.Rootfs == "" {
		return specErr("rootfs_writable", "needs a rootfs")
	}
	for i, m := range s.Mounts {
		field := "--" + m.Type
		switch m.Type {
		case "bind", "ro-bind":
			if !path.IsAbs(m.Source) {
				return specErr(field, "source %q must be an absolute path", m.Source)
			}
		case "tmpfs":
			if m.Size < 0 {
				return specErr(field, "%s: size must not be negative", m.Dest)
			}
		case "mqueue":
			if m.Source != "" {
				return specErr(field, "%s: an mqueue mount has no source", m.Dest)
			}
		default:
			return specErr(fmt.Sprintf("mounts[%d].type", i), "unknown mount type %q", m.Type)
		}
		if m.Size != 0 && m.Type != "tmpfs" {
			return specErr(field, "%s: only a tmpfs has a size", m.Dest)
		}
		if err := checkBoxPath(m.Dest); err != nil {
			return specErr(field, "destination %q: %v", m.Dest, err)
		}
	}
	for _, p := range s.MaskedPaths {
		if err := checkBoxPath(p); err != nil {
			return specErr("masked_paths", "%q: %v", p, err)
		}
		// A mask on the root would hide the whole box, the payload too.
		if path.Clean(p) == "/" {
			return specErr("masked_paths", "%q: the root cannot be masked", p)
		}
	}
	for _, p := range s.ReadOnlyPaths {
		if err := checkBoxPath(p); err != nil {
			return specErr("read_only_paths", "%q: %v", p, err)
		}
	}
	if s.Workdir != "" {
		if err := checkBoxPath(s.Workdir); err != nil {
			return specErr("--workdir", "%q: %v", s.Workdir, err)
		}
		// A working directory through /proc is how runc's CVE-2024-21626
		// reached a leaked host fd; nothing legitimate needs one.
		if c := path.Clean(s.Workdir); c == "/proc" || strings.HasPrefix(c, "/proc/") {
			return specErr("--workdir", "%q: a path under /proc is not allowed", s.Workdir)
		}
	}
	for _, e := range s.Env {
		if i := strings.IndexByte(e, '='); i <= 0 || strings.IndexByte(e, 0) >= 0 {
			return specErr("--env", "%q must be KEY=VALUE", e)
		}
	}
	switch s.Net {
	case "", "none", "host", "user":
	default:
		return specErr("--net", "%q: must be none, host or user", s.Net)
	}
	for k, v := range s.Sysctls {
		if err := CheckSysctl(k, v, s.Net == "" || s.Net == "none"); err != nil {
			return specErr("sysctl", "%v", err)
		}
	}
	for _, f := range []struct {
		flag string
		v    []string
	}{{"--allow-net", s.AllowNet}, {"--deny-net", s.DenyNet}} {
		if len(f.v) > 0 && s.Net != "user" {
			return specErr(f.flag, "needs --net user")
		}
		for _, v := range f.v {
			if _, err := network.ParseRule(v); err != nil {
				return specErr(f.flag, "%v", err)
			}
		}
	}
	if s.Net == "user" {
		// CAP_NET_ADMIN in the box's user namespace is what changing the
		// nftables rules of its network namespace takes. CAP_NET_RAW
		// opens packet sockets, whose frames go to pasta below the IP
		// layer's hooks, where the rules never see them, and raw sockets
		// that write any header.
		for _, c := range s.CapAdd {
			if n, err := capByName(c); err == nil && n == unix.CAP_NET_ADMIN {
				return specErr("--cap-add", "%s with --net user: it would let the payload remove the egress policy", c)
			} else if err == nil && n == unix.CAP_NET_RAW {
				return specErr("--cap-add", "%s with --net user: its packet sockets would pass the egress policy by", c)
			}
		}
	}
	switch s.Landlock {
	case "", "default", "off":
	default:
		return specErr("--landlock", "%q: must be default or off", s.Landlock)
	}
	switch s.Map {
	case "", idmap.ModeSelf, idmap.ModeAuto:
	default:
		return specErr("--map", "%q: must be self or auto", s.Map)
	}
	if s.UID < 0 || s.UID > 65535*65536 || s.GID < 0 || s.GID > 65535*65536 {
		return specErr("--uid/--gid", "out of range")
	}
	for _, g := range s.Groups {
		if g < 0 || g > 65535*65536 {
			return specErr("groups", "%d: out of range", g)
		}
	}
	for _, j := range []struct{ field, path string }{{"ipc_ns", s.IPCNS}, {"uts_ns", s.UTSNS}} {
		if j.path != "" {
			if err := checkBoxPath(j.path); err != nil {
				return specErr(j.field, "%q: %v", j.path, err)
			}
		}
	}
	if s.UTSNS != "" && s.Hostname != "" {
		return specErr("hostname", "%q: the joined UTS namespace (%s) is another user namespace's: the box cannot set its host name", s.Hostname, s.UTSNS)
	}
	if s.IPCNS != "" {
		for k := range s.Sysctls {
			if !strings.HasPrefix(k, "net.") {
				return specErr("sysctl", "%s: the joined IPC namespace (%s) is another user namespace's: the box cannot set it", k, s.IPCNS)
			}
		}
		for _, m := range s.Mounts {
			if m.Type == "mqueue" {
				return specErr("--mqueue", "%s: the joined IPC namespace (%s) is another user namespace's: the box cannot mount its queues", m.Dest, s.IPCNS)
			}
		}
	}
	if len(s.Hostname) > 64 || strings.ContainsAny(s.Hostname, "/\x00") {
		return specErr("--hostname", "%q is not a valid host name", s.Hostname)
	}
	for _, r := range s.Rlimits {
		if _, ok := rlimitByName[r.Name]; !ok {
			return specErr("--rlimit", "unknown resource %q (known: %s)", r.Name, rlimitNames())
		}
		if r.Soft > r.Hard {
			return specErr("--rlimit", "%s: soft limit %d above hard limit %d", r.Name, r.Soft, r.Hard)
		}
	}
	if s.Timeout < 0 || s.CPUTime < 0 || s.MaxOutput < 0 {
		return specErr("--timeout/--cpu-time/--max-output", "must not be negative")
	}
	if s.Limits.Memory < 0 || s.Limits.CPUs < 0 || s.Limits.Pids < 0 {
		return specErr("--memory/--cpus/--pids", "must not be negative")
	}
	// A quota past int64 microseconds overflowed to the smallest one (a
	// box asking for 1e308 CPUs ran at 1% of one); NaN passes the test
	// above. The kernel takes at most 2^44 µs of quota a period.
	if !(s.Limits.CPUs <= MaxCPUs) {
		return specErr("--cpus", "%v: must be a number of CPUs up to %d", s.Limits.CPUs, MaxCPUs)
	}
	for _, c := range s.CapAdd {
		if _, err := capByName(c); err != nil {
			return specErr("--cap-add", "%v", err)
		}
	}
	if s.InotifyInstances < 0 || s.InotifyWatches < 0 || s.InotifyInstances > 1<<31-1 || s.InotifyWatches > 1<<31-1 {
		return specErr("--inotify", "must be between 0 and 2147483647 (a sysctl is an int)")
	}
	return nil
}

// checkBoxPath accepts absolute paths without NUL bytes.
func checkBoxPath(p string) error {
	if !path.IsAbs(p) {
		return errors.New("must be an absolute path")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	return nil
}
