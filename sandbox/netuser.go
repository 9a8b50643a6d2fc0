package sandbox

// --net user: the supervisor's side. At OpNetHold the init stage's first
// process has made the box's network namespace and waits; the supervisor
//
//  1. installs the egress policy (nftables) in it, through a helper: this
//     same binary, re-executed with _SANDBOX_NSENTER, whose C constructor
//     (internal/nsinit) joins the box's user and network namespaces before
//     the Go runtime starts, and whose init below then programs the rules
//     and exits. The Go runtime cannot setns(2) into a user namespace, and
//     the supervisor is not privileged in its own;
//  2. starts pasta on the namespace and waits until it has configured it;
//  3. sends the release byte: pid 1, and then the payload, start in a
//     network that is filtered and up.
//
// pasta lives as long as the box: the supervisor kills it when the box has
// ended, and its death signal kills it with the supervisor.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/network"
)

const (
	nsenterEnv   = "_SANDBOX_NSENTER"   // "USERNS_FD,NETNS_FD": joined by init.c's constructor
	netHelperEnv = "_SANDBOX_NETHELPER" // this process is the policy helper
	msgNet       = 6                    // the first process made the network namespace, waits (OpNetHold)
	// stackTimeout bounds the network's setup: the helper and pasta.
	stackTimeout = 10 * time.Second
)

// The policy helper's entry point: it runs in the box's user and network
// namespaces (joined before the runtime started), reads the Policy as JSON
// on stdin, installs it and exits.
func init() {
	if os.Getenv(netHelperEnv) == "" || os.Getenv(nsenterEnv) == "" {
		return
	}
	var p network.Policy
	err := json.NewDecoder(os.Stdin).Decode(&p)
	if err == nil {
		err = network.Install(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(ExitSetup)
	}
	os.Exit(0)
}

// netPolicy is the egress policy of a --net user box: the defaults, the
// host's own addresses, networks and gateways, and the flags.
func netPolicy(s *Spec) (*network.Policy, error) {
	var allow, deny []network.Rule
	for _, v := range s.AllowNet {
		r, err := network.ParseRule(v)
		if err != nil {
			return nil, err
		}
		allow = append(allow, r)
	}
	for _, v := range s.DenyNet {
		r, err := network.ParseRule(v)
		if err != nil {
			return nil, err
		}
		deny = append(deny, r)
	}
	h, err := network.ReadHostFacts()
	if err != nil {
		return nil, fmt.Errorf("read this host's addresses: %w", err)
	}
	p := network.NewPolicy(allow, deny, h)
	return &p, nil
}

// resolvConfText is the box's resolv.conf with --net user.
func resolvConfText() string {
	return "# sandbox --net user: DNS through pasta's forwarder\nnameserver " + network.DNSForward.String() + "\n"
}

// writeResolvConf returns the file bound over the box's /etc/resolv.conf:
// one per box, $TMPDIR/sandbox-UID/resolv-PID.conf (PID: the supervisor's),
// in a directory of the caller's own (mode 0711, not a symlink: checked,
// since another user may have made the name first; others may pass through
// it, as a root caller's box, whose init runs as nobody, must); the run
// removes it (remove), and the next run removes what a SIGKILLed
// supervisor left (sweepResolvConfs). Elsewhere (the directory is not the
// caller's), a file of its own in $TMPDIR, which the run removes too.
//
// One file per box, not one per caller: the bind is read-only, but a
// payload given --cap-add CAP_SYS_ADMIN and --seccomp off may remount it
// read-write, and it would then rewrite the DNS server of every other
// --net user box of the caller's (TestNetUserResolvConfPerBox).
func writeResolvConf() (path string, remove func(), err error) {
	text := resolvConfText()
	dir := filepath.Join(os.TempDir(), "sandbox-"+strconv.Itoa(os.Geteuid()))
	err = os.Mkdir(dir, 0o711)
	if err == nil {
		err = os.Chmod(dir, 0o711) // whatever the umask
	}
	if err == nil || errors.Is(err, fs.ErrExist) {
		fi, err := os.Lstat(dir)
		if err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if fi.IsDir() && ok && int(st.Uid) == os.Geteuid() && fi.Mode().Perm() == 0o711 {
				sweepResolvConfs(dir)
				p := filepath.Join(dir, "resolv-"+strconv.Itoa(os.Getpid())+".conf")
				// A new file renamed into place: the name is never
				// half written.
				if tmp, err := writeTemp(dir, text); err == nil {
					if err := os.Rename(tmp, p); err == nil {
						return p, func() { os.Remove(p) }, nil
					}
					os.Remove(tmp)
				}
			}
		}
	}
	p, err := writeTemp("", text)
	if err != nil {
		return "", nil, err
	}
	return p, func() { os.Remove(p) }, nil
}

// sweepResolvConfs removes, from the caller's directory, the resolv.conf
// files of supervisors that are gone (SIGKILLed: none removes its own
// then), and the one file per caller that earlier versions kept. A box
// that runs holds its file by its bind, not by its name.
func sweepResolvConfs(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if name == "resolv.conf" {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		pid, ok := strings.CutPrefix(name, "resolv-")
		if pid, ok = strings.CutSuffix(pid, ".conf"); !ok {
			continue
		}
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 || n == os.Getpid() {
			continue
		}
		// ESRCH: no such process; EPERM (another user's) cannot be, in
		// a directory of the caller's, but is left alone.
		if unix.Kill(n, 0) == unix.ESRCH {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// writeTemp writes text to a new file (mode 0644) in dir.
func writeTemp(dir, text string) (string, error) {
	f, err := os.CreateTemp(dir, "sandbox-resolv-*.conf")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// netSetup installs the policy in the namespaces of the waiting first
// process, whose /proc directory is proc (opened while it could not have
// been reaped: a pid reused since leads nowhere), and starts pasta on them.
func netSetup(pasta string, proc *os.File, p *network.Policy) (*network.Stack, error) {
	if proc == nil {
		return nil, fmt.Errorf("the init stage's /proc directory could not be opened")
	}
	open := func(name string) (*os.File, error) {
		fd, err := unix.Openat(int(proc.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: proc.Name() + "/" + name, Err: err}
		}
		return os.NewFile(uintptr(fd), proc.Name()+"/"+name), nil
	}
	userns, err := open("ns/user")
	if err != nil {
		return nil, err
	}
	defer userns.Close()
	netns, err := open("ns/net")
	if err != nil {
		return nil, err
	}
	defer netns.Close()
	in, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	helper := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"sandbox-net-policy"},
		Env:        []string{nsenterEnv + "=3,4", netHelperEnv + "=1"},
		ExtraFiles: []*os.File{userns, netns},
		Stdin:      strings.NewReader(string(in)),
		Stdout:     &out,
		Stderr:     &out,
		Dir:        "/",
		WaitDelay:  time.Second,
	}
	done := make(chan error, 1)
	if err := helper.Start(); err != nil {
		return nil, fmt.Errorf("egress policy: %w", err)
	}
	go func() { done <- helper.Wait() }()
	// pasta starts meanwhile: its setup does not depend on the rules, and
	// nothing of the box runs before both are done.
	type started struct {
		st  *network.Stack
		err error
	}
	stack := make(chan started, 1)
	go func() {
		st, err := network.StartStack(pasta, userns, netns, stackTimeout)
		stack <- started{st, err}
	}()
	select {
	case err = <-done:
	case <-time.After(stackTimeout):
		helper.Process.Kill()
		err = <-done
		if err == nil {
			err = fmt.Errorf("timed out after %s", stackTimeout)
		}
	}
	s := <-stack
	if err != nil {
		s.st.Stop()
		return nil, fmt.Errorf("egress policy: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return s.st, s.err
}
