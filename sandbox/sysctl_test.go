package sandbox

import (
	"strings"
	"testing"
)

// The Spec's sysctls: one strict op each, in its /proc/sys directory, after
// the box's /proc and before the payload; keys outside the box's own
// namespaces, or that could leave /proc/sys, refused.
func TestSysctlOps(t *testing.T) {
	s := Spec{Args: []string{"true"}, Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := DryRun(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	proc, exec := -1, -1
	for i, op := range p.Ops {
		switch {
		case op.Code == OpProc && proc < 0:
			proc = i
		case op.Code == OpExec:
			exec = i
		case op.Code == OpSysctl && op.Flags&FlagStrict != 0:
			if i < proc {
				t.Errorf("sysctl op %d before /proc (%d)", i, proc)
			}
			got = append(got, op.Str[0]+" "+op.Str[1])
		}
	}
	want := "/proc/sys/kernel shmmax=65536,/proc/sys/net/ipv4 ip_forward=1"
	if strings.Join(got, ",") != want || exec < 0 {
		t.Errorf("sysctl ops %q, want %q", got, want)
	}
	for _, k := range []string{"vm.overcommit_memory", "kernel.pid_max", "net/ipv4/ip_forward", "net..x", "net.a/../b",
		"kernel.core_pattern", "fs.mqueue.a.b", ".net.x"} {
		if err := CheckSysctl(k, "1", true); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%q: %v, want refused naming it", k, err)
		}
	}
	if err := CheckSysctl("net.ipv4.ip_forward", "1", false); err == nil {
		t.Error("net.* without a network namespace of the box's own: accepted")
	}
	s.Net = "host"
	if err := s.Validate(); err == nil {
		t.Error("net.* with Net host: accepted")
	}
}
