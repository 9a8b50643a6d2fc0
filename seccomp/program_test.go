package seccomp

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// TestPrecompiledMatches proves the shipped program is what the default
// profile compiles to now, so editing default.go without regenerating
// fails here.
func TestPrecompiledMatches(t *testing.T) {
	if len(precompiled) == 0 {
		if runtime.GOARCH == "amd64" {
			t.Fatal("no precompiled program on amd64: run go generate ./seccomp")
		}
		testenv.Skip(t, "no precompiled program for %s; DefaultProgram compiles", runtime.GOARCH)
	}
	maj, min, mic := libseccomp.GetLibraryVersion()
	if v := fmt.Sprintf("%d.%d.%d", maj, min, mic); v != precompiledLibseccomp {
		// Another libseccomp may lay the same policy out differently;
		// TestDefaultPolicy and TestDefaultLists check the shipped
		// program's verdicts whatever the version.
		testenv.Skip(t, "precompiled with libseccomp %s, this is %s: regenerate with go generate ./seccomp", precompiledLibseccomp, v)
	}
	fresh := compile(t, Default())
	if !bytes.Equal(fresh, precompiled) {
		t.Fatalf("default_amd64_gen.go is stale (%d bytes shipped, %d compiled now): run go generate ./seccomp", len(precompiled), len(fresh))
	}
	got, err := DefaultProgram()
	if err != nil || !bytes.Equal(got, precompiled) {
		t.Fatalf("DefaultProgram does not return the precompiled program (err %v)", err)
	}
}

// BenchmarkDefaultProgram measures what a launch pays with DefaultProgram.
func BenchmarkDefaultProgram(b *testing.B) {
	for b.Loop() {
		if _, err := DefaultProgram(); err != nil {
			b.Fatal(err)
		}
	}
}
