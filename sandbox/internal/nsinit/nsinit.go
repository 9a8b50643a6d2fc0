// Package nsinit links the box's init stage into every binary that uses the
// sandbox package. The init stage is C (init.c) and runs from an ELF
// constructor, before the Go runtime starts, when the process was started by
// the supervisor with _SANDBOX_INIT set; in every other process it returns at
// once and costs one getenv.
package nsinit

// #cgo CFLAGS: -Wall -Wextra -Wno-unused-parameter -O2
import "C"

// EnvVar is the variable that marks a process as a box's init stage; its
// value is the number of the sync socket's file descriptor.
const EnvVar = "_SANDBOX_INIT"
