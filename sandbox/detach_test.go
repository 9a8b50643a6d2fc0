package sandbox

import (
	"slices"
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

// CreateOptions.CallerMounts: every bind but the device nodes attaches a
// tree the first process opens (before OpUserns); mount points are made in
// the rootfs only where no earlier mount of the box covers them.
func TestCallerMountsPlan(t *testing.T) {
	p := &Plan{Ops: []Op{
		{Code: OpUserns},
		{Code: OpSpawn},
		{Code: OpBind, Flags: FlagReadOnly, Str: []string{"/r", "/"}},
		{Code: OpProc, Str: []string{"/proc"}},
		{Code: OpTmpfs, Str: []string{"/dev", ""}},
		{Code: OpDevpts, Str: []string{"/dev/pts"}},
		{Code: OpBind, Flags: FlagNoSuid, Str: []string{"/dev/null", "/dev/null"}},
		{Code: OpTmpfs, Str: []string{"/run", ""}},
		{Code: OpBind, Flags: FlagTry, Str: []string{"/u/hosts", "/etc/hosts"}},
		{Code: OpBind, Str: []string{"/u/env", "/run/.containerenv"}},
	}}
	if err := callerMounts(p, "/r"); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"/r"}, {"/u/hosts", "/r", "/etc/hosts"}, {"/u/env"}}
	for i, w := range want {
		op := p.Ops[i]
		if op.Code != OpOpenTree || op.Arg != uint64(i) || !slices.Equal(op.Str, w) {
			t.Errorf("op %d: %v %v, want open tree %d %v", i, op, op.Str, i, w)
		}
	}
	if p.Ops[1].Flags&FlagTry == 0 || p.Ops[0].Flags&FlagTry != 0 {
		t.Errorf("FlagTry not carried over: %#x %#x", p.Ops[0].Flags, p.Ops[1].Flags)
	}
	// The box's own mounts' points (a tmpfs on /run, as containerd's, in
	// a rootfs without /run): made by the caller too, without a tree; not
	// /dev/pts or /run/.containerenv, below a mount of the box's.
	for i, dst := range []string{"/proc", "/dev", "/run"} {
		if op := p.Ops[3+i]; op.Code != OpOpenTree || !slices.Equal(op.Str, []string{"", "/r", dst}) {
			t.Errorf("op %d: %v %q, want the mount point %s only", 3+i, op, op.Str, dst)
		}
	}
	if p.Ops[6].Code != OpUserns {
		t.Errorf("the trees are not opened before OpUserns: %v", p.Ops[6])
	}
	for _, i := range []int{8, 14, 15} {
		if op := p.Ops[i]; op.Code != OpBind || op.Flags&FlagTree == 0 || op.Arg != uint64(map[int]int{8: 0, 14: 1, 15: 2}[i]) {
			t.Errorf("op %d: %v flags %#x arg %d", i, op, op.Flags, op.Arg)
		}
	}
	if op := p.Ops[12]; op.Flags&FlagTree != 0 {
		t.Errorf("a device node's bind attaches a tree: %v", op)
	}
}
