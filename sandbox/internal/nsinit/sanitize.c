//go:build sanitize

// The sanitizer build's glue (make sanitize): the C code of the binary (the
// init stage, and libseccomp's bindings in the supervisor) compiled with
// AddressSanitizer and UndefinedBehaviorSanitizer, their reports written to
// one log file that the test run reads, so that a report fails the run
// rather than scrolling past.
//
// Why a descriptor and not ASAN_OPTIONS=log_path: the runtime opens
// log_path.PID lazily, at the first report, and by then the init stage has
// pivoted into the box, where the host's path does not exist; and its
// environment is emptied by the supervisor. So the log is opened here, on
// the host, and handed to ASan with __sanitizer_set_report_fd. The init
// stage closes every inherited descriptor first, so it calls
// sandbox_sanitizer_log again after that, and once more in the payload's
// child after the fork (the runtime reopens its log by path in a process
// other than the one that set the descriptor).
//
// UBSan runs in trap mode (-fsanitize-undefined-trap-on-error): gcc links its
// runtime as a second library whose lazy start, at its first report, resets
// ASan's report descriptor to stderr (measured: the report was lost). A trap
// is SIGILL at the faulting instruction; the handler below writes its
// address to the log (addr2line -e BINARY ADDRESS names the line) and exits
// with the same status as an ASan report.

#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <unistd.h>

#ifndef SANDBOX_SANITIZER_LOG
#define SANDBOX_SANITIZER_LOG "/tmp/sandbox-sanitizer.log"
#endif

static int log_fd = -1;

// Stop at the first report, with an exit status no test expects; no leak
// check (the init stage and the payload's child leave by _exit or exec, and
// the Go supervisor by exit_group: LeakSanitizer's atexit never runs).
const char *__asan_default_options(void)
{
	return "halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=0:allow_user_segv_handler=1";
}

// ubsan_trap reports an UBSan trap with write(2) alone (a signal handler).
static void ubsan_trap(int sig, siginfo_t *si, void *uc)
{
	static const char head[] = "UndefinedBehaviorSanitizer: trap (SIGILL) at 0x";
	static const char tail[] = " in C code of the sandbox binary (addr2line -e BINARY names the line)\n";
	char msg[sizeof head + 16 + sizeof tail];
	size_t n = sizeof head - 1;
	memcpy(msg, head, n);
	unsigned long pc = (unsigned long)si->si_addr;
	for (int shift = 60; shift >= 0; shift -= 4)
		msg[n++] = "0123456789abcdef"[(pc >> shift) & 15];
	memcpy(msg + n, tail, sizeof tail - 1);
	n += sizeof tail - 1;
	if (write(log_fd >= 0 ? log_fd : 2, msg, n) < 0) {
		// nothing more to do: the exit status still says it
	}
	_exit(86);
}

// sandbox_sanitizer_log sends the sanitizers' reports to the log: open it
// first when reopen is set (or it is not open). Called from init.c, where it
// is a weak symbol, absent in the product's build.
void sandbox_sanitizer_log(int reopen)
{
	if (reopen || log_fd < 0) {
		// No O_CREAT: the test run makes the file, writable by the box's
		// host uid (nobody for a root caller); a create in a shared sticky
		// directory would meet fs.protected_regular.
		log_fd = open(SANDBOX_SANITIZER_LOG, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (log_fd < 0)
			return; // reports go to stderr
	}
	__sanitizer_set_report_fd((void *)(long)log_fd);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = ubsan_trap;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGILL, &sa, NULL);
}

// The supervisor's own C code reports to the log too.
__attribute__((constructor)) static void sanitizer_log_init(void)
{
	sandbox_sanitizer_log(1);
}
