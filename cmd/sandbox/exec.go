package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/internal/flagval"
	"github.com/sandbox-dev/sandbox/internal/outfile"
	"github.com/sandbox-dev/sandbox/sandbox"
)

type execCmd struct {
	Rootfs    string   `help:"New root from DIR (read-only); default: a read-only view of the host's /usr, /bin, /lib*, /etc." placeholder:"DIR" type:"existingdir"`
	Bind      []string `help:"Bind host path SRC read-write at DST (default: the same path); write a colon in a path as \\: and a backslash as \\\\." placeholder:"SRC[:DST]" sep:"none"`
	RoBind    []string `name:"ro-bind" help:"Bind host path SRC read-only (recursively) at DST." placeholder:"SRC[:DST]" sep:"none"`
	Tmpfs     []string `help:"Mount a fresh tmpfs at DST, of at most SIZE (default 512M); on /tmp or /dev/shm (default 64M) it resizes the box's own; escape a colon in DST as \\:." placeholder:"DST[:size=SIZE]" sep:"none"`
	Workdir   string   `short:"w" help:"Working directory inside the box." placeholder:"DIR"`
	Env       []string `help:"Set a variable inside (the environment is cleared but for PATH, TERM, LANG, HOME); the value is taken as written, commas included." placeholder:"KEY=VALUE" sep:"none"`
	KeepEnv   bool     `name:"keep-env" help:"Pass the caller's whole environment (secrets included)."`
	Hostname  string   `help:"Host name inside the box." default:"sandbox"`
	Net       string   `help:"Network: none (own namespace, loopback only), host, or user (own namespace joined to the internet by pasta; the host, the LAN and link-local addresses denied)." enum:"none,host,user" default:"none"`
	AllowNet  []string `name:"allow-net" help:"With --net user: allow these destinations, before any denial (e.g. a package mirror on the LAN)." placeholder:"CIDR[:PORT]" sep:"none"`
	DenyNet   []string `name:"deny-net" help:"With --net user: deny these destinations too." placeholder:"CIDR[:PORT]" sep:"none"`
	UID       int      `name:"uid" help:"User id inside the box." default:"0"`
	GID       int      `name:"gid" help:"Group id inside the box." default:"0"`
	Map       string   `help:"Id mapping: self (your id alone) or auto (also your /etc/subuid range, via newuidmap)." enum:"self,auto" default:"self"`
	Memory    string   `help:"Memory limit (cgroup), e.g. 256M; swap is off for the box." placeholder:"SIZE"`
	CPUs      float64  `name:"cpus" help:"CPU quota in cores (cgroup)." placeholder:"N"`
	Pids      int64    `help:"Most processes at once (cgroup); it replaces the default cap of 1024 (RLIMIT_NPROC)." placeholder:"N"`
	Rlimit    []string `help:"Resource limit NAME=VALUE (as, core, cpu, fsize, nofile, nproc, stack, ...); VALUE is N, SOFT:HARD or unlimited." placeholder:"NAME=VALUE" sep:"none"`
	Timeout   string   `help:"Wall-clock limit for the whole box (exit 124): seconds (10, 1.5) or a duration (500ms, 2m)." placeholder:"DURATION"`
	CPUTime   string   `name:"cpu-time" help:"CPU time limit of all the box's processes together (cgroup): seconds or a duration." placeholder:"DURATION"`
	MaxOutput string   `name:"max-output" help:"Limit of stdout plus stderr; the box is killed past it." placeholder:"SIZE"`
	Seccomp   string   `help:"Seccomp filter: default, off, or a Docker/OCI JSON profile FILE." default:"default"`
	Landlock  string   `help:"Landlock scoping of the payload from abstract unix sockets and signals outside the box (Linux 6.12+): default or off." enum:"default,off" default:"default"`
	CapAdd    []string `name:"cap-add" help:"Keep this capability (inside the box's namespaces)." placeholder:"CAP" sep:"none"`
	Inotify   string   `help:"Inotify instances and watches the box may hold (default 16:8192); the kernel charges them to your user." placeholder:"N[:WATCHES]"`
	Report    string   `help:"Write the result as one JSON object to FILE (opened before the box starts; a symlink or non-regular file is refused)." placeholder:"FILE"`
	TTY       bool     `name:"tty" short:"t" help:"A new terminal inside, relayed to yours (for interactive shells)."`
	DryRun    bool     `name:"dry-run" help:"Print the setup plan and exit."`

	Command []string `arg:"" passthrough:"" help:"The command and its arguments." name:"command"`

	reportFile *os.File // --report, opened before the box starts
}

// spec turns the flags into a sandbox.Spec; it makes no syscalls.
func (c *execCmd) spec() (sandbox.Spec, error) {
	s := sandbox.Spec{
		Args: c.Command, Rootfs: c.Rootfs, Workdir: c.Workdir, Env: c.Env,
		KeepEnv: c.KeepEnv, Hostname: c.Hostname, Net: c.Net, UID: c.UID, GID: c.GID,
		Map:     idmap.Mode(c.Map),
		Seccomp: c.Seccomp, Landlock: c.Landlock, CapAdd: c.CapAdd,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Accounting: c.Report != "", TTY: c.TTY,
		AllowNet: c.AllowNet, DenyNet: c.DenyNet,
	}
	// kong passes everything from the first positional on, "--" included;
	// a dash before any "--" is a flag kong did not know.
	if len(s.Args) > 0 && s.Args[0] == "--" {
		s.Args = s.Args[1:]
	} else if len(s.Args) > 0 && strings.HasPrefix(s.Args[0], "-") {
		return s, fmt.Errorf("unknown flag %s (see `sandbox exec --help`; put the command after --)", s.Args[0])
	}
	// kong gives each repeated flag in order, but not the order between
	// flags; the mounts are taken from os.Args so CLI order is mount order.
	mounts, err := mountsInOrder(os.Args, c)
	if err != nil {
		return s, err
	}
	s.Mounts = mounts
	if c.Memory != "" {
		n, err := flagval.Size(c.Memory)
		if err != nil {
			return s, fmt.Errorf("--memory: %w", err)
		}
		s.Limits.Memory = n
	}
	if c.MaxOutput != "" {
		n, err := flagval.Size(c.MaxOutput)
		if err != nil {
			return s, fmt.Errorf("--max-output: %w", err)
		}
		s.MaxOutput = n
	}
	for _, d := range []struct {
		flag, val string
		to        *time.Duration
	}{{"--timeout", c.Timeout, &s.Timeout}, {"--cpu-time", c.CPUTime, &s.CPUTime}} {
		if d.val == "" {
			continue
		}
		v, err := flagval.Duration(d.val)
		if err != nil {
			return s, fmt.Errorf("%s: %w", d.flag, err)
		}
		*d.to = v
	}
	s.Limits.CPUs, s.Limits.Pids = c.CPUs, c.Pids
	if c.Inotify != "" {
		inst, watches, hasWatches := strings.Cut(c.Inotify, ":")
		var err error
		if s.InotifyInstances, err = strconv.Atoi(inst); err != nil || s.InotifyInstances <= 0 {
			return s, fmt.Errorf("--inotify %s: want N or N:WATCHES, positive integers", c.Inotify)
		}
		if hasWatches {
			if s.InotifyWatches, err = strconv.Atoi(watches); err != nil || s.InotifyWatches <= 0 {
				return s, fmt.Errorf("--inotify %s: want N or N:WATCHES, positive integers", c.Inotify)
			}
		}
	}
	for _, r := range c.Rlimit {
		rl, err := flagval.Rlimit(r)
		if err != nil {
			return s, fmt.Errorf("--rlimit %s: %w", r, err)
		}
		s.Rlimits = append(s.Rlimits, rl)
	}
	return s, s.Validate()
}

func (c *execCmd) Run() error {
	// The report is opened before anything else, so that nothing the box
	// does to the path afterwards (a symlink planted in a bound directory,
	// a FIFO) matters: it is written through this descriptor.
	if err := c.openReport(); !c.DryRun && err != nil {
		return &exitError{code: sandbox.ExitSetup, err: err}
	}
	defer c.reportFile.Close()
	s, err := c.spec()
	if err != nil {
		if rerr := c.writeReport(sandbox.Result{Status: sandbox.StatusSetupError, ExitCode: sandbox.ExitSetup}, s, err); rerr != nil {
			fmt.Fprintln(os.Stderr, "sandbox: report:", rerr)
		}
		return &exitError{code: sandbox.ExitSetup, err: err}
	}
	if c.DryRun {
		return printPlan(s)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	s.Signals = sigs
	res, err := sandbox.Run(context.Background(), s)
	// A report that cannot be written is said even when the run failed
	// too: a grader reading it must know why it is missing.
	if rerr := c.writeReport(res, s, err); rerr != nil {
		fmt.Fprintln(os.Stderr, "sandbox: report:", rerr)
	}
	if err != nil {
		return &exitError{code: res.ExitCode, err: err}
	}
	switch res.Status {
	case sandbox.StatusTimeout:
		fmt.Fprintf(os.Stderr, "sandbox: timed out after %s\n", s.Timeout)
	case sandbox.StatusCPUTime:
		fmt.Fprintf(os.Stderr, "sandbox: CPU time limit %s exceeded\n", s.CPUTime)
	case sandbox.StatusOutputLimit:
		fmt.Fprintf(os.Stderr, "sandbox: output limit %s exceeded\n", c.MaxOutput)
	case sandbox.StatusOOM:
		fmt.Fprintf(os.Stderr, "sandbox: out of memory (limit %s)\n", c.Memory)
	case sandbox.StatusCancelled:
		fmt.Fprintf(os.Stderr, "sandbox: cancelled by %s\n", unix.SignalName(syscall.Signal(res.Signal)))
	}
	if res.ExitCode != 0 {
		return &exitError{code: res.ExitCode}
	}
	return nil
}

func printPlan(s sandbox.Spec) error {
	p, err := sandbox.DryRun(s)
	if err != nil {
		return &exitError{code: sandbox.ExitSetup, err: err}
	}
	for i, op := range p.Ops {
		fmt.Printf("%3d  %s\n", i, op)
	}
	for _, n := range p.Notes {
		fmt.Printf("note: %s\n", n)
	}
	if p.Net != nil {
		for _, l := range p.Net.Lines() {
			fmt.Printf("net: %s\n", l)
		}
	}
	return nil
}

func (c *execCmd) writeReport(res sandbox.Result, s sandbox.Spec, runErr error) error {
	if c.Report == "" {
		return nil
	}
	r := sandbox.NewReport(res, &s, runErr)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	// Through the descriptor opened before the box started, whatever the
	// path names now; truncated only now, so that a run that could not
	// start leaves an old report in place until the new one is written.
	if err := c.reportFile.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", c.Report, err)
	}
	if _, err := c.reportFile.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return c.reportStillThere(append(b, '\n'))
}

// reportStillThere writes the report again at its path when the payload
// replaced the file there (renamed it away in a bound directory and left
// its own report in its place): a grader reading the path must read this
// report, not the box's. Every process of the box is gone by now, so the
// path is opened anew (outfile.Open: no symlink, a regular file only).
func (c *execCmd) reportStillThere(b []byte) error {
	was, err := c.reportFile.Stat()
	if err != nil {
		return err
	}
	f, err := outfile.Open(c.Report)
	if err != nil {
		return fmt.Errorf("%s was replaced during the run, and cannot be written again: %w", c.Report, err)
	}
	defer f.Close()
	if now, err := f.Stat(); err == nil && os.SameFile(was, now) {
		return nil
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return fmt.Errorf("%s was replaced during the run (a directory the box could write holds it); written again", c.Report)
}

// openReport opens --report FILE before anything runs (outfile.Open: no
// symlink, nothing but a regular file, not truncated until written).
func (c *execCmd) openReport() error {
	if c.Report == "" {
		return nil
	}
	f, err := outfile.Open(c.Report)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	c.reportFile = f
	return nil
}

// mountsInOrder reads --bind, --ro-bind and --tmpfs from the raw arguments,
// in the order given, up to the "--" before the command.
func mountsInOrder(args []string, c *execCmd) ([]sandbox.Mount, error) {
	var out []sandbox.Mount
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		typ := strings.TrimPrefix(name, "--")
		if typ != "bind" && typ != "ro-bind" && typ != "tmpfs" || !strings.HasPrefix(name, "--") {
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs a value", name)
			}
			i++
			val = args[i]
		}
		var m sandbox.Mount
		var err error
		if typ == "tmpfs" {
			m, err = flagval.Tmpfs(val)
		} else {
			m, err = flagval.Bind(typ, val)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if len(out) != len(c.Bind)+len(c.RoBind)+len(c.Tmpfs) {
		return nil, errors.New("mount flags: could not read them in order; give each as --flag=VALUE")
	}
	return out, nil
}
