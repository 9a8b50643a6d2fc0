// Command probe reports what the sandbox lets a program do, for integration
// tests that run it inside a box. It is static (CGO_ENABLED=0) so that it
// runs in any root file system.
//
//	probe syscall NAME...   try each named call harmlessly; print "NAME: ok" or "NAME: errno=EPERM"
//	probe tiocsti           try TIOCSTI on the terminal (or /dev/null), plain and with bit 32 set
//	probe fds               list inherited file descriptors: "fd N: TARGET"
//	probe caps              print the capability, no_new_privs and seccomp lines of /proc/self/status
//	probe list              print the names "probe syscall" knows
//	probe ids               "uid: R E S", "gid: R E S", "groups: G...", "CapEff: HEX"
//	probe ptrace-attach PID attach to PID and detach again: "ptrace_attach: ok" or errno
//	probe tioclinux         TIOCLINUX (TIOCL_PASTESEL) on fd 0: "tioclinux: ok" or errno
//	probe keyring           "session: ID" and "user: ID" (KEYCTL_GET_KEYRING_ID) or errno
//	probe connect tcp HOST:PORT | unix-abstract NAME | unix PATH
//	                        "connect: ok" or "connect: errno=ECONNREFUSED"
//	probe netlink-links     list the network interfaces over NETLINK_ROUTE: "link: NAME"
//	probe open-write PATH   open PATH for writing (O_WRONLY, no create): "open_write: ok" or errno
//	probe x32               getpid through the x32 ABI, in a child: "x32: ok", errno, or "x32: killed=SIGSYS"
//	probe i386              getpid through int 0x80 (the i386 ABI), in a child: the same forms
//	probe alloc MB [HOLD]   map MB megabytes, touch every page, print "allocated: MB", then sleep HOLD (a Go duration)
//
// Output is one line per attempt and stable, for tests to compare. The exit
// status is 0 when every attempt could be made, whatever its result, and 2
// for a usage error (such as an unknown name).
//
// Every attempt is chosen to be harmless where it succeeds: invalid file
// descriptors, paths that do not exist, read-only queries.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const missing = "/nonexistent-sandbox-probe"

// atFdcwd is AT_FDCWD (-100) as a system call argument; converting a
// variable, not the constant, gives its two's complement.
var (
	atFdcwdInt = unix.AT_FDCWD
	atFdcwd    = uintptr(atFdcwdInt)
)

// amd64-only numbers (arch/x86/entry/syscalls/syscall_64.tbl), which
// x/sys/unix defines only when building for amd64.
const (
	amd64ModifyLDT = 154
	amd64Iopl      = 172
	amd64Ioperm    = 173
)

func raw(nr uintptr, args ...uintptr) error {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e != 0 {
		return e
	}
	return nil
}

func amd64Only(nr uintptr, args ...uintptr) func() error {
	return func() error {
		if runtime.GOARCH != "amd64" {
			return unix.ENOSYS // the call does not exist here
		}
		return raw(nr, args...)
	}
}

func ptr(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return uintptr(unsafe.Pointer(p))
}

// attempts maps a name to one harmless try of that system call.
var attempts = map[string]func() error{
	// namespaces. A multi-threaded process (any Go program) gets EINVAL
	// from unshare(CLONE_NEWUSER) even when it is allowed; clone_newuser
	// is the check that a new user namespace can really be made.
	"unshare":       func() error { return unix.Unshare(unix.CLONE_NEWUSER) },
	"clone_newuser": cloneNewUser,
	"clone3":        func() error { return raw(unix.SYS_CLONE3, 0, 0) },
	"setns":         func() error { return raw(unix.SYS_SETNS, ^uintptr(0), 0) },

	// mounts
	"mount":         func() error { return unix.Mount("none", missing, "tmpfs", 0, "") },
	"umount2":       func() error { return unix.Unmount(missing, 0) },
	"pivot_root":    func() error { return unix.PivotRoot(missing, missing) },
	"chroot":        func() error { return unix.Chroot(missing) },
	"open_tree":     func() error { return raw(unix.SYS_OPEN_TREE, atFdcwd, ptr(missing), 0) },
	"move_mount":    func() error { return raw(unix.SYS_MOVE_MOUNT, ^uintptr(0), ptr(""), ^uintptr(0), ptr(""), 0) },
	"fsopen":        func() error { return raw(unix.SYS_FSOPEN, ptr("nonexistent-sandbox-probe-fs"), 0) },
	"fsconfig":      func() error { return raw(unix.SYS_FSCONFIG, ^uintptr(0), 0, 0, 0, 0) },
	"fsmount":       func() error { return raw(unix.SYS_FSMOUNT, ^uintptr(0), 0, 0) },
	"fspick":        func() error { return raw(unix.SYS_FSPICK, atFdcwd, ptr(missing), 0) },
	"mount_setattr": func() error { return raw(unix.SYS_MOUNT_SETATTR, ^uintptr(0), ptr(""), 0, 0, 0) },

	// keyrings
	"keyctl": func() error {
		_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
		return err
	},
	"add_key": func() error {
		_, err := unix.AddKey("user", "sandbox-probe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		return err
	},
	"request_key": func() error {
		_, err := unix.RequestKey("user", "sandbox-probe-nonexistent", "", unix.KEY_SPEC_PROCESS_KEYRING)
		return err
	},

	// kernel attack surface
	"bpf":             func() error { return raw(unix.SYS_BPF, 0xffff, 0, 0) },
	"perf_event_open": func() error { return raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0) },
	"userfaultfd":     closeFd(func() (int, error) { return rawFd(unix.SYS_USERFAULTFD, unix.O_CLOEXEC) }),
	"io_uring_setup":  func() error { return raw(unix.SYS_IO_URING_SETUP, 1, 0) },
	"io_uring_enter":  func() error { return raw(unix.SYS_IO_URING_ENTER, ^uintptr(0), 0, 0, 0, 0, 0) },
	"io_uring_register": func() error {
		return raw(unix.SYS_IO_URING_REGISTER, ^uintptr(0), 0, 0, 0)
	},
	"fanotify_init": closeFd(func() (int, error) { return unix.FanotifyInit(unix.FAN_CLOEXEC, 0) }),

	// other processes
	"ptrace":            func() error { return raw(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 0) },
	"process_vm_readv":  func() error { return raw(unix.SYS_PROCESS_VM_READV, uintptr(os.Getpid()), 0, 0, 0, 0, 0) },
	"process_vm_writev": func() error { return raw(unix.SYS_PROCESS_VM_WRITEV, uintptr(os.Getpid()), 0, 0, 0, 0, 0) },
	"pidfd_getfd":       func() error { return raw(unix.SYS_PIDFD_GETFD, ^uintptr(0), 0, 0) },
	"kcmp": func() error {
		pid := uintptr(os.Getpid())
		return raw(unix.SYS_KCMP, pid, pid, 0 /* KCMP_FILE */, 0, 0)
	},

	// the kernel and the machine
	"kexec_load":      func() error { return raw(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0xffffffff) },
	"kexec_file_load": func() error { return raw(unix.SYS_KEXEC_FILE_LOAD, ^uintptr(0), ^uintptr(0), 0, 0, 0xffffffff) },
	"init_module":     func() error { return raw(unix.SYS_INIT_MODULE, 0, 0, ptr("")) },
	"finit_module":    func() error { return raw(unix.SYS_FINIT_MODULE, ^uintptr(0), ptr(""), 0) },
	"delete_module":   func() error { return raw(unix.SYS_DELETE_MODULE, ptr("sandbox_probe_nonexistent"), unix.O_NONBLOCK) },
	"reboot":          func() error { return raw(unix.SYS_REBOOT, 0, 0, 0, 0) }, // bad magic: EINVAL when allowed
	"swapon":          func() error { return raw(unix.SYS_SWAPON, ptr(missing), 0) },
	"swapoff":         func() error { return raw(unix.SYS_SWAPOFF, ptr(missing)) },
	"acct":            func() error { return raw(unix.SYS_ACCT, ptr(missing+"/acct")) },
	"quotactl":        func() error { return raw(unix.SYS_QUOTACTL, 0x800005 /* Q_GETINFO, USRQUOTA */, ptr(missing), 0, 0) },
	"syslog":          func() error { return raw(unix.SYS_SYSLOG, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0) },
	"iopl":            amd64Only(amd64Iopl, 0),
	"ioperm":          amd64Only(amd64Ioperm, 0, 0, 0),
	"modify_ldt":      amd64Only(amd64ModifyLDT, 0, 0, 0),

	// the clock: only reads or impossible requests
	"settimeofday":  func() error { return raw(unix.SYS_SETTIMEOFDAY, 0, 0) },
	"clock_settime": func() error { return raw(unix.SYS_CLOCK_SETTIME, unix.CLOCK_MONOTONIC, 0) },
	"adjtimex": func() error {
		var tx unix.Timex // modes 0: read only
		_, err := unix.Adjtimex(&tx)
		return err
	},
	"clock_adjtime": func() error {
		var tx unix.Timex
		return raw(unix.SYS_CLOCK_ADJTIME, unix.CLOCK_REALTIME, uintptr(unsafe.Pointer(&tx)))
	},

	// file handles
	"open_by_handle_at": func() error { return raw(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0) },
	"name_to_handle_at": func() error {
		_, _, err := unix.NameToHandleAt(unix.AT_FDCWD, missing, 0)
		return err
	},

	// others
	"personality": func() error {
		// ADDR_NO_RANDOMIZE for this process only; then put it back.
		old, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		if e != 0 {
			return e
		}
		if _, _, e := unix.Syscall(unix.SYS_PERSONALITY, old|0x0040000 /* ADDR_NO_RANDOMIZE */, 0, 0); e != 0 {
			return e
		}
		unix.Syscall(unix.SYS_PERSONALITY, old, 0, 0)
		return nil
	},
	"sethostname": func() error {
		name, err := os.Hostname()
		if err != nil {
			return err
		}
		return unix.Sethostname([]byte(name)) // the same name: no change if allowed
	},
	"socket_vsock":  closeFd(func() (int, error) { return unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0) }),
	"socket_packet": closeFd(func() (int, error) { return unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) }),
	"socket_unix":   closeFd(func() (int, error) { return unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0) }),
	"socket_inet":   closeFd(func() (int, error) { return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) }),
	"mkdir": func() error {
		dir := fmt.Sprintf("%s/sandbox-probe-%d", os.TempDir(), os.Getpid())
		if err := unix.Mkdirat(unix.AT_FDCWD, dir, 0o700); err != nil {
			return err
		}
		return unix.Rmdir(dir)
	},
	"unknown": func() error { return raw(1000) }, // a number no kernel has used yet
}

func rawFd(nr uintptr, args ...uintptr) (int, error) {
	var a [3]uintptr
	copy(a[:], args)
	r, _, e := unix.Syscall(nr, a[0], a[1], a[2])
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func closeFd(f func() (int, error)) func() error {
	return func() error {
		fd, err := f()
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
}

// cloneNewUser starts this program again in a new user namespace, the way
// a runtime would; the child exits at once.
func cloneNewUser() error {
	cmd := exec.Command("/proc/self/exe", "exit")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	err := cmd.Run()
	if errno, ok := unwrapErrno(err); ok {
		return errno
	}
	return err
}

func unwrapErrno(err error) (unix.Errno, bool) {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return e, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return 0, false
		}
		err = u.Unwrap()
	}
	return 0, false
}

// result renders an attempt's outcome: "ok" or "errno=NAME".
func result(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := unwrapErrno(err); ok {
		if name := unix.ErrnoName(e); name != "" {
			return "errno=" + name
		}
		return "errno=" + strconv.Itoa(int(e))
	}
	return "error=" + strings.ReplaceAll(err.Error(), " ", "_")
}

// tiocsti pushes a NUL byte into a terminal's input, the attack TIOCSTI
// allows: on the caller's terminal a real attacker would type a command.
func tiocsti() {
	fd, closeIt := 0, false
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		if f, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0); err == nil {
			fd, closeIt = f, true
		} else if f, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
			fd, closeIt = f, true // not a terminal: ENOTTY when the filter allows the call
		}
	}
	var c byte
	for _, t := range []struct {
		name string
		cmd  uintptr
	}{{"tiocsti", unix.TIOCSTI}, {"tiocsti_high", uintptr(uint64(unix.TIOCSTI) | 1<<32)}} {
		err := raw(unix.SYS_IOCTL, uintptr(fd), t.cmd, uintptr(unsafe.Pointer(&c)))
		fmt.Printf("%s: %s\n", t.name, result(err))
	}
	if closeIt {
		unix.Close(fd)
	}
}

func fds() error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	var nums []int
	for _, n := range names {
		if i, err := strconv.Atoi(n); err == nil && i != int(d.Fd()) {
			nums = append(nums, i)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		// An fd with FD_CLOEXEC set cannot have survived the exec of this
		// program: the Go runtime opened it (cgroup CPU files, epoll).
		// Only the others were inherited from the sandbox.
		if flags, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(n))
		if err != nil {
			continue // closed meanwhile by the Go runtime
		}
		fmt.Printf("fd %d: %s\n", n, target)
	}
	return nil
}

func caps() error {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	want := map[string]bool{"CapInh": true, "CapPrm": true, "CapEff": true, "CapBnd": true, "CapAmb": true,
		"NoNewPrivs": true, "Seccomp": true, "Seccomp_filters": true}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if ok && want[key] {
			fmt.Printf("%s: %s\n", key, strings.TrimSpace(value))
		}
	}
	return nil
}

// ids prints who this process is: the set-id tests compare it with the
// caller's mapped id to see whether a set-user-ID file gained anything.
func ids() error {
	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	groups, err := unix.Getgroups()
	if err != nil {
		return err
	}
	fmt.Printf("uid: %d %d %d\ngid: %d %d %d\n", ruid, euid, suid, rgid, egid, sgid)
	g := make([]string, len(groups))
	for i, n := range groups {
		g[i] = strconv.Itoa(n)
	}
	fmt.Printf("groups: %s\n", strings.Join(g, " "))
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			fmt.Printf("CapEff: %s\n", strings.TrimSpace(v))
		}
	}
	return nil
}

// ptraceAttach attaches to pid and, if that worked, detaches at once. A
// waitpid between the two is required before PTRACE_DETACH (ptrace(2)).
func ptraceAttach(pid int) error {
	runtime.LockOSThread() // ptrace requests must come from the tracing thread
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		return err
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WALL, nil)
	return unix.PtraceDetach(pid)
}

// tioclinux asks for a paste of the console selection into fd 0, the
// TIOCLINUX subcode that types into a virtual console (CVE-2023-28100). On
// a pseudo-terminal the kernel answers ENOTTY when the filter lets it by.
func tioclinux() {
	sub := [1]byte{3} // TIOCL_PASTESEL
	err := raw(unix.SYS_IOCTL, 0, unix.TIOCLINUX, uintptr(unsafe.Pointer(&sub[0])))
	fmt.Printf("tioclinux: %s\n", result(err))
}

// keyring prints the serial numbers of the session and user keyrings
// without creating them: the same number as the caller's means the box
// shares the caller's keys.
func keyring() {
	for _, k := range []struct {
		name string
		id   int
	}{{"session", unix.KEY_SPEC_SESSION_KEYRING}, {"user", unix.KEY_SPEC_USER_KEYRING}} {
		id, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, k.id, 0, 0, 0)
		if err != nil {
			fmt.Printf("%s: %s\n", k.name, result(err))
			continue
		}
		fmt.Printf("%s: %d\n", k.name, id)
	}
}

// connect makes one connection attempt: kind is tcp (addr HOST:PORT),
// unix-abstract (addr a name without the leading NUL) or unix (addr a path).
func connect(kind, addr string) error {
	var sa unix.Sockaddr
	family := unix.AF_UNIX
	switch kind {
	case "tcp":
		host, port, ok := strings.Cut(addr, ":")
		p, err := strconv.Atoi(port)
		ip := net4(host)
		if !ok || err != nil || ip == nil {
			return fmt.Errorf("want IPv4:PORT, got %q", addr)
		}
		sa4 := &unix.SockaddrInet4{Port: p}
		copy(sa4.Addr[:], ip)
		sa, family = sa4, unix.AF_INET
	case "unix-abstract":
		sa = &unix.SockaddrUnix{Name: "@" + addr}
	case "unix":
		sa = &unix.SockaddrUnix{Name: addr}
	default:
		return fmt.Errorf("unknown kind %q: want tcp, unix-abstract or unix", kind)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("connect: %s\n", result(err))
		return nil
	}
	defer unix.Close(fd)
	fmt.Printf("connect: %s\n", result(unix.Connect(fd, sa)))
	return nil
}

// net4 parses a dotted IPv4 address; nil if it is not one.
func net4(s string) []byte {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return nil
	}
	ip := make([]byte, 4)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return nil
		}
		ip[i] = byte(n)
	}
	return ip
}

// netlinkLinks lists interfaces the way ip(8) does, over NETLINK_ROUTE,
// rather than through /proc or /sys, which a box may mask.
func netlinkLinks() error {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		fmt.Printf("netlink: %s\n", result(err))
		return nil
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return err
		}
		for _, a := range attrs {
			if a.Attr.Type == syscall.IFLA_IFNAME {
				fmt.Printf("link: %s\n", strings.TrimRight(string(a.Value), "\x00"))
			}
		}
	}
	return nil
}

// otherABI runs this program again as "probe abi-child ABI" and reports how
// the child fared: a filter that kills on a foreign ABI kills the child, not
// this process, so the outcome can be printed.
func otherABI(abi string) error {
	cmd := exec.Command("/proc/self/exe", "abi-child", abi)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Printf("%s: killed=%s\n", abi, unix.SignalName(ws.Signal()))
			return nil
		}
		return fmt.Errorf("%s child: %v: %s", abi, err, ee.Stderr)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s\n", abi, strings.TrimSpace(string(out)))
	return nil
}

// abiChild makes one getpid call through another ABI and prints "ok" or
// "errno=NAME"; getpid changes nothing, so success is harmless.
func abiChild(abi string) {
	if runtime.GOARCH != "amd64" {
		fmt.Println(result(unix.ENOSYS)) // no such ABI on this architecture
		return
	}
	switch abi {
	case "x32":
		// x32 calls are x86-64 numbers with bit 30 set (__X32_SYSCALL_BIT).
		// A kernel without CONFIG_X86_X32_ABI answers ENOSYS.
		const x32Bit = 0x40000000
		_, _, e := unix.RawSyscall(unix.SYS_GETPID|x32Bit, 0, 0, 0)
		if e != 0 {
			fmt.Println(result(e))
			return
		}
		fmt.Println("ok")
	case "i386":
		r := int80Getpid()
		if r < 0 && r > -4096 {
			fmt.Println(result(unix.Errno(-r)))
			return
		}
		fmt.Println("ok")
	}
}

// int80Getpid runs "mov eax, 20 (getpid); int 0x80; ret" from an executable
// page: an i386 system call made by a 64-bit process, which seccomp sees
// with AUDIT_ARCH_I386. It is called through a hand-made func value (the
// first word of a Go func value is its code address), which keeps the probe
// one file with no assembly; the code only clobbers eax, which Go's
// internal ABI treats as clobbered by any call. The kernel preserves r8-r11
// across int 0x80 since Linux 4.17.
func int80Getpid() int32 {
	code := []byte{0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3}
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Println(result(err))
		os.Exit(0)
	}
	copy(mem, code)
	fv := &struct{ pc uintptr }{uintptr(unsafe.Pointer(&mem[0]))}
	var call func() int32
	*(*unsafe.Pointer)(unsafe.Pointer(&call)) = unsafe.Pointer(fv)
	return call()
}

// alloc maps mb megabytes and writes to every page, so that the kernel
// charges all of it to the box's memory cgroup (an untouched mapping costs
// nothing); it then holds the memory for hold. mmap rather than a Go slice:
// the Go heap would grow in steps and the garbage collector could hand
// pages back before the peak is measured.
func alloc(mb int, hold time.Duration) error {
	mem, err := unix.Mmap(-1, 0, mb<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap %d MB: %w", mb, err)
	}
	page := unix.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i] = 1
	}
	fmt.Printf("allocated: %d\n", mb)
	time.Sleep(hold)
	return unix.Munmap(mem)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe syscall NAME... | tiocsti | tioclinux | fds | caps | ids | keyring | list |")
	fmt.Fprintln(os.Stderr, "       ptrace-attach PID | connect tcp|unix-abstract|unix ADDR | netlink-links | open-write PATH | x32 | i386 | alloc MB [HOLD] |")
	fmt.Fprintln(os.Stderr, "       http URL... | resolve NAME... | nft-flush | shmget KEY")
	os.Exit(2)
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "exit": // the child of clone_newuser
		return
	case "list":
		var names []string
		for n := range attempts {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, "\n"))
	case "syscall":
		if len(os.Args) < 3 {
			usage()
		}
		for _, name := range os.Args[2:] {
			if attempts[name] == nil {
				fmt.Fprintf(os.Stderr, "probe: unknown name %q; see probe list\n", name)
				os.Exit(2)
			}
		}
		for _, name := range os.Args[2:] {
			fmt.Printf("%s: %s\n", name, result(attempts[name]()))
		}
	case "shmget":
		// A SysV shared memory segment of key KEY, left in the IPC
		// namespace (/proc/sysvipc/shm lists it).
		if len(os.Args) < 3 {
			usage()
		}
		key, err := strconv.Atoi(os.Args[2])
		fail(err)
		id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|0o600)
		fail(err)
		fmt.Printf("shmid: %d\n", id)
	case "tiocsti":
		tiocsti()
	case "fds":
		if err := fds(); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(1)
		}
	case "caps":
		if err := caps(); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(1)
		}
	case "ids":
		fail(ids())
	case "ptrace-attach":
		if len(os.Args) != 3 {
			usage()
		}
		pid, err := strconv.Atoi(os.Args[2])
		if err != nil {
			usage()
		}
		fmt.Printf("ptrace_attach: %s\n", result(ptraceAttach(pid)))
	case "tioclinux":
		tioclinux()
	case "keyring":
		keyring()
	case "connect":
		if len(os.Args) != 4 {
			usage()
		}
		fail(connect(os.Args[2], os.Args[3]))
	case "netlink-links":
		fail(netlinkLinks())
	case "open-write":
		if len(os.Args) != 3 {
			usage()
		}
		fd, err := unix.Open(os.Args[2], unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err == nil {
			unix.Close(fd)
		}
		fmt.Printf("open_write: %s\n", result(err))
	case "x32", "i386":
		fail(otherABI(os.Args[1]))
	case "alloc":
		if len(os.Args) < 3 || len(os.Args) > 4 {
			usage()
		}
		mb, err := strconv.Atoi(os.Args[2])
		if err != nil || mb <= 0 {
			usage()
		}
		var hold time.Duration
		if len(os.Args) == 4 {
			if hold, err = time.ParseDuration(os.Args[3]); err != nil {
				usage()
			}
		}
		fail(alloc(mb, hold))
	case "abi-child": // the child of x32 and i386
		if len(os.Args) != 3 {
			usage()
		}
		abiChild(os.Args[2])
	default:
		if !handed(os.Args[1:]) && !netProbe(os.Args[1:]) { // handed.go, net.go
			usage()
		}
	}
}
