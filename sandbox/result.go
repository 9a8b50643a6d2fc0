package sandbox

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Status is the verdict of a run.
type Status string

// The verdicts, in the report's spelling.
const (
	StatusOK          Status = "ok"           // exited 0
	StatusExit        Status = "exit"         // exited non-zero
	StatusSignal      Status = "signal"       // killed by a signal it did not get from a limit
	StatusTimeout     Status = "timeout"      // wall-clock limit
	StatusCPUTime     Status = "cpu-time"     // CPU time limit
	StatusOOM         Status = "oom"          // the kernel's OOM killer acted in the box's cgroup
	StatusOutputLimit Status = "output-limit" // --max-output exceeded
	StatusSetupError  Status = "setup-error"  // the box could not be set up
	StatusCancelled   Status = "cancelled"    // stopped by a signal to the supervisor, or its context
)

// Result is what a run came to. Times are for all the box's processes.
type Result struct {
	Status   Status        `json:"status"`
	ExitCode int           `json:"exit_code"` // as sandbox exits: the command's, 128+N, 124, 125, 126, 127
	Signal   int           `json:"signal,omitempty"`
	WallTime time.Duration `json:"wall_time"`
	CPUUser  time.Duration `json:"cpu_user"`
	CPUSys   time.Duration `json:"cpu_sys"`
	// PeakMemory is the most memory the payload held, in bytes: with a
	// cgroup, its anonymous memory, shmem and tmpfs, and unreclaimable
	// kernel memory, sampled every 10 ms; and never less than the largest
	// resident set of any one of its processes (the whole figure where
	// there is no cgroup). Page cache does not count, so the figure does
	// not depend on what the cache held when the run began.
	PeakMemory int64 `json:"peak_memory"`
	// CgroupPeakMemory is the kernel's own peak of the box's cgroup
	// (v1 memory.max_usage_in_bytes, v2 memory.peak), page cache included;
	// 0 without a cgroup.
	CgroupPeakMemory int64 `json:"cgroup_peak_memory"`
	OOMKilled        bool  `json:"oom_killed"`
	OutputSize       int64 `json:"output_bytes,omitempty"` // counted when --max-output is set

	// CPUExact tells that CPUUser and CPUSys are the kernel's count for
	// every process of the box (its cgroup's CPU accounting). False: they
	// are a lower bound, from pid 1's rusage and samples of /proc, which
	// miss what a process reaped by the kernel (its parent ignored SIGCHLD)
	// spent after its last sample.
	CPUExact bool `json:"cpu_exact"`
}

// Exit codes of the sandbox itself, as timeout(1) and env(1) use them.
const (
	ExitTimeout     = 124
	ExitSetup       = 125
	ExitNotExec     = 126
	ExitNotFound    = 127
	exitSignalsBase = 128
)

// SetupError is a failure to build the box; Step names what failed.
type SetupError struct {
	Step string
	Err  error
}

func (e *SetupError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// ExecError is a command that could not be executed inside the box.
type ExecError struct {
	Command string
	Err     error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("cannot execute %q in the box: %v", e.Command, e.Err)
}
func (e *ExecError) Unwrap() error { return e.Err }

// ExitCode maps an error from Run to the exit code the CLI uses.
func ExitCode(err error) int {
	var ee *ExecError
	if errors.As(err, &ee) {
		if errors.Is(ee.Err, syscall.ENOENT) {
			return ExitNotFound
		}
		return ExitNotExec
	}
	return ExitSetup
}
