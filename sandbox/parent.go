package sandbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/sandbox/internal/nsinit"
	"github.com/sandbox-dev/sandbox/seccomp"
)

// ErrUserNSDisabled means the kernel refused to create a user namespace for
// this user; the error text names the knob that is set.
var ErrUserNSDisabled = errors.New("unprivileged user namespaces are disabled on this host")

// cgroupName prefixes the name of a box's cgroup (cgroup.New); the soak test
// gives its boxes their own, to tell its leaves from other tests' boxes.
var cgroupName = "sandbox"

// cpuPoll is how often the CPU time of a box is read when --cpu-time is set.
const cpuPoll = 20 * time.Millisecond

// memPoll is how often the memory a box holds is sampled for its peak (see
// cgroup.HeldMemory); a process that lives shorter is still counted by its
// largest resident set.
const memPoll = 10 * time.Millisecond

// Messages from the init stage; init.c writes the same layout.
const (
	msgOpError = 1
	msgExit    = 2
	msgTTY     = 3
	msgUserns  = 4 // the first process made its user namespace, waits for its maps
	msgPid     = 5 // pid 1 exists; status is its host pid (from the first process), or 0 (from pid 1: its pid is in the credentials)
	msgSize    = 16
)

type initMsg struct {
	typ, index, errno, status int32
	fd                        int // passed with the message, or -1
}

// Run executes the Spec and waits for the box to finish. A Result is
// returned in every case; err is non-nil when the box could not be set up
// (*SpecError, *SetupError) or the command could not be executed (*ExecError).
// When Run returns, nothing that ran in the box is left running.
func Run(ctx context.Context, s Spec) (Result, error) {
	start := time.Now()
	res := Result{Status: StatusSetupError, ExitCode: ExitSetup}
	fail := func(err error) (Result, error) {
		res.WallTime = time.Since(start)
		return res, err
	}
	if err := s.Validate(); err != nil {
		return fail(err)
	}

	// --net user: pasta must be there, and the box gets a resolv.conf
	// naming its DNS forwarder.
	var pasta, resolv string
	if s.Net == "user" {
		var err error
		if pasta, err = network.StackPath(); err != nil {
			return fail(&SetupError{Step: "network", Err: err})
		}
		var remove func()
		if resolv, remove, err = writeResolvConf(); err != nil {
			return fail(&SetupError{Step: "network: resolv.conf", Err: err})
		}
		if remove != nil {
			defer remove()
		}
	}

	// 1. Decide: the id mapping, the seccomp program, the Plan.
	mapping, plan, err := prepare(&s, resolv)
	if err != nil {
		return fail(err)
	}

	// 2. The cgroup, before the box exists, so that it is born limited.
	var cg *cgroup.Box
	if s.Limits.Any() || s.CPUTime > 0 || s.Accounting {
		cg, err = cgroup.New(cgroupName, s.Limits)
		if err != nil && (s.Limits.Any() || s.CPUTime > 0) {
			return fail(&SetupError{Step: "limits", Err: err})
		}
		if err != nil {
			cg = nil // accounting only: the run goes on with rusage numbers
		}
		if cg != nil && s.CPUTime > 0 && !cg.CanMeasureCPU() {
			cg.Delete()
			return fail(&SetupError{Step: "cgroup", Err: fmt.Errorf("--cpu-time needs the cpuacct controller, which this cgroup cannot use: %w", cgroup.ErrNoAccounting)})
		}
	}
	if cg != nil {
		defer cg.Delete()
	}

	// 3. Start the init stage, cloned into the new namespaces, with the Plan
	// already waiting in its socket.
	sv := &supervisor{spec: &s, cg: cg, start: start, pasta: pasta}
	if err := sv.launch(mapping, plan.Encode()); err != nil {
		return fail(err)
	}
	// 4. Wait, enforcing the limits; when the init stage has made its user
	// namespace, map its ids, put it in its cgroup and release it, if it
	// was told to wait for that (release).
	return sv.wait(ctx, plan, mapping)
}

// DryRun validates the Spec and returns the Plan Run would execute, without
// starting anything.
func DryRun(s Spec) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	_, plan, err := prepare(&s, "<a file of the supervisor's: "+strings.TrimSpace(strings.ReplaceAll(resolvConfText(), "\n", "; "))+">")
	return plan, err
}

// prepare makes every decision of a run: the id mapping, the seccomp
// program (a broken profile fails here, before any process exists) and the
// Plan.
func prepare(s *Spec, resolvConf string) (idmap.Mapping, *Plan, error) {
	mapping, err := planMapping(s)
	if err != nil {
		return mapping, nil, &SetupError{Step: "id mapping", Err: err}
	}
	var prog []byte
	switch s.Seccomp {
	case "", "default":
		prog, err = seccomp.DefaultProgram()
	case "off":
	default:
		var p *seccomp.Profile
		if p, err = seccomp.LoadFile(s.Seccomp); err == nil {
			// Capability conditions in a Docker profile mean what they
			// mean in Docker: the capabilities the payload keeps.
			prog, err = p.CompileFor(s.CapAdd)
			if err == nil {
				// A profile that denies what the box needs to start
				// would show up as the payload's crash; refuse it here.
				err = seccomp.CheckStartable(prog)
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", s.Seccomp, err)
			}
		}
	}
	if err != nil {
		return mapping, nil, &SetupError{Step: "seccomp profile", Err: err}
	}
	plan, err := buildPlan(s, realHost, payloadSpec{seccomp: prog, mapping: mapping, resolvConf: resolvConf})
	if err != nil {
		return mapping, nil, &SetupError{Step: "plan", Err: err}
	}
	if s.Net == "user" {
		if plan.Net, err = netPolicy(s); err != nil {
			return mapping, nil, &SetupError{Step: "network policy", Err: err}
		}
	}
	return mapping, plan, nil
}

// planMapping reads what the id mapping needs and asks idmap for the plan.
func planMapping(s *Spec) (idmap.Mapping, error) {
	req := idmap.Request{
		Mode: s.Map, UID: s.UID, GID: s.GID,
		CallerUID: os.Getuid(), CallerGID: os.Getgid(),
	}
	if req.Mode == "" {
		req.Mode = idmap.ModeSelf
	}
	// Subordinate ranges are read only for --map auto: the default path
	// costs no file reads, and a root caller's --map self maps to nobody
	// without asking getsubids (which costs milliseconds when root has no
	// /etc/subuid line).
	if req.Mode == idmap.ModeAuto {
		name := strconv.Itoa(req.CallerUID)
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		req.CallerName = name
		var err error
		if req.SubUIDs, _, err = idmap.SubIDs("uid", name, req.CallerUID); err != nil && req.Mode == idmap.ModeAuto {
			return idmap.Mapping{}, err
		}
		if req.SubGIDs, _, err = idmap.SubIDs("gid", name, req.CallerUID); err != nil && req.Mode == idmap.ModeAuto {
			return idmap.Mapping{}, err
		}
	}
	return idmap.Plan(req)
}

type supervisor struct {
	spec *Spec
	cg   *cgroup.Box
	cmd  *exec.Cmd
	// procDir is the first process's /proc/PID, opened before anything
	// could reap it, where a root caller's maps are written (release):
	// by then it may have died and its pid been reused.
	procDir    *os.File
	procDirErr error
	sock       *os.File // the supervisor's end of the sync socket
	hold       bool     // the init stage waits for a release byte after the Plan
	start      time.Time

	msgs    chan initMsg // closed by readMsgs at EOF: pid 1 and the payload are gone
	output  atomic.Int64
	overrun chan struct{} // closed when --max-output is exceeded
	copies  chan error    // one per output copier
	ncopy   int

	planSent    chan error       // the result of sending a late Plan (see launch); nil if sent early
	spawned     chan struct{}    // closed by readMsgs once box is set, or at EOF
	boxMu       sync.Mutex       // box: set by readMsgs, read by kill and signal
	box         *os.Process      // pid 1, the supervisor's child (OpSpawn); nil until then, or if it never started
	boxState    *os.ProcessState // how pid 1 ended
	setupErr    error            // a failure of release
	waitErr     error            // cmd.Wait's error, if it failed
	overrunOnce sync.Once
	outMu       sync.Mutex
	reserved    int64       // output bytes granted under --max-output
	outputs     []*os.File  // the read ends of the box's output, for the drain
	stdin       *stdinRelay // the caller's stdin into the box, if any

	closeAfterStart []*os.File // the box's ends of pipes and terminals
	restore         func()     // puts the caller's terminal back, with --tty

	// direct: Create's stdio, the engine's, given to the box as they are.
	direct *[3]*os.File

	opErr *initMsg // the first op that failed, if any
	exit  *initMsg // the payload's wait status, once it exited

	// heldPeak is the most memory the box was seen holding (memPoll).
	heldPeak int64
	// cancelSig is the signal that cancelled the run (StatusCancelled).
	cancelSig syscall.Signal

	// CPU time of the box's processes other than pid 1 when a limit
	// killed them, for a box without CPU accounting in a cgroup (see stop
	// in wait).
	lostUser, lostSys time.Duration
	// cpu samples the box's processes, for a box without CPU accounting
	// in a cgroup (see cpuSampler).
	cpu cpuSampler

	// --net user: pasta's path; the running stack; the result of the
	// network's setup (netSetup), non-nil while it is pending.
	pasta      string
	netProcDir *os.File // the first process's /proc/PID, opened at its start
	stack      *network.Stack
	netDone    chan netResult
	planErr    error
	planRead   bool
}

type netResult struct {
	stack *network.Stack
	err   error
}

// maxEarlyPlan is the largest Plan written before the child exists: it must
// fit in the socket's buffer, or the write would wait for a reader that has
// not been started.
const maxEarlyPlan = 64 << 10

func (sv *supervisor) launch(m idmap.Mapping, plan []byte) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return &SetupError{Step: "sync socket", Err: os.NewSyscallError("socketpair", err)}
	}
	// Every message carries its sender's pid (SCM_CREDENTIALS, in this
	// process's pid namespace): pid 1 tells its host pid so (see readMsgs).
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return &SetupError{Step: "sync socket", Err: os.NewSyscallError("setsockopt SO_PASSCRED", err)}
	}
	if sv.direct == nil {
		// Non-blocking, so that os.NewFile hands it to the runtime's
		// poller: readMsgs then parks instead of holding a thread in
		// recvmsg for the box's whole life (see awaitExit). Not for
		// Create's socket, which goes on to a holder process as it is
		// (O_NONBLOCK belongs to the open file, not to this descriptor).
		if err := unix.SetNonblock(fds[0], true); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return &SetupError{Step: "sync socket", Err: os.NewSyscallError("fcntl O_NONBLOCK", err)}
		}
	}
	sv.sock = os.NewFile(uintptr(fds[0]), "sandbox-sync")
	child := os.NewFile(uintptr(fds[1]), "sandbox-sync-child")
	defer child.Close()

	// The child waits for a release byte only when something must happen
	// between its start and its first op: the helpers write its id maps, or
	// it must be moved into a v1 cgroup. Otherwise the Plan is sent before
	// the clone and the child starts on it at once: no round trip.
	bornInCgroup := false
	if sv.cg != nil {
		_, bornInCgroup = sv.cg.FD()
	}
	sv.hold = !m.ChildWrites() || (sv.cg != nil && !bornInCgroup) || testHooks.hold || testHooks.release != nil
	msg := make([]byte, 8, 8+len(plan))
	binary.LittleEndian.PutUint32(msg, uint32(len(plan)))
	if sv.hold {
		binary.LittleEndian.PutUint32(msg[4:], 1)
	}
	msg = append(msg, plan...)
	early := len(msg) <= maxEarlyPlan
	if early {
		if _, err := sv.sock.Write(msg); err != nil {
			sv.sock.Close()
			return &SetupError{Step: "send plan", Err: err}
		}
	}
	defer func() {
		if !early && sv.cmd != nil {
			// A Plan too large for the socket's buffer (a huge
			// environment) goes once the child reads. release waits for
			// it before the release byte: both share the stream, and a
			// byte ahead of the Plan would be read as its length.
			sv.planSent = make(chan error, 1)
			hook := testHooks.beforeLatePlan // read here: a test resets it when Run returns
			go func() {
				if hook != nil {
					hook()
				}
				_, err := sv.sock.Write(msg)
				sv.planSent <- err
			}()
		}
	}()

	// No namespace flags: the init stage makes the namespaces itself
	// (OpUserns, OpUnshare), so Go starts it with CLONE_VFORK|CLONE_VM and
	// copies nothing of this process. A clone with CLONE_NEWUSER cannot
	// share memory, and forking a Go process (its page tables, the
	// copy-on-write faults of every running thread) cost more CPU than the
	// rest of the launch together.
	attr := &syscall.SysProcAttr{
		// Killing the supervisor kills the init stage; pid 1 of the box,
		// the supervisor's own child, has the same death signal.
		Pdeathsig: syscall.SIGKILL,
	}
	if sv.cg != nil {
		if fd, ok := sv.cg.FD(); ok {
			attr.UseCgroupFD, attr.CgroupFD = true, fd
		}
	}
	cmd := &exec.Cmd{
		Path:        nsinit.Path(), // the small init from a sealed memfd, or this binary
		Args:        []string{"sandbox-init"},
		Env:         []string{nsinit.EnvVar + "=3"},
		ExtraFiles:  []*os.File{child},
		SysProcAttr: attr,
	}
	if err := sv.stdio(cmd); err != nil {
		sv.closeEnds()
		return err
	}
	if err := cmd.Start(); err != nil {
		sv.closeEnds()
		return &SetupError{Step: "start the init stage", Err: err}
	}
	sv.cmd = cmd
	if !m.ChildWrites() && !m.Helpers {
		// Nothing waits for it yet (waitAll starts in wait), so the pid
		// is still its own.
		sv.procDir, sv.procDirErr = os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid))
	}
	if sv.spec.Net == "user" {
		// The same, for the namespaces netSetup hands to pasta.
		sv.netProcDir, _ = os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid))
	}
	// Close our copies of the box's ends of its output pipes or terminal,
	// so that EOF means the box is done writing.
	for _, f := range sv.closeAfterStart {
		f.Close()
	}
	sv.closeAfterStart = nil
	sv.msgs = make(chan initMsg, 4)
	sv.spawned = make(chan struct{})
	go sv.readMsgs()
	return nil
}

// stdio wires the box's stdin, stdout and stderr. Nothing of the caller's
// is passed: a terminal would let the box change it for good (stty, modes,
// line discipline) or write to it past --max-output, and a file would let
// it seek, truncate, fchmod or reopen it through /proc/self/fd. The box gets
// pipes (stdin read-only), relayed by the supervisor (SECURITY.md, "What
// the box is handed").
func (sv *supervisor) stdio(cmd *exec.Cmd) error {
	s := sv.spec
	sv.overrun = make(chan struct{})
	sv.copies = make(chan error, 2)
	if sv.direct != nil {
		return sv.directStdio(cmd)
	}
	if s.TTY {
		return sv.ttyStdio(cmd)
	}
	if s.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return &SetupError{Step: "stdin pipe", Err: err}
		}
		cmd.Stdin = r
		sv.closeAfterStart = append(sv.closeAfterStart, r)
		if sv.stdin, err = startStdinRelay(w, s.Stdin, true); err != nil {
			w.Close()
			return &SetupError{Step: "stdin pipe", Err: err}
		}
	}
	if sameFile(s.Stdout, s.Stderr) {
		// 2>&1: one pipe for both keeps their order as written.
		wr, err := sv.outputPipe(s.Stdout)
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = wr, wr
		return nil
	}
	for _, w := range []struct {
		dst io.Writer
		set *io.Writer
	}{{s.Stdout, &cmd.Stdout}, {s.Stderr, &cmd.Stderr}} {
		if w.dst == nil && s.MaxOutput == 0 {
			continue // /dev/null: nothing to count
		}
		wr, err := sv.outputPipe(w.dst)
		if err != nil {
			return err
		}
		*w.set = wr
	}
	return nil
}

// release finishes what the init stage waits for (OpUserns, with hold): the
// maps it could not write itself, and a v1 cgroup move; then the release
// byte. wait calls it when the init stage says its user namespace exists.
func (sv *supervisor) release(m idmap.Mapping) error {
	if testHooks.release != nil {
		if err := testHooks.release(); err != nil {
			return &SetupError{Step: "test hook", Err: err}
		}
	}
	pid := sv.cmd.Process.Pid
	switch {
	case m.Helpers:
		if err := m.WriteFromParent(pid); err != nil {
			return &SetupError{Step: "id mapping", Err: err}
		}
	case !m.ChildWrites():
		err := sv.procDirErr
		if err == nil {
			err = m.WriteFilesAt(sv.procDir)
		}
		if err != nil {
			return &SetupError{Step: "id mapping", Err: err}
		}
	}
	if sv.cg != nil {
		if _, ok := sv.cg.FD(); !ok {
			if err := sv.cg.AddProc(pid); err != nil {
				return &SetupError{Step: "cgroup", Err: err}
			}
		}
	}
	return sv.releaseByte()
}

// releaseByte lets the init stage go on from where it waits (OpUserns with
// hold, OpNetHold), once all of a late Plan is sent: both share the
// stream, and a byte ahead of the Plan would be read as its length.
func (sv *supervisor) releaseByte() error {
	if sv.planSent != nil && !sv.planRead {
		sv.planErr, sv.planRead = <-sv.planSent, true
	}
	if sv.planErr != nil {
		return &SetupError{Step: "send plan", Err: sv.planErr}
	}
	if _, err := sv.sock.Write([]byte{1}); err != nil {
		return &SetupError{Step: "release the init stage", Err: err}
	}
	return nil
}

// closeEnds closes the sync socket and our copies of the box's ends of its
// pipes; the copiers then read EOF once the box's own copies are gone too.
func (sv *supervisor) closeEnds() {
	sv.abandon() // the stdin relay, and the box's ends and the read ends of its output
	sv.closeAfterStart, sv.outputs = nil, nil
	if sv.sock != nil {
		sv.sock.Close()
	}
}

// readMsgs passes the init stage's messages to wait until EOF, then closes
// sv.msgs: wait reads them all, whenever they come, so this never blocks
// for good however many are pending when pid 1 exits.
func (sv *supervisor) readMsgs() {
	defer close(sv.msgs)
	defer sv.setBox(0) // at EOF: no pid 1 will come
	rc, err := sv.sock.SyscallConn()
	if err != nil {
		return
	}
	for {
		m, sender, err := recvMsg(pollRecv(rc))
		if err != nil {
			return
		}
		if m.typ == msgPid {
			// Here, not in wait's loop: waitAll needs pid 1 as soon as
			// the first process has exited, and this message came
			// before that exit. Both the first process (status: the
			// pid it cloned) and pid 1 itself (status 0: its pid is the
			// sender's) say it, whichever comes first: a first process
			// killed between its clone and its report must not leave a
			// pid 1 the supervisor cannot name.
			pid := int(m.status)
			if pid == 0 {
				pid = sender
			}
			if pid > 0 {
				sv.setBox(pid)
			}
			continue
		}
		sv.msgs <- m
	}
}

// recvMsg reads one message of the init stage, fixed-size on a stream: recv
// is one recvmsg(2) on the sync socket. A descriptor may ride on a message
// as SCM_RIGHTS (the first is kept in m.fd, any other closed), and each
// carries its sender's credentials where SO_PASSCRED is on (sender: its
// pid, else 0). EOF is io.EOF.
func recvMsg(recv func(buf, oob []byte) (n, oobn int, err error)) (m initMsg, sender int, err error) {
	buf := make([]byte, msgSize)
	oob := make([]byte, unix.CmsgSpace(4)+unix.CmsgSpace(unix.SizeofUcred))
	fd := -1
	for got := 0; got < msgSize; {
		n, oobn, err := recv(buf[got:], oob)
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			return initMsg{}, 0, err
		}
		got += n
		cms, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for i := range cms {
			if fds, err := unix.ParseUnixRights(&cms[i]); err == nil {
				for _, f := range fds {
					if fd < 0 {
						fd = f
					} else {
						unix.Close(f)
					}
				}
			} else if uc, err := unix.ParseUnixCredentials(&cms[i]); err == nil {
				sender = int(uc.Pid)
			}
		}
	}
	return initMsg{
		typ:    int32(binary.LittleEndian.Uint32(buf)),
		index:  int32(binary.LittleEndian.Uint32(buf[4:])),
		errno:  int32(binary.LittleEndian.Uint32(buf[8:])),
		status: int32(binary.LittleEndian.Uint32(buf[12:])),
		fd:     fd,
	}, sender, nil
}

// pollRecv is recvMsg's recv on a socket the Go runtime's poller holds.
func pollRecv(rc syscall.RawConn) func(buf, oob []byte) (int, int, error) {
	return func(buf, oob []byte) (n, oobn int, err error) {
		if cerr := rc.Read(func(s uintptr) bool {
			n, oobn, _, _, err = unix.Recvmsg(int(s), buf, oob, unix.MSG_CMSG_CLOEXEC)
			return err != unix.EAGAIN
		}); cerr != nil {
			err = cerr
		}
		return n, oobn, err
	}
}

// setBox records the box's pid 1 (0: none will come) and closes spawned,
// once.
func (sv *supervisor) setBox(pid int) {
	sv.boxMu.Lock()
	defer sv.boxMu.Unlock()
	select {
	case <-sv.spawned:
		return
	default:
	}
	if pid > 0 {
		// pid 1 is this process's child (CLONE_PARENT) and stays a zombie
		// until waited for, so the pid cannot be reused before that.
		if p, err := os.FindProcess(pid); err == nil {
			sv.box = p
		}
	}
	close(sv.spawned)
}

// boxProcess is pid 1, or nil before (or without) it.
func (sv *supervisor) boxProcess() *os.Process {
	sv.boxMu.Lock()
	defer sv.boxMu.Unlock()
	return sv.box
}

// waitAll waits for the init stage's first process, which exits once it has
// spawned pid 1 (and said so), and then for pid 1, whose end is the box's.
func (sv *supervisor) waitAll() error {
	awaitExit(sv.cmd.Process.Pid)
	err := sv.cmd.Wait()
	// Reaped, the first process no longer counts against the box's
	// RLIMIT_NPROC: pid 1 waits for this byte before it forks the payload
	// (init.c, OP_FORK). An error means pid 1 is gone or never was.
	sv.sock.Write([]byte{1})
	<-sv.spawned
	if box := sv.boxProcess(); box != nil {
		awaitExit(box.Pid)
		st, berr := box.Wait()
		sv.boxState, err = st, berr
	}
	return err
}

// awaitExit returns once the child pid has exited (it is then a zombie,
// and the wait(2) that follows returns at once), parked in the runtime's
// network poller: a pidfd becomes readable when its process exits
// (pidfd_open(2)). A goroutine blocked in waitid instead holds an OS thread
// in a system call for the box's whole life, and the runtime's sysmon
// thread sleeps without a period only while every P is idle: with one in a
// system call it polls (every 20 µs, backing off to 10 ms), a tenth of the
// supervisor's CPU per box in a batch, half of which this saves
// (docs/performance.md). On any error it returns at once, and the caller's
// wait blocks as before. The pid cannot be reused before: it is an
// unreaped child of this process.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Each call looks whether the process has exited, and the poller
	// waits between calls. Looking first matters: Read clears a readiness
	// the poller saw before it was called (a process that exited between
	// pidfd_open and here), and the poller only reports a change after
	// that (edge-triggered). On a descriptor the poller could not take,
	// Read fails at once.
	rc.Read(func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err != nil && err != unix.EINTR || n > 0
	})
}

// state is how the box's pid 1 ended (or the init stage's first process,
// where there never was a pid 1); nil if wait could not tell.
func (sv *supervisor) state() *os.ProcessState {
	if sv.boxProcess() != nil {
		return sv.boxState
	}
	return sv.cmd.ProcessState
}

// signal passes a caller's signal to pid 1 (or, before it is known, to the
// first process, which ends the box on it), and tells whether pid 1 got it.
func (sv *supervisor) signal(sig os.Signal) bool {
	if box := sv.boxProcess(); box != nil {
		box.Signal(sig)
		return true
	}
	if sv.cmd != nil && sv.cmd.Process != nil {
		sv.cmd.Process.Signal(sig)
	}
	return false
}

func (sv *supervisor) kill() {
	// SIGKILL to pid 1 of the box ends its pid namespace: the kernel kills
	// every process in it. The first process of the init stage too, which
	// would otherwise go on to spawn one.
	if box := sv.boxProcess(); box != nil {
		box.Kill()
	}
	if sv.cmd != nil && sv.cmd.Process != nil {
		sv.cmd.Process.Kill()
	}
	if sv.cg != nil {
		sv.cg.Kill()
	}
}

func (sv *supervisor) wait(ctx context.Context, plan *Plan, mapping idmap.Mapping) (Result, error) {
	s := sv.spec
	waitDone := make(chan error, 1)
	go func() { waitDone <- sv.waitAll() }()
	exactCPU := sv.cg != nil && sv.cg.CanMeasureCPU()
	var sampleTick <-chan time.Time
	if !exactCPU {
		t := time.NewTicker(cpuSample)
		defer t.Stop()
		sampleTick = t.C
	}

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout - time.Since(sv.start))
		defer t.Stop()
		timeout = t.C
	}
	var cpuTick <-chan time.Time
	if s.CPUTime > 0 && sv.cg != nil {
		t := time.NewTicker(cpuPoll)
		defer t.Stop()
		cpuTick = t.C
	}
	var memTick <-chan time.Time
	if sv.cg != nil {
		if sv.cg.CanMeasureMemory() {
			t := time.NewTicker(memPoll)
			defer t.Stop()
			memTick = t.C
		}
	}
	var reason Status
	killed := false
	stop := func(r Status) {
		if reason == "" {
			reason = r
		}
		if !killed {
			killed = true
			if memTick != nil {
				sv.sampleMemory() // the last look before the kill frees it
			}
			if !exactCPU {
				// Without CPU accounting in a cgroup the CPU time comes
				// from wait4's rusage of pid 1, which counts only the
				// children it reaped: the processes the kill ends are
				// reaped by the kernel (zap_pid_ns_processes ignores
				// SIGCHLD) and their time would be lost. Read it just
				// before the kill.
				if box := sv.boxProcess(); box != nil {
					scan := scanBox(box.Pid)
					sv.lostUser, sv.lostSys = lostCPU(box.Pid, scan)
					sv.cpu.record(scan)
				}
			}
			sv.kill()
		}
	}
	msgs := sv.msgs
	// pid 1 may become known after a kill or a signal that reached only
	// the first process (it may already have cloned pid 1): it gets them
	// then.
	spawned := sv.spawned
	var early os.Signal // a signal sent before pid 1 was known
	// toFirst: a signal went to the first process, which ends on it
	// (init.c's setup_signal) and is not to be released: it may be gone,
	// and reaped, by then.
	toFirst := false
loop:
	for {
		select {
		case err := <-waitDone:
			sv.waitErr = err
			break loop
		case <-spawned:
			spawned = nil
			if box := sv.boxProcess(); box != nil {
				if killed {
					box.Kill()
				} else if early != nil {
					box.Signal(early)
				}
			}
		case m, ok := <-msgs:
			if !ok {
				msgs = nil // EOF; pid 1 is on its way out
				continue
			}
			if m.typ == msgNet {
				if killed || toFirst || sv.netDone != nil {
					continue
				}
				// In its own goroutine: pasta takes a while, and
				// limits and signals are watched meanwhile.
				done := make(chan netResult, 1)
				sv.netDone = done
				proc, pasta, policy := sv.netProcDir, sv.pasta, plan.Net
				go func() {
					st, err := netSetup(pasta, proc, policy)
					done <- netResult{st, err}
				}()
				continue
			}
			if m.typ == msgUserns {
				if killed || toFirst {
					continue // a limit or a cancel came first
				}
				if err := sv.release(mapping); err != nil {
					sv.setupErr = err
					stop(StatusSetupError)
				}
				continue
			}
			sv.note(m)
		case r := <-sv.netDone:
			sv.netDone = nil
			sv.stack = r.stack
			err := r.err
			if err != nil {
				err = &SetupError{Step: "network", Err: err}
			} else if !killed && !toFirst {
				err = sv.releaseByte()
			}
			if err != nil && !killed {
				sv.setupErr = err
				stop(StatusSetupError)
			}
		case <-sampleTick:
			if box := sv.boxProcess(); box != nil {
				sv.cpu.tick(box.Pid)
			}
		case <-timeout:
			stop(StatusTimeout)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				stop(StatusTimeout)
			} else {
				stop(StatusCancelled)
			}
			ctx = context.Background() // seen: do not select it again
		case <-cpuTick:
			if used, err := sv.cg.CPUUsage(); err == nil && used >= s.CPUTime {
				stop(StatusCPUTime)
			}
		case <-sv.overrun:
			stop(StatusOutputLimit)
		case <-memTick:
			sv.sampleMemory()
		case sig := <-s.Signals:
			if !sv.signal(sig) {
				toFirst = toFirst || endsFirst(sig)
				if spawned != nil {
					early = sig
				}
			}
			if n, ok := sig.(syscall.Signal); ok && cancels(n) {
				// The caller asked the run to stop: the payload gets
				// the signal to clean up; a second one kills the box.
				if reason == StatusCancelled {
					stop(StatusCancelled)
				} else if reason == "" {
					reason, sv.cancelSig = StatusCancelled, n
				}
			}
		}
	}
	// The box is gone; so goes its network stack (once its setup, bounded
	// by stackTimeout, has given up on the gone namespace).
	if sv.netDone != nil {
		r := <-sv.netDone
		sv.stack = r.stack
	}
	sv.stack.Stop()
	if sv.netProcDir != nil {
		sv.netProcDir.Close()
	}
	// The rest of the messages, up to EOF: pid 1 is gone, and with it every
	// holder of the socket's other end.
	if msgs != nil {
		for m := range msgs {
			sv.note(m)
		}
	}
	sv.sock.Close()
	if sv.procDir != nil {
		sv.procDir.Close()
	}
	sv.stdin.stop()
	sv.startDrain()
	for i := 0; i < sv.ncopy; i++ {
		<-sv.copies
	}
	select {
	case <-sv.overrun:
		// The box wrote past the limit and ended before the loop saw the
		// overrun (its last output was still in the pipe): it is the
		// same verdict.
		if reason == "" {
			reason = StatusOutputLimit
		}
	default:
	}
	if sv.restore != nil {
		sv.restore()
	}
	return sv.result(plan, reason)
}

// note records a message from the init stage.
func (sv *supervisor) note(m initMsg) {
	switch m.typ {
	case msgOpError:
		if sv.opErr == nil {
			sv.opErr = &m
		}
	case msgExit:
		sv.exit = &m
	case msgTTY:
		if m.fd >= 0 {
			// Non-blocking, so that os.File polls it and the drain's
			// deadline applies to it.
			setNonblock(m.fd)
			sv.relay(os.NewFile(uintptr(m.fd), "sandbox-tty"))
		}
	}
}

// endsFirst tells whether a signal ends the init stage's first process:
// the forwarded ones through its handler (setup_signal), the rest by their
// default action, but for those that default to nothing, stop or continue.
func endsFirst(sig os.Signal) bool {
	n, ok := sig.(syscall.Signal)
	if !ok {
		return false
	}
	switch n {
	case syscall.SIGCHLD, syscall.SIGCONT, syscall.SIGURG, syscall.SIGWINCH,
		syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		return false
	}
	return true
}

// cancels tells whether a signal to the supervisor means "stop this run":
// the ones a terminal, a service manager or a job runner sends for that.
func cancels(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT:
		return true
	}
	return false
}

// sampleMemory notes what the box holds now, for its peak.
func (sv *supervisor) sampleMemory() {
	if n, err := sv.cg.HeldMemory(); err == nil && n > sv.heldPeak {
		sv.heldPeak = n
	}
}

func (sv *supervisor) result(plan *Plan, reason Status) (Result, error) {
	res := Result{WallTime: time.Since(sv.start), OutputSize: sv.output.Load()}
	// ProcessState is nil when Wait failed: a caller that ignores SIGCHLD
	// has pid 1 reaped by the kernel (wait gives ECHILD). The payload's
	// status still came over the socket.
	if ps := sv.state(); ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			res.CPUUser = time.Duration(ru.Utime.Nano()) + sv.lostUser
			res.CPUSys = time.Duration(ru.Stime.Nano()) + sv.lostSys
			// The largest resident set of any one process of the box:
			// what the payload held where there is no cgroup to sample,
			// and the floor of the sampled figure for processes that
			// lived shorter than memPoll.
			res.PeakMemory = ru.Maxrss * 1024
		}
	}
	// Without a cgroup both figures are lower bounds: rusage misses the
	// processes the kernel reaped itself, the samples what ran between
	// the last one and each process's end. The larger is the better.
	if u, sy := sv.cpu.total(); u+sy > res.CPUUser+res.CPUSys {
		res.CPUUser, res.CPUSys = u, sy
	}
	if sv.cg != nil && sv.cg.CanMeasureCPU() {
		// The cgroup's counter covers every process of the box, however
		// it ended.
		res.CPUExact = true
	}
	res.PeakMemory = max(res.PeakMemory, sv.heldPeak, sv.cpu.peak)
	if sv.cg != nil {
		// Stats returns what it could read along with an error for the rest.
		if st, _ := sv.cg.Stats(); true {
			res.CgroupPeakMemory = st.PeakMemory
			if st.CPUUser+st.CPUSys > 0 {
				res.CPUUser, res.CPUSys = st.CPUUser, st.CPUSys
			}
			// The kernel's own counter, never a guess from a SIGKILL.
			res.OOMKilled = st.OOMKills > 0
		}
	}

	if sv.setupErr != nil {
		res.Status, res.ExitCode = StatusSetupError, ExitSetup
		return res, sv.setupErr
	}
	if e := sv.opErr; e != nil {
		errno := syscall.Errno(e.errno)
		if e.index >= 0 && int(e.index) < len(plan.Ops) && plan.Ops[e.index].Code == OpExec {
			err := &ExecError{Command: sv.spec.Args[0], Err: errno}
			res.Status, res.ExitCode = StatusExit, ExitCode(err)
			return res, err
		}
		res.Status, res.ExitCode = StatusSetupError, ExitSetup
		return res, opError(plan, int(e.index), errno, sv.spec.Rootfs)
	}

	// How the payload ended, if the init stage saw it end.
	ws := syscall.WaitStatus(0)
	switch {
	case sv.exit != nil:
		ws = syscall.WaitStatus(sv.exit.status)
	case sv.state() != nil:
		ws = sv.state().Sys().(syscall.WaitStatus)
	case reason == "":
		// Neither pid 1 nor wait said how the box ended: no verdict can
		// be given, and "ok" would be a guess.
		res.Status, res.ExitCode = StatusSetupError, ExitSetup
		return res, &SetupError{Step: "wait for the box", Err: fmt.Errorf("no exit status: %w", sv.waitErr)}
	}
	switch {
	case ws.Signaled():
		res.Status, res.Signal, res.ExitCode = StatusSignal, int(ws.Signal()), exitSignalsBase+int(ws.Signal())
	case ws.ExitStatus() != 0:
		res.Status, res.ExitCode = StatusExit, ws.ExitStatus()
	default:
		res.Status, res.ExitCode = StatusOK, 0
	}
	if sv.exit == nil && reason == "" && ws.Signaled() {
		// pid 1 itself was killed from outside before the payload ended.
		res.Signal = int(ws.Signal())
	}
	switch {
	case reason == StatusTimeout:
		res.Status, res.ExitCode = StatusTimeout, ExitTimeout
	case reason == StatusCancelled && sv.cancelSig != 0:
		// However the payload ended after the caller's signal (it may
		// have caught it and exited 0), the run was stopped from outside;
		// the status says so, and the exit status is the one of a
		// process the signal killed, as a shell expects.
		res.Status, res.Signal, res.ExitCode = StatusCancelled, int(sv.cancelSig), exitSignalsBase+int(sv.cancelSig)
	case reason != "":
		// The supervisor killed the box with SIGKILL; say so whatever the
		// payload died of in the race (SIGPIPE from the closed output
		// pipe, or an exit just before the kill), so that a limit always
		// gives the same exit status, and never 0.
		res.Status = reason
		res.Signal, res.ExitCode = int(syscall.SIGKILL), exitSignalsBase+int(syscall.SIGKILL)
	case res.OOMKilled && res.Status != StatusOK:
		res.Status = StatusOOM
	}
	return res, nil
}

// opError names the op that failed, with what the user can do about it.
func opError(plan *Plan, index int, errno syscall.Errno, rootfs string) error {
	step := "prepare the mount namespace (make / private, tmpfs on /tmp, pivot_root)"
	if index >= 0 && index < len(plan.Ops) {
		step = fmt.Sprintf("init step %d: %s", index, plan.Ops[index])
	} else if index >= len(plan.Ops) {
		step = "init: the plan ended without exec"
	}
	err := error(errno)
	var code OpCode
	if index >= 0 && index < len(plan.Ops) {
		code = plan.Ops[index].Code
	}
	switch {
	case code == OpUserns || code == OpUnshare:
		// The kernel, a sysctl or AppArmor refused the namespaces.
		return &SetupError{Step: "create namespaces (" + step + ")", Err: explainClone(errno)}
	case errno == syscall.ENOENT && index >= 0 && index < len(plan.Ops) && plan.Ops[index].Code == OpBind:
		err = fmt.Errorf("%w (does the source exist on the host, and is it visible to you?)", errno)
	case code == OpSysctl && (errno == syscall.EACCES || errno == syscall.EPERM || errno == syscall.ENOENT):
		err = fmt.Errorf("%w (the box's root may set only the sysctls of the namespaces it owns, and only those this kernel has)", errno)
	case rootfs != "" && (errno == syscall.EACCES || errno == syscall.EROFS):
		err = fmt.Errorf("%w (a mount point missing from --rootfs %s must be creatable by you: create it there, e.g. mkdir -p %s/proc %s/dev %s/tmp)", errno, rootfs, rootfs, rootfs, rootfs)
	case errno == syscall.EACCES || errno == syscall.EPERM:
		err = fmt.Errorf("%w (a rootless box can only bind what the calling user may read; a mount the host locked cannot be changed)", errno)
	}
	return &SetupError{Step: step, Err: err}
}

// explainClone turns a failure to create the namespaces into an error that
// names the knob which forbids it.
func explainClone(err error) error {
	if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	var why []string
	if read("/proc/sys/kernel/unprivileged_userns_clone") == "0" {
		why = append(why, "sysctl kernel.unprivileged_userns_clone=0 (set it to 1)")
	}
	if read("/proc/sys/user/max_user_namespaces") == "0" {
		why = append(why, "sysctl user.max_user_namespaces=0 (set it to e.g. 15000)")
	}
	if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
		why = append(why, "AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns=1 (set it to 0, or give the sandbox binary an AppArmor profile with `userns,`)")
	}
	if len(why) == 0 {
		return fmt.Errorf("%w (run `sandbox doctor` to see what this host supports)", err)
	}
	return fmt.Errorf("%w: %w: %s", ErrUserNSDisabled, err, strings.Join(why, "; "))
}
