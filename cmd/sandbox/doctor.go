package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/internal/doctor"
)

type doctorCmd struct{}

func (doctorCmd) Run() error {
	checks := doctor.Run()
	doctor.Format(os.Stdout, checks)
	if doctor.Fatal(checks) {
		return &exitError{code: 1, err: errors.New("`sandbox exec` cannot work on this host as it is: see the fixes above")}
	}
	return nil
}

type cgroupSetupCmd struct {
	User string `required:"" help:"The user whose boxes get cgroup limits without root." placeholder:"NAME"`
}

func (c cgroupSetupCmd) Run() error {
	if os.Geteuid() != 0 {
		return &exitError{code: 125, err: errors.New("cgroup-setup must run as root (it creates cgroups owned by --user)")}
	}
	u, err := user.Lookup(c.User)
	if err != nil {
		return &exitError{code: 125, err: fmt.Errorf("--user: %w", err)}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := cgroup.Setup(c.User, uid, gid); err != nil {
		return &exitError{code: 125, err: fmt.Errorf("cgroup-setup: %w", err)}
	}
	fmt.Printf("cgroups prepared for %s: their boxes can now use --memory, --cpus, --pids and --cpu-time\n", c.User)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// cgroup v2 moves a process only within a subtree the mover owns.
		fmt.Printf("cgroup v2: start %s's shell inside /sys/fs/cgroup/sandbox-%s/%s (as root: echo PID > /sys/fs/cgroup/sandbox-%s/%s/cgroup.procs); "+
			"with systemd, a user manager (`loginctl enable-linger %s`) needs no cgroup-setup at all\n", c.User, c.User, cgroup.SetupShell, c.User, cgroup.SetupShell, c.User)
	}
	return nil
}
