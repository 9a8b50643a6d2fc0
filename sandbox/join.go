package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/sandbox/internal/nsinit"
)

// Join starts a process in a running box (OCI exec): the init stage, in a
// re-exec of this binary, joins the namespaces of the box's pid 1 and forks
// the process, which runs the payload steps of its own Spec (rlimits,
// credentials, working directory, no_new_privs, Landlock, seccomp) and
// execs. The init stage's process exits at once (FlagDetach on OpFork), so
// the new process is re-parented to the caller's subreaper (an engine's
// conmon; the caller itself with PR_SET_CHILD_SUBREAPER).
//
// The namespaces are opened first (pid 1 is not dumpable: only the
// caller's namespace may open its /proc files), then joined in an order
// that works for a caller that owns the box's user namespace (the caller
// that created the box): the network, ipc, uts, cgroup and pid ones while
// still in the caller's own user namespace (a network namespace the box
// joined at its creation is owned by the caller's, where the box's has no
// say), then the box's user namespace, the mount namespace last. One the
// caller is already in is not joined. The mount namespace's root becomes
// the process's root.

// JoinOptions are what Join needs beyond the Spec.
type JoinOptions struct {
	// Stdio are the process's stdin, stdout and stderr (nil: /dev/null).
	Stdio [3]*os.File
	// Mapping replaces the mapping the Spec would plan (see CreateOptions).
	Mapping *idmap.Mapping
	// Cgroup, when set, moves the joining init stage's first process
	// (its pid) into the box's cgroup before it joins anything: the
	// process it starts is then born there, under the box's limits (an
	// OCI exec into a container with linux.resources).
	Cgroup func(pid int) error
}

// joinOrder is the order namespaces are joined in (see above).
var joinOrder = []struct {
	name string
	flag uint64
}{
	{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
	{"cgroup", unix.CLONE_NEWCGROUP}, {"pid", unix.CLONE_NEWPID}, {"user", unix.CLONE_NEWUSER},
	{"mnt", unix.CLONE_NEWNS},
}

// Joined is a process Join started.
type Joined struct {
	// Pid is its host pid.
	Pid int
	// Console is the master of its terminal (Spec.TTY: a terminal of the
	// box's own devpts, as a box's payload gets); nil without one.
	Console *os.File
}

// Join runs s's command in the box whose pid 1 is pid1 and returns the new
// process once it has execed (or the step that failed).
func Join(s Spec, pid1 int, o JoinOptions) (Joined, error) {
	if err := s.Validate(); err != nil {
		return Joined{}, err
	}
	if s.Limits.Any() || s.Timeout > 0 || s.MaxOutput > 0 || s.CPUTime > 0 || s.Net == "user" {
		return Joined{}, specErr("exec", "limits, timeouts, output caps and --net user are not supported for a joining process")
	}
	_, plan, err := prepare(&s, "")
	if err != nil {
		return Joined{}, err
	}
	if o.Mapping != nil {
		if plan, err = replan(&s, plan, *o.Mapping); err != nil {
			return Joined{}, err
		}
	}
	fork := -1
	for i, op := range plan.Ops {
		if op.Code == OpFork {
			fork = i
		}
	}
	if fork < 0 {
		return Joined{}, &SetupError{Step: "plan", Err: errors.New("the plan has no fork")}
	}
	// Not dumpable from the start: nothing in the box may ptrace this
	// process, or open its /proc/PID files, before its exec.
	ops := []Op{{Code: OpNotDumpable}}
	if o.Cgroup != nil {
		// The first process says it is there and waits (at OpNetHold,
		// where --net user's waits for its network stack) until
		// o.Cgroup has moved it.
		ops = append(ops, Op{Code: OpNetHold})
	}
	var paths []string
	var types []uint64
	for _, ns := range joinOrder {
		target := "/proc/" + strconv.Itoa(pid1) + "/ns/" + ns.name
		theirs, err := os.Readlink(target)
		if errors.Is(err, os.ErrPermission) {
			err = fmt.Errorf("%w (pid 1 is not dumpable: opening its namespaces needs CAP_SYS_PTRACE in the user namespace it was started in; "+
				"root has it, and so has root of an engine's user namespace, as rootless podman runs its runtime; a regular user has not)", err)
		}
		if err != nil {
			return Joined{}, &SetupError{Step: "join the box", Err: fmt.Errorf("pid 1 (%d): %w", pid1, err)}
		}
		if ours, _ := os.Readlink("/proc/self/ns/" + ns.name); ours == theirs {
			continue
		}
		paths, types = append(paths, target), append(types, ns.flag)
	}
	ops = append(ops, SetnsOp(paths, types))
	if s.TTY {
		// In the box's mount namespace: a terminal of its devpts.
		ops = append(ops, Op{Code: OpTTY})
	}
	ops = append(ops, Op{Code: OpFork, Flags: FlagDetach})
	plan.Ops = append(ops, plan.Ops[fork+1:]...)
	return startJoin(plan, o.Stdio, s.Args[0], o.Cgroup)
}

// replan builds the Plan again for another mapping, with the seccomp
// program prepare compiled.
func replan(s *Spec, plan *Plan, m idmap.Mapping) (*Plan, error) {
	var prog []byte
	for _, op := range plan.Ops {
		if op.Code == OpSeccomp {
			prog = []byte(op.Str[0])
		}
	}
	p, err := buildPlan(s, realHost, payloadSpec{seccomp: prog, mapping: m})
	if err != nil {
		return nil, &SetupError{Step: "plan", Err: err}
	}
	return p, nil
}

// startJoin runs the joining init stage and reads its messages to EOF:
// MSG_PID (the new process), MSG_TTY (its terminal's master),
// MSG_OP_ERROR (a step that failed).
func startJoin(plan *Plan, stdio [3]*os.File, command string, toCgroup func(int) error) (Joined, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Joined{}, &SetupError{Step: "sync socket", Err: os.NewSyscallError("socketpair", err)}
	}
	sock := os.NewFile(uintptr(fds[0]), "sandbox-sync")
	child := os.NewFile(uintptr(fds[1]), "sandbox-sync-child")
	defer sock.Close()
	enc := plan.Encode()
	msg := binary.LittleEndian.AppendUint32(nil, uint32(len(enc)))
	msg = binary.LittleEndian.AppendUint32(msg, 0)
	msg = append(msg, enc...)
	// The byte OpFork reads first (in a box's pid 1: "the first process
	// is reaped"); here nothing is to wait for. With toCgroup it goes
	// after the move, with the byte OpNetHold waits for.
	if toCgroup == nil {
		msg = append(msg, 1)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"sandbox-init"},
		Env:         []string{nsinit.EnvVar + "=3"},
		ExtraFiles:  []*os.File{child},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if f := stdio[0]; f != nil {
		cmd.Stdin = f
	}
	if f := stdio[1]; f != nil {
		cmd.Stdout = f
	}
	if f := stdio[2]; f != nil {
		cmd.Stderr = f
	}
	werr := make(chan error, 1)
	go func() {
		_, err := sock.Write(msg)
		werr <- err
	}()
	if err := cmd.Start(); err != nil {
		child.Close()
		return Joined{}, &SetupError{Step: "start the init stage", Err: err}
	}
	child.Close()
	var j Joined
	index, errno := -1, syscall.Errno(0)
	var moveErr error
	for {
		m, _, err := recvMsg(func(buf, oob []byte) (n, oobn int, err error) {
			for {
				n, oobn, _, _, err = unix.Recvmsg(fds[0], buf, oob, unix.MSG_CMSG_CLOEXEC)
				if err != unix.EINTR {
					return n, oobn, err
				}
			}
		})
		if err != nil {
			break
		}
		if m.fd >= 0 {
			if j.Console == nil {
				j.Console = os.NewFile(uintptr(m.fd), "sandbox-console")
			} else {
				unix.Close(m.fd)
			}
		}
		switch m.typ {
		case msgNet:
			// The first process waits at OpNetHold: nothing of it has
			// joined the box yet.
			if moveErr = toCgroup(cmd.Process.Pid); moveErr != nil {
				cmd.Process.Kill()
			} else if _, err := sock.Write([]byte{1, 1}); err != nil {
				moveErr = err
			}
		case msgPid:
			j.Pid = int(m.status)
		case msgOpError:
			if errno == 0 {
				index, errno = int(m.index), syscall.Errno(m.errno)
			}
		}
	}
	cmd.Wait()
	sendErr := <-werr
	fail := func(err error) (Joined, error) {
		if j.Console != nil {
			j.Console.Close()
		}
		return Joined{Pid: j.Pid}, err
	}
	if moveErr != nil {
		return fail(&SetupError{Step: "join the box's cgroup", Err: moveErr})
	}
	if errno != 0 {
		if index >= 0 && index < len(plan.Ops) && plan.Ops[index].Code == OpExec {
			return fail(&ExecError{Command: command, Err: errno})
		}
		return fail(opError(plan, index, errno, ""))
	}
	if sendErr != nil {
		return fail(&SetupError{Step: "send plan", Err: sendErr})
	}
	if j.Pid <= 0 {
		return fail(&SetupError{Step: "join the box", Err: errors.New("the process was not started")})
	}
	return j, nil
}
