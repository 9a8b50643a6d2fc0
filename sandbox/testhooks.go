package sandbox

// testHooks put a run into the states a race or a failure would, so that the
// package's tests reproduce them deterministically. All zero in production.
var testHooks struct {
	// hold makes the init stage wait for a release byte, as --map auto or
	// a cgroup v1 box does.
	hold bool
	// beforeLatePlan runs in the goroutine that sends a Plan too large to
	// send before the clone, just before it writes.
	beforeLatePlan func()
	// release runs first in release; an error fails the release.
	release func() error
}
