package seccomp

import "sync"

//go:generate go run ./internal/gendefault -o default_amd64_gen.go

// precompiled is the default program compiled ahead of time for this
// architecture (default_amd64_gen.go), and precompiledLibseccomp the
// libseccomp version that compiled it; both are empty where there is none.
// Compiling the default costs about 2 ms of libseccomp work, which the
// sandbox would otherwise pay on every launch.
var (
	precompiled           []byte
	precompiledLibseccomp string
)

var defaultProgram struct {
	once sync.Once
	prog []byte
	err  error
}

// DefaultProgram returns the program of Default for a box that keeps no
// capabilities: precompiled on amd64, compiled once per process elsewhere.
// Callers must not modify the returned bytes.
func DefaultProgram() ([]byte, error) {
	defaultProgram.once.Do(func() {
		if len(precompiled) > 0 {
			defaultProgram.prog = precompiled
			return
		}
		defaultProgram.prog, defaultProgram.err = Default().Compile()
	})
	return defaultProgram.prog, defaultProgram.err
}
