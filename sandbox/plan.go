package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/network"
)

// OpCode names one step of the init stage. The numbers are the wire format
// shared with the C executor in internal/nsinit/init.c; keep them in sync.
type OpCode uint32

// The op codes. The ops before OpSpawn run in the init stage's first
// process, in the caller's namespaces; those from OpSpawn to OpFork in the
// box's pid 1; those after OpFork in the payload process, just before it
// execs.
const (
	// OpBind bind-mounts host path Str[0] (resolved inside the host's root)
	// onto box path Str[1] (resolved inside the new root), recursively; its
	// FlagReadOnly, FlagNoDev and FlagNoSuid apply to every mount of the
	// bound tree.
	OpBind OpCode = 1
	// OpTmpfs mounts a fresh tmpfs on box path Str[0] with options Str[1],
	// named Str[2] when given (its source in mountinfo; "tmpfs" otherwise).
	OpTmpfs OpCode = 2
	// OpProc mounts a fresh procfs for the box's pid namespace on Str[0].
	OpProc OpCode = 3
	// OpDevpts mounts a new devpts instance on Str[0], with the mount
	// options Str[1] when given.
	OpDevpts OpCode = 4
	// OpSymlink creates the symlink Str[1] -> Str[0] in the box.
	OpSymlink OpCode = 5
	// OpMkdir creates directory Str[0] (and its parents) in the box.
	OpMkdir OpCode = 6
	// OpMask hides box path Str[0]: /dev/null over a file, an empty
	// read-only tmpfs over a directory. A missing path is not an error.
	OpMask OpCode = 7
	// OpReadOnly makes the mount at box path Str[0] read-only, recursively
	// when Flags has FlagRecursive. Str[0] is bound onto itself first when
	// FlagSelfBind is set (for a directory that is not a mount point).
	// With Arg ReadOnlyAsSource (on "/", Spec.RootfsWritable) it does so
	// only when the top of the --rootfs bind (FlagTopWritable) was
	// read-only at its source: a writable root is as writable as the
	// host's mount, never more.
	OpReadOnly OpCode = 8
	// OpPivot makes the new root the root and detaches the old one.
	OpPivot OpCode = 9
	// OpHostname sets the UTS namespace's host name to Str[0].
	OpHostname OpCode = 10
	// OpLoopback brings up the loopback interface of the new net namespace.
	OpLoopback OpCode = 11
	// OpSession makes the process a session leader and gives it a fresh
	// session keyring; OpDumpable(0) follows for pid 1.
	OpSession OpCode = 12
	// OpNotDumpable makes the process non-dumpable, so nothing in the box
	// can ptrace it or open its /proc/PID files.
	OpNotDumpable OpCode = 13
	// OpFork starts the payload. The init stage stays behind as the reaper.
	OpFork OpCode = 14
	// OpChdir changes the payload's working directory to Str[0], resolved
	// inside the box without following magic links.
	OpChdir OpCode = 15
	// OpRlimit sets resource Arg to soft limit Arg2 and hard limit Arg3.
	OpRlimit OpCode = 16
	// OpCreds drops the capability bounding set to the mask in Arg, sets the
	// payload's uid to Arg2 and gid to Arg3, and leaves exactly the kept
	// capabilities. With FlagSetgroups its supplementary groups become the
	// gids in Str[0] (decimal, NUL-separated; none when absent).
	OpCreds OpCode = 17
	// OpNoNewPrivs sets PR_SET_NO_NEW_PRIVS.
	OpNoNewPrivs OpCode = 18
	// OpSeccomp loads the BPF program in Str[0] on all threads.
	OpSeccomp OpCode = 19
	// OpExec executes Str[0] (argv, NUL-separated) with the environment in
	// Str[1] (NUL-separated), searching Str[2] (the box's PATH) when argv[0]
	// has no slash.
	OpExec OpCode = 20
	// OpSetCtty makes the terminal of OpTTY the payload's stdin, stdout,
	// stderr and controlling terminal (after OpSession).
	OpSetCtty OpCode = 21
	// OpTTY makes a terminal in the box's devpts (in pid 1, after the
	// pivot), sends its master to the supervisor and keeps the slave for
	// OpSetCtty.
	OpTTY OpCode = 22
	// OpLandlock puts the payload in a new Landlock domain whose ruleset
	// handles no access and has the scopes in Arg
	// (LANDLOCK_SCOPE_* bits; after OpNoNewPrivs, before OpSeccomp).
	OpLandlock OpCode = 40
	// OpMqueue mounts a POSIX message queue file system (mqueue(7)) on
	// Str[0]: the queues of the box's own IPC namespace.
	OpMqueue OpCode = 41
	// OpSysctl writes, in box directory Str[0] (resolved in the new root),
	// each "name=value" of the NUL-separated list Str[1] to the file name.
	// A name this kernel lacks is skipped; with FlagTry, so is one this
	// box may not write (EACCES).
	OpSysctl OpCode = 35
	// OpUserns creates the box's user namespace (unshare(2), so that the
	// supervisor starts the init stage without copying itself: a clone
	// with CLONE_NEWUSER cannot share the parent's memory). With Str[0]
	// and Str[1] (uid_map and gid_map text) the process writes its own
	// maps, setgroups denied: the caller's own ids, the one map a process
	// may write for itself. Without them it tells the supervisor, which
	// writes them (root) or runs the helpers, and waits for the release
	// byte (the Plan's header says so; a v1 cgroup move waits there too).
	// FlagSwitchID then switches to uid Arg2 and gid Arg3 inside, after
	// emptying the groups with FlagSetgroups: a root caller's process is
	// host root, which is mapped to nothing in the box.
	OpUserns OpCode = 23
	// OpUnshare creates the rest of the box's namespaces: the CLONE_NEW*
	// flags in Arg (the pid namespace takes effect for OpSpawn's child).
	OpUnshare OpCode = 24
	// OpSpawn starts the box's pid 1 as a sibling of the init stage
	// (CLONE_PARENT: the supervisor is its parent, waits for it and is
	// the parent its death signal watches), reports its host pid, and the
	// first process exits. pid 1 goes on with the next op.
	OpSpawn OpCode = 25
	// OpNetHold (--net user, after OpUnshare, in the first process) tells
	// the supervisor that the box's network namespace exists and waits
	// for the release byte: meanwhile the supervisor installs the egress
	// policy in it and starts the network stack on it.
	OpNetHold OpCode = 26
	// OpReady tells the supervisor that pid 1's setup is done (MSG_READY);
	// pid 1 then waits at OpFork for the supervisor's byte. sandbox.Create
	// puts it before OpFork, so that the byte is an OCI `start`.
	OpReady OpCode = 27
	// OpSetns joins existing namespaces, in order: Str[0] their paths,
	// Str[1] their CLONE_NEW* types in decimal, each list NUL-separated
	// (see SetnsOp). All are opened before the first is joined.
	OpSetns OpCode = 28
	// OpOpenTree (in the first process, before OpUserns: the caller's
	// credentials and mount namespace) opens host path Str[0] as a
	// detached, private copy of its mount tree (open_tree(2) with
	// OPEN_TREE_CLONE and AT_RECURSIVE) for the OpBind with FlagTree
	// and slot Arg, which attaches it (move_mount(2)) instead of opening
	// the source itself. With Str[1] and Str[2] (a --rootfs and a box
	// path) a missing mount point is also made in the rootfs, resolved
	// inside it, as the caller. FlagTry: a missing source is skipped.
	// An empty Str[0]: only the mount point is made (for a tmpfs, proc
	// or devpts of the box's). See CreateOptions.CallerMounts.
	OpOpenTree OpCode = 29
	// OpHook (pid 1) runs an OCI createContainer or startContainer hook
	// (Hook, HookOp): forks, execs Str[0]'s first element with the rest as
	// its argv and Str[1] as its environment (both NUL-separated), writes
	// Str[2] (the state JSON, its pid added by pid 1) to its stdin, kills
	// it after Arg seconds (0: never), and kills whatever it left running
	// once it ends. Before OpPivot (createContainer) its root is the
	// host's tree; with FlagStartHook (startContainer, after OpReady) it
	// first waits for the start byte and runs the payload's own steps,
	// OpFork's to OpExec's. Arg2 is its index among its kind. A failure
	// is ETIMEDOUT, or ECHILD with the hook's wait status.
	OpHook OpCode = 60
	// OpHookHold (pid 1, before the createContainer OpHooks) tells the
	// supervisor the box's mounts are made (msgHookHold) and waits for the
	// release byte: meanwhile the OCI runtime runs its prestart and
	// createRuntime hooks, which the spec puts before createContainer's.
	OpHookHold OpCode = 61
)

// SetnsOp is the OpSetns joining paths (types: CLONE_NEW* flags) in order.
func SetnsOp(paths []string, types []uint64) Op {
	var ts []string
	for _, t := range types {
		ts = append(ts, fmt.Sprint(t))
	}
	return Op{Code: OpSetns, Str: []string{joinNUL(paths), joinNUL(ts)}}
}

// ReadOnlyAsSource is OpReadOnly's Arg for a writable root (see OpReadOnly).
const ReadOnlyAsSource uint64 = 1

// Flags on ops.
const (
	FlagReadOnly  uint64 = 1 << 0 // bind: make it read-only, recursively
	FlagNoDev     uint64 = 1 << 1 // bind: nodev
	FlagNoSuid    uint64 = 1 << 2 // bind: nosuid
	FlagNoExec    uint64 = 1 << 3 // tmpfs: noexec
	FlagRecursive uint64 = 1 << 4 // readonly: the whole subtree
	FlagSelfBind  uint64 = 1 << 5 // readonly: bind the path onto itself first
	FlagTry       uint64 = 1 << 6 // bind: skip when the source does not exist
	FlagSetgroups uint64 = 1 << 7 // creds: setgroups(0) is allowed; clear groups
	FlagKeyring   uint64 = 1 << 8 // session: also join a fresh session keyring
	// FlagTopWritable (bind, with FlagReadOnly): every mount below the top
	// is read-only at once, the top itself only at the plan's OpReadOnly on
	// it, so that mount points can still be made in it (--rootfs).
	FlagTopWritable uint64 = 1 << 9
	// FlagSwitchID (userns): switch to uid Arg2, gid Arg3 once mapped.
	FlagSwitchID uint64 = 1 << 15
	// FlagDetach (spawn): pid 1 gets no death signal from the supervisor,
	// which exits after an OCI create (sandbox.Create).
	FlagDetach uint64 = 1 << 10
	// FlagTree (bind): attach the tree OpOpenTree opened in slot Arg.
	FlagTree uint64 = 1 << 11
	// FlagStrict (sysctl): a name this kernel (or the box's namespace)
	// lacks is an error, not skipped: a sysctl a config asks for is set or
	// the box is not made.
	FlagStrict uint64 = 1 << 12
	// FlagStartHook (hook): a startContainer hook, run at the start.
	FlagStartHook uint64 = 1 << 13
)

var opNames = map[OpCode]string{
	OpBind: "bind", OpTmpfs: "tmpfs", OpProc: "proc", OpDevpts: "devpts",
	OpSymlink: "symlink", OpMkdir: "mkdir", OpMask: "mask", OpReadOnly: "readonly",
	OpPivot: "pivot_root", OpHostname: "sethostname", OpLoopback: "loopback",
	OpSession: "session", OpNotDumpable: "not-dumpable", OpFork: "fork",
	OpChdir: "chdir", OpRlimit: "rlimit", OpCreds: "credentials",
	OpNoNewPrivs: "no_new_privs", OpSeccomp: "seccomp", OpExec: "exec", OpSetCtty: "setctty", OpTTY: "tty",
	OpLandlock: "landlock",
	OpMqueue:   "mqueue",
	OpSysctl:   "sysctl",
	OpUserns:   "userns", OpUnshare: "unshare", OpSpawn: "spawn pid 1",
	OpNetHold: "net hold",
	OpReady:   "ready", OpSetns: "setns", OpOpenTree: "open tree",
	OpHook: "hook", OpHookHold: "hook hold",
}

func (c OpCode) String() string {
	if n, ok := opNames[c]; ok {
		return n
	}
	return fmt.Sprintf("op%d", uint32(c))
}

// Op is one step of the init stage. Its meaning depends on Code; all path and
// flag decisions are made when the Plan is built, so the executor only does
// what the Op says.
type Op struct {
	Code  OpCode
	Flags uint64
	Arg   uint64
	Arg2  uint64
	Arg3  uint64
	Str   []string
}

// String renders the op for error messages and --dry-run.
func (o Op) String() string {
	var b strings.Builder
	b.WriteString(o.Code.String())
	switch o.Code {
	case OpBind:
		fmt.Fprintf(&b, " %s -> %s", o.Str[0], o.Str[1])
		if o.Flags&FlagReadOnly != 0 {
			b.WriteString(" (read-only)")
		}
		if o.Flags&FlagTree != 0 {
			b.WriteString(" (the tree opened by the caller)")
		}
	case OpOpenTree:
		if o.Str[0] != "" {
			fmt.Fprintf(&b, " %s", o.Str[0])
		}
		if len(o.Str) == 3 && o.Str[2] != "" {
			fmt.Fprintf(&b, ", mount point %s made in %s", o.Str[2], o.Str[1])
		}
	case OpSymlink:
		fmt.Fprintf(&b, " %s -> %s", o.Str[1], o.Str[0])
	case OpTmpfs:
		fmt.Fprintf(&b, " %s %s", o.Str[0], o.Str[1])
	case OpExec:
		fmt.Fprintf(&b, " %s", strings.ReplaceAll(strings.TrimSuffix(o.Str[0], "\x00"), "\x00", " "))
	case OpRlimit:
		fmt.Fprintf(&b, " %s=%d:%d", rlimitName(int(o.Arg)), o.Arg2, o.Arg3)
	case OpCreds:
		fmt.Fprintf(&b, " uid=%d gid=%d caps=%#x", o.Arg2, o.Arg3, o.Arg)
		if len(o.Str) > 0 && o.Str[0] != "" {
			fmt.Fprintf(&b, " groups=%s", strings.ReplaceAll(strings.TrimSuffix(o.Str[0], "\x00"), "\x00", ","))
		}
	case OpSeccomp:
		fmt.Fprintf(&b, " (%d instructions)", len(o.Str[0])/8)
	case OpLandlock:
		fmt.Fprintf(&b, " scoped=%s", landlockScopeNames(o.Arg))
	case OpSysctl:
		fmt.Fprintf(&b, " %s: %s", o.Str[0], strings.ReplaceAll(o.Str[1], "\x00", " "))
	case OpUserns:
		if len(o.Str) == 2 {
			fmt.Fprintf(&b, " uid_map %q gid_map %q, written by itself", o.Str[0], o.Str[1])
		} else {
			b.WriteString(", maps written by the supervisor or newuidmap")
		}
		if o.Flags&FlagSwitchID != 0 {
			fmt.Fprintf(&b, ", then uid=%d gid=%d", o.Arg2, o.Arg3)
		}
	case OpUnshare:
		fmt.Fprintf(&b, " %s", namespaceNames(o.Arg))
	case OpHook:
		fmt.Fprintf(&b, " %s[%d]", hookKind(o.Flags), o.Arg2)
		if len(o.Str) > 0 {
			fmt.Fprintf(&b, " %s", strings.SplitN(o.Str[0], "\x00", 2)[0])
		}
	case OpNetHold:
		b.WriteString(": the supervisor installs the egress policy and starts pasta on the box's network namespace")
	case OpSetns:
		fmt.Fprintf(&b, " %s", strings.ReplaceAll(strings.TrimSuffix(o.Str[0], "\x00"), "\x00", ", "))
	case OpReadOnly:
		fmt.Fprintf(&b, " %s", o.Str[0])
		if o.Arg == ReadOnlyAsSource {
			b.WriteString(" (if its source's mount is read-only)")
		}
	default:
		for _, s := range o.Str {
			if s != "" {
				fmt.Fprintf(&b, " %s", s)
			}
		}
	}
	return b.String()
}

// Plan is the ordered list of ops the init stage executes.
type Plan struct {
	Ops []Op
	// Notes say what the box goes without on this host (for --dry-run);
	// they are not sent to the init stage.
	Notes []string
	// Net is the egress policy of a --net user box (nil otherwise); the
	// supervisor installs it at OpNetHold.
	Net *network.Policy
}

// planMagic starts every encoded Plan ("SBX1" little endian).
const planMagic = 0x31584253

// Encode renders the Plan in the flat form the C executor reads without a
// parser library: a header {magic u32, count u32}, then per op
// {code u32, nstr u32, flags u64, arg u64, arg2 u64, arg3 u64} followed by nstr strings,
// each {len u32, bytes, NUL}. Integers are little endian; the C side checks
// every length against the buffer it holds.
func (p *Plan) Encode() []byte {
	n := 8
	for _, op := range p.Ops {
		n += opHeader
		for _, s := range op.Str {
			n += 4 + len(s) + 1
		}
	}
	buf := make([]byte, 0, n)
	buf = binary.LittleEndian.AppendUint32(buf, planMagic)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(p.Ops)))
	for _, op := range p.Ops {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(op.Code))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(op.Str)))
		buf = binary.LittleEndian.AppendUint64(buf, op.Flags)
		buf = binary.LittleEndian.AppendUint64(buf, op.Arg)
		buf = binary.LittleEndian.AppendUint64(buf, op.Arg2)
		buf = binary.LittleEndian.AppendUint64(buf, op.Arg3)
		for _, s := range op.Str {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s)))
			buf = append(buf, s...)
			buf = append(buf, 0)
		}
	}
	return buf
}

// opHeader is the encoded size of an op before its strings.
const opHeader = 40

// maxStrings is the most strings one op carries; the C side has the same bound.
const maxStrings = 4

var errShort = errors.New("plan: truncated")

// DecodePlan is the inverse of Encode. The init stage has its own decoder in
// C; this one exists so the encoding can be round-trip tested and fuzzed.
func DecodePlan(b []byte) (*Plan, error) {
	if len(b) < 8 || binary.LittleEndian.Uint32(b) != planMagic {
		return nil, errors.New("plan: bad magic")
	}
	count := binary.LittleEndian.Uint32(b[4:])
	b = b[8:]
	p := &Plan{}
	for i := uint32(0); i < count; i++ {
		if len(b) < opHeader {
			return nil, errShort
		}
		op := Op{
			Code:  OpCode(binary.LittleEndian.Uint32(b)),
			Flags: binary.LittleEndian.Uint64(b[8:]),
			Arg:   binary.LittleEndian.Uint64(b[16:]),
			Arg2:  binary.LittleEndian.Uint64(b[24:]),
			Arg3:  binary.LittleEndian.Uint64(b[32:]),
		}
		nstr := binary.LittleEndian.Uint32(b[4:])
		if nstr > maxStrings {
			return nil, fmt.Errorf("plan: op %d has %d strings", i, nstr)
		}
		b = b[opHeader:]
		for j := uint32(0); j < nstr; j++ {
			if len(b) < 4 {
				return nil, errShort
			}
			l := binary.LittleEndian.Uint32(b)
			b = b[4:]
			if uint64(len(b)) < uint64(l)+1 || b[l] != 0 {
				return nil, errShort
			}
			op.Str = append(op.Str, string(b[:l]))
			b = b[l+1:]
		}
		p.Ops = append(p.Ops, op)
	}
	if len(b) != 0 {
		return nil, errors.New("plan: trailing bytes")
	}
	return p, nil
}

// landlockScopeNames spells LANDLOCK_SCOPE_* bits for --dry-run.
func landlockScopeNames(bits uint64) string {
	var n []string
	for _, sc := range []struct {
		bit  uint64
		name string
	}{{unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, "abstract-unix-socket"}, {unix.LANDLOCK_SCOPE_SIGNAL, "signal"}} {
		if bits&sc.bit != 0 {
			n = append(n, sc.name)
			bits &^= sc.bit
		}
	}
	if bits != 0 {
		n = append(n, fmt.Sprintf("%#x", bits))
	}
	return strings.Join(n, ",")
}

// namespaceNames spells CLONE_NEW* flags as unshare(1) does.
func namespaceNames(flags uint64) string {
	var n []string
	for _, ns := range []struct {
		flag uint64
		name string
	}{
		{unix.CLONE_NEWNS, "mount"}, {unix.CLONE_NEWPID, "pid"}, {unix.CLONE_NEWNET, "net"},
		{unix.CLONE_NEWIPC, "ipc"}, {unix.CLONE_NEWUTS, "uts"}, {unix.CLONE_NEWCGROUP, "cgroup"},
	} {
		if flags&ns.flag != 0 {
			n = append(n, ns.name)
		}
	}
	return strings.Join(n, ",")
}
