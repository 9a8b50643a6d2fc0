// Command sandbox runs a command in a box it cannot leave, as a regular user.
//
//	sandbox exec [flags] -- CMD [ARG...]
//	sandbox batch [-j N] [-o FILE] [FILE]
//	sandbox doctor
//	sandbox cgroup-setup --user NAME
//	sandbox version
//
// The command line only builds a sandbox.Spec and reports the Result; all
// setup is in package sandbox.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Exec        execCmd        `cmd:"" help:"Run a command in a new sandbox."`
	Batch       batchCmd       `cmd:"" help:"Run many sandboxes from JSON lines, N at a time; one JSON result line each."`
	Doctor      doctorCmd      `cmd:"" help:"Check what this host supports, and how to fix what it lacks."`
	CgroupSetup cgroupSetupCmd `cmd:"" name:"cgroup-setup" help:"Prepare cgroups so that USER's boxes get limits without root (run once as root)."`
	Version     versionCmd     `cmd:"" help:"Print the version."`
}

// exitError carries an exit code out of a command's Run.
type exitError struct {
	code int
	err  error // printed when non-nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// execOnly is the command line when it starts with exec, the launch path:
// kong builds its model by reflection over every command's flags at each
// start (0.56 ms of CPU for the whole CLI, 0.35 ms for exec alone, measured
// in a warm process), so a launch builds only what it parses.
type execOnly struct {
	Exec execCmd `cmd:"" help:"Run a command in a new sandbox."`
}

func main() {
	if filepath.Base(os.Args[0]) == "sandbox-oci" {
		ociMain()
		return
	}
	var c cli
	var x execOnly
	grammar, exec := any(&c), &c.Exec
	if len(os.Args) > 1 && os.Args[1] == "exec" {
		grammar, exec = &x, &x.Exec
	}
	parser, err := kong.New(grammar,
		kong.Name("sandbox"),
		kong.Description("A rootless sandbox for untrusted commands."),
		kong.UsageOnError(),
		// A bad flag is a setup failure of the sandbox itself: 125, as env(1)
		// and timeout(1) use it, never a code the command could have returned.
		kong.Exit(func(code int) {
			if code != 0 {
				code = 125
			}
			os.Exit(code)
		}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(125)
	}
	ctx, err := parse(parser, exec, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(125)
	}
	exit(ctx.Run())
}

// exit ends the process with a command's result.
func exit(err error) {
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "sandbox:", ee.err)
		}
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(125)
	}
}

// parse parses the command line. kong gives a passthrough argument back to
// its scanner one token at a time, each pushed at the front of a slice:
// quadratic in the length of the command (--dry-run with 20,000 arguments
// took 7 s, all of it in kong's endParsing). What follows the command's
// first word is no business of the parser's, so kong sees the line only up
// to that word and the rest is appended after. Should that "--" not be
// where kong's passthrough began (say, it was a flag's value), the whole
// line is parsed as given.
func parse(parser *kong.Kong, exec *execCmd, args []string) (*kong.Context, error) {
	cut := -1
	if len(args) > 0 && args[0] == "exec" {
		for i, a := range args {
			if a == "--" {
				cut = i + 2
				break
			}
		}
	}
	if cut < 0 || cut >= len(args) {
		return parser.Parse(args)
	}
	ctx, err := parser.Parse(args[:cut])
	if err == nil && len(exec.Command) == 2 && exec.Command[0] == "--" && exec.Command[1] == args[cut-1] {
		exec.Command = append(exec.Command, args[cut:]...)
		return ctx, nil
	}
	*exec = execCmd{}
	return parser.Parse(args)
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("sandbox", version)
	return nil
}
