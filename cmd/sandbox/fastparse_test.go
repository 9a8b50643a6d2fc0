package main

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// kongExec parses an exec line as main does without the fast path.
func kongExec(t *testing.T, args []string) (c *execCmd, err error) {
	t.Helper()
	var x execOnly
	parser, err := kong.New(&x, kong.Name("sandbox"), kong.Exit(func(int) { panic("kong exit") }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, errKongExit
		}
	}()
	if _, err := parse(parser, &x.Exec, append([]string{"exec"}, args...)); err != nil {
		return nil, err
	}
	return &x.Exec, nil
}

type kongExitError struct{}

func (kongExitError) Error() string { return "kong exit" }

var errKongExit = kongExitError{}

// checkFast: where fastExec takes a line, kong takes it too, to the same
// execCmd.
func checkFast(t *testing.T, args []string) (took bool) {
	t.Helper()
	fast, ok := fastExec(args)
	if !ok {
		return false
	}
	slow, err := kongExec(t, args)
	if err != nil {
		t.Errorf("%q: the fast parser took what kong refuses (%v)", args, err)
		return true
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("%q:\n fast %+v\n kong %+v", args, *fast, *slow)
	}
	return true
}

func TestFastExecMatchesKong(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		fast bool // the fast parser should take it
	}{
		{[]string{"--", "/bin/true"}, true},
		{[]string{"--", "/bin/sh", "-c", "echo -- x"}, true},
		{[]string{"--ro-bind", "/usr:/x", "--bind=/tmp", "--tmpfs", "/t:size=1M", "--", "ls"}, true},
		{[]string{"-w", "/tmp", "-t", "--keep-env", "--env", "A=b,c", "--env=B=", "--", "x"}, true},
		{[]string{"--uid", "1000", "--gid=100", "--net", "host", "--map=auto", "--", "id"}, true},
		{[]string{"--cpus", "1.5", "--pids", "50", "--memory", "64M", "--timeout", "2s", "--", "x"}, true},
		{[]string{"--cpu-time=1", "--max-output", "1K", "--seccomp", "off", "--landlock", "off", "--", "x"}, true},
		{[]string{"--cap-add", "CAP_NET_RAW", "--cap-add", "CAP_CHOWN", "--inotify", "4:10", "--", "x"}, true},
		{[]string{"--report", "r.json", "--rlimit", "nofile=10", "--hostname", "h", "--dry-run", "--", "x"}, true},
		{[]string{"--rootfs", dir, "--", "x"}, true},
		{[]string{"--rootfs=" + dir, "--", "x"}, true},
		{[]string{"--uid", "0x10", "--", "x"}, true},
		{[]string{"--net", "user", "--allow-net", "10.0.0.0/8:443", "--deny-net=192.0.2.0/24", "--", "x"}, true},
		// Left to kong:
		{[]string{"/bin/true"}, false},
		{[]string{"--"}, false},
		{[]string{}, false},
		{[]string{"--help"}, false},
		{[]string{"-h"}, false},
		{[]string{"--bogus", "--", "x"}, false},
		{[]string{"--net", "bogus", "--", "x"}, false},
		{[]string{"--uid", "x", "--", "x"}, false},
		{[]string{"--uid", "-1", "--", "x"}, false},
		{[]string{"--uid", "1", "--uid", "2", "--", "x"}, false},
		{[]string{"--workdir", "--", "x"}, false},
		{[]string{"--keep-env=true", "--", "x"}, false},
		{[]string{"--rootfs", dir + "/nonexistent", "--", "x"}, false},
		{[]string{"-tw", "/tmp", "--", "x"}, false},
		{[]string{"--env"}, false},
	} {
		if got := checkFast(t, c.args); got != c.fast {
			t.Errorf("%q: fast parser took it: %v, want %v", c.args, got, c.fast)
		}
	}
}

// TestFastExecRandomLines: random lines from a pool of flags, values and
// junk; wherever the fast parser takes a line, kong's result is the same.
func TestFastExecRandomLines(t *testing.T) {
	pool := []string{
		"--", "--", "-", "-w", "-t", "-x", "--tty", "--keep-env", "--dry-run", "--uid", "--gid", "--uid=5",
		"--net", "--net=host", "none", "host", "--map", "auto", "self", "--cpus", "2", "0.5", "-1", "x",
		"--pids", "--memory", "1G", "--env", "A=1", "B=2,3", "--bind", "/a:/b", "--ro-bind=/usr", "--tmpfs",
		"/tmp", "--seccomp", "off", "--landlock", "default", "--cap-add", "CAP_CHOWN", "--rootfs", "/",
		"--hostname", "--hostname=", "--report", "--rlimit", "nofile=1:2", "--timeout", "1.5", "--help",
		"--workdir=/w", "--inotify", "1", "--max-output", "--cpu-time", "true", "",
	}
	r := rand.New(rand.NewSource(11))
	took := 0
	for i := 0; i < 3000; i++ {
		n := r.Intn(8)
		args := make([]string, n)
		for j := range args {
			args[j] = pool[r.Intn(len(pool))]
		}
		if r.Intn(2) == 0 {
			args = append(args, "--", "/bin/true")
		}
		if checkFast(t, args) {
			took++
		}
		if t.Failed() {
			t.Fatalf("after %d lines (last %s)", i, strings.Join(args, " "))
		}
	}
	if took < 100 {
		t.Fatalf("the fast parser took only %d of 3000 lines: the comparison proves little", took)
	}
	t.Logf("the fast parser took %d of 3000 lines", took)
}
