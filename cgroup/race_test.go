//go:build race

package cgroup

// raceEnabled: the race detector multiplies a process's memory.
const raceEnabled = true
