package cgroup

import (
	"testing"
)

func TestLimitsAny(t *testing.T) {
	tests := []struct {
		l    Limits
		want bool
	}{
		{Limits{}, false},
		{Limits{Memory: 1}, true},
		{Limits{CPUs: 0.5}, true},
		{Limits{Pids: 3}, true},
	}
	for _, tt := range tests {
		if got := tt.l.Any(); got != tt.want {
			t.Errorf("%+v.Any() = %v, want %v", tt.l, got, tt.want)
		}
	}
}

func TestV1Resources(t *testing.T) {
	tests := []struct {
		name      string
		l         Limits
		memsw     bool
		mem, swap int64 // -1: not set
		quota     int64 // -1: not set
		period    uint64
		pids      int64 // -1: not set
	}{
		{name: "none", l: Limits{}, mem: -1, swap: -1, quota: -1, pids: -1},
		{name: "memory and memsw equal", l: Limits{Memory: 64 << 20}, memsw: true, mem: 64 << 20, swap: 64 << 20, quota: -1, pids: -1},
		{name: "memory, no swap accounting", l: Limits{Memory: 64 << 20}, mem: 64 << 20, swap: -1, quota: -1, pids: -1},
		{name: "one and a half cores", l: Limits{CPUs: 1.5}, mem: -1, swap: -1, quota: 150000, period: 100000, pids: -1},
		{name: "tiny quota raised to the kernel's 1ms", l: Limits{CPUs: 0.001}, mem: -1, swap: -1, quota: 1000, period: 100000, pids: -1},
		{name: "pids", l: Limits{Pids: 7}, mem: -1, swap: -1, quota: -1, pids: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v1Resources(tt.l, tt.memsw)
			i64 := func(p *int64) int64 {
				if p == nil {
					return -1
				}
				return *p
			}
			var mem, swap int64 = -1, -1
			if r.Memory != nil {
				mem, swap = i64(r.Memory.Limit), i64(r.Memory.Swap)
			}
			if mem != tt.mem || swap != tt.swap {
				t.Errorf("memory %d memsw %d, want %d %d", mem, swap, tt.mem, tt.swap)
			}
			quota, period := int64(-1), uint64(0)
			if r.CPU != nil {
				quota, period = i64(r.CPU.Quota), *r.CPU.Period
			}
			if quota != tt.quota || period != tt.period {
				t.Errorf("quota %d period %d, want %d %d", quota, period, tt.quota, tt.period)
			}
			pids := int64(-1)
			if r.Pids != nil {
				pids = i64(r.Pids.Limit)
			}
			if pids != tt.pids {
				t.Errorf("pids %d, want %d", pids, tt.pids)
			}
		})
	}
}

func TestV2Resources(t *testing.T) {
	tests := []struct {
		name          string
		l             Limits
		accountMemory bool
		controllers   []string
		memMax        int64 // -1: not set
		cpuMax        string
		pidsMax       int64
	}{
		{name: "none", controllers: nil, memMax: -1},
		{name: "memory accounting only", accountMemory: true, controllers: []string{"memory"}, memMax: -1},
		{name: "all", l: Limits{Memory: 1 << 30, CPUs: 2, Pids: 64}, controllers: []string{"cpu", "memory", "pids"},
			memMax: 1 << 30, cpuMax: "200000 100000", pidsMax: 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v2Resources(tt.l, tt.accountMemory)
			got := r.EnabledControllers()
			if len(got) != len(tt.controllers) {
				t.Fatalf("controllers %v, want %v", got, tt.controllers)
			}
			for i := range got {
				if got[i] != tt.controllers[i] {
					t.Fatalf("controllers %v, want %v", got, tt.controllers)
				}
			}
			memMax := int64(-1)
			if r.Memory != nil && r.Memory.Max != nil {
				memMax = *r.Memory.Max
			}
			if memMax != tt.memMax {
				t.Errorf("memory.max %d, want %d", memMax, tt.memMax)
			}
			if r.Memory != nil && r.Memory.Swap != nil {
				t.Errorf("swap set in the creation resources; it must go through v2SwapOff")
			}
			if tt.cpuMax != "" && (r.CPU == nil || string(r.CPU.Max) != tt.cpuMax) {
				t.Errorf("cpu.max %+v, want %q", r.CPU, tt.cpuMax)
			}
			if tt.pidsMax != 0 && (r.Pids == nil || r.Pids.Max != tt.pidsMax) {
				t.Errorf("pids.max %+v, want %d", r.Pids, tt.pidsMax)
			}
		})
	}
	if sw := v2SwapOff().Memory.Swap; sw == nil || *sw != 0 {
		t.Errorf("v2SwapOff sets memory.swap.max to %v, want 0", sw)
	}
}
