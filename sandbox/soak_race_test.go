//go:build race

package sandbox

// soakRace: under the race detector the soak would take minutes, and its
// supervisor code is already raced by the other tests.
const soakRace = true
