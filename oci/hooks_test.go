package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A hook gets the state on stdin, its own args (argv[0] included) and its
// env alone, not the runtime's.
func TestRunHooksStdinArgsEnv(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	t.Setenv("RUNTIME_SECRET", "leak")
	st := specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreated, Pid: 42, Bundle: "/b",
		Annotations: map[string]string{"k": "v"}}
	h := specs.Hook{Path: "/bin/sh", Args: []string{"hook-name", "-c", `{ cat; echo; head -c 9 /proc/$$/cmdline; echo " $1 X=$X S=$RUNTIME_SECRET"; } > "$1"`, "sh", out},
		Env: []string{"X=1"}}
	if err := runHooks("prestart", []specs.Hook{h}, st); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	var got specs.State
	if err := json.Unmarshal([]byte(first), &got); err != nil {
		t.Fatalf("stdin %q: %v", first, err)
	}
	if got.ID != "c1" || got.Pid != 42 || got.Status != specs.StateCreated || got.Bundle != "/b" || got.Annotations["k"] != "v" {
		t.Errorf("state on stdin %+v", got)
	}
	if want := "hook-name " + out + " X=1 S=\n"; rest != want {
		t.Errorf("args and env %q, want %q", rest, want)
	}
}

// The first failing hook ends the run, named with its index and output;
// the hooks after it do not run.
func TestRunHooksFailure(t *testing.T) {
	dir := t.TempDir()
	after := filepath.Join(dir, "after")
	hooks := []specs.Hook{
		{Path: "/bin/true"},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo bad network >&2; exit 3"}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + after}},
	}
	err := runHooks("createRuntime", hooks, specs.State{})
	if err == nil || !strings.Contains(err.Error(), "hooks.createRuntime[1] (/bin/sh)") ||
		!strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "bad network") {
		t.Errorf("err %v", err)
	}
	if _, err := os.Stat(after); err == nil {
		t.Error("a hook after the failed one ran")
	}
	if err := runHooks("prestart", []specs.Hook{{Path: filepath.Join(dir, "missing")}}, specs.State{}); err == nil {
		t.Error("a missing hook did not fail")
	}
}

// A hook that outlives its timeout is killed (with what it started) and
// fails; one that leaves a child holding its stdout does not hold the
// runtime.
func TestRunHooksTimeout(t *testing.T) {
	one := 1
	start := time.Now()
	err := runHooks("poststart", []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 30"}, Timeout: &one}}, specs.State{})
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("err %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the timeout took %v", d)
	}
	start = time.Now()
	if err := runHooks("poststart", []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 30 & exit 0"}}}, specs.State{}); err != nil {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a child holding stdout held the hook for %v", d)
	}
}

// Failures of poststart and poststop hooks are warnings: every hook runs.
func TestWarnHooksRunsAll(t *testing.T) {
	dir := t.TempDir()
	after := filepath.Join(dir, "after")
	var warned []string
	old := Log
	Log = func(level, m string) { warned = append(warned, level+": "+m) }
	defer func() { Log = old }()
	warnHooks("poststop", []specs.Hook{{Path: "/bin/false"}, {Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + after}}}, specs.State{})
	if _, err := os.Stat(after); err != nil {
		t.Error("the hook after a failed one did not run")
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], "warning: hooks.poststop[0] (/bin/false)") {
		t.Errorf("warnings %q", warned)
	}
}
