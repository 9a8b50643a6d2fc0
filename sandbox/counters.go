package sandbox

// What the kernel charges to the caller's user, or to the whole host, for
// each box, and what caps one box's share: default rlimits, the limits of
// the box's own user namespace, a devpts of its own with a maximum, and no
// way to rewrite its cgroup limits from inside. SECURITY.md ("Kernel
// counters") lists each counter and what a box gets.

import (
	"os"
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

// msgQueueBytes is the kernel's default size of a SysV message queue
// (kernel.msgmnb); raising it needs CAP_SYS_RESOURCE, which the payload
// lacks.
const msgQueueBytes = 16384

// semBytes is what one SysV semaphore costs the kernel (struct sem).
const semBytes = 64

// ipcSysctls caps the box's SysV shared memory (its IPC namespace's
// kernel.shmall and kernel.shmmax), message queues (kernel.msgmni) and
// semaphores (kernel.sem) at the size of its /dev/shm. SysV
// segments are shmem on the kernel's own tmpfs, outside the caps of the
// box's: without this a default box filled a 700 MiB segment, detached it,
// and held the memory with no process's RSS showing it. The IPC sysctls
// belong to the box's IPC namespace, and its pid 1 holds CAP_SYS_RESOURCE
// over it until it drops its capabilities.
func ipcSysctls(s *Spec) Op {
	size := s.TmpfsSizes()[shmDir]
	page := int64(os.Getpagesize())
	// Queues and semaphore sets: within the kernel's defaults (32,000; the
	// most it takes is 32,768), at least a few.
	sets := min(max(size/msgQueueBytes, 16), 32000)
	kv := []string{
		"shmmax=" + strconv.FormatInt(size, 10),
		"shmall=" + strconv.FormatInt((size+page-1)/page, 10),
		// SysV message queues hold their messages in unreclaimable kernel
		// memory (32,000 queues of 16 KiB: 512 MiB a box, with no RSS to
		// show for it); as many queues as fill the same size.
		"msgmni=" + strconv.FormatInt(sets, 10),
		// SysV semaphores too (64 bytes each, unreclaimable): the
		// kernel's 1,024,000,000 semaphores a namespace are 65 GB. The
		// fields: per set, in all, per semop, sets.
		"sem=32000 " + strconv.FormatInt(min(max(size/semBytes, 32000), 1024000000), 10) + " 500 " + strconv.FormatInt(sets, 10),
	}
	// FlagTry: with --uid N under --map self, uid 0 of the box's user
	// namespace (the only one who may write them) is unmapped, and the box
	// keeps the kernel's defaults.
	return Op{Code: OpSysctl, Flags: FlagTry, Str: []string{"/proc/sys/kernel", strings.Join(kv, "\x00")}}
}

// pidReserved is how many pids a pid namespace keeps below its allocation
// cursor once it has wrapped (RESERVED_PIDS); kernel.pid_max cannot be set
// lower than one more.
const pidReserved = 300

// pidMaxSysctl caps the box's pid namespace (kernel.pid_max, which each pid
// namespace has for its own since Linux 6.14) at the process cap plus
// pidReserved. RLIMIT_NPROC counts per uid, so a box with several uids
// (--map auto, whose root keeps CAP_SETUID) could run the cap once for each
// of them; pid_max counts every process of the box, whatever its uid. No
// op where nothing caps the processes (--pids: the cgroup counts them all;
// nproc unlimited), or where the cap would not be below the host's own
// pid_max. On older kernels the file is the host's, the write is refused
// (EACCES, FlagTry), and the box has the per-uid cap alone.
func pidMaxSysctl(s *Spec, hostMax int) (Op, bool) {
	if s.Limits.Pids > 0 {
		return Op{}, false
	}
	for _, r := range s.PayloadRlimits() {
		if r.Name != "nproc" || r.Hard > 1<<22 {
			continue
		}
		n := int(r.Hard) + pidReserved + 1
		if hostMax > 0 && n >= hostMax {
			return Op{}, false
		}
		return Op{Code: OpSysctl, Flags: FlagTry, Str: []string{"/proc/sys/kernel", "pid_max=" + strconv.Itoa(n)}}, true
	}
	return Op{}, false
}

// hostPidMax reads the host's kernel.pid_max, 0 if it cannot.
func hostPidMax() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
