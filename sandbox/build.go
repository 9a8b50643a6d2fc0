package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/network"
)

// hostDirs are the host directories the default root shows, read-only. No
// /home, /root, /run, /var or /tmp: nothing of the user's, no sockets.
var hostDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// devNodes are bound from the host's /dev: an unprivileged user namespace
// cannot mknod, and these are the nodes ordinary programs expect.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// maskedPaths hide what a fresh procfs shows of the host that the box's
// uid can read (runc's and Docker's list, less what only host root can read
// anyway: kpage*, kallsyms' addresses, sysrq-trigger). A path the kernel
// lacks costs one failed lookup. readOnlyPaths stay visible, read-only.
var (
	maskedPaths = []string{
		"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/timer_list",
		"/proc/sched_debug", "/proc/latency_stats",
		"/proc/acpi", "/proc/scsi", "/proc/asound", "/proc/driver",
	}
	readOnlyPaths = []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"}
)

// multiUserCaps are kept with --map auto: a box with several users exists so
// that its root can chown files to them and switch to them (package
// managers, build tools), as rootless Podman's default allows. They act only
// on the box's own user namespace: files owned by the mapped ids.
var multiUserCaps uint64 = 1<<0 /* chown */ | 1<<1 /* dac_override */ | 1<<3 /* fowner */ |
	1<<4 /* fsetid */ | 1<<5 /* kill */ | 1<<6 /* setgid */ | 1<<7 /* setuid */

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// host is what the planner reads from the caller's side; tests replace it.
type host struct {
	environ func() []string
	lstat   func(string) (fs.FileInfo, error)
	link    func(string) (string, error)
	// landlockABI is the kernel's Landlock ABI version (0: none).
	landlockABI func() int
	// pidMax is the host's kernel.pid_max (0: unknown).
	pidMax func() int
}

var realHost = host{environ: os.Environ, lstat: os.Lstat, link: os.Readlink, landlockABI: landlockABI, pidMax: hostPidMax}

// payloadSpec is what the payload steps need beyond the Spec.
type payloadSpec struct {
	seccomp []byte        // compiled BPF, nil for none
	mapping idmap.Mapping // the box's id mapping
	// resolvConf is the host path of the box's resolv.conf (--net user).
	resolvConf string
}

// buildPlan turns a validated Spec into the ops of the init stage. All the
// decisions are here; the executor does as it is told.
func buildPlan(s *Spec, h host, ps payloadSpec) (*Plan, error) {
	p := &Plan{}
	add := func(op Op) { p.Ops = append(p.Ops, op) }
	const nosuidNodev = FlagNoSuid | FlagNoDev

	// The namespaces, made by the init stage itself in the card's order:
	// the user namespace first, its maps, then the rest, then pid 1.
	userns := Op{Code: OpUserns}
	if m := ps.mapping; m.ChildWrites() {
		userns.Str = []string{idmap.MapText(m.UIDs), idmap.MapText(m.GIDs)}
	} else if m.InitUID >= 0 {
		userns.Flags |= FlagSwitchID
		userns.Arg2, userns.Arg3 = uint64(m.InitUID), uint64(m.InitGID)
		if m.SetgroupsAllowed {
			userns.Flags |= FlagSetgroups
		}
	}
	// Joined IPC and UTS namespaces, as the caller, before the box's user
	// namespace (from which it would have no capability over them).
	var joins []string
	var joinTypes []uint64
	ns := uint64(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP)
	for _, j := range []struct {
		path string
		flag uint64
	}{{s.IPCNS, unix.CLONE_NEWIPC}, {s.UTSNS, unix.CLONE_NEWUTS}} {
		if j.path != "" {
			joins, joinTypes = append(joins, j.path), append(joinTypes, j.flag)
		} else {
			ns |= j.flag
		}
	}
	if len(joins) > 0 {
		add(SetnsOp(joins, joinTypes))
	}
	add(userns)
	if s.Net != "host" {
		ns |= unix.CLONE_NEWNET
	}
	add(Op{Code: OpUnshare, Arg: ns})
	if s.Net == "user" {
		add(Op{Code: OpNetHold})
	}
	add(Op{Code: OpSpawn})

	// The root.
	if s.Rootfs != "" {
		// Read-only, nosuid and nodev all the way down: a mount the host
		// has below the directory (a tmpfs, or with --rootfs / all of
		// /sys, /run, /home) comes in with these flags, not its own, and a
		// device node in the tree opens nothing. The top is made read-only
		// last (below), once the box's mount points exist in it.
		add(Op{Code: OpBind, Flags: FlagReadOnly | FlagTopWritable | nosuidNodev, Str: []string{s.Rootfs, "/"}})
	} else {
		add(Op{Code: OpTmpfs, Str: []string{"/", "mode=0755"}})
		for _, d := range hostDirs {
			fi, err := h.lstat(d)
			if err != nil {
				continue
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				// Merged-/usr hosts: /bin -> usr/bin stays a link.
				if target, err := h.link(d); err == nil {
					add(Op{Code: OpSymlink, Str: []string{target, d}})
				}
				continue
			}
			add(Op{Code: OpBind, Flags: FlagReadOnly | nosuidNodev, Str: []string{d, d}})
		}
		add(Op{Code: OpMkdir, Str: []string{"/root"}})
	}

	// /proc for the new pid namespace, a minimal /dev, a fresh /tmp.
	add(Op{Code: OpProc, Str: []string{"/proc"}})
	// The box's user namespace limits, while its /proc/sys is writable.
	add(userSysctls(s))
	if s.IPCNS == "" {
		// A joined IPC namespace keeps the limits its owner set.
		add(ipcSysctls(s))
	}
	if op, ok := pidMaxSysctl(s, h.pidMax()); ok {
		add(op)
	}
	// The caller's (an OCI config's), over the box's own defaults above.
	for _, op := range sysctlOps(s) {
		add(op)
	}
	tmpfs := s.TmpfsSizes()
	add(Op{Code: OpTmpfs, Flags: FlagNoExec, Str: []string{"/dev", tmpfsOptions("0755", devSize)}})
	for _, n := range devNodes {
		add(Op{Code: OpBind, Flags: FlagNoSuid, Str: []string{"/dev/" + n, "/dev/" + n}})
	}
	add(Op{Code: OpDevpts, Str: []string{"/dev/pts", devptsOptions}})
	add(Op{Code: OpSymlink, Str: []string{"pts/ptmx", "/dev/ptmx"}})
	// Named "shm", as other runtimes name it (OCI's default config asks
	// for that source).
	add(Op{Code: OpTmpfs, Flags: FlagNoExec, Str: []string{shmDir, tmpfsOptions("1777", tmpfs[shmDir]), "shm"}})
	for i, n := range []string{"stdin", "stdout", "stderr"} {
		add(Op{Code: OpSymlink, Str: []string{"/proc/self/fd/" + string(rune('0'+i)), "/dev/" + n}})
	}
	add(Op{Code: OpSymlink, Str: []string{"/proc/self/fd", "/dev/fd"}})
	add(Op{Code: OpTmpfs, Str: []string{tmpDir, tmpfsOptions("1777", tmpfs[tmpDir])}})

	if s.Net == "user" {
		// The stack's DNS forwarder, in a file of the supervisor's bound
		// over the host's (or the rootfs's) resolv.conf; a caller's own
		// bind below still wins. A --rootfs without one gets none: the
		// mount point would have to be made in the caller's tree.
		noResolv := false
		if s.Rootfs != "" {
			_, err := h.lstat(path.Join(s.Rootfs, "etc/resolv.conf"))
			noResolv = err != nil
		}
		if noResolv {
			p.Notes = append(p.Notes, fmt.Sprintf("net: --rootfs %s has no etc/resolv.conf, so the box gets no DNS configuration "+
				"(create the file, any content, and the box's will name pasta's forwarder, %s)", s.Rootfs, network.DNSForward))
		} else {
			add(Op{Code: OpBind, Flags: FlagReadOnly | nosuidNodev, Str: []string{ps.resolvConf, "/etc/resolv.conf"}})
		}
	}

	// The caller's mounts, in the order given: a later one may cover an
	// earlier one or a default above.
	for _, m := range s.Mounts {
		switch m.Type {
		case "bind":
			add(Op{Code: OpBind, Flags: nosuidNodev, Str: []string{path.Clean(m.Source), path.Clean(m.Dest)}})
		case "ro-bind":
			add(Op{Code: OpBind, Flags: FlagReadOnly | nosuidNodev, Str: []string{path.Clean(m.Source), path.Clean(m.Dest)}})
		case "mqueue":
			// The box's IPC namespace is always its own: its queues only.
			add(Op{Code: OpMqueue, Str: []string{path.Clean(m.Dest)}})
		case "tmpfs":
			// One on /tmp or /dev/shm only sized the box's own, above.
			if d := path.Clean(m.Dest); d != tmpDir && d != shmDir {
				add(Op{Code: OpTmpfs, Str: []string{d, tmpfsOptions("0755", tmpfs[d])}})
			}
		}
	}

	// Masks last among the mounts, so no mount above can uncover them:
	// the box's own, then the caller's (an OCI config's), which may cover
	// a mount of its own; then the read-only paths, the same way.
	for _, m := range append(slices.Clone(maskedPaths), s.MaskedPaths...) {
		add(Op{Code: OpMask, Str: []string{path.Clean(m)}})
	}
	for _, r := range append(slices.Clone(readOnlyPaths), s.ReadOnlyPaths...) {
		add(Op{Code: OpReadOnly, Flags: FlagSelfBind | FlagRecursive, Str: []string{path.Clean(r)}})
	}
	// The root itself is read-only; the box's own mounts on it (/tmp, /dev,
	// binds) keep theirs. What --rootfs brought below its top is read-only
	// since its bind. A writable root (RootfsWritable) is read-only only
	// where the host's mount was: its files are then writable as their
	// owners and modes allow the box's ids, still nosuid and nodev.
	if s.RootfsWritable {
		add(Op{Code: OpReadOnly, Arg: ReadOnlyAsSource, Str: []string{"/"}})
	} else {
		add(Op{Code: OpReadOnly, Str: []string{"/"}})
	}
	add(Op{Code: OpPivot})

	hostname := s.Hostname
	if hostname == "" {
		hostname = "sandbox"
	}
	if s.UTSNS == "" {
		add(Op{Code: OpHostname, Str: []string{hostname}})
	}
	if s.Net != "host" {
		// With --net user pasta has brought it up already; again is harmless.
		add(Op{Code: OpLoopback})
	}
	add(Op{Code: OpSession, Flags: FlagKeyring})
	add(Op{Code: OpNotDumpable})
	if s.TTY {
		add(Op{Code: OpTTY})
	}

	// The payload, from here on.
	add(Op{Code: OpFork})
	add(Op{Code: OpSession})
	if s.TTY {
		add(Op{Code: OpSetCtty})
	}
	for _, r := range s.PayloadRlimits() {
		add(Op{Code: OpRlimit, Arg: uint64(rlimitByName[r.Name]), Arg2: r.Soft, Arg3: r.Hard})
	}
	var keep uint64
	if s.Map == idmap.ModeAuto && s.UID == 0 {
		keep = multiUserCaps
	}
	for _, c := range s.CapAdd {
		n, _ := capByName(c)
		keep |= 1 << n
	}
	creds := Op{Code: OpCreds, Arg: keep, Arg2: uint64(s.UID), Arg3: uint64(s.GID)}
	if ps.mapping.SetgroupsAllowed {
		creds.Flags |= FlagSetgroups
	}
	if len(s.Groups) > 0 {
		// setgroups(2) with gids the namespace maps, where it is allowed:
		// else the payload would run without groups it was given.
		if !ps.mapping.SetgroupsAllowed {
			return nil, specErr("groups", "%v: setgroups is denied in the box's user namespace (it maps the caller's gid alone)", s.Groups)
		}
		var gs []string
		for _, g := range s.Groups {
			if !idmap.Maps(ps.mapping.GIDs, g) {
				return nil, specErr("groups", "%d: not a gid of the box's user namespace", g)
			}
			gs = append(gs, fmt.Sprint(g))
		}
		creds.Str = []string{joinNUL(gs)}
	}
	add(creds)
	workdir := s.Workdir
	if workdir == "" {
		workdir = "/"
	}
	add(Op{Code: OpChdir, Str: []string{path.Clean(workdir)}})
	add(Op{Code: OpNoNewPrivs})
	// Landlock after no_new_privs, which landlock_restrict_self(2) needs
	// without CAP_SYS_ADMIN, and before seccomp, whose default filter
	// refuses the landlock calls.
	if s.Landlock != "off" {
		abi := 0
		if h.landlockABI != nil {
			abi = h.landlockABI()
		}
		if abi >= landlockScopeABI {
			add(Op{Code: OpLandlock, Arg: landlockScopes})
		} else {
			p.Notes = append(p.Notes, fmt.Sprintf("landlock: kernel ABI %d, scoping needs %d (Linux 6.12): "+
				"the payload runs without it and can reach abstract unix sockets of its network namespace (the host's with --net host)",
				abi, landlockScopeABI))
		}
	}
	if ps.seccomp != nil {
		// Last before exec (bubblewrap: "the last thing before execve()"):
		// nothing above has to get past the filter.
		add(Op{Code: OpSeccomp, Str: []string{string(ps.seccomp)}})
	}
	env := boxEnv(s, h.environ())
	add(Op{Code: OpExec, Str: []string{joinNUL(s.Args), joinNUL(env), lookup(env, "PATH")}})
	return p, nil
}

// boxEnv is the payload's environment: cleared by default, because the
// caller's variables are where its secrets (tokens, keys) live.
func boxEnv(s *Spec, caller []string) []string {
	var env []string
	if s.KeepEnv {
		env = append(env, caller...)
	} else {
		for _, k := range []string{"PATH", "TERM", "LANG"} {
			if v := lookup(caller, k); v != "" {
				env = append(env, k+"="+v)
			}
		}
		home := "/root"
		if s.Workdir != "" {
			home = path.Clean(s.Workdir)
		}
		env = append(env, "HOME="+home)
	}
	if lookup(env, "PATH") == "" {
		env = append(env, "PATH="+defaultPath)
	}
	// --env wins over what is kept: later entries replace earlier ones.
	for _, kv := range s.Env {
		env = setEnv(env, kv)
	}
	return env
}

func lookup(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

func joinNUL(v []string) string {
	var b strings.Builder
	for _, s := range v {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.String()
}
