//go:build amd64

package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Numbers of the other x86 ABIs, which x/sys/unix has no tables for on
// amd64 (arch/x86/entry/syscalls/syscall_32.tbl and syscall_64.tbl).
const (
	x32Bit       = 0x40000000 // __X32_SYSCALL_BIT
	x32Execve    = 520        // x32's own execve entry
	i386Read     = 3
	i386Mkdir    = 39
	i386Execve   = 11
	i386Unshare  = 310
	i386Vm86     = 166
	sysUnknown   = 1000
	ttyTCGETS    = 0x5401
	ttyTIOCGWINZ = 0x5413
)

type verdictCase struct {
	name string
	d    seccompData
	want uint32
}

func x64(nr uint32, args ...uint64) seccompData {
	d := seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64}
	copy(d.args[:], args)
	return d
}

func i386(nr uint32, args ...uint64) seccompData {
	d := seccompData{nr: nr, arch: unix.AUDIT_ARCH_I386}
	copy(d.args[:], args)
	return d
}

// defaultPolicyCases states the default profile's promises with syscall
// numbers from x/sys/unix, independent of libseccomp's tables.
func defaultPolicyCases() []verdictCase {
	eperm := errnoRet(unix.EPERM)
	enosys := errnoRet(unix.ENOSYS)
	eafnosupport := errnoRet(unix.EAFNOSUPPORT)
	const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	cases := []verdictCase{
		// what every program does
		{"read", x64(unix.SYS_READ), retAllow},
		{"write", x64(unix.SYS_WRITE), retAllow},
		{"openat", x64(unix.SYS_OPENAT), retAllow},
		{"execve", x64(unix.SYS_EXECVE), retAllow},
		{"mmap", x64(unix.SYS_MMAP), retAllow},
		{"futex", x64(unix.SYS_FUTEX), retAllow},
		{"exit_group", x64(unix.SYS_EXIT_GROUP), retAllow},
		{"mkdir", x64(unix.SYS_MKDIR), retAllow},
		{"rt_sigreturn", x64(unix.SYS_RT_SIGRETURN), retAllow},
		{"seccomp (self-restriction)", x64(unix.SYS_SECCOMP), retAllow},

		// clone: threads and fork yes, namespaces no
		{"clone thread", x64(unix.SYS_CLONE, threadFlags), retAllow},
		{"clone fork", x64(unix.SYS_CLONE, uint64(unix.SIGCHLD)), retAllow},
		{"clone vfork", x64(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_VFORK|uint64(unix.SIGCHLD)), retAllow},
		{"clone CLONE_NEWUSER", x64(unix.SYS_CLONE, unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), eperm},
		{"clone CLONE_NEWNS", x64(unix.SYS_CLONE, unix.CLONE_NEWNS), eperm},
		{"clone CLONE_NEWPID", x64(unix.SYS_CLONE, unix.CLONE_NEWPID), eperm},
		{"clone CLONE_NEWNET", x64(unix.SYS_CLONE, unix.CLONE_NEWNET), eperm},
		{"clone CLONE_NEWIPC", x64(unix.SYS_CLONE, unix.CLONE_NEWIPC), eperm},
		{"clone CLONE_NEWUTS", x64(unix.SYS_CLONE, unix.CLONE_NEWUTS), eperm},
		{"clone CLONE_NEWCGROUP", x64(unix.SYS_CLONE, unix.CLONE_NEWCGROUP), eperm},
		{"clone thread|CLONE_NEWUSER", x64(unix.SYS_CLONE, threadFlags|unix.CLONE_NEWUSER), eperm},
		{"clone CLONE_NEWUSER|1<<32", x64(unix.SYS_CLONE, unix.CLONE_NEWUSER|1<<32), eperm},
		{"clone3", x64(unix.SYS_CLONE3), enosys},
		{"unshare", x64(unix.SYS_UNSHARE, unix.CLONE_NEWUSER), eperm},
		{"unshare(0)", x64(unix.SYS_UNSHARE, 0), eperm},
		{"setns", x64(unix.SYS_SETNS), eperm},

		// ioctl: the cmd is an unsigned int, so the upper half must not matter
		{"ioctl TIOCSTI", x64(unix.SYS_IOCTL, 0, unix.TIOCSTI), eperm},
		{"ioctl TIOCSTI|1<<32", x64(unix.SYS_IOCTL, 0, unix.TIOCSTI|1<<32), eperm},
		{"ioctl TIOCSTI|0xffffffff<<32", x64(unix.SYS_IOCTL, 0, unix.TIOCSTI|0xffffffff00000000), eperm},
		{"ioctl TIOCLINUX", x64(unix.SYS_IOCTL, 0, unix.TIOCLINUX), eperm},
		{"ioctl TIOCLINUX|1<<40", x64(unix.SYS_IOCTL, 0, unix.TIOCLINUX|1<<40), eperm},
		{"ioctl TCGETS", x64(unix.SYS_IOCTL, 0, ttyTCGETS), retAllow},
		{"ioctl TIOCGWINSZ", x64(unix.SYS_IOCTL, 1, ttyTIOCGWINZ), retAllow},
		{"ioctl TIOCSTI<<32 (kernel sees 0)", x64(unix.SYS_IOCTL, 0, unix.TIOCSTI<<32), retAllow},
		{"ioctl FIONREAD (0x541b)", x64(unix.SYS_IOCTL, 3, 0x541b), retAllow},
		// what would change a terminal for its later users (issue #15)
		{"ioctl TIOCEXCL", x64(unix.SYS_IOCTL, 0, unix.TIOCEXCL), eperm},
		{"ioctl TIOCEXCL|1<<32", x64(unix.SYS_IOCTL, 0, unix.TIOCEXCL|1<<32), eperm},
		{"ioctl TCXONC", x64(unix.SYS_IOCTL, 1, unix.TCXONC), eperm},
		{"ioctl TIOCSETD", x64(unix.SYS_IOCTL, 0, unix.TIOCSETD), eperm},
		{"ioctl TIOCCONS", x64(unix.SYS_IOCTL, 0, unix.TIOCCONS), eperm},
		// what a --tty box's own programs need: raw mode, job control, size
		{"ioctl TCSETS", x64(unix.SYS_IOCTL, 0, unix.TCSETS), retAllow},
		{"ioctl TCSETSW", x64(unix.SYS_IOCTL, 0, unix.TCSETSW), retAllow},
		{"ioctl TCSETSF", x64(unix.SYS_IOCTL, 0, unix.TCSETSF), retAllow},
		{"ioctl TIOCSPGRP", x64(unix.SYS_IOCTL, 0, unix.TIOCSPGRP), retAllow},
		{"ioctl TIOCSWINSZ", x64(unix.SYS_IOCTL, 0, unix.TIOCSWINSZ), retAllow},
		{"ioctl TIOCSCTTY", x64(unix.SYS_IOCTL, 0, unix.TIOCSCTTY), retAllow},
		{"ioctl TIOCNXCL", x64(unix.SYS_IOCTL, 0, unix.TIOCNXCL), retAllow},
		{"ioctl TCFLSH", x64(unix.SYS_IOCTL, 0, unix.TCFLSH), retAllow},

		// the old AIO is charged to the host-wide fs.aio-nr: unimplemented,
		// so programs fall back (issue #15)
		{"io_setup", x64(unix.SYS_IO_SETUP), enosys},
		{"io_submit", x64(unix.SYS_IO_SUBMIT), enosys},
		{"io_getevents", x64(unix.SYS_IO_GETEVENTS), enosys},
		{"io_pgetevents", x64(unix.SYS_IO_PGETEVENTS), enosys},
		{"io_destroy", x64(unix.SYS_IO_DESTROY), enosys},
		{"io_cancel", x64(unix.SYS_IO_CANCEL), enosys},

		// personality: Docker's harmless values only
		{"personality PER_LINUX", x64(unix.SYS_PERSONALITY, 0), retAllow},
		{"personality PER_LINUX32", x64(unix.SYS_PERSONALITY, 0x8), retAllow},
		{"personality UNAME26", x64(unix.SYS_PERSONALITY, 0x20000), retAllow},
		{"personality UNAME26|PER_LINUX32", x64(unix.SYS_PERSONALITY, 0x20008), retAllow},
		{"personality query", x64(unix.SYS_PERSONALITY, 0xffffffff), retAllow},
		{"personality 1<<32 (kernel sees PER_LINUX)", x64(unix.SYS_PERSONALITY, 1<<32), retAllow},
		{"personality ADDR_NO_RANDOMIZE", x64(unix.SYS_PERSONALITY, 0x0040000), eperm},
		{"personality READ_IMPLIES_EXEC", x64(unix.SYS_PERSONALITY, 0x0400000), eperm},
		{"personality PER_BSD", x64(unix.SYS_PERSONALITY, 0x6), eperm},

		// socket families
		{"socket AF_UNIX", x64(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM), retAllow},
		{"socket AF_INET", x64(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM), retAllow},
		{"socket AF_INET6", x64(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_STREAM), retAllow},
		{"socket AF_NETLINK", x64(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW), retAllow},
		{"socket AF_VSOCK", x64(unix.SYS_SOCKET, unix.AF_VSOCK), eafnosupport},
		{"socket AF_PACKET", x64(unix.SYS_SOCKET, unix.AF_PACKET), eafnosupport},
		{"socket AF_ALG", x64(unix.SYS_SOCKET, unix.AF_ALG), eafnosupport},
		{"socket AF_BLUETOOTH", x64(unix.SYS_SOCKET, unix.AF_BLUETOOTH), eafnosupport},
		{"socket AF_UNIX|1<<32", x64(unix.SYS_SOCKET, unix.AF_UNIX|1<<32), eafnosupport},
		{"socketpair", x64(unix.SYS_SOCKETPAIR, unix.AF_UNIX), retAllow},

		// unknown and newer system calls look unimplemented
		{"unknown 1000", x64(sysUnknown), enosys},
		{"highest non-x32 number", x64(x32Bit - 1), enosys},
		{"nr -1", x64(0xffffffff), enosys},
		{"ustat (not listed)", x64(unix.SYS_USTAT), enosys},
		{"mbind (not listed)", x64(unix.SYS_MBIND), enosys},

		// other ABIs
		{"i386 read", i386(i386Read), retKillProcess},
		{"i386 execve", i386(i386Execve), retKillProcess},
		{"i386 unshare", i386(i386Unshare), retKillProcess},
		{"i386 vm86", i386(i386Vm86), retKillProcess},
		{"x32 read", x64(x32Bit | unix.SYS_READ), retKillProcess},
		{"x32 unshare", x64(x32Bit|unix.SYS_UNSHARE, unix.CLONE_NEWUSER), retKillProcess},
		{"x32 execve", x64(x32Bit | x32Execve), retKillProcess},
		{"aarch64 on x86-64", seccompData{nr: 0, arch: unix.AUDIT_ARCH_AARCH64}, retKillProcess},
	}
	blocked := map[string]uint32{
		"mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2, "pivot_root": unix.SYS_PIVOT_ROOT,
		"move_mount": unix.SYS_MOVE_MOUNT, "open_tree": unix.SYS_OPEN_TREE, "fsopen": unix.SYS_FSOPEN,
		"fsconfig": unix.SYS_FSCONFIG, "fsmount": unix.SYS_FSMOUNT, "fspick": unix.SYS_FSPICK,
		"mount_setattr": unix.SYS_MOUNT_SETATTR, "chroot": unix.SYS_CHROOT,
		"keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY,
		"bpf": unix.SYS_BPF, "perf_event_open": unix.SYS_PERF_EVENT_OPEN, "userfaultfd": unix.SYS_USERFAULTFD,
		"io_uring_setup": unix.SYS_IO_URING_SETUP, "io_uring_enter": unix.SYS_IO_URING_ENTER,
		"io_uring_register": unix.SYS_IO_URING_REGISTER,
		"ptrace":            unix.SYS_PTRACE, "process_vm_readv": unix.SYS_PROCESS_VM_READV,
		"process_vm_writev": unix.SYS_PROCESS_VM_WRITEV, "pidfd_getfd": unix.SYS_PIDFD_GETFD,
		"kcmp": unix.SYS_KCMP, "process_madvise": unix.SYS_PROCESS_MADVISE,
		"kexec_load": unix.SYS_KEXEC_LOAD, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
		"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
		"delete_module": unix.SYS_DELETE_MODULE, "reboot": unix.SYS_REBOOT,
		"swapon": unix.SYS_SWAPON, "swapoff": unix.SYS_SWAPOFF, "acct": unix.SYS_ACCT,
		"quotactl": unix.SYS_QUOTACTL, "quotactl_fd": unix.SYS_QUOTACTL_FD, "syslog": unix.SYS_SYSLOG,
		"iopl": unix.SYS_IOPL, "ioperm": unix.SYS_IOPERM, "modify_ldt": unix.SYS_MODIFY_LDT,
		"settimeofday": unix.SYS_SETTIMEOFDAY, "clock_settime": unix.SYS_CLOCK_SETTIME,
		"clock_adjtime": unix.SYS_CLOCK_ADJTIME, "adjtimex": unix.SYS_ADJTIMEX,
		"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT, "name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT,
		"lookup_dcookie": unix.SYS_LOOKUP_DCOOKIE, "nfsservctl": unix.SYS_NFSSERVCTL, "uselib": unix.SYS_USELIB,
		"fanotify_init": unix.SYS_FANOTIFY_INIT, "sethostname": unix.SYS_SETHOSTNAME,
		"setdomainname": unix.SYS_SETDOMAINNAME, "vhangup": unix.SYS_VHANGUP,
	}
	for name, nr := range blocked {
		cases = append(cases, verdictCase{name, x64(nr), eperm})
	}
	return cases
}

// TestDefaultPolicy runs the default program, freshly compiled and as
// DefaultProgram returns it, in a BPF interpreter against synthesized
// system calls.
func TestDefaultPolicy(t *testing.T) {
	cached, err := DefaultProgram()
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range []struct {
		name string
		b    []byte
	}{{"Compile", compile(t, Default())}, {"DefaultProgram", cached}} {
		vm := newVM(t, prog.b)
		for _, c := range defaultPolicyCases() {
			if got := run(t, vm, c.d); got != c.want {
				t.Errorf("%s: %s (nr %d, arch %#x, args %#x): got %s, want %s",
					prog.name, c.name, c.d.nr, c.d.arch, c.d.args, retName(got), retName(c.want))
			}
		}
	}
}

// TestArchitecturesListed checks that listing SCMP_ARCH_X86 applies the
// rules to i386 numbers instead of killing, so the architectures field is
// honoured, and that the x32 ABI stays refused unless listed too.
func TestArchitecturesListed(t *testing.T) {
	mk := func(arches []string, archMap []ArchMap) *Profile {
		return &Profile{
			DefaultAction: ActAllow, Architectures: arches, ArchMap: archMap,
			Syscalls: []Syscall{{Names: []string{"mkdir"}, Action: ActErrno}},
		}
	}
	eperm := errnoRet(unix.EPERM)
	tests := []struct {
		name string
		p    *Profile
		want map[string]uint32 // case name -> verdict
	}{
		{"native only", mk(nil, nil), map[string]uint32{"i386 mkdir": retKillProcess, "i386 read": retKillProcess, "x32 read": retKillProcess}},
		{"architectures x86", mk([]string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}, nil),
			map[string]uint32{"i386 mkdir": eperm, "i386 read": retAllow, "x32 read": retKillProcess}},
		{"archMap", mk(nil, []ArchMap{
			{Arch: "SCMP_ARCH_AARCH64", SubArches: []string{"SCMP_ARCH_ARM"}},
			{Arch: "SCMP_ARCH_X86_64", SubArches: []string{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
		}), map[string]uint32{"i386 mkdir": eperm, "i386 read": retAllow, "x32 read": retAllow, "x32 mkdir": eperm}},
	}
	data := map[string]seccompData{
		"i386 mkdir": i386(i386Mkdir),
		"i386 read":  i386(i386Read),
		"x32 read":   x64(x32Bit | unix.SYS_READ),
		"x32 mkdir":  x64(x32Bit | unix.SYS_MKDIR),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := newVM(t, compile(t, tt.p))
			if got := run(t, vm, x64(unix.SYS_MKDIR)); got != eperm {
				t.Errorf("x86-64 mkdir: got %s, want EPERM", retName(got))
			}
			for name, want := range tt.want {
				if got := run(t, vm, data[name]); got != want {
					t.Errorf("%s: got %s, want %s", name, retName(got), retName(want))
				}
			}
		})
	}
}
