package oci

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/cgroup"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// Pids lists the host pids of a container's processes, sorted: its
// cgroup's when it has one (linux.resources); else pid 1, its descendants,
// and processes in pid 1's pid namespace (exec's, whose parent is the
// engine's), where this process may read that namespace's link.
func Pids(root, id string) ([]int, error) {
	c, err := openState(root, id)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var pids []int
	switch {
	case len(c.rec.Cgroups) > 0:
		pids, err = cgroup.Pids(c.rec.Cgroups, sandbox.CgroupPrefix())
	case c.status() != specs.StateStopped:
		pids, err = nsPids(c.rec.Pid)
	}
	if pids == nil {
		pids = []int{} // JSON [], not null
	}
	return pids, err
}

// nsPids walks /proc for pid 1's descendants and its pid namespace's
// members.
func nsPids(pid1 int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	ns, _ := os.Readlink("/proc/" + strconv.Itoa(pid1) + "/ns/pid")
	parent := map[int]int{}
	in := map[int]bool{pid1: true}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		parent[p] = ppid(p)
		if ns != "" {
			if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
				in[p] = true
			}
		}
	}
	// A descendant of pid 1: up the parents until a member or none.
	var member func(p, depth int) bool
	member = func(p, depth int) bool {
		if in[p] {
			return true
		}
		pp, ok := parent[p]
		if !ok || pp <= 1 || depth > 1000 {
			return false
		}
		if member(pp, depth+1) {
			in[p] = true
		}
		return in[p]
	}
	var out []int
	for p := range parent {
		if member(p, 0) {
			out = append(out, p)
		}
	}
	if _, ok := parent[pid1]; !ok {
		out = slices.DeleteFunc(out, func(p int) bool { return p == pid1 })
	}
	slices.Sort(out)
	return out, nil
}

// ppid reads a process's parent from /proc/PID/status (0 if gone).
func ppid(pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// PsTable runs the host's ps with args (runc's default: -ef) and keeps its
// header and the lines of pids, as runc's `ps` does.
func PsTable(pids []int, args []string) (string, error) {
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	out, err := exec.Command("ps", args...).Output()
	if err != nil {
		return "", fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := slices.Index(strings.Fields(lines[0]), "PID")
	if col < 0 {
		return "", fmt.Errorf("ps %s: no PID column in %q", strings.Join(args, " "), lines[0])
	}
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		if p, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, p) {
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}
