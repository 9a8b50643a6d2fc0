package oci

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// The lifecycle. `create` builds the box with sandbox.Create and exits;
// its pid 1 waits, set up, for the byte that forks the payload, and is
// re-parented to the engine's subreaper (conmon, a containerd shim), which
// waits for it as for runc's container process. A small holder process
// (this binary again, setsid, its stdio /dev/null) keeps the box's sync
// socket: it writes that byte when `start` asks through ROOT/ID/start.sock,
// then reads how the box ended and records it in end.json. No supervisor
// stays behind as pid 1's parent: limits of a created container can only
// come from its cgroup.

// holderName is the hidden command the holder runs.
const holderName = "sandbox-hold"

// CreateOptions are create's flags.
type CreateOptions struct {
	Bundle        string
	PidFile       string
	ConsoleSocket string
}

// Create makes container id from the bundle, ready to start.
func Create(root, id string, o CreateOptions) error {
	c, d, err := create(root, id, o, true)
	if err != nil {
		return err
	}
	d.Sync.Close()
	c.close()
	return nil
}

// create does Create's work; with holder false the caller keeps the sync
// socket (run) and no holder is started.
func create(root, id string, o CreateOptions, holder bool) (*container, *sandbox.Detached, error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	if o.Bundle == "" {
		o.Bundle = "."
	}
	cfg, err := LoadBundle(o.Bundle)
	if err != nil {
		return nil, nil, err
	}
	res, err := ToSpec(cfg, ReadHost())
	if err != nil {
		return nil, nil, err
	}
	switch {
	case res.Spec.TTY && o.ConsoleSocket == "":
		return nil, nil, errors.New("process.terminal needs --console-socket (this runtime does not relay a terminal itself)")
	case !res.Spec.TTY && o.ConsoleSocket != "":
		return nil, nil, errors.New("--console-socket without process.terminal")
	}
	if err := setOOMScoreAdj(res.OOMScoreAdj); err != nil {
		return nil, nil, err
	}
	// Past the checks: the state directory. mkdir is the claim on the id.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, nil, fmt.Errorf("state root: %w", err)
	}
	if err := checkRoot(root); err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, fmt.Errorf("container %s exists", id)
		}
		return nil, nil, fmt.Errorf("state directory: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err == nil {
		err = unix.Flock(fd, unix.LOCK_EX)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	c := &container{dir: dir, fd: fd, rec: record{
		ID: id, Bundle: cfg.Bundle, Created: time.Now().UTC(),
		Annotations: cfg.Spec.Annotations, Notes: res.Notes,
	}}
	var d *sandbox.Detached
	fail := func(err error) (*container, *sandbox.Detached, error) {
		if d != nil {
			unix.Kill(d.Pid, unix.SIGKILL)
			d.Sync.Close()
			if d.Cgroup != nil {
				// Handed off or not, the leaves go (and what is in them).
				cgroup.RemoveLeaves(d.Cgroup.Dirs(), sandbox.CgroupPrefix())
			}
		}
		os.RemoveAll(dir)
		c.close()
		return nil, nil, err
	}
	// The config as create read it, for exec: the bundle may change (or
	// go) after create, and whoever can write it (a payload it is bound
	// into) must not choose a later exec's capabilities or filter.
	if data, err := json.Marshal(cfg.Spec); err != nil {
		return fail(err)
	} else if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		return fail(err)
	}
	if res.Seccomp != nil {
		p := filepath.Join(dir, "seccomp.json")
		if err := os.WriteFile(p, res.Seccomp, 0o600); err != nil {
			return fail(err)
		}
		res.Spec.Seccomp = p
	}
	var ln *net.UnixListener
	if holder {
		a := &net.UnixAddr{Name: c.sockPath(), Net: "unix"}
		if ln, err = net.ListenUnix("unix", a); err != nil {
			return fail(fmt.Errorf("start socket: %w", err))
		}
		// The holder listens on it; this process's copy goes, the path stays.
		ln.SetUnlinkOnClose(false)
		defer ln.Close()
	}
	hst := specs.State{Version: specs.Version, ID: id, Bundle: cfg.Bundle, Annotations: cfg.Spec.Annotations}
	createHooks, startHooks, err := containerHooks(cfg.Spec.Hooks, hst)
	if err != nil {
		return fail(err)
	}
	// prestart (deprecated) and createRuntime: once the box is built, in
	// the runtime's namespaces; a failure fails create, and fail removes
	// the box. With createContainer hooks, which the spec runs after
	// them, pid 1 waits for them before its pivot_root (CreateRuntime);
	// without, once pid 1 waits to start.
	runtimeHooks := func(pid int) error {
		h := cfg.Spec.Hooks
		if h == nil {
			return nil
		}
		st := hst
		st.Status, st.Pid = specs.StateCreated, pid
		if err := runHooks("prestart", h.Prestart, st); err != nil {
			return err
		}
		return runHooks("createRuntime", h.CreateRuntime, st)
	}
	var atHold func(int) error
	if len(createHooks) > 0 {
		atHold = runtimeHooks
	}
	d, err = sandbox.Create(res.Spec, sandbox.CreateOptions{
		Stdio: engineStdio(res.Spec.TTY), NetNS: res.NetNS, Mapping: res.Mapping,
		CreateContainer: createHooks, StartContainer: startHooks, CreateRuntime: atHold,
		// Host root (a root engine): the box runs as nobody or root's
		// range, which cannot reach the engine's per-container files
		// or make mount points in its rootfs; the binds are opened as
		// root before the box's user namespace (docs/oci.md).
		CallerMounts: os.Geteuid() == 0 && !inUserNS(), CgroupPath: res.CgroupsPath})
	if errors.Is(err, cgroup.ErrPath) {
		err = fieldErr("linux.cgroupsPath", "%v", err)
	}
	if err != nil {
		return fail(err)
	}
	if d.Console != nil {
		err := sendConsole(o.ConsoleSocket, d.Console, cfg.Spec.Process.ConsoleSize)
		d.Console.Close()
		if err != nil {
			return fail(fmt.Errorf("--console-socket: %w", err))
		}
	}
	c.rec.Pid = d.Pid
	c.rec.Notes = append(c.rec.Notes, d.Notes...)
	if d.Cgroup != nil {
		c.rec.Cgroups = d.Cgroup.Dirs()
	}
	if _, start, ok := procStat(d.Pid); ok {
		c.rec.PidStart = start
	} else {
		return fail(errors.New("pid 1 is gone"))
	}
	if atHold == nil {
		if err := runtimeHooks(d.Pid); err != nil {
			return fail(err)
		}
	}
	if holder {
		lf, err := ln.File()
		if err != nil {
			return fail(err)
		}
		defer lf.Close()
		// The directory for end.json, opened anew (an flock belongs to
		// the open file: c.fd's stays this process's).
		df, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fail(err)
		}
		defer df.Close()
		extra := []*os.File{d.Sync, lf, df}
		if d.Cgroup != nil {
			// The holder lives as long as the box and keeps the leaves'
			// locks (fds 6 on, untouched): no sweep of a later box takes
			// the container's cgroup for a dead supervisor's.
			locks, err := d.Cgroup.HandOff()
			if err != nil {
				return fail(err)
			}
			for _, f := range locks {
				defer f.Close()
			}
			extra = append(extra, locks...)
		}
		h := &exec.Cmd{
			Path:        "/proc/self/exe",
			Args:        []string{"sandbox-oci", "--root", root, holderName, id},
			Env:         []string{"PATH=/usr/bin:/bin"},
			ExtraFiles:  extra,
			SysProcAttr: &syscall.SysProcAttr{Setsid: true},
		}
		if err := h.Start(); err != nil {
			return fail(fmt.Errorf("start the holder: %w", err))
		}
		c.rec.HolderPid = h.Process.Pid
		h.Process.Release()
	}
	if err := c.save(); err != nil {
		return fail(err)
	}
	if o.PidFile != "" {
		if err := writeAtomic(o.PidFile, []byte(strconv.Itoa(d.Pid))); err != nil {
			return fail(fmt.Errorf("--pid-file: %w", err))
		}
	}
	return c, d, nil
}

// Hold is the holder's life (see above): fds 3, 4 and 5 are the box's
// sync socket, the start socket's listener and the state directory; fds 6
// on, when there are any, hold the locks of the box's cgroup leaves, kept
// open until the holder exits.
func Hold(root, id string) error {
	sync := os.NewFile(3, "sandbox-sync")
	lf := os.NewFile(4, "start.sock")
	ln, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return err
	}
	// The directory as it is now: a delete and a new create of the same
	// id make another one, which this holder's end.json must not reach
	// (a file cannot be made in a directory removed since).
	dfd := 5 // opened by create: the holder may first run after a delete
	defer unix.Close(dfd)
	ended := make(chan sandbox.DetachedEnd, 1)
	started := make(chan struct{})
	go func() {
		<-started
		ended <- sandbox.WaitDetached(sync)
	}()
	conns := make(chan net.Conn)
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- cn
		}
	}()
	// Until the start pid 1 sends nothing: anything readable (a message,
	// EOF) means it is ending (a kill, a delete). Peeked, not consumed.
	gone := make(chan struct{})
	go func() {
		rc, err := sync.SyscallConn()
		if err != nil {
			return
		}
		b := make([]byte, 1)
		rc.Read(func(fd uintptr) bool {
			_, _, rerr := unix.Recvfrom(int(fd), b, unix.MSG_PEEK)
			return rerr != unix.EAGAIN
		})
		close(gone)
	}()
	for waiting := true; waiting; {
		select {
		case cn := <-conns:
			r := bufio.NewReader(cn)
			line, _ := r.ReadString('\n')
			if line != "start\n" {
				cn.Close()
				continue
			}
			err := sandbox.StartDetached(sync)
			if err != nil {
				fmt.Fprintf(cn, "error %v\n", err)
			} else {
				fmt.Fprintln(cn, "ok")
			}
			cn.Close()
			close(started)
			waiting = false
		case <-gone:
			close(started)
			waiting = false
		}
	}
	ln.Close()
	e := <-ended
	out := end{Known: e.Known, Status: int(e.Status)}
	if e.Errno != 0 {
		out.Error = "the payload's " + e.SetupFailure()
	}
	data, _ := json.Marshal(out)
	// Under the directory's lock, as every command changes it: a delete
	// that saw pid 1 gone (an engine deletes as soon as it has reaped
	// it) may be removing the directory right now, and a file made
	// after its RemoveAll read the directory would fail its rmdir
	// (ENOTEMPTY). Once delete is done the directory is gone, and
	// nothing can be made in it.
	unix.Flock(dfd, unix.LOCK_EX)
	writeAtomic("/proc/self/fd/"+strconv.Itoa(dfd)+"/end.json", data)
	return nil
}

// Start starts a created container's payload.
func Start(root, id string) error {
	c, err := openState(root, id)
	if err != nil {
		return err
	}
	defer c.close()
	if st := c.status(); st != specs.StateCreated {
		return fmt.Errorf("container %s is %s, not created", id, st)
	}
	cn, err := net.DialTimeout("unix", c.sockPath(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	defer cn.Close()
	cn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := cn.Write([]byte("start\n")); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	line, err := bufio.NewReader(cn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("start %s: no answer from its holder: %w", id, err)
	}
	if line != "ok\n" {
		return fmt.Errorf("start %s: %s", id, line)
	}
	c.rec.Started = true
	if err := c.save(); err != nil {
		return err
	}
	c.postStart()
	return nil
}

// postStart runs the poststart hooks of create's copy of the config.
func (c *container) postStart() {
	if cfg := c.config(); cfg != nil && cfg.Spec.Hooks != nil {
		warnHooks("poststart", cfg.Spec.Hooks.Poststart, c.ociState())
	}
}

// config is create's copy of the bundle's config (nil, with a warning,
// when it cannot be read: a state directory of an older version).
func (c *container) config() *Config {
	cfg, err := loadConfig(c.rec.Bundle, filepath.Join(c.dir, "config.json"))
	if err != nil {
		warn(fmt.Sprintf("container %s: its config for the hooks: %v", c.rec.ID, err))
		return nil
	}
	return cfg
}

// State returns the OCI state of a container.
func State(root, id string) (specs.State, error) {
	c, err := openState(root, id)
	if err != nil {
		return specs.State{}, err
	}
	defer c.close()
	return c.ociState(), nil
}

// Kill sends sig to the container's pid 1, which passes SIGINT, SIGTERM,
// SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the payload; SIGKILL ends the
// whole box (its pid namespace). With all, every process of the box's
// cgroup gets sig as well (runc's --all); without a cgroup pid 1 alone.
func Kill(root, id string, sig syscall.Signal, all bool) error {
	c, err := openState(root, id)
	if err != nil {
		return err
	}
	defer c.close()
	if st := c.status(); st == specs.StateStopped {
		return fmt.Errorf("container %s is not running", id)
	}
	if err := c.signal(sig); err != nil || !all || len(c.rec.Cgroups) == 0 {
		return err
	}
	// pid 1 was signalled through its pidfd above.
	return cgroup.Signal(c.rec.Cgroups, sandbox.CgroupPrefix(), sig, c.rec.Pid)
}

// Delete removes a container's state; a container not stopped is refused,
// or with force killed first.
func Delete(root, id string, force bool) error {
	c, err := open(root, id)
	if c == nil {
		if force && errors.Is(err, ErrNotExist) {
			return nil
		}
		return err
	}
	defer c.close()
	if err == nil {
		st := c.status()
		if st == specs.StateRunning && !force {
			return fmt.Errorf("container %s is running: stop it, or delete --force", id)
		}
		if st != specs.StateStopped {
			// A created container is deleted as runc does: it never ran.
			c.signal(unix.SIGKILL)
			if !c.waitGone(10 * time.Second) {
				return fmt.Errorf("container %s: pid %d did not end", id, c.rec.Pid)
			}
		}
	}
	// The cgroup, after pid 1 (and with it the pid namespace) is gone;
	// the state stays while it cannot be removed, for another delete.
	if err := cgroup.RemoveLeaves(c.rec.Cgroups, sandbox.CgroupPrefix()); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	// poststop: once the container is gone, with its last state.
	var cfg *Config
	if err == nil {
		cfg = c.config()
	}
	st := c.ociState()
	if err := os.RemoveAll(c.dir); err != nil {
		return err
	}
	if cfg != nil && cfg.Spec.Hooks != nil {
		warnHooks("poststop", cfg.Spec.Hooks.Poststop, st)
	}
	return nil
}

// Run creates and starts a container, waits for it, deletes it, and
// returns its exit code.
func Run(root, id string, o CreateOptions) (int, error) {
	c, d, err := create(root, id, o, false)
	if err != nil {
		return 125, err
	}
	defer func() {
		cfg := c.config()
		st := c.ociState()
		if d.Cgroup != nil {
			d.Cgroup.Kill()
			d.Cgroup.Delete()
		}
		os.RemoveAll(c.dir)
		c.close()
		if cfg != nil && cfg.Spec.Hooks != nil {
			warnHooks("poststop", cfg.Spec.Hooks.Poststop, st)
		}
	}()
	c.rec.Started = true
	c.save()
	if err := sandbox.StartDetached(d.Sync); err != nil {
		return 125, err
	}
	c.postStart()
	e := d.Wait()
	if e.Errno != 0 {
		Log("error", "the payload did not start: "+e.SetupFailure())
	}
	// pid 1 is this process's child here (the creator's).
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(d.Pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	st := e.Status
	if !e.Known {
		st = syscall.WaitStatus(ws)
	}
	switch {
	case st.Signaled():
		return 128 + int(st.Signal()), nil
	default:
		return st.ExitStatus(), nil
	}
}

// engineStdio are the stdio the box is given: the engine's (create's), or,
// with a terminal, none (/dev/null): the payload's are the terminal's, and
// the box must not hold the engine's pipes open. containerd's runc shim
// reads create's and exec's output until EOF, which a box that kept them
// would never give (runc's init drops them once it has the terminal).
func engineStdio(tty bool) [3]*os.File {
	if tty {
		return [3]*os.File{}
	}
	return [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
}

// sendConsole passes the terminal's master to the engine's socket
// (SCM_RIGHTS), as runc does: conmon relays it from there.
func sendConsole(path string, master *os.File, size *specs.Box) error {
	if size != nil {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)})
	}
	cn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	defer cn.Close()
	_, _, err = cn.WriteMsgUnix([]byte("/dev/ptmx"), unix.UnixRights(int(master.Fd())), nil)
	return err
}

// ExecOptions are exec's flags.
type ExecOptions struct {
	// Process is a process.json (an OCI process object); empty: the
	// config's process with Args.
	Process       string
	Args          []string
	Detach        bool
	PidFile       string
	Tty           bool // with Args: a terminal
	ConsoleSocket string
}

// Exec runs a process in a running container. Detached, it returns once
// the process has execed (re-parented to the engine's subreaper);
// otherwise it waits for it and returns its exit code.
func Exec(root, id string, o ExecOptions) (int, error) {
	c, err := openState(root, id)
	if err != nil {
		return 125, err
	}
	// pid 1 is named to Join by its number, which the joining init stage
	// opens as /proc/PID/ns/*. A pidfd taken now, with the start time
	// checked after it, tells afterwards whether pid 1 lived all along:
	// while it lives its number cannot be another process's, so what
	// was joined was the box.
	pidfd, perr := unix.PidfdOpen(c.rec.Pid, 0)
	if perr == nil {
		defer unix.Close(pidfd)
	}
	st := c.status()
	pid1, dir, bundle, cgroups := c.rec.Pid, c.dir, c.rec.Bundle, c.rec.Cgroups
	c.close()
	if st != specs.StateRunning && st != specs.StateCreated {
		return 125, fmt.Errorf("container %s is %s", id, st)
	}
	if perr != nil && !errors.Is(perr, unix.ENOSYS) {
		return 125, fmt.Errorf("container %s: pid 1 (%d): %w", id, pid1, perr)
	}
	cfg, err := loadConfig(bundle, filepath.Join(dir, "config.json"))
	if err != nil {
		return 125, err
	}
	if o.Process != "" {
		data, err := os.ReadFile(o.Process)
		if err != nil {
			return 125, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return 125, fmt.Errorf("--process %s: %w", o.Process, err)
		}
		cfg.Spec.Process = &p
	} else if len(o.Args) > 0 && cfg.Spec.Process != nil {
		cfg.Spec.Process.Args = o.Args
		cfg.Spec.Process.Terminal = o.Tty
	}
	res, err := ToSpec(cfg, ReadHost())
	if err != nil {
		return 125, err
	}
	switch {
	case res.Spec.TTY && o.ConsoleSocket == "":
		return 125, errors.New("a terminal needs --console-socket (this runtime does not relay a terminal itself)")
	case !res.Spec.TTY && o.ConsoleSocket != "":
		return 125, errors.New("--console-socket without a terminal")
	}
	if res.Seccomp != nil {
		res.Spec.Seccomp = filepath.Join(dir, "seccomp.json")
	}
	if err := setOOMScoreAdj(res.OOMScoreAdj); err != nil {
		return 125, err
	}
	// The container's limits are its cgroup's, which the process joins
	// (as runc's exec does); it makes none of its own.
	res.Spec.Limits = cgroup.Limits{}
	var toCgroup func(int) error
	if len(cgroups) > 0 {
		toCgroup = func(pid int) error { return cgroup.AddToLeaves(cgroups, sandbox.CgroupPrefix(), pid) }
	}
	if !o.Detach {
		// The process is the joining init stage's child, which exits at
		// once: as a subreaper this process gets it, and waits for it.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 125, err
		}
	}
	j, err := sandbox.Join(res.Spec, pid1, sandbox.JoinOptions{
		Stdio: engineStdio(res.Spec.TTY), Mapping: res.Mapping, Cgroup: toCgroup})
	pid := j.Pid
	if err == nil && perr == nil {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 0); n != 0 {
			// pid 1 ended during the join: its number may have been
			// another process's by the time it was opened.
			unix.Kill(pid, unix.SIGKILL)
			err = fmt.Errorf("container %s: pid 1 ended during exec", id)
		}
	}
	if err == nil && j.Console != nil {
		err = sendConsole(o.ConsoleSocket, j.Console, cfg.Spec.Process.ConsoleSize)
		j.Console.Close()
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			err = fmt.Errorf("--console-socket: %w", err)
		}
	}
	if err != nil {
		var ee *sandbox.ExecError
		if errors.As(err, &ee) {
			return sandbox.ExitCode(err), err
		}
		return 125, err
	}
	if o.PidFile != "" {
		if err := writeAtomic(o.PidFile, []byte(strconv.Itoa(pid))); err != nil {
			return 125, fmt.Errorf("--pid-file: %w", err)
		}
	}
	if o.Detach {
		return 0, nil
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			if err != nil {
				return 125, fmt.Errorf("wait for %d: %w", pid, err)
			}
			break
		}
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// setOOMScoreAdj gives the runtime process the config's oom_score_adj, so
// that the box it starts inherits it (fork keeps it, and no step of the
// box's changes it). Raising it is open to anyone; lowering it below the
// runtime's needs CAP_SYS_RESOURCE, and fails create otherwise.
func setOOMScoreAdj(v *int) error {
	if v == nil {
		return nil
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*v)), 0); err != nil {
		return fieldErr("process.oomScoreAdj", "%d: %v (below the runtime's own it needs CAP_SYS_RESOURCE)", *v, err)
	}
	return nil
}
