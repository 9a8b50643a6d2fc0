package sandbox

// What the kernel charges to the caller's user, or to the whole host, for
// each box, and what caps one box's share: default rlimits, the limits of
// the box's own user namespace, a devpts of its own with a maximum, and no
// way to rewrite its cgroup limits from inside. SECURITY.md ("Kernel
// counters") lists each counter and what a box gets.

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Defaults for what the kernel charges to the box's creator, the caller's
// user, rather than to the box: without them one box could take all of the
// caller's quota, and every other box and program of the caller would fail.
const (
	// DefaultSigpending is RLIMIT_SIGPENDING: queued signals (the caller's
	// whole quota is typically ~15,000, counted per user).
	DefaultSigpending = 256
	// DefaultMsgqueue is RLIMIT_MSGQUEUE in bytes: POSIX message queues
	// (the caller's default is 819,200, counted per user). Three queues of
	// the default size (10 messages of 8 KiB) fit.
	DefaultMsgqueue = 256 << 10
	// DefaultInotifyInstances and DefaultInotifyWatches cap inotify in the
	// box's user namespace; the caller's whole quota is 128 instances.
	DefaultInotifyInstances = 16
	DefaultInotifyWatches   = 8192
	// maxNestedNamespaces caps each kind of namespace the box could create
	// inside its own (only possible with --seccomp off): each is charged
	// to the caller's user.max_*_namespaces too.
	maxNestedNamespaces = 64
	// devptsMax is the most pseudo-terminals the box's devpts instance
	// holds. Every non-initial devpts shares kernel.pty.max minus
	// kernel.pty.reserve (3,072 by default) host-wide: without a cap one
	// box could take them all and every other box's --tty would fail.
	devptsMax = 16
)

// devptsOptions are the mount options of the box's devpts (OpDevpts).
var devptsOptions = "newinstance,ptmxmode=0666,mode=0620,max=" + strconv.Itoa(devptsMax)

// getrlimit is the caller's own limit; tests replace it.
var getrlimit = unix.Getrlimit

// boxRlimits are the payload's resource limits: the caller's --rlimit, and
// a small default for each limit the kernel counts per user that the
// caller did not give. A default is never above the caller's own hard
// limit, which the payload cannot raise past.
func boxRlimits(s *Spec) []Rlimit {
	out := append([]Rlimit(nil), s.Rlimits...)
	for _, d := range []struct {
		name string
		val  uint64
	}{{"sigpending", DefaultSigpending}, {"msgqueue", DefaultMsgqueue}} {
		given := false
		for _, r := range s.Rlimits {
			given = given || r.Name == d.name
		}
		if given {
			continue
		}
		v := d.val
		var cur unix.Rlimit
		if err := getrlimit(rlimitByName[d.name], &cur); err == nil && cur.Max < v {
			v = cur.Max
		}
		out = append(out, Rlimit{Name: d.name, Soft: v, Hard: v})
	}
	return out
}

// userSysctls is the op that writes the limits of the box's own user
// namespace (/proc/sys/user/*, which exist per user namespace and are
// hierarchical: a box cannot use more than its namespace allows, nor more
// than any namespace above). Pid 1 holds CAP_SYS_RESOURCE in that namespace
// and writes them right after its /proc is mounted, before /proc/sys is
// made read-only; the payload has no capability left to raise them.
func userSysctls(s *Spec) Op {
	inst, watches := s.InotifyInstances, s.InotifyWatches
	if inst == 0 {
		inst = DefaultInotifyInstances
	}
	if watches == 0 {
		watches = DefaultInotifyWatches
	}
	kv := []string{
		"max_inotify_instances=" + strconv.Itoa(inst),
		"max_inotify_watches=" + strconv.Itoa(watches),
	}
	for _, ns := range []string{"user", "pid", "uts", "ipc", "net", "mnt", "cgroup", "time"} {
		kv = append(kv, "max_"+ns+"_namespaces="+strconv.Itoa(maxNestedNamespaces))
	}
	return Op{Code: OpSysctl, Str: []string{"/proc/sys/user", strings.Join(kv, "\x00")}}
}
