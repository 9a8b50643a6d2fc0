package seccomp

import "testing"

// BenchmarkCompileDefault measures what one launch pays when it compiles the
// default profile instead of using DefaultProgram's cached copy.
func BenchmarkCompileDefault(b *testing.B) {
	p := Default()
	for b.Loop() {
		if _, err := p.Compile(); err != nil {
			b.Fatal(err)
		}
	}
}
