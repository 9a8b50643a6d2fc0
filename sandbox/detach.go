package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/idmap"
)

// A box made by Create outlives the process that made it: the OCI runtime
// interface (create, then start from another invocation) wants a container
// that exists and waits, with no daemon of the runtime's behind it. Create
// runs the supervisor's launch up to the point where pid 1 has built the
// box (namespaces, mounts, pivot_root, hostname) and waits at OpFork for
// the supervisor's byte; then it returns, and the caller hands the sync
// socket to whoever will start the box. pid 1 has no death signal
// (FlagDetach): when the creating process exits, the kernel re-parents pid
// 1 to the nearest subreaper (conmon, a containerd shim), which waits for
// it as it waits for runc's container process.
//
//   Create                         pid 1
//   launch (as Run)  ------------>  ops up to OpReady
//               <-- MSG_READY       waits at OpFork for a byte
//   returns Detached{Pid, Sync}
//   ... StartDetached(Sync): one byte -->  forks the payload, which runs
//                                         its ops and execs
//   ... WaitDetached(Sync): MSG_OP_ERROR (the payload's setup or exec
//       failed), MSG_EXIT {wait status}, EOF when pid 1 is gone.

// createTimeout bounds the setup of a box made by Create.
const createTimeout = 60 * time.Second

// msgReady is pid 1's "setup done" (OpReady).
const msgReady = 7

// msgHookHold is pid 1's "mounts made, waiting" (OpHookHold).
const msgHookHold = 61

// Detached is a box made by Create, its payload not started yet.
type Detached struct {
	// Pid is the box's pid 1, in the caller's pid namespace.
	Pid int
	// Sync is the supervisor's end of the sync socket. Whoever holds it
	// starts the box (StartDetached) and learns how it ended
	// (WaitDetached); pid 1 ends at once if every copy of it is closed
	// before the start.
	Sync *os.File
	// Console is the master of the payload's terminal (Spec.TTY), for the
	// engine (an OCI --console-socket); nil without one.
	Console *os.File
	// Notes are the Plan's notes (what the box runs without, and why).
	Notes []string
	// Cgroup is the box's cgroup when the Spec has limits (nil without).
	// It outlives Create: the caller hands its locks to a process that
	// lives as long as the box (cgroup.Box.HandOff) and records its
	// directories for cgroup.RemoveLeaves, or deletes it itself once the
	// box is gone.
	Cgroup *cgroup.Box

	msgs chan initMsg // the supervisor's reader of Sync, in the creating process
}

// CreateOptions are what Create needs beyond the Spec.
type CreateOptions struct {
	// Stdio are the payload's stdin, stdout and stderr (nil: /dev/null).
	Stdio [3]*os.File
	// NetNS is a network namespace to join (an OCI config's namespace
	// path), with Spec.Net "host": the box makes no network namespace.
	NetNS string
	// Mapping, when set, replaces the id mapping the Spec's Map would
	// plan (an OCI runtime run as root in an engine's user namespace
	// maps that namespace's ids as they are: see oci.ToSpec).
	Mapping *idmap.Mapping
	// CallerMounts opens every bind's source (the root's included) in the
	// init stage's first process, as the caller, before the box's user
	// namespace exists (OpOpenTree), and makes the binds' missing mount
	// points in the rootfs as the caller; pid 1 attaches the trees. For
	// an OCI runtime run as host root: the box runs as ids root maps
	// (nobody, or root's subordinate range), which can neither enter the
	// engine's per-container directories (mode 0700, root's) to bind
	// their files nor make mount points in a rootfs root owns. What the
	// payload may do with the files is unchanged: it is checked against
	// the box's ids, and the bind's flags are set as for any bind. See
	// callerMounts for what differs.
	CallerMounts bool
	// CgroupPath, when set, is where the box's cgroup goes (cgroup.NewAt:
	// an OCI config's linux.cgroupsPath, for host root), made even without
	// limits, for the engine's metrics and OOM events.
	CgroupPath string
	// CreateContainer and StartContainer are OCI hooks run by pid 1 in
	// the box's namespaces (OpHook): the first after the box's mounts,
	// before pivot_root, the second at the start, just before the
	// payload's exec, as the payload. A failure of the first fails
	// Create; of the second, the payload does not run.
	CreateContainer, StartContainer []Hook
	// CreateRuntime, with CreateContainer hooks, is called with pid 1's
	// pid while pid 1 waits (OpHookHold) after the box's mounts, before
	// the createContainer hooks: the OCI runtime's prestart and
	// createRuntime hooks, which the spec orders first. An error fails
	// Create. Without CreateContainer hooks it is not called: the runtime
	// runs those hooks itself once Create returns.
	CreateRuntime func(pid int) error
}

// Hook is an OCI hook that pid 1 runs (CreateOptions).
type Hook struct {
	Path string
	// Args is its argv (none: Path alone); Env its whole environment.
	Args, Env []string
	// Timeout is in seconds; 0: none.
	Timeout int
	// State is the container's state JSON, without a pid: pid 1 adds its
	// own, as the caller sees it, before the closing brace.
	State []byte
}

// hookKind is the OCI name of an OpHook's kind.
func hookKind(flags uint64) string {
	if flags&FlagStartHook != 0 {
		return "startContainer"
	}
	return "createContainer"
}

// hookOps are the OpHooks of hooks, flags FlagStartHook or 0.
func hookOps(hooks []Hook, flags uint64) ([]Op, error) {
	var ops []Op
	for i, h := range hooks {
		field := fmt.Sprintf("hooks.%s[%d]", hookKind(flags), i)
		if !path.IsAbs(h.Path) || h.Timeout < 0 {
			return nil, specErr(field, "%q, timeout %d: an absolute path and a timeout of 0 or more", h.Path, h.Timeout)
		}
		if len(h.State) == 0 || h.State[len(h.State)-1] != '}' {
			return nil, specErr(field, "its state is not a JSON object")
		}
		args := h.Args
		if len(args) == 0 {
			args = []string{h.Path}
		}
		ops = append(ops, Op{Code: OpHook, Flags: flags, Arg: uint64(h.Timeout), Arg2: uint64(i),
			Str: []string{joinNUL(append([]string{h.Path}, args...)), joinNUL(h.Env), string(h.State)}})
	}
	return ops, nil
}

// addHooks puts the OpHooks in a Plan of Create's (after detachPlan):
// createContainer's just before OpPivot, startContainer's between OpReady
// and OpFork.
// With hold, an OpHookHold comes before createContainer's.
func addHooks(p *Plan, create, start []Hook, hold bool) error {
	cops, err := hookOps(create, 0)
	if err != nil {
		return err
	}
	if hold && len(cops) > 0 {
		cops = append([]Op{{Code: OpHookHold}}, cops...)
	}
	sops, err := hookOps(start, FlagStartHook)
	if err != nil {
		return err
	}
	insert := func(code OpCode, after int, ops []Op) error {
		if len(ops) == 0 {
			return nil
		}
		for i, op := range p.Ops {
			if op.Code == code {
				i += after
				p.Ops = append(p.Ops[:i], append(ops, p.Ops[i:]...)...)
				return nil
			}
		}
		return fmt.Errorf("the plan has no %s for the hooks", code)
	}
	if err := insert(OpPivot, 0, cops); err != nil {
		return err
	}
	return insert(OpReady, 1, sops)
}

// hookError names a failed OpHook (a setup error of op).
func hookError(op Op, errno syscall.Errno, status int32) error {
	name := strings.SplitN(op.Str[0], "\x00", 2)[0]
	err := fmt.Errorf("%w", errno)
	switch {
	case errno == syscall.ETIMEDOUT:
		err = fmt.Errorf("did not exit within its timeout (%ds): killed", op.Arg)
	case errno == syscall.ECHILD:
		ws := syscall.WaitStatus(status)
		switch {
		case ws.Exited() && ws.ExitStatus() == 127:
			err = errors.New("exit status 127 (not found)")
		case ws.Exited() && ws.ExitStatus() == 125:
			err = errors.New("exit status 125 (it or its setup failed)")
		case ws.Exited():
			err = fmt.Errorf("exit status %d", ws.ExitStatus())
		case ws.Signaled():
			err = fmt.Errorf("killed by signal %d", ws.Signal())
		}
	}
	return fmt.Errorf("hooks.%s[%d] (%s): %w", hookKind(op.Flags), op.Arg2, name, err)
}

// Create builds the box of s and returns once its pid 1 is ready to start
// the payload, or with an error naming the step that failed (then nothing
// of the box is left). o.Stdio are given to the payload as they are: an
// OCI engine hands the container the stdio it chose (conmon's pipes). The
// cgroup limits (Spec.Limits) need no process to watch them: the box's
// cgroup is made here and outlives Create (Detached.Cgroup). Timeouts,
// output caps, CPU time and the report need the supervisor Run keeps, and
// are refused here.
func Create(s Spec, o CreateOptions) (*Detached, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if o.NetNS != "" && (s.Net != "host" || !path.IsAbs(o.NetNS)) {
		return nil, specErr("netns", "%q: an absolute path, with Net host", o.NetNS)
	}
	switch {
	case s.CPUTime > 0 || s.Accounting:
		return nil, specErr("cpu-time/report", "need a supervisor: not supported for a detached box")
	case s.Timeout > 0 || s.MaxOutput > 0:
		return nil, specErr("timeout/max-output", "need a supervisor: not supported for a detached box")
	case s.Net == "user":
		return nil, specErr("net", "user: the network stack needs a supervisor: not supported for a detached box yet")
	}
	mapping, plan, err := prepare(&s, "") // no --net user: no resolv.conf of the supervisor's
	if err != nil {
		return nil, err
	}
	if o.Mapping != nil {
		mapping = *o.Mapping
		if plan, err = replan(&s, plan, mapping); err != nil {
			return nil, err
		}
	}
	if o.NetNS != "" {
		plan.Ops = append([]Op{SetnsOp([]string{o.NetNS}, []uint64{unix.CLONE_NEWNET})}, plan.Ops...)
	}
	if o.CallerMounts {
		// The trees' host flags are not locked (callerMounts): a payload
		// that may call mount_setattr could clear them. The default
		// filter refuses the whole mount family; any other filter with
		// CAP_SYS_ADMIN kept is refused until the trees are locked.
		if keepsCap(s.CapAdd, unix.CAP_SYS_ADMIN) && s.Seccomp != "" && s.Seccomp != "default" {
			return nil, specErr("cap-add", "CAP_SYS_ADMIN with a seccomp profile other than the default is not supported "+
				"for a root caller's binds yet: the host's own mount flags below a bind would not be locked")
		}
		if err := callerMounts(plan, s.Rootfs); err != nil {
			return nil, &SetupError{Step: "plan", Err: err}
		}
	}
	if err := detachPlan(plan); err != nil {
		return nil, &SetupError{Step: "plan", Err: err}
	}
	if err := addHooks(plan, o.CreateContainer, o.StartContainer, o.CreateRuntime != nil); err != nil {
		return nil, err
	}
	// The cgroup, before the box exists, so that it is born limited (as
	// Run does); it stays after Create returns (Detached.Cgroup).
	var cg *cgroup.Box
	if o.CgroupPath != "" {
		if cg, err = cgroup.NewAt(cgroupName, s.Limits, o.CgroupPath); err != nil {
			return nil, &SetupError{Step: "limits", Err: err}
		}
	} else if s.Limits.Any() {
		if cg, err = cgroup.New(cgroupName, s.Limits); err != nil {
			return nil, &SetupError{Step: "limits", Err: err}
		}
	}
	sv := &supervisor{spec: &s, cg: cg, start: time.Now(), direct: &o.Stdio}
	if err := sv.launch(mapping, plan.Encode()); err != nil {
		if cg != nil {
			cg.Kill()
			cg.Delete()
		}
		return nil, err
	}
	var console *os.File
	firstDone := make(chan error, 1)
	go func() { firstDone <- sv.cmd.Wait() }()
	// fail kills what was started and waits for it (the first process
	// may wait for a release byte that will not come), then reports.
	fail := func(err error) (*Detached, error) {
		if console != nil {
			console.Close()
		}
		sv.kill()
		<-firstDone
		<-sv.spawned
		if box := sv.boxProcess(); box != nil {
			box.Kill()
			box.Wait()
		}
		sv.sock.Close()
		if cg != nil {
			cg.Kill()
			cg.Delete()
		}
		return nil, err
	}
	timeout := time.NewTimer(createTimeout)
	defer timeout.Stop()
	for ready := false; !ready; {
		select {
		case m, ok := <-sv.msgs:
			switch {
			case !ok:
				return fail(&SetupError{Step: "create", Err: errors.New("the box ended during its setup")})
			case m.typ == msgUserns:
				if err := sv.release(mapping); err != nil {
					return fail(err)
				}
			case m.typ == msgReady:
				ready = true
			case m.typ == msgHookHold:
				box := sv.boxProcess()
				if box == nil || o.CreateRuntime == nil {
					return fail(&SetupError{Step: "create", Err: errors.New("a hook hold without pid 1 or hooks")})
				}
				if err := o.CreateRuntime(box.Pid); err != nil {
					return fail(err)
				}
				if err := sv.releaseByte(); err != nil {
					return fail(err)
				}
			case m.typ == msgTTY && m.fd >= 0:
				console = os.NewFile(uintptr(m.fd), "sandbox-console")
			case m.typ == msgOpError && m.index >= 0 && int(m.index) < len(plan.Ops) && plan.Ops[m.index].Code == OpHook:
				return fail(hookError(plan.Ops[m.index], syscall.Errno(m.errno), m.status))
			case m.typ == msgOpError:
				return fail(opError(plan, int(m.index), syscall.Errno(m.errno), s.Rootfs))
			case m.typ == msgExit:
				return fail(&SetupError{Step: "create", Err: fmt.Errorf("the box ended during its setup (signal %d)", m.status)})
			}
		case <-timeout.C:
			return fail(&SetupError{Step: "create", Err: fmt.Errorf("setup took more than %v", createTimeout)})
		}
	}
	// The first process has exited (it did right after its clone of pid
	// 1); reaped here, it is not charged to the box's RLIMIT_NPROC when
	// the payload starts. fail waits for it no more.
	firstErr := <-firstDone
	firstDone <- firstErr
	<-sv.spawned
	box := sv.boxProcess()
	if box == nil {
		return fail(&SetupError{Step: "create", Err: errors.New("pid 1 did not say its pid")})
	}
	if s.TTY && console == nil {
		return fail(&SetupError{Step: "create", Err: errors.New("pid 1 sent no terminal")})
	}
	// The supervisor's reader (readMsgs) goes on reading the socket in
	// this process: Wait takes the messages from it.
	return &Detached{Pid: box.Pid, Sync: sv.sock, Console: console, Notes: plan.Notes, Cgroup: cg, msgs: sv.msgs}, nil
}

// detachPlan makes a Plan of Run's a Plan of Create's: pid 1 has no death
// signal, and says when its setup is done, before it waits at OpFork.
func detachPlan(p *Plan) error {
	spawn, fork := -1, -1
	for i, op := range p.Ops {
		switch op.Code {
		case OpSpawn:
			spawn = i
		case OpFork:
			fork = i
		}
	}
	if spawn < 0 || fork < spawn {
		return errors.New("the plan has no spawn and fork")
	}
	p.Ops[spawn].Flags |= FlagDetach
	p.Ops = append(p.Ops[:fork], append([]Op{{Code: OpReady}}, p.Ops[fork:]...)...)
	return nil
}

// keepsCap tells whether caps (Spec.CapAdd) holds capability c.
func keepsCap(caps []string, c int) bool {
	for _, name := range caps {
		if n, err := capByName(name); err == nil && n == c {
			return true
		}
	}
	return false
}

// maxTrees is the most binds callerMounts opens (the C side's MAX_TREES).
const maxTrees = 256

// callerMounts makes the Plan's binds attach trees the first process opens
// as the caller (CreateOptions.CallerMounts): an OpOpenTree per bind, at the
// start of the Plan (before OpUserns), and FlagTree on the bind. The device
// nodes of the box's /dev (DeviceNodes) stay plain binds: every id may reach
// them. A bind's mount point, or a tmpfs's, proc's or devpts's (an
// OpOpenTree without a source), is made in the rootfs by the caller when it
// is not below an earlier mount of the Plan (/proc, /dev, /tmp, a tmpfs or
// another bind): there pid 1 makes it, in a mount of the box's.
//
// What differs from a plain bind (SECURITY.md): the copy is made in the
// caller's user namespace, so the kernel does not lock the flags the
// host's own mounts under the source have (MNT_LOCK_*, set when a mount
// namespace is copied into a less privileged user namespace). The payload
// cannot change mount flags without CAP_SYS_ADMIN and the filter's mount
// calls; given both, it could clear a host mount's own read-only or
// noexec flag below a bind. The flags the Plan sets (read-only, nosuid,
// nodev) are set the same way either way, unlocked in both.
func callerMounts(p *Plan, rootfs string) error {
	dev := map[string]bool{}
	for _, d := range DeviceNodes() {
		dev[d] = true
	}
	var opens, points []Op
	var targets []string // the box paths of earlier mounts
	under := func(d string) bool {
		for _, t := range targets {
			if t != "/" && (d == t || strings.HasPrefix(d, t+"/")) {
				return true
			}
		}
		return false
	}
	for i := range p.Ops {
		op := &p.Ops[i]
		switch op.Code {
		case OpTmpfs, OpProc, OpDevpts, OpMqueue:
			// The box's own mount, but its mount point too may be
			// missing from a rootfs the caller owns (containerd's
			// /run tmpfs in a busybox image): made as the caller.
			dst := path.Clean(op.Str[0])
			if rootfs != "" && dst != "/" && !under(dst) {
				points = append(points, Op{Code: OpOpenTree, Str: []string{"", rootfs, dst}})
			}
			targets = append(targets, dst)
		case OpBind:
			src, dst := op.Str[0], path.Clean(op.Str[1])
			if dev[src] && src == dst {
				targets = append(targets, dst)
				continue
			}
			if len(opens) == maxTrees {
				return fmt.Errorf("more than %d binds", maxTrees)
			}
			open := Op{Code: OpOpenTree, Flags: op.Flags & FlagTry, Arg: uint64(len(opens)), Str: []string{src}}
			if rootfs != "" && dst != "/" && !under(dst) {
				open.Str = append(open.Str, rootfs, dst)
			}
			op.Flags |= FlagTree
			op.Arg = uint64(len(opens))
			opens = append(opens, open)
			targets = append(targets, dst)
		}
	}
	p.Ops = append(append(opens, points...), p.Ops...)
	return nil
}

// directStdio gives the box the files of Create's caller as they are.
func (sv *supervisor) directStdio(cmd *exec.Cmd) error {
	if f := sv.direct[0]; f != nil {
		cmd.Stdin = f
	}
	if f := sv.direct[1]; f != nil {
		cmd.Stdout = f
	}
	if f := sv.direct[2]; f != nil {
		cmd.Stderr = f
	}
	return nil
}

// StartDetached starts the payload of a box made by Create.
func StartDetached(sync *os.File) error {
	if _, err := sync.Write([]byte{1}); err != nil {
		return fmt.Errorf("start: %w (the box is gone)", err)
	}
	return nil
}

// DetachedEnd is how a box made by Create ended, as its pid 1 told.
type DetachedEnd struct {
	// Status is the payload's wait status; Known is false when pid 1
	// ended without saying it (it was killed).
	Status syscall.WaitStatus
	Known  bool
	// Errno is set when the payload's setup or exec failed (its op index
	// in Op); the exit status is then 125 (setup), 126 or 127 (exec).
	Errno syscall.Errno
	Op    int
	// HookStatus is set when that step was a startContainer hook: its
	// wait status (SIGKILL past its timeout, with Errno ETIMEDOUT).
	HookStatus syscall.WaitStatus
}

// SetupFailure says how the payload's setup failed (Errno is set).
func (e DetachedEnd) SetupFailure() string {
	if e.HookStatus == 0 {
		return fmt.Sprintf("setup step %d: %v", e.Op, e.Errno)
	}
	why := fmt.Sprintf("exit status %d", e.HookStatus.ExitStatus())
	switch {
	case e.Errno == syscall.ETIMEDOUT:
		why = "did not exit within its timeout: killed"
	case e.HookStatus.Signaled():
		why = fmt.Sprintf("killed by signal %d", e.HookStatus.Signal())
	}
	return fmt.Sprintf("hooks.startContainer (setup step %d): %s", e.Op, why)
}

// Wait is WaitDetached in the process that created the box (OCI run).
func (d *Detached) Wait() DetachedEnd {
	var end DetachedEnd
	for m := range d.msgs {
		switch m.typ {
		case msgOpError:
			if end.Errno == 0 {
				end.Op, end.Errno = int(m.index), syscall.Errno(m.errno)
				end.HookStatus = syscall.WaitStatus(m.status)
			}
		case msgExit:
			end.Status, end.Known = syscall.WaitStatus(m.status), true
		}
	}
	return end
}

// WaitDetached reads pid 1's messages from a box's sync socket, handed
// over by the process that created it, until pid 1 is gone.
func WaitDetached(sync *os.File) DetachedEnd {
	var end DetachedEnd
	rc, err := sync.SyscallConn()
	if err != nil {
		return end
	}
	for {
		m, _, err := recvMsg(pollRecv(rc))
		if err != nil {
			return end
		}
		if m.fd >= 0 {
			unix.Close(m.fd)
		}
		switch m.typ {
		case msgOpError:
			if end.Errno == 0 {
				end.Op, end.Errno = int(m.index), syscall.Errno(m.errno)
				end.HookStatus = syscall.WaitStatus(m.status)
			}
		case msgExit:
			end.Status, end.Known = syscall.WaitStatus(m.status), true
		}
	}
}

// CgroupPrefix is the name every box's cgroup leaf starts with, for
// cgroup.RemoveLeaves and cgroup.Pids on the leaves of a Detached box.
func CgroupPrefix() string { return cgroupName }

// MaskedPaths are the paths every box hides (an OCI runtime checks a
// config's maskedPaths against them).
func MaskedPaths() []string { return append([]string(nil), maskedPaths...) }

// ReadOnlyPaths are the paths every box shows read-only.
func ReadOnlyPaths() []string { return append([]string(nil), readOnlyPaths...) }

// DeviceNodes are the device nodes every box's /dev has, bound from the host.
func DeviceNodes() []string {
	var d []string
	for _, n := range devNodes {
		d = append(d, "/dev/"+n)
	}
	return d
}
