package sandbox

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A Plan of Create's: pid 1 has no death signal, and says it is ready
// just before it waits at OpFork; nothing else changes.
func TestDetachPlan(t *testing.T) {
	s := &Spec{Args: []string{"true"}, Rootfs: "/r"}
	p, err := buildPlan(s, fakeHost, payloadSpec{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(p.Ops)
	if err := detachPlan(p); err != nil {
		t.Fatal(err)
	}
	if len(p.Ops) != before+1 {
		t.Fatalf("%d ops, want %d", len(p.Ops), before+1)
	}
	spawn, ready, fork := -1, -1, -1
	for i, op := range p.Ops {
		switch op.Code {
		case OpSpawn:
			spawn = i
			if op.Flags&FlagDetach == 0 {
				t.Errorf("spawn without FlagDetach")
			}
		case OpReady:
			ready = i
		case OpFork:
			fork = i
			if op.Flags&FlagDetach != 0 {
				t.Errorf("a box's fork is not detached (only a joining process's is)")
			}
		}
	}
	if spawn < 0 || ready != fork-1 {
		t.Errorf("spawn %d, ready %d, fork %d: want ready just before fork", spawn, ready, fork)
	}
	if err := detachPlan(&Plan{Ops: []Op{{Code: OpFork}}}); err == nil {
		t.Error("a plan without spawn: no error")
	}
}

func TestSetnsOp(t *testing.T) {
	op := SetnsOp([]string{"/proc/7/ns/net", "/proc/7/ns/user"}, []uint64{unix.CLONE_NEWNET, unix.CLONE_NEWUSER})
	if op.Code != OpSetns || op.Str[0] != "/proc/7/ns/net\x00/proc/7/ns/user\x00" ||
		op.Str[1] != "1073741824\x00268435456\x00" {
		t.Errorf("%q", op.Str)
	}
	if got := op.String(); got != "setns /proc/7/ns/net, /proc/7/ns/user" {
		t.Errorf("String %q", got)
	}
}

// Create refuses what needs a supervisor, before anything starts.
func TestCreateRefusesSupervision(t *testing.T) {
	for _, s := range []Spec{
		{Args: []string{"true"}, Timeout: 1},
		{Args: []string{"true"}, MaxOutput: 1},
		{Args: []string{"true"}, Accounting: true},
		{Args: []string{"true"}, Net: "none"},
	} {
		o := CreateOptions{}
		if s.Net == "none" {
			o.NetNS = "/proc/1/ns/net" // joining needs Net host
		}
		if _, err := Create(s, o); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}
