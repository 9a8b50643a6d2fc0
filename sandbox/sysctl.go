package sandbox

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The sysctls a Spec may set (Spec.Sysctls, an OCI config's linux.sysctl):
// only those the kernel keeps per namespace, of namespaces the box always
// has of its own, as runc allows them. Anything else would be the host's
// (vm.*, kernel.pid_max before Linux 6.14, fs.file-max) and is refused.
var (
	// nsSysctls: the IPC namespace's. kernel.hostname and
	// kernel.domainname are the UTS namespace's, but their files belong to
	// host root whatever the namespace: the box's root cannot write them
	// (a hostname is set with sethostname, Spec.Hostname).
	nsSysctls = []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
		"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
)

// CheckSysctl refuses a key that is not one of the box's own (fs.mqueue.*,
// of the IPC namespace, too; net.* only with ownNet, a network namespace
// of the box's own), or that is not a plain dotted name: each part
// letters, digits, '_' or '-', so that no key reaches outside /proc/sys
// ("/", "..", empty parts).
func CheckSysctl(key, value string, ownNet bool) error {
	parts := strings.Split(key, ".")
	for _, p := range parts {
		ok := p != ""
		for _, c := range p {
			ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
		}
		if !ok || len(p) >= 64 {
			return fmt.Errorf("%q: not a sysctl name (dotted parts of letters, digits, _ and -)", key)
		}
	}
	if strings.IndexByte(value, 0) >= 0 {
		return fmt.Errorf("%s: the value holds a NUL byte", key)
	}
	switch {
	case slices.Contains(nsSysctls, key):
	case strings.HasPrefix(key, "fs.mqueue.") && len(parts) == 3:
	case parts[0] == "net" && len(parts) > 1:
		if !ownNet {
			return fmt.Errorf("%s: the box has no network namespace of its own (net none)", key)
		}
	default:
		return fmt.Errorf("%s: not a sysctl of the box's own namespaces (IPC: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*; net.* with a network namespace of its own)", key)
	}
	return nil
}

// sysctlOps writes the Spec's sysctls, one op each (a failure names its
// key), sorted, strict: a name the box's namespace lacks fails the box.
func sysctlOps(s *Spec) []Op {
	keys := make([]string, 0, len(s.Sysctls))
	for k := range s.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ops []Op
	for _, k := range keys {
		i := strings.LastIndexByte(k, '.')
		dir := "/proc/sys/" + strings.ReplaceAll(k[:i], ".", "/")
		ops = append(ops, Op{Code: OpSysctl, Flags: FlagStrict, Str: []string{dir, k[i+1:] + "=" + s.Sysctls[k]}})
	}
	return ops
}
