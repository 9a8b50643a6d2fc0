package network

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoStack means pasta is not installed; the text names the package.
var ErrNoStack = errors.New("--net user needs pasta, which is not installed (install it: apt-get install passt)")

// StackPath finds pasta in PATH.
func StackPath() (string, error) {
	if p, err := exec.LookPath("pasta"); err == nil {
		return p, nil
	}
	return "", ErrNoStack
}

// Stack is a running pasta joined to one box's network namespace.
type Stack struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// StackArgs are pasta's options for a box (besides --userns, --netns and
// the pid file):
//   - --config-net: pasta sets up the box's interface, addresses (the
//     host's, as pasta copies them) and routes, IPv4 and IPv6;
//   - --no-map-gw: the gateway address is not mapped to the host's
//     loopback, the way pasta otherwise opens to the host's services;
//   - -t/-u none: nothing of the host is forwarded into the box;
//   - -T/-U none: the box's loopback is not spliced to the host's bound
//     ports (pasta's default, "auto", would hand it every port the host
//     listens on, loopback included);
//   - --dns-forward: DNS to DNSForward goes to the host's resolver;
//   - -f: pasta stays the supervisor's child, so that its death signal
//     (PR_SET_PDEATHSIG) ends it with the supervisor.
func StackArgs() []string {
	return []string{"--config-net", "--no-map-gw", "-t", "none", "-u", "none", "-T", "none", "-U", "none",
		"--dns-forward", DNSForward.String(), "-f", "-q"}
}

// StartStack starts pasta on the user and network namespaces userns and
// netns (a box's, held open by the caller) and waits until pasta has
// configured the network namespace: pasta writes its pid file only after
// that, and the "file" here is a pipe. It gives up after timeout.
func StartStack(path string, userns, netns *os.File, timeout time.Duration) (*Stack, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// The namespaces are handed to pasta as descriptors: a root caller's
	// first process has switched to an unprivileged id and is not
	// dumpable, and pasta, which drops its capabilities early, could not
	// open its /proc files.
	args := append(StackArgs(), "-P", "/proc/self/fd/3", "--userns", "/proc/self/fd/4", "--netns", "/proc/self/fd/5")
	if os.Geteuid() == 0 {
		// A root caller's box has a user namespace owned by root, which
		// pasta could not join as nobody, where it goes by default.
		args = append(args, "--runas", "0:0")
	}
	s := &Stack{stderr: &bytes.Buffer{}, done: make(chan struct{})}
	s.cmd = &exec.Cmd{
		Path:       path,
		Args:       append([]string{"pasta"}, args...),
		Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		ExtraFiles: []*os.File{w, userns, netns},
		Stderr:     s.stderr,
		Dir:        "/",
		// The supervisor's death (SIGKILL included) ends pasta. pasta
		// with -f does not fork, so the signal stays with it.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true},
	}
	if err := s.cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start pasta: %w", err)
	}
	w.Close()
	// Before anything waits for pasta: its pid is not reused meanwhile.
	capErr := capFiles(s.cmd.Process.Pid)
	go func() { s.cmd.Wait(); close(s.done) }()
	if capErr != nil {
		s.Stop()
		return nil, fmt.Errorf("pasta: limit its open files: %w", capErr)
	}
	ready := make(chan error, 1)
	go func() {
		// One line, the pid; EOF before it: pasta is gone.
		line, err := bufio.NewReader(io.LimitReader(r, 64)).ReadString('\n')
		if strings.TrimSpace(line) != "" {
			err = nil
		} else if err == nil || err == io.EOF {
			err = errors.New("exited before configuring the network")
		}
		ready <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err = <-ready:
		if err == nil {
			// pasta wrote its pid: configured.
			return s, nil
		}
	case <-t.C:
		err = fmt.Errorf("did not configure the network within %s", timeout)
	}
	s.Stop()
	return nil, fmt.Errorf("pasta %s: %w%s", strings.Join(args, " "), err, s.messages())
}

// StackMaxFiles caps pasta's open files (RLIMIT_NOFILE, hard and soft):
// each connection of the box's holds one or two of pasta's descriptors
// (its host socket, a timer), and a host socket is kernel memory and an
// ephemeral port of the host's, outside every limit of the box's (pasta is
// not in its cgroup). Without it pasta raises its limit to the caller's
// hard limit, and a box held 9,910 connections to one host, a third of the
// host's ephemeral ports to it. About 4,000 connections at once.
const StackMaxFiles = 8192

// capFiles lowers process pid's RLIMIT_NOFILE to StackMaxFiles (never
// raises it). pasta raises its own soft limit to its hard one, which a
// process without CAP_SYS_RESOURCE cannot raise; a root caller's pasta
// drops its capabilities (--runas) before it serves the box.
func capFiles(pid int) error {
	var cur unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
		return err
	}
	lim := unix.Rlimit{Cur: min(cur.Cur, StackMaxFiles), Max: min(cur.Max, StackMaxFiles)}
	return unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil)
}

// messages is what pasta said on stderr, less its complaints about a
// missing syslog.
func (s *Stack) messages() string {
	var keep []string
	for _, l := range strings.Split(s.stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Failed to send") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	msg := ": " + strings.Join(keep, "; ")
	if strings.Contains(msg, "tun") {
		msg += " (pasta needs /dev/net/tun readable and writable by you: Debian's udev makes it mode 0666; as root: chmod 0666 /dev/net/tun)"
	}
	return msg
}

// Stop kills pasta and waits for it.
func (s *Stack) Stop() {
	if s == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
}
