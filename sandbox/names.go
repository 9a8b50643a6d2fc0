package sandbox

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// rlimitByName maps --rlimit names to RLIMIT_* numbers (setrlimit(2)).
var rlimitByName = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU,
	"data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS,
	"memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE,
	"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS,
	"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

func rlimitNames() string {
	var n []string
	for k := range rlimitByName {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func rlimitName(r int) string {
	for k, v := range rlimitByName {
		if v == r {
			return k
		}
	}
	return fmt.Sprint(r)
}

// capNames are the capability names of capabilities(7), by number.
var capNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// Capabilities are the capability names the box knows, as CAP_X (the OCI
// runtime's features).
func Capabilities() []string {
	out := make([]string, len(capNames))
	for i, c := range capNames {
		out[i] = "CAP_" + strings.ToUpper(c)
	}
	return out
}

// IsRlimit tells whether name (as --rlimit takes it: "nofile") is a
// resource the box can limit.
func IsRlimit(name string) bool {
	_, ok := rlimitByName[name]
	return ok
}

// capByName accepts "CAP_NET_RAW", "net_raw" or "NET_RAW".
func capByName(name string) (int, error) {
	n := strings.TrimPrefix(strings.ToLower(name), "cap_")
	for i, c := range capNames {
		if c == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}
