package cgroup

import (
	"math"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cpuPeriod is the CFS bandwidth period in microseconds, the kernel's default
// on v1 and v2 (Documentation/scheduler/sched-bwc.rst): a quota of CPUs cores is
// CPUs*cpuPeriod microseconds of CPU time per period.
const cpuPeriod = 100000

// minCPUQuota is the smallest quota the kernel accepts (1ms, sched-bwc.rst);
// a smaller one is raised to it instead of failing with EINVAL.
const minCPUQuota = 1000

// Limits are the cgroup limits of one box. The zero value asks for none.
type Limits struct {
	// Memory is the memory limit in bytes (0: none). Swap is off for the box:
	// memory.memsw.limit_in_bytes is set to the same value on v1 where the
	// kernel accounts swap, and memory.swap.max to 0 on v2.
	Memory int64 `json:"memory,omitempty"`
	// CPUs is the CPU bandwidth quota in cores, e.g. 1.5 (0: none).
	CPUs float64 `json:"cpus,omitempty"`
	// Pids is the maximum number of tasks (processes and threads) in the box
	// (0: none).
	Pids int64 `json:"pids,omitempty"`
}

// Any reports whether any limit is asked for.
func (l Limits) Any() bool {
	return l.Memory > 0 || l.CPUs > 0 || l.Pids > 0
}

// cpuQuota turns a number of cores into a CFS quota in microseconds per
// cpuPeriod, rounded to the nearest microsecond and at least minCPUQuota.
func cpuQuota(cpus float64) int64 {
	q := int64(math.Round(cpus * cpuPeriod))
	if q < minCPUQuota {
		q = minCPUQuota
	}
	return q
}

// v1Resources returns the runtime-spec resources the cgroup1 controllers write
// for l. memsw says whether the kernel has memory.memsw.* (swap accounting);
// without it only the memory limit can be set.
func v1Resources(l Limits, memsw bool) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if l.Memory > 0 {
		mem := l.Memory
		r.Memory = &specs.LinuxMemory{Limit: &mem}
		if memsw {
			// memory+swap equal to memory: the box can use no swap at all.
			sw := l.Memory
			r.Memory.Swap = &sw
		}
	}
	if l.CPUs > 0 {
		q, p := cpuQuota(l.CPUs), uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &q, Period: &p}
	}
	if l.Pids > 0 {
		n := l.Pids
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	return r
}

// v2Resources returns the cgroup2 resources for l. The swap limit is not part
// of it: memory.swap.max exists only where the kernel has swap accounting, so
// New writes it separately when the file is there (see v2SwapOff).
// accountMemory adds the memory controller without a limit, for memory.peak.
func v2Resources(l Limits, accountMemory bool) *cgroup2.Resources {
	r := &cgroup2.Resources{}
	if l.Memory > 0 {
		mem := l.Memory
		r.Memory = &cgroup2.Memory{Max: &mem}
	} else if accountMemory {
		r.Memory = &cgroup2.Memory{}
	}
	if l.CPUs > 0 {
		q, p := cpuQuota(l.CPUs), uint64(cpuPeriod)
		r.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&q, &p)}
	}
	if l.Pids > 0 {
		r.Pids = &cgroup2.Pids{Max: l.Pids}
	}
	return r
}

// v2SwapOff is the update that turns swap off for a v2 box.
func v2SwapOff() *cgroup2.Resources {
	zero := int64(0)
	return &cgroup2.Resources{Memory: &cgroup2.Memory{Swap: &zero}}
}
