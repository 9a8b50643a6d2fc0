//go:build !race

package sandbox

const soakRace = false
