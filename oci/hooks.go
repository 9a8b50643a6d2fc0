package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Hooks (config.json's hooks): programs of the config's choosing that the
// runtime runs at steps of the lifecycle, each with the container's state
// JSON on its stdin. A hook runs as the runtime does, with the caller's
// privileges (host root for a root engine), as runc runs them: whoever
// writes config.json already chooses what the runtime runs (SECURITY.md).
//
// Those run by the runtime, in its namespaces:
//
//	prestart, createRuntime  create, once the box is built and pid 1 waits;
//	                         a failure fails create (the box is removed)
//	poststart                start, once the payload is started; a failure
//	                         is a warning (the spec's)
//	poststop                 delete, once the container is gone; a failure
//	                         is a warning
//
// createContainer and startContainer run in the container's namespaces,
// run by its pid 1 (sandbox.CreateOptions, OpHook), with the box's
// privileges, not the caller's: see containerHooks.

// Log reports what the runtime goes on after: at level "warning", what
// the spec has it "log a warning" for (a failed poststart or poststop
// hook); at "error", how a run's payload failed to start, whose exit
// status alone would not say it. cmd/sandbox sends it to stderr and --log.
var Log = func(level, msg string) { fmt.Fprintf(os.Stderr, "sandbox-oci: %s: %s\n", level, msg) }

func warn(msg string) { Log("warning", msg) }

// checkHooks refuses the hooks the runtime cannot run and malformed ones.
func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for _, k := range []struct {
		name  string
		hooks []specs.Hook
	}{{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop}} {
		for i, hk := range k.hooks {
			field := fmt.Sprintf("hooks.%s[%d]", k.name, i)
			if !filepath.IsAbs(hk.Path) {
				return fieldErr(field+".path", "%q: must be an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fieldErr(field+".timeout", "%d: must be more than 0 seconds", *hk.Timeout)
			}
			for j, e := range hk.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					return fieldErr(fmt.Sprintf("%s.env[%d]", field, j), "%q is not KEY=VALUE", e)
				}
			}
		}
	}
	return nil
}

// runHooks runs hooks of one kind in order, each given st on its stdin; the
// first that fails (exits non-zero, is killed, or outlives its timeout)
// ends the run with an error naming it and what it wrote.
func runHooks(kind string, hooks []specs.Hook, st specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, in); err != nil {
			return hookErr(kind, i, h, err)
		}
	}
	return nil
}

func hookErr(kind string, i int, h specs.Hook, err error) error {
	return fmt.Errorf("hooks.%s[%d] (%s): %w", kind, i, h.Path, err)
}

// warnHooks runs hooks whose failures the spec makes warnings: every hook
// runs, each failure is reported through Log.
func warnHooks(kind string, hooks []specs.Hook, st specs.State) {
	in, err := json.Marshal(st)
	if err != nil {
		warn(fmt.Sprintf("hooks.%s: %v", kind, err))
		return
	}
	for i, h := range hooks {
		if err := runHook(h, in); err != nil {
			warn(hookErr(kind, i, h, err).Error())
		}
	}
}

// runHook runs one hook: args as given (args[0] is its argv[0]; none:
// the path), its env alone (not the runtime's), stdout and stderr kept for
// the error. With a timeout the hook is killed when it has not exited in
// time, and fails.
func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	var out bytes.Buffer
	cmd := &exec.Cmd{
		Path: h.Path, Args: args, Env: h.Env,
		Stdin: bytes.NewReader(state), Stdout: &out, Stderr: &out,
		// Its own process group: a timeout kills what it started too.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
		// A child the hook leaves running with its stdout must not hold
		// the runtime: Wait stops reading a second after the hook exits.
		WaitDelay: time.Second,
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = fmt.Errorf("did not exit within its timeout (%ds): killed", *h.Timeout)
	}
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		// ErrWaitDelay: it exited 0; what it left running holds its output.
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = errors.New(ee.ProcessState.String())
	}
	if o := strings.TrimSpace(out.String()); o != "" {
		if len(o) > 4096 {
			o = o[:4096] + "..."
		}
		err = fmt.Errorf("%w: %s", err, o)
	}
	return err
}

// maxHookState bounds the state a createContainer or startContainer hook
// gets: it travels in the Plan, once per hook.
const maxHookState = 1 << 20

// containerHooks are the createContainer and startContainer hooks for
// sandbox.Create, each with its state (runc's: "creating" for the first,
// "created" for the second; pid 1 adds its pid). pid 1 runs them in the
// box's namespaces as the box's root (createContainer, before pivot_root,
// its root the runtime's tree) or as the payload (startContainer, after
// every step of the payload's: credentials, no_new_privs, Landlock, the
// seccomp filter), never with the caller's host privileges.
func containerHooks(h *specs.Hooks, st specs.State) (create, start []sandbox.Hook, err error) {
	if h == nil {
		return nil, nil, nil
	}
	conv := func(kind string, hooks []specs.Hook, status specs.ContainerState) ([]sandbox.Hook, error) {
		st := st
		st.Status, st.Pid = status, 0
		state, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		if len(state) > maxHookState {
			return nil, fieldErr("hooks."+kind, "the state (annotations) is %d bytes, more than %d", len(state), maxHookState)
		}
		var out []sandbox.Hook
		for _, hk := range hooks {
			t := 0
			if hk.Timeout != nil {
				t = *hk.Timeout
			}
			out = append(out, sandbox.Hook{Path: hk.Path, Args: hk.Args, Env: hk.Env, Timeout: t, State: state})
		}
		return out, nil
	}
	if create, err = conv("createContainer", h.CreateContainer, specs.StateCreating); err != nil {
		return nil, nil, err
	}
	start, err = conv("startContainer", h.StartContainer, specs.StateCreated)
	return create, start, err
}
