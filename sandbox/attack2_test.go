package sandbox

import (
	"syscall"
	"testing"
)

// TestAttack2EndsFirst: only a signal that ends the init stage's first
// process cancels its release; one it ignores, or that stops it, must not
// leave it waiting for a release byte that never comes.
func TestAttack2EndsFirst(t *testing.T) {
	for sig, want := range map[syscall.Signal]bool{
		syscall.SIGTERM: true, syscall.SIGINT: true, syscall.SIGUSR1: true, syscall.SIGKILL: true, syscall.SIGALRM: true,
		syscall.SIGWINCH: false, syscall.SIGCONT: false, syscall.SIGTSTP: false, syscall.SIGCHLD: false,
	} {
		if got := endsFirst(sig); got != want {
			t.Errorf("endsFirst(%v) = %v, want %v", sig, got, want)
		}
	}
}
