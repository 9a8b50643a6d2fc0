package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/oci"
)

// The OCI runtime command line, run when the binary is invoked as
// sandbox-oci (bin/sandbox-oci is a link to bin/sandbox):
//
//	sandbox-oci [--root DIR] [--log FILE] [--log-format text|json] [--systemd-cgroup] COMMAND ...
//
// Engines (podman, containerd's shim) pass global flags of runc's; those
// this runtime has no use for are accepted and ignored, so that an engine
// does not fail on them.

// ociGlobals are the global flags, parsed by hand before the command: kong
// would refuse the ones it does not know.
type ociGlobals struct {
	root      string
	log       string
	logFormat string
}

func parseOCIGlobals(args []string) (ociGlobals, []string, error) {
	var g ociGlobals
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if a == "--" {
			i++
			break
		}
		if a == "--version" || a == "-v" || a == "--help" || a == "-h" {
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		name = "--" + strings.TrimLeft(name, "-")
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "--root":
			g.root, err = value()
		case "--log":
			g.log, err = value()
		case "--log-format":
			g.logFormat, err = value()
		case "--criu", "--rootless", "--cgroup-manager":
			_, err = value()
		default:
			// A flag of another runtime's (runc's --debug, crun's
			// --cgroup-manager=X): a boolean unless it has "=".
		}
		if err != nil {
			return g, nil, err
		}
	}
	if g.root == "" {
		g.root = oci.DefaultRoot()
	}
	return g, args[i:], nil
}

type ociCLI struct {
	Version  bool         `name:"version" short:"v" help:"Print the version."`
	Create   ociCreateCmd `cmd:"" help:"Create a container (its process waits for start)."`
	Start    ociIDCmd     `cmd:"" help:"Start a created container's process."`
	State    ociIDCmd     `cmd:"" help:"Print a container's state (JSON)."`
	Kill     ociKillCmd   `cmd:"" help:"Send a signal to a container."`
	Delete   ociDeleteCmd `cmd:"" help:"Delete a container."`
	Run      ociRunCmd    `cmd:"" help:"Create, start and wait for a container, then delete it."`
	Spec     ociSpecCmd   `cmd:"" help:"Write a rootless config.json."`
	Features struct{}     `cmd:"" help:"Print what this runtime implements (JSON)."`
	Exec     ociExecCmd   `cmd:"" help:"Run a process in a running container."`
	Ps       ociPsCmd     `cmd:"" help:"List a container's processes (a ps table, or a JSON array of host pids)."`
	Hold     ociIDCmd     `cmd:"" name:"sandbox-hold" hidden:""`
}

type ociIDCmd struct {
	ID string `arg:"" help:"Container id."`
}

type ociPsCmd struct {
	Format string   `name:"format" short:"f" default:"table" enum:"table,json" help:"table (the host's ps) or json (an array of host pids)."`
	ID     string   `arg:"" help:"Container id."`
	Args   []string `arg:"" optional:"" passthrough:"" help:"Options for ps (default -ef)."`
}

type ociCreateCmd struct {
	Bundle        string `short:"b" default:"." help:"The bundle directory."`
	PidFile       string `name:"pid-file" help:"Write pid 1's host pid here."`
	ConsoleSocket string `name:"console-socket" help:"Unix socket to send the terminal's master to."`
	NoPivot       bool   `name:"no-pivot" hidden:""`
	NoNewKeyring  bool   `name:"no-new-keyring" hidden:""`
	PreserveFds   int    `name:"preserve-fds" hidden:""`
	ID            string `arg:""`
}

type ociRunCmd struct {
	ociCreateCmd
	Detach bool `short:"d" help:"Detach (not supported yet)."`
}

type ociKillCmd struct {
	All    bool   `short:"a" help:"Signal every process of the container."`
	ID     string `arg:""`
	Signal string `arg:"" optional:"" default:"SIGTERM"`
}

type ociDeleteCmd struct {
	Force bool   `short:"f" help:"Kill the container first if it runs."`
	ID    string `arg:""`
}

type ociSpecCmd struct {
	Bundle   string `short:"b" default:"." help:"Where to write config.json."`
	Rootless bool   `help:"Rootless (the default config is rootless already)."`
}

type ociExecCmd struct {
	Process       string   `short:"p" help:"A process.json (an OCI process object) to run."`
	Detach        bool     `short:"d" help:"Return once the process runs (its engine waits for it)."`
	PidFile       string   `name:"pid-file" help:"Write the process's host pid here."`
	Tty           bool     `short:"t" help:"A terminal (with a command; a process.json says terminal)."`
	ConsoleSocket string   `name:"console-socket" help:"Unix socket to send the terminal's master to."`
	Cwd           string   `hidden:""`
	ID            string   `arg:""`
	Args          []string `arg:"" optional:"" passthrough:""`
}

// ociMain is main for sandbox-oci.
func ociMain() {
	g, rest, err := parseOCIGlobals(os.Args[1:])
	lg := &ociLog{}
	if err != nil {
		lg.fail(err)
	}
	lg.open(g.log, g.logFormat)
	oci.Log = lg.write
	var c ociCLI
	parser, err := kong.New(&c, kong.Name("sandbox-oci"),
		kong.Description("The OCI runtime interface of sandbox."),
		kong.Exit(func(code int) {
			if code != 0 {
				code = 1
			}
			os.Exit(code)
		}))
	if err != nil {
		lg.fail(err)
	}
	if len(rest) > 0 && (rest[0] == "--version" || rest[0] == "-v") {
		fmt.Printf("sandbox-oci version %s\nspec: %s\n", version, specs.Version)
		return
	}
	ctx, err := parser.Parse(rest)
	if err != nil {
		lg.fail(err)
	}
	code, err := runOCI(ctx.Command(), &c, g)
	if err != nil {
		lg.fail(err)
	}
	os.Exit(code)
}

func runOCI(cmd string, c *ociCLI, g ociGlobals) (int, error) {
	root := g.root
	// Descriptors an engine passes on (socket activation) are not handed
	// to the box yet: refused, not dropped.
	if c.Create.PreserveFds > 0 || c.Run.PreserveFds > 0 {
		return 1, errors.New("--preserve-fds: not supported yet")
	}
	switch cmd {
	case "create <id>":
		cr := c.Create
		return 0, oci.Create(root, cr.ID, oci.CreateOptions{Bundle: cr.Bundle, PidFile: cr.PidFile, ConsoleSocket: cr.ConsoleSocket})
	case "run <id>":
		if c.Run.Detach {
			return 1, errors.New("run --detach: not supported yet (use create, then start)")
		}
		cr := c.Run.ociCreateCmd
		return oci.Run(root, cr.ID, oci.CreateOptions{Bundle: cr.Bundle, PidFile: cr.PidFile, ConsoleSocket: cr.ConsoleSocket})
	case "start <id>":
		return 0, oci.Start(root, c.Start.ID)
	case "state <id>":
		st, err := oci.State(root, c.State.ID)
		if err != nil {
			return 1, err
		}
		return 0, printJSON(st)
	case "kill <id>", "kill <id> <signal>":
		sig, err := parseSignal(c.Kill.Signal)
		if err != nil {
			return 1, err
		}
		return 0, oci.Kill(root, c.Kill.ID, sig, c.Kill.All)
	case "delete <id>":
		return 0, oci.Delete(root, c.Delete.ID, c.Delete.Force)
	case "spec":
		p := filepath.Join(c.Spec.Bundle, "config.json")
		data, err := json.MarshalIndent(oci.DefaultSpec(), "", "\t")
		if err != nil {
			return 1, err
		}
		// O_EXCL: never over an existing file, nor through a symlink (a
		// dangling one planted in a directory others may write would
		// make the file it names).
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			return 1, fmt.Errorf("%s exists: remove it first", p)
		}
		if err != nil {
			return 1, err
		}
		_, err = f.Write(append(data, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return 0, err
	case "features":
		return 0, printJSON(oci.Features())
	case "sandbox-hold <id>":
		return 0, oci.Hold(root, c.Hold.ID)
	case "exec <id>", "exec <id> <args>":
		e := c.Exec
		if e.Cwd != "" {
			return 1, errors.New("exec --cwd: not supported (use --process)")
		}
		if e.Process == "" && len(e.Args) == 0 {
			return 1, errors.New("exec: give --process FILE or a command")
		}
		return oci.Exec(root, e.ID, oci.ExecOptions{Process: e.Process, Args: e.Args, Detach: e.Detach, PidFile: e.PidFile,
			Tty: e.Tty, ConsoleSocket: e.ConsoleSocket})
	case "ps <id>", "ps <id> <args>":
		pids, err := oci.Pids(root, c.Ps.ID)
		if err != nil {
			return 1, err
		}
		if c.Ps.Format == "json" {
			return 0, printJSON(pids)
		}
		out, err := oci.PsTable(pids, c.Ps.Args)
		if err != nil {
			return 1, err
		}
		_, err = os.Stdout.WriteString(out)
		return 0, err
	}
	return 1, fmt.Errorf("%s: not supported", cmd)
}

func printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(data, '\n'))
	return err
}

// parseSignal takes "TERM", "SIGTERM" or "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n := unix.SignalNum(name); n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// ociLog writes errors where the engine reads them: stderr, and --log in
// --log-format (json: one {"level","msg","time"} object a line, as runc's).
type ociLog struct {
	w    io.Writer
	json bool
}

func (l *ociLog) open(path, format string) {
	l.json = format == "json"
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err == nil {
		l.w = f
	}
}

func (l *ociLog) fail(err error) {
	l.write("error", err.Error())
	os.Exit(1)
}

func (l *ociLog) write(level, msg string) {
	prefix := "sandbox-oci: "
	if level != "error" {
		prefix += level + ": "
	}
	fmt.Fprintln(os.Stderr, prefix+msg)
	if l.w != nil {
		if l.json {
			data, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": time.Now().UTC().Format(time.RFC3339Nano)})
			l.w.Write(append(data, '\n'))
		} else {
			fmt.Fprintln(l.w, prefix+msg)
		}
	}
}
