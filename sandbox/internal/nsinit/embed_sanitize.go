//go:build sanitize

package nsinit

// Path is /proc/self/exe in the sanitizer build: the init stage is the
// instrumented init.c linked into this binary, run by its constructor.
func Path() string { return "/proc/self/exe" }

// Embedded tells whether the launch uses the small init binary: never here.
func Embedded() bool { return false }
