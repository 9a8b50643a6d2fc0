package sandbox

import (
	"strings"
	"syscall"
	"testing"
)

// addHooks puts createContainer's OpHooks just before pivot_root and
// startContainer's between OpReady and OpFork, each carrying its path and
// argv, env, state, timeout and index; a hook's failure names it.
func TestAddHooks(t *testing.T) {
	p := &Plan{Ops: []Op{{Code: OpProc}, {Code: OpPivot}, {Code: OpHostname}, {Code: OpReady}, {Code: OpFork}, {Code: OpExec, Str: []string{"true\x00", "", ""}}}}
	state := []byte(`{"id":"x"}`)
	create := []Hook{{Path: "/a", State: state}, {Path: "/b", Args: []string{"b0", "b1"}, Env: []string{"K=V"}, Timeout: 3, State: state}}
	start := []Hook{{Path: "/c", State: state}}
	if err := addHooks(p, create, start, true); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, op := range p.Ops {
		codes = append(codes, op.String())
	}
	want := "proc|hook hold|hook createContainer[0] /a|hook createContainer[1] /b|pivot_root|sethostname|ready|hook startContainer[0] /c|fork|exec true"
	if got := strings.Join(codes, "|"); got != want {
		t.Fatalf("plan %s\nwant %s", got, want)
	}
	b := p.Ops[3]
	if b.Str[0] != "/b\x00b0\x00b1\x00" || b.Str[1] != "K=V\x00" || b.Str[2] != string(state) || b.Arg != 3 || b.Arg2 != 1 || b.Flags&FlagStartHook != 0 {
		t.Errorf("createContainer[1]: %+v", b)
	}
	if a := p.Ops[2]; a.Str[0] != "/a\x00/a\x00" {
		t.Errorf("createContainer[0] without args: argv %q, want its path", a.Str[0])
	}
	if c := p.Ops[7]; c.Flags&FlagStartHook == 0 {
		t.Errorf("startContainer[0] without FlagStartHook: %+v", c)
	}
	// A decoded op may carry no strings (--dry-run prints what it got).
	if got := (Op{Code: OpHook, Arg2: 2}).String(); got != "hook createContainer[2]" {
		t.Errorf("an OpHook without strings: %q", got)
	}
	if _, err := DecodePlan(p.Encode()); err != nil {
		t.Errorf("round trip: %v", err)
	}
	for _, tc := range []struct {
		errno  syscall.Errno
		status int32
		want   string
	}{
		{syscall.ECHILD, 3 << 8, "hooks.createContainer[1] (/b): exit status 3"},
		{syscall.ECHILD, int32(syscall.SIGKILL), "hooks.createContainer[1] (/b): killed by signal 9"},
		{syscall.ETIMEDOUT, 0, "hooks.createContainer[1] (/b): did not exit within its timeout (3s): killed"},
	} {
		if got := hookError(b, tc.errno, tc.status).Error(); got != tc.want {
			t.Errorf("hookError(%v, %#x) = %q, want %q", tc.errno, tc.status, got, tc.want)
		}
	}
	for _, bad := range []Hook{{Path: "rel", State: state}, {Path: "/x", Timeout: -1, State: state}, {Path: "/x", State: []byte("[]")}} {
		if err := addHooks(&Plan{Ops: []Op{{Code: OpPivot}}}, []Hook{bad}, nil, false); err == nil || !strings.Contains(err.Error(), "hooks.createContainer[0]") {
			t.Errorf("hook %+v: err %v, want one naming it", bad, err)
		}
	}
}

// A failed startContainer hook is told apart from another setup step by
// its wait status, never 0.
func TestSetupFailure(t *testing.T) {
	for _, tc := range []struct {
		e    DetachedEnd
		want string
	}{
		{DetachedEnd{Op: 7, Errno: syscall.ENOENT}, "setup step 7: no such file or directory"},
		{DetachedEnd{Op: 7, Errno: syscall.ECHILD, HookStatus: 3 << 8}, "hooks.startContainer (setup step 7): exit status 3"},
		{DetachedEnd{Op: 7, Errno: syscall.ETIMEDOUT, HookStatus: 9}, "hooks.startContainer (setup step 7): did not exit within its timeout: killed"},
		{DetachedEnd{Op: 7, Errno: syscall.ECHILD, HookStatus: 15}, "hooks.startContainer (setup step 7): killed by signal 15"},
	} {
		if got := tc.e.SetupFailure(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
