package cgroup

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// removeTree and sumOOMKillsV1 walk a box's cgroup and what the box made
// below it; plain directories stand in for cgroups here.
func TestRemoveTreeDeepestFirst(t *testing.T) {
	top := filepath.Join(t.TempDir(), "sandbox-0123")
	for _, d := range []string{"box/esc/esc", "box/other"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeTree(top); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(top); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", top, err)
	}
	if err := removeTree(top); err != nil {
		t.Fatalf("a second removeTree: %v", err)
	}
}

func TestSumOOMKillsV1(t *testing.T) {
	top := t.TempDir()
	write := func(rel, content string) {
		d := filepath.Join(top, rel)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "memory.oom_control"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
	write("box", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	write("box/esc", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	if n := sumOOMKillsV1(top); n != 3 {
		t.Fatalf("sumOOMKillsV1 = %d, want 3 (v1 counts a kill only in the victim's own cgroup)", n)
	}
}

// Stats reads v1's cpuacct.stat itself (not through the library): USER_HZ
// ticks to durations, and a file without both fields is an error.
func TestReadCpuacctStat(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("user 12\nsystem 345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	user, sys, err := readCpuacctStat(good)
	if err != nil || user != 120*time.Millisecond || sys != 3450*time.Millisecond {
		t.Fatalf("readCpuacctStat = %v, %v, %v; want 120ms, 3.45s", user, sys, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("user 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readCpuacctStat(bad); err == nil {
		t.Fatal("no error for a cpuacct.stat without its system field")
	}
}
