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

	// The fields below are an OCI config's (linux.resources) that
	// `sandbox exec` has no flag for.

	// MemoryReservation is the memory the box is reclaimed down to first
	// under pressure (v1 memory.soft_limit_in_bytes; v2 memory.low, as
	// runc maps it); 0: none.
	MemoryReservation int64 `json:"memory_reservation,omitempty"`
	// CPUShares is the box's relative CPU weight (v1 cpu.shares; v2
	// cpu.weight, converted as runc converts it); 0: the default.
	CPUShares uint64 `json:"cpu_shares,omitempty"`
	// CPUPeriod is the CFS period in microseconds of the CPUs quota (0:
	// cpuPeriod, the kernel's default).
	CPUPeriod uint64 `json:"cpu_period,omitempty"`
}

// Any reports whether any limit is asked for.
func (l Limits) Any() bool {
	return l.memory() || l.cpu() || l.Pids > 0
}

// memory and cpu tell whether the memory or the cpu controller carries a
// limit of l.
func (l Limits) memory() bool { return l.Memory > 0 || l.MemoryReservation > 0 }
func (l Limits) cpu() bool    { return l.CPUs > 0 || l.CPUShares > 0 }

// period is the CFS period of l's quota.
func (l Limits) period() uint64 {
	if l.CPUPeriod > 0 {
		return l.CPUPeriod
	}
	return cpuPeriod
}

// quota turns l's number of cores into a CFS quota in microseconds per
// period, rounded to the nearest microsecond and at least minCPUQuota.
func (l Limits) quota() int64 {
	q := int64(math.Round(l.CPUs * float64(l.period())))
	if q < minCPUQuota {
		q = minCPUQuota
	}
	return q
}

// cpuQuota is the quota of cpus cores per cpuPeriod.
func cpuQuota(cpus float64) int64 { return Limits{CPUs: cpus}.quota() }

// cpuWeight converts v1 cpu.shares (2..262144) to v2 cpu.weight
// (1..10000), as runc and crun do.
func cpuWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// v1Resources returns the runtime-spec resources the cgroup1 controllers write
// for l. memsw says whether the kernel has memory.memsw.* (swap accounting);
// without it only the memory limit can be set.
func v1Resources(l Limits, memsw bool) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if l.memory() {
		r.Memory = &specs.LinuxMemory{}
	}
	if l.Memory > 0 {
		r.Memory.Limit = ptr(l.Memory)
		if memsw {
			// memory+swap equal to memory: the box can use no swap at all.
			r.Memory.Swap = ptr(l.Memory)
		}
	}
	if l.MemoryReservation > 0 {
		r.Memory.Reservation = ptr(l.MemoryReservation)
	}
	if l.cpu() {
		r.CPU = &specs.LinuxCPU{}
	}
	if l.CPUs > 0 {
		r.CPU.Quota, r.CPU.Period = ptr(l.quota()), ptr(l.period())
	}
	if l.CPUShares > 0 {
		r.CPU.Shares = ptr(l.CPUShares)
	}
	if l.Pids > 0 {
		r.Pids = &specs.LinuxPids{Limit: ptr(l.Pids)}
	}
	return r
}

// v2Resources returns the cgroup2 resources for l. The swap limit is not part
// of it: memory.swap.max exists only where the kernel has swap accounting, so
// New writes it separately when the file is there (see v2SwapOff).
// accountMemory adds the memory controller without a limit, for memory.peak.
func v2Resources(l Limits, accountMemory bool) *cgroup2.Resources {
	r := &cgroup2.Resources{}
	if l.memory() || accountMemory {
		r.Memory = &cgroup2.Memory{}
	}
	if l.Memory > 0 {
		r.Memory.Max = ptr(l.Memory)
	}
	if l.MemoryReservation > 0 {
		r.Memory.Low = ptr(l.MemoryReservation)
	}
	if l.cpu() {
		r.CPU = &cgroup2.CPU{}
	}
	if l.CPUs > 0 {
		r.CPU.Max = cgroup2.NewCPUMax(ptr(l.quota()), ptr(l.period()))
	}
	if l.CPUShares > 0 {
		r.CPU.Weight = ptr(cpuWeight(l.CPUShares))
	}
	if l.Pids > 0 {
		r.Pids = &cgroup2.Pids{Max: l.Pids}
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// v2SwapOff is the update that turns swap off for a v2 box.
func v2SwapOff() *cgroup2.Resources {
	zero := int64(0)
	return &cgroup2.Resources{Memory: &cgroup2.Memory{Swap: &zero}}
}
