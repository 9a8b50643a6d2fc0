package sandbox

import "time"

// Report is the machine-readable account of one run, as `sandbox exec
// --report` and `sandbox batch` write it: times in seconds, sizes in bytes.
// The README's table says what each field measures.
type Report struct {
	Status           Status       `json:"status"`
	ExitCode         int          `json:"exit_code"`
	Signal           int          `json:"signal"`
	WallTime         float64      `json:"wall_time"`
	CPUUser          float64      `json:"cpu_user"`
	CPUSys           float64      `json:"cpu_sys"`
	CPUExact         bool         `json:"cpu_exact"` // false: cpu_user and cpu_sys are a lower bound (no cgroup accounting)
	PeakMemory       int64        `json:"peak_memory"`
	CgroupPeakMemory int64        `json:"cgroup_peak_memory"`
	OOMKilled        bool         `json:"oom_killed"`
	OutputSize       int64        `json:"output_bytes,omitempty"`
	Error            string       `json:"error,omitempty"`
	Limits           ReportLimits `json:"limits"`
	// Network is the egress policy of a --net user box, in the order its
	// rules apply (nil for other modes).
	Network *ReportNetwork `json:"network,omitempty"`
}

// ReportNetwork is what a --net user box could reach.
type ReportNetwork struct {
	Mode  string   `json:"mode"`
	Stack string   `json:"stack"`
	DNS   string   `json:"dns"`
	Rules []string `json:"rules"`
}

// ReportLimits are the limits a run was under.
type ReportLimits struct {
	Memory    int64   `json:"memory,omitempty"`
	CPUs      float64 `json:"cpus,omitempty"`
	Pids      int64   `json:"pids,omitempty"`
	Timeout   float64 `json:"timeout,omitempty"`
	CPUTime   float64 `json:"cpu_time,omitempty"`
	MaxOutput int64   `json:"max_output,omitempty"`
	// Rlimits are the payload's resource limits, the defaults included.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Tmpfs is the size cap of each tmpfs the box can write, by path.
	Tmpfs map[string]int64 `json:"tmpfs,omitempty"`
}

// NewReport describes a run of s that came to res, with the error Run
// returned (nil when the box ran).
func NewReport(res Result, s *Spec, err error) Report {
	secs := func(d time.Duration) float64 { return d.Seconds() }
	r := Report{
		Status: res.Status, ExitCode: res.ExitCode, Signal: res.Signal,
		WallTime: secs(res.WallTime), CPUUser: secs(res.CPUUser), CPUSys: secs(res.CPUSys), CPUExact: res.CPUExact,
		PeakMemory: res.PeakMemory, CgroupPeakMemory: res.CgroupPeakMemory,
		OOMKilled: res.OOMKilled, OutputSize: res.OutputSize,
		Limits: ReportLimits{
			Memory: s.Limits.Memory, CPUs: s.Limits.CPUs, Pids: s.Limits.Pids,
			Timeout: secs(s.Timeout), CPUTime: secs(s.CPUTime), MaxOutput: s.MaxOutput,
			Rlimits: s.PayloadRlimits(), Tmpfs: s.TmpfsSizes(),
		},
	}
	if err != nil {
		r.Error = err.Error()
	}
	if s.Net == "user" {
		if p, perr := netPolicy(s); perr == nil {
			r.Network = &ReportNetwork{Mode: "user", Stack: "pasta", DNS: p.DNS.String(), Rules: p.Lines()}
		}
	}
	return r
}
