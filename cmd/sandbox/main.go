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

func main() {
	var c cli
	parser, err := kong.New(&c,
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
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(125)
	}
	err = ctx.Run()
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

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("sandbox", version)
	return nil
}
