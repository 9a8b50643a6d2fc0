package cdecode

import (
	"testing"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// FuzzCDecode holds the C decoder of the box's pid 1 to the Go one: both
// accept exactly the same inputs and read the same ops from them. The C side
// runs with the supervisor's privileges in the box, before anything else,
// so a disagreement or a crash there is the bug to find.
func FuzzCDecode(f *testing.F) {
	p := &sandbox.Plan{Ops: []sandbox.Op{
		{Code: sandbox.OpBind, Flags: sandbox.FlagReadOnly, Str: []string{"/usr", "/usr"}},
		{Code: sandbox.OpRlimit, Arg: 7, Arg2: 17, Arg3: 17},
		{Code: sandbox.OpExec, Str: []string{"true\x00", "PATH=/bin\x00", "/bin"}},
	}}
	f.Add(p.Encode())
	f.Add([]byte("SBX1\x00\x00\x00\x00"))
	// An OCI hook's ops (createContainer, startContainer): decode_ops
	// also splits its argv and env and builds its stdin, as pid 1 does.
	h := &sandbox.Plan{Ops: []sandbox.Op{
		{Code: sandbox.OpHookHold},
		{Code: sandbox.OpHook, Arg: 5, Str: []string{"/bin/sh\x00sh\x00-c\x00true", "X=1", `{"id":"k"}`}},
		{Code: sandbox.OpHook, Flags: sandbox.FlagStartHook, Str: []string{"/h", "", "}"}},
		{Code: sandbox.OpHook, Str: []string{"\x00"}},
	}}
	f.Add(h.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := sandbox.DecodePlan(b)
		got, ok := Decode(b)
		if ok != (err == nil) {
			t.Fatalf("C accepts: %v, Go: %v", ok, err)
		}
		if !ok {
			return
		}
		if len(got) != len(want.Ops) {
			t.Fatalf("C read %d ops, Go %d", len(got), len(want.Ops))
		}
		for i, op := range want.Ops {
			l0 := 0
			if len(op.Str) > 0 {
				l0 = len(op.Str[0])
			}
			if got[i].Code != uint32(op.Code) || int(got[i].Len0) != l0 {
				t.Fatalf("op %d: C %+v, Go %v", i, got[i], op)
			}
		}
	})
}

func TestCDecodeRoundTrip(t *testing.T) {
	p := &sandbox.Plan{Ops: []sandbox.Op{{Code: sandbox.OpTmpfs, Str: []string{"/tmp", "mode=1777"}}, {Code: sandbox.OpPivot}}}
	got, ok := Decode(p.Encode())
	if !ok || len(got) != 2 || got[0].Code != uint32(sandbox.OpTmpfs) || got[0].Len0 != 4 || got[1].Code != uint32(sandbox.OpPivot) {
		t.Fatalf("C decode of a valid plan: %+v %v", got, ok)
	}
	if _, ok := Decode(p.Encode()[:20]); ok {
		t.Fatal("C decode accepted a truncated plan")
	}
}
