// syscost: the cost of one system call, for bench/run.sh to run inside a box
// with and without the seccomp filter; the difference is the filter's cost.
//
//	syscost [ITERATIONS]
//
// prints one line per call measured, "NAME NS_PER_CALL", e.g. "getppid 61.3".
// The calls are chosen by where the default filter (seccomp/default.go, as
// compiled by libseccomp: a linear list of syscall-number compares in
// ascending order, the argument-checked calls at the end) decides them:
//
//	read     nr 0, the first compare, allowed whatever its arguments
//	getppid  nr 110, about a third of the way down, allowed whatever its arguments
//	ioctl    nr 16, but checked on its arguments (TIOCSTI is refused), so its
//	         rule sits after every plain compare: the longest path an allowed
//	         call takes
//
// Since Linux 5.11 the kernel remembers, per system call number, when a
// filter allows it whatever its arguments (the seccomp action cache), and
// skips the BPF program for it; read and getppid should then cost about the
// same with and without the filter, and ioctl, which the cache cannot cover,
// shows what running the program costs.
//
// Each call fails harmlessly (a bad file descriptor) or has no effect, so the
// kernel work is minimal and the filter's share is as large as it can be.
// Static, so it runs in any root; raw syscall(2), so libc caches nothing.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void measure(const char *name, long nr, long a0, long a1, long a2, long iters)
{
	// A short warm-up so the first timed call does not pay for cold caches.
	for (long i = 0; i < iters / 20; i++)
		syscall(nr, a0, a1, a2);
	double t0 = now_ns();
	for (long i = 0; i < iters; i++)
		syscall(nr, a0, a1, a2);
	double t1 = now_ns();
	printf("%s %.1f\n", name, (t1 - t0) / (double)iters);
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	if (iters <= 0) {
		fprintf(stderr, "usage: syscost [ITERATIONS > 0]\n");
		return 2;
	}
	measure("read", SYS_read, -1, 0, 0, iters);
	measure("getppid", SYS_getppid, 0, 0, 0, iters);
	measure("ioctl", SYS_ioctl, -1, TCGETS, 0, iters);
	return 0;
}
