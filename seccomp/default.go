package seccomp

import "slices"

// The built-in profile, stated as data. PROFILE.md explains it for
// SECURITY.md; TestDefaultPolicy checks every claim made here by running
// the compiled program in a BPF interpreter.
//
// Shape: an allow-list. Whatever is not listed gets ENOSYS (the default
// action), so a system call newer than this list looks "not implemented"
// and libcs and runtimes fall back to an older one; a deny-list would
// instead let every new, unreviewed system call through. Calls that are
// known and refused get EPERM, the errno a program expects when it lacks a
// privilege, so error messages stay meaningful.

const (
	errnoEPERM        = 1
	errnoENOSYS       = 38
	errnoEAFNOSUPPORT = 97

	// cloneNewFlags are the CLONE_NEW* flags clone(2) accepts: NEWNS,
	// NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (0x7e020000, the
	// mask Docker uses). CLONE_NEWTIME (0x80) cannot be given to clone,
	// whose low byte is the exit signal; only clone3 and unshare take it,
	// and both are refused whole.
	cloneNewFlags = 0x7e020000

	tiocsti   = 0x5412 // TIOCSTI: push a byte into the terminal's input
	tioclinux = 0x541c // TIOCLINUX: includes selection paste on virtual consoles
	tiocexcl  = 0x540c // TIOCEXCL: exclusive mode; every other open gets EBUSY
	tcxonc    = 0x540a // TCXONC: stop or restart the terminal's output or input
	tiocsetd  = 0x5423 // TIOCSETD: change the line discipline (loads its module)
	tioccons  = 0x541d // TIOCCONS: redirect the console's output

	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16

	// lower32 masks an argument the kernel reads as a 32-bit int: it
	// ignores the upper half, so a rule must ignore it too, or
	// ioctl(fd, TIOCSTI|1<<32) would slip past an exact 64-bit compare.
	lower32 = 0xffffffff
)

func uintp(v uint) *uint { return &v }

// Default returns the built-in profile. Each call returns a new value that
// the caller may change.
func Default() *Profile {
	return &Profile{
		DefaultAction:   ActErrno,
		DefaultErrnoRet: uintp(errnoENOSYS),
		// No architectures: only the native ABI is allowed. On x86-64 every
		// i386 (int 0x80) and x32 system call kills the process (see
		// badArchAction): rules written for one ABI's numbers say nothing
		// about another's.
		Syscalls: []Syscall{
			{
				Comment: "what ordinary programs use: shells, coreutils, compilers, interpreters, Go and threaded programs",
				Action:  ActAllow,
				Names:   slices.Clone(allowed),
			},
			{
				Comment: "threads and fork: clone without any CLONE_NEW* flag",
				Names:   []string{"clone"},
				Action:  ActAllow,
				Args:    []Arg{{Index: 0, Op: OpMaskedEqual, Value: cloneNewFlags, ValueTwo: 0}},
			},
			{
				Comment:  "clone with a CLONE_NEW* flag would create namespaces (libseccomp checks the masked rule above first)",
				Names:    []string{"clone"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEPERM),
				Args:     []Arg{{Index: 0, Op: OpGreaterEqual, Value: 0}},
			},
			{
				Comment:  "clone3 passes its flags in memory, which seccomp cannot read; ENOSYS makes glibc and others fall back to clone, whose flags are checked",
				Names:    []string{"clone3"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoENOSYS),
			},
			{
				Comment:  "ioctl, except pushing input into a terminal (TIOCSTI, TIOCLINUX), which could type commands into the caller's shell",
				Names:    []string{"ioctl"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEPERM),
				Args:     []Arg{{Index: 1, Op: OpMaskedEqual, Value: lower32, ValueTwo: tiocsti}},
			},
			{
				Names:    []string{"ioctl"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEPERM),
				Args:     []Arg{{Index: 1, Op: OpMaskedEqual, Value: lower32, ValueTwo: tioclinux}},
			},
			{
				Comment:  "ioctl, except what changes a terminal for its later users: exclusive mode (TIOCEXCL), flow control (TCXONC), the line discipline (TIOCSETD, which also loads rarely used ldisc modules such as n_gsm), console redirection (TIOCCONS); the box never gets the caller's terminal, so this is defence in depth",
				Names:    []string{"ioctl"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEPERM),
				Args:     []Arg{{Index: 1, Op: OpMaskedEqual, Value: lower32, ValueTwo: tiocexcl}},
			},
			{Names: []string{"ioctl"}, Action: ActErrno, ErrnoRet: uintp(errnoEPERM), Args: []Arg{{Index: 1, Op: OpMaskedEqual, Value: lower32, ValueTwo: tcxonc}}},
			{Names: []string{"ioctl"}, Action: ActErrno, ErrnoRet: uintp(errnoEPERM), Args: []Arg{{Index: 1, Op: OpMaskedEqual, Value: lower32, ValueTwo: tiocsetd}}},
			{Names: []string{"ioctl"}, Action: ActErrno, ErrnoRet: uintp(errnoEPERM), Args: []Arg{{Index: 1, Op: OpMaskedEqual, Value: lower32, ValueTwo: tioccons}}},
			{
				Comment: "every other ioctl (libseccomp checks the masked rules above first)",
				Names:   []string{"ioctl"},
				Action:  ActAllow,
				Args:    []Arg{{Index: 1, Op: OpGreaterEqual, Value: 0}},
			},
			{
				Comment: "personality: only PER_LINUX, PER_LINUX32, UNAME26, both, and the query 0xffffffff, as Docker; the others (e.g. ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weaken the process's own hardening",
				Names:   []string{"personality"},
				Action:  ActAllow,
				Args:    []Arg{{Index: 0, Op: OpMaskedEqual, Value: lower32, ValueTwo: 0x0}},
			},
			{Names: []string{"personality"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpMaskedEqual, Value: lower32, ValueTwo: 0x0008}}},
			{Names: []string{"personality"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpMaskedEqual, Value: lower32, ValueTwo: 0x20000}}},
			{Names: []string{"personality"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpMaskedEqual, Value: lower32, ValueTwo: 0x20008}}},
			{Names: []string{"personality"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpMaskedEqual, Value: lower32, ValueTwo: 0xffffffff}}},
			{
				Names:    []string{"personality"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEPERM),
				Args:     []Arg{{Index: 0, Op: OpGreaterEqual, Value: 0}},
			},
			{
				Comment: "sockets of the families ordinary programs use; AF_UNIX, AF_INET, AF_INET6, AF_NETLINK",
				Names:   []string{"socket"},
				Action:  ActAllow,
				Args:    []Arg{{Index: 0, Op: OpEqualTo, Value: afUnix}},
			},
			{Names: []string{"socket"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpEqualTo, Value: afInet}}},
			{Names: []string{"socket"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpEqualTo, Value: afInet6}}},
			{Names: []string{"socket"}, Action: ActAllow, Args: []Arg{{Index: 0, Op: OpEqualTo, Value: afNetlink}}},
			{
				Comment:  "every other family (AF_PACKET, AF_VSOCK, AF_ALG, AF_BLUETOOTH, ...): rarely used code, often loaded as a module on demand, and the source of many kernel exploits; EAFNOSUPPORT is what a kernel without the family says",
				Names:    []string{"socket"},
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEAFNOSUPPORT),
				Args:     []Arg{{Index: 0, Op: OpGreaterEqual, Value: 0}},
			},
			{
				Comment:  "refused: kernel attack surface or host-wide state an unprivileged program has no business with",
				Names:    slices.Clone(denied),
				Action:   ActErrno,
				ErrnoRet: uintp(errnoEPERM),
			},
		},
	}
}

// allowed are the system calls allowed whatever their arguments. Names that
// exist only on some architectures (arch_prctl on x86-64) are skipped
// elsewhere.
var allowed = []string{
	// files and directories
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"open", "openat", "openat2", "creat", "close", "close_range", "lseek",
	"dup", "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
	"truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
	"rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
	"link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
	"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask",
	"utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat",
	"copy_file_range", "sendfile", "splice", "tee", "vmsplice",
	"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
	"listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
	"getxattrat", "setxattrat", "listxattrat", "removexattrat",
	"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"memfd_create", "memfd_secret", "pipe", "pipe2", "cachestat",

	// memory
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall", "membarrier", "remap_file_pages",
	"pkey_alloc", "pkey_free", "pkey_mprotect", "mseal", "map_shadow_stack",

	// processes and threads (clone is conditional, below)
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
	"kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp",
	"getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
	"arch_prctl", "set_thread_area", "get_thread_area", "prctl", "restart_syscall",
	"futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
	"sched_getscheduler", "sched_setscheduler", "sched_getattr", "sched_setattr",
	"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
	"getpriority", "setpriority", "ioprio_get", "ioprio_set",
	"getrlimit", "setrlimit", "prlimit64", "ugetrlimit", "getrusage", "times",
	"pidfd_open", "pidfd_send_signal", "process_mrelease", "capget", "capset", "getcpu",
	// a program may restrict itself further
	"seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",

	// identity (confined to the box's user namespace mapping)
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",

	// signals and time
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4",
	"pause", "alarm", "getitimer", "setitimer",
	"time", "gettimeofday", "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",

	// waiting for events. Not the old AIO (io_setup, io_submit, ...): every
	// AIO context is charged to the host-wide fs.aio-nr (65,536 events by
	// default), which one box could take whole, and then every program on
	// the host that uses AIO (databases, QEMU) fails. Left unlisted, they
	// get ENOSYS, and glibc's POSIX AIO and libaio users fall back to
	// threads or plain I/O.
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",

	// System V and POSIX IPC (the box has its own IPC namespace)
	"msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl",
	"shmget", "shmat", "shmdt", "shmctl",
	"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",

	// networking (socket is conditional, below)
	"socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	"setsockopt", "getsockopt",

	// the system, read-only
	"uname", "sysinfo", "getrandom",
}

// denied are refused with EPERM whatever their arguments.
var denied = []string{
	// new namespaces or joining others': the box's namespaces are the
	// boundary, and user namespaces expose much kernel code to root-in-ns
	"unshare", "setns",
	// the mount family, old and new API, and chroot: the box's file
	// system view is the supervisor's decision
	"mount", "umount", "umount2", "pivot_root", "chroot",
	"move_mount", "open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"listmount", "statmount",
	// kernel keyrings are not namespaced
	"keyctl", "add_key", "request_key",
	// large kernel attack surface
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"fanotify_init", "fanotify_mark",
	// reading or changing other processes
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
	// the kernel itself and the machine
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "vhangup",
	"iopl", "ioperm", "modify_ldt", "vm86", "vm86old",
	// the clock is host-wide
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
	// file handles bypass the box's mount view
	"open_by_handle_at", "name_to_handle_at",
	// the host name is set by the supervisor
	"sethostname", "setdomainname",
	// obsolete interfaces with a history of bugs
	"lookup_dcookie", "nfsservctl", "uselib",
}
