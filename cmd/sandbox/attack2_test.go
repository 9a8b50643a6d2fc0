package main

// Attacks on the launch of #11 (the init stage makes its namespaces itself;
// pid 1 is the supervisor's child by CLONE_PARENT and was named to it only
// by the first process's MSG_PID).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// traceFirstFork runs the binary as the test user under ptrace (as strace
// -f would, or any process of the same user: the first process of the init
// stage is the caller's and dumpable) and stops the first process of the
// init stage right after its clone of pid 1, before it reports MSG_PID.
// There, atFork acts; the first process stays stopped for hold, then goes
// on. It returns the supervisor's exit code and how long it ran.
func traceFirstFork(t *testing.T, atFork func(supervisor, first int), hold time.Duration, args ...string) (int, time.Duration) {
	return traceFirstForkAs(t, env.cred, atFork, hold, args...)
}

// traceFirstForkAs is traceFirstFork as cred (nil: the test's own user).
func traceFirstForkAs(t *testing.T, cred *syscall.Credential, atFork func(supervisor, first int), hold time.Duration, args ...string) (int, time.Duration) {
	t.Helper()
	need(t)
	runtime.LockOSThread() // every ptrace request from the tracer's thread
	defer runtime.UnlockOSThread()
	errf, err := os.CreateTemp("", "attack2-stderr-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd := exec.Command(env.bin, args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stderr = errf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Ptrace: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sup := cmd.Process.Pid
	code, supDone := -1, time.Duration(0)
	fired, traced := false, false
	held, releaseAt := 0, time.Time{}
	// Only the supervisor and what it starts are waited for (a wait for
	// any child would reap another test's): each new tracee's pid comes
	// with its parent's clone, fork or vfork event.
	tracees := map[int]bool{sup: true}
	known := map[int]bool{sup: true}
	deadline := time.Now().Add(60 * time.Second)
	for len(tracees) > 0 && time.Now().Before(deadline) {
		// A thread the supervisor cloned as the SIGKILL landed is traced
		// (auto-attached) but its clone event is never reported: its
		// parent dies first. Its exit must still be reaped here, or the
		// supervisor's own exit is never reported (the kernel holds a
		// thread group leader's until every thread is reaped). So every
		// thread of the supervisor is found from /proc as well.
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", sup)); err == nil {
			for _, e := range ents {
				if tid, err := strconv.Atoi(e.Name()); err == nil && !known[tid] {
					known[tid], tracees[tid] = true, true
				}
			}
		}
		if held != 0 && time.Now().After(releaseAt) {
			unix.PtraceCont(held, 0)
			held = 0
		}
		idle := true
		for pid := range tracees {
			var ws unix.WaitStatus
			got, err := unix.Wait4(pid, &ws, unix.WALL|unix.WNOHANG, nil)
			if errors.Is(err, unix.ECHILD) {
				delete(tracees, pid)
				continue
			}
			if err != nil || got != pid {
				continue
			}
			idle = false
			switch {
			case ws.Exited() || ws.Signaled():
				delete(tracees, pid)
				if pid == sup {
					supDone = time.Since(start)
					code = ws.ExitStatus()
					if ws.Signaled() {
						code = 128 + int(ws.Signal())
					}
				}
			case ws.Stopped():
				sig := ws.StopSignal()
				cause := ws.TrapCause()
				if sig == unix.SIGTRAP && (cause == unix.PTRACE_EVENT_CLONE || cause == unix.PTRACE_EVENT_FORK || cause == unix.PTRACE_EVENT_VFORK) {
					if child, err := unix.PtraceGetEventMsg(pid); err == nil {
						known[int(child)], tracees[int(child)] = true, true
					}
				}
				switch {
				case pid == sup && !traced:
					// The supervisor's exec: follow all it starts.
					traced = true
					if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACECLONE|unix.PTRACE_O_TRACEFORK|
						unix.PTRACE_O_TRACEVFORK|unix.PTRACE_O_TRACEEXEC|unix.PTRACE_O_EXITKILL); err != nil {
						t.Fatalf("PTRACE_SETOPTIONS: %v", err)
					}
					unix.PtraceCont(pid, 0)
				case sig == unix.SIGTRAP && cause == unix.PTRACE_EVENT_FORK && !fired:
					// Only the init stage forks (clone without CLONE_VM
					// or CLONE_THREAD): its first process, cloning pid 1.
					fired = true
					atFork(sup, pid)
					held, releaseAt = pid, time.Now().Add(hold)
				case sig == unix.SIGTRAP, sig == unix.SIGSTOP:
					unix.PtraceCont(pid, 0)
				default:
					unix.PtraceCont(pid, int(sig))
				}
			}
		}
		if idle {
			time.Sleep(200 * time.Microsecond)
		}
	}
	errf.Seek(0, 0)
	msg, _ := os.ReadFile(errf.Name())
	if !fired {
		t.Fatalf("the init stage never forked pid 1 (exit %d): %s", code, msg)
	}
	if supDone == 0 {
		var states []string
		for pid := range tracees {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			states = append(states, strings.TrimSpace(string(st)))
		}
		t.Fatalf("the supervisor did not end in 60s (still traced: %q): %s", states, msg)
	}
	t.Logf("supervisor: exit %d after %v: %s", code, supDone.Round(time.Millisecond), msg)
	return code, supDone
}

// TestAttack2FirstProcessKilledAfterClone: the first process killed between
// its clone of pid 1 and its MSG_PID (by the supervisor's own --timeout, or
// by any process of the caller) left a pid 1 the supervisor could not name:
// it waited for EOF with its kill already spent, so the box ran its payload
// to the end past --timeout (forever for a payload that never ends), and a
// second SIGTERM could not stop it either.
func TestAttack2FirstProcessKilledAfterClone(t *testing.T) {
	needRoot(t) // ptrace of the test user's processes
	marker := fmt.Sprintf("2%d.%06d", 0, time.Now().UnixNano()%1000000)
	code, took := traceFirstFork(t, func(_, first int) {
		unix.Kill(first, unix.SIGKILL)
	}, 0, "exec", "--timeout", "1s", "--", "sleep", marker)
	if code != 124 || took > 10*time.Second {
		t.Errorf("--timeout 1s with the first process killed after its clone: exit %d after %v, want 124 within seconds", code, took)
	}
	if p := pgrep("sleep " + marker); len(p) > 0 {
		t.Errorf("the box's payload outlived its supervisor: %v", p)
	}
}

// TestAttack2SignalAfterClone: a SIGTERM to the supervisor that reaches the
// first process after its clone of pid 1 (its setup handler ends it before
// MSG_PID) was lost for the box: pid 1 went on and the run ended only with
// the payload, "cancelled" after it had run in full.
func TestAttack2SignalAfterClone(t *testing.T) {
	needRoot(t)
	marker := fmt.Sprintf("2%d.%06d", 0, time.Now().UnixNano()%1000000)
	code, took := traceFirstFork(t, func(sup, _ int) {
		unix.Kill(sup, unix.SIGTERM)
	}, 500*time.Millisecond, "exec", "--", "sleep", marker)
	if code != 128+int(unix.SIGTERM) || took > 10*time.Second {
		t.Errorf("SIGTERM during the clone of pid 1: exit %d after %v, want %d within seconds", code, took, 128+int(unix.SIGTERM))
	}
	if p := pgrep("sleep " + marker); len(p) > 0 {
		t.Errorf("the box's payload outlived its supervisor: %v", p)
	}
}

// TestAttack2SupervisorKilledAtClone: the supervisor SIGKILLed right after
// the first process cloned pid 1, before pid 1 set its death signal (clone
// clears it): pid 1 must see the supervisor gone (its end of the sync socket
// closed) and end, with nothing of the box left.
// As root too, whose first process lost its death signal when it switched
// to the box's ids (the kernel clears it on a change of credentials).
func TestAttack2SupervisorKilledAtClone(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		name string
		cred *syscall.Credential
		args []string
	}{{"user", env.cred, nil}, {"root", nil, nil}, {"root-map-auto", nil, []string{"--map", "auto"}}} {
		t.Run(c.name, func(t *testing.T) {
			supervisorKilledAtClone(t, c.cred, c.args...)
		})
	}
}

func supervisorKilledAtClone(t *testing.T, cred *syscall.Credential, args ...string) {
	marker := fmt.Sprintf("2%d.%06d", 0, time.Now().UnixNano()%1000000)
	args = append(append([]string{"exec"}, args...), "--", "sleep", marker)
	code, _ := traceFirstForkAs(t, cred, func(sup, _ int) {
		unix.Kill(sup, unix.SIGKILL)
	}, 300*time.Millisecond, args...)
	if code != 128+int(unix.SIGKILL) {
		t.Errorf("supervisor: exit %d, want killed", code)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(pgrep("sleep "+marker)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := pgrep("sleep " + marker); len(p) > 0 {
		t.Errorf("the box's payload outlived its supervisor: %v", p)
	}
}
