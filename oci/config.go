// Package oci is the OCI runtime side of sandbox: a bundle's config.json
// becomes a sandbox.Spec (ToSpec), containers live in a state directory
// (create, start, state, kill, delete), and cmd/sandbox runs these when
// the binary is invoked as sandbox-oci. It has no setup code of its own:
// boxes are built by the same Plan and init stage as `sandbox exec`'s.
//
// config.json is the source of truth: a field the box cannot honour makes
// ToSpec fail with an error naming it. Where the box is stronger than asked
// (every namespace but the network is always new, no_new_privs is always
// set, /sys is not mounted) the difference is a Note, never an error; the
// box never runs weaker than asked.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sandbox-dev/sandbox/cgroup"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// FieldError is a config.json field the runtime cannot honour.
type FieldError struct {
	Field string // the JSON path, e.g. "linux.namespaces[2]"
	Msg   string
}

func (e *FieldError) Error() string { return "config.json: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Host is what ToSpec reads of the calling process; tests replace it.
type Host struct {
	UID, GID int
	// Umask is the process's umask, which the box inherits.
	Umask int
	// OOMScoreAdj is the process's oom_score_adj, which the box inherits.
	OOMScoreAdj int
	// SubUIDs and SubGIDs are the caller's subordinate ranges (nil: none).
	SubUIDs, SubGIDs []idmap.Range
	// UserNS is the calling process's uid_map and gid_map when it is in a
	// user namespace other than the host's (nil otherwise).
	UserNSUIDs, UserNSGIDs []specs.LinuxIDMapping
	// Exists tells whether a path exists on the host (for masked paths
	// this kernel lacks).
	Exists func(string) bool
}

// ReadHost reads Host from the calling process.
func ReadHost() Host {
	h := Host{UID: os.Getuid(), GID: os.Getgid(), OOMScoreAdj: 0}
	u := syscall.Umask(0)
	syscall.Umask(u)
	h.Umask = u
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		h.OOMScoreAdj, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	name := strconv.Itoa(h.UID)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	h.SubUIDs, _, _ = idmap.SubIDs("uid", name, h.UID)
	h.SubGIDs, _, _ = idmap.SubIDs("gid", name, h.UID)
	if inUserNS() {
		h.UserNSUIDs, _ = readIDMap("/proc/self/uid_map")
		h.UserNSGIDs, _ = readIDMap("/proc/self/gid_map")
	}
	h.Exists = func(p string) bool { _, err := os.Lstat(p); return err == nil }
	return h
}

// Config is a parsed bundle.
type Config struct {
	Bundle string
	Spec   *specs.Spec
}

// LoadBundle reads DIR/config.json. The bundle path is made absolute.
func LoadBundle(dir string) (*Config, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	return loadConfig(abs, filepath.Join(abs, "config.json"))
}

// loadConfig reads a config.json (the bundle's, or create's copy of it in
// the state directory) for the bundle directory abs.
func loadConfig(abs, name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", abs, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("bundle %s: %s: %w", abs, name, err)
	}
	return &Config{Bundle: abs, Spec: &s}, nil
}

// Result is what ToSpec makes of a config.
type Result struct {
	Spec sandbox.Spec
	// Seccomp is the config's linux.seccomp as JSON, for a profile file the
	// runtime writes and names in Spec.Seccomp (nil: the default filter).
	Seccomp []byte
	// Mapping, when set, is the id mapping the box gets instead of the
	// one Spec.Map plans (root in an engine's user namespace).
	Mapping *idmap.Mapping
	// NetNS is a network namespace to join (Spec.Net is then "host").
	NetNS string
	// OOMScoreAdj, when set, is the oom_score_adj the runtime takes
	// before it starts the box, which inherits it (setOOMScoreAdj).
	OOMScoreAdj *int
	// CgroupsPath is linux.cgroupsPath for a runtime run as host root:
	// where the box's cgroup goes (cgroup.NewAt); "" otherwise.
	CgroupsPath string
	// Notes say where the box is stronger than the config asked.
	Notes []string
}

// ToSpec maps a config onto a Spec. Each check is named by the field it
// checks; the first failure is returned.
func ToSpec(c *Config, h Host) (*Result, error) {
	s := c.Spec
	r := &Result{}
	note := func(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }
	sp := &r.Spec

	if !strings.HasPrefix(s.Version, "1.") {
		return nil, fieldErr("ociVersion", "%q: want 1.x", s.Version)
	}
	// The root.
	if s.Root == nil || s.Root.Path == "" {
		return nil, fieldErr("root.path", "required")
	}
	root := s.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(c.Bundle, root)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fieldErr("root.path", "%s: not a directory", root)
	}
	sp.Rootfs = root
	// root.readonly false: the root is writable as its owners and modes
	// allow the box's ids (never host root), nosuid and nodev all the
	// same; the host's mounts below it stay read-only.
	sp.RootfsWritable = !s.Root.Readonly
	if s.Hostname != "" {
		sp.Hostname = s.Hostname
	}
	if s.Domainname != "" {
		return nil, fieldErr("domainname", "not supported")
	}
	if err := mapProcess(s.Process, h, sp, &r.OOMScoreAdj, note); err != nil {
		return nil, err
	}
	if err := mapMounts(s.Mounts, c.Bundle, sp, note); err != nil {
		return nil, err
	}
	if err := checkHooks(s.Hooks); err != nil {
		return nil, err
	}
	if s.Linux == nil {
		return nil, fieldErr("linux", "required")
	}
	if err := mapLinux(s.Linux, s.Process, h, r, note); err != nil {
		return nil, err
	}
	if err := sp.Validate(); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return r, nil
}

func mapProcess(p *specs.Process, h Host, sp *sandbox.Spec, oom **int, note func(string, ...any)) error {
	if p == nil {
		return fieldErr("process", "required")
	}
	// A terminal: the box makes one in its own devpts; create sends its
	// master to --console-socket.
	sp.TTY = p.Terminal
	if len(p.Args) == 0 || p.Args[0] == "" {
		return fieldErr("process.args", "required")
	}
	if p.CommandLine != "" {
		return fieldErr("process.commandLine", "Windows only")
	}
	sp.Args = p.Args
	for i, e := range p.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fieldErr(fmt.Sprintf("process.env[%d]", i), "%q is not KEY=VALUE", e)
		}
	}
	sp.Env = p.Env
	if !path.IsAbs(p.Cwd) {
		return fieldErr("process.cwd", "%q: must be an absolute path", p.Cwd)
	}
	sp.Workdir = p.Cwd
	sp.UID, sp.GID = int(p.User.UID), int(p.User.GID)
	if p.User.Umask != nil && int(*p.User.Umask) != h.Umask {
		return fieldErr("process.user.umask", "%#o: the box inherits the runtime's umask (%#o)", *p.User.Umask, h.Umask)
	}
	if p.User.Username != "" {
		return fieldErr("process.user.username", "Windows only")
	}
	for i, rl := range p.Rlimits {
		n := strings.ToLower(strings.TrimPrefix(rl.Type, "RLIMIT_"))
		if !strings.HasPrefix(rl.Type, "RLIMIT_") || !sandbox.IsRlimit(n) {
			return fieldErr(fmt.Sprintf("process.rlimits[%d].type", i), "unknown resource %q", rl.Type)
		}
		sp.Rlimits = append(sp.Rlimits, sandbox.Rlimit{Name: n, Soft: rl.Soft, Hard: rl.Hard})
	}
	if !p.NoNewPrivileges {
		note("process.noNewPrivileges false: the payload has no_new_privs all the same")
	}
	if p.Capabilities != nil {
		c := p.Capabilities
		// A name no capability has fails, in any set: the spec wants an
		// error for a value that maps to nothing of the kernel's, and
		// dropping it would hide a typo of one the payload needs.
		known := sandbox.Capabilities()
		for _, set := range []struct {
			name  string
			names []string
		}{{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable}, {"permitted", c.Permitted}, {"ambient", c.Ambient}} {
			for i, name := range set.names {
				if !slices.Contains(known, name) {
					return fieldErr(fmt.Sprintf("process.capabilities.%s[%d]", set.name, i), "unknown capability %q (want CAP_ and a name of capabilities(7))", name)
				}
			}
		}
		// The payload keeps exactly the capabilities it may use: those
		// effective, permitted and bounding. A capability only in the bounding,
		// inheritable or ambient set is dropped (stronger).
		// The bounding set is the limit of what the process may ever
		// hold: a capability outside it is not kept, whatever the other
		// sets say.
		for _, name := range c.Effective {
			if slices.Contains(c.Permitted, name) && slices.Contains(c.Bounding, name) && !slices.Contains(sp.CapAdd, name) {
				sp.CapAdd = append(sp.CapAdd, name)
			}
		}
		if len(c.Ambient) > 0 {
			note("process.capabilities.ambient: not raised; the payload keeps its effective and permitted ones until exec")
		}
	}
	if p.OOMScoreAdj != nil && *p.OOMScoreAdj != h.OOMScoreAdj {
		if *p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000 {
			return fieldErr("process.oomScoreAdj", "%d: out of range (-1000 to 1000)", *p.OOMScoreAdj)
		}
		v := *p.OOMScoreAdj
		*oom = &v
	}
	if p.ApparmorProfile != "" {
		return fieldErr("process.apparmorProfile", "%q: AppArmor profiles are not supported", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" {
		return fieldErr("process.selinuxLabel", "SELinux labels are not supported")
	}
	if p.Scheduler != nil {
		return fieldErr("process.scheduler", "not supported")
	}
	if p.IOPriority != nil {
		return fieldErr("process.ioPriority", "not supported")
	}
	if p.ExecCPUAffinity != nil && (p.ExecCPUAffinity.Initial != "" || p.ExecCPUAffinity.Final != "") {
		return fieldErr("process.execCPUAffinity", "not supported")
	}
	return nil
}

// mountOpts are the options of a bind or tmpfs the box can honour: the
// propagation ones (every mount of a box is private) and those the box is
// at least as strict as (nosuid, nodev always).
var mountOpts = map[string]bool{
	"bind": true, "rbind": true, "ro": true, "rw": true, "nosuid": true, "nodev": true,
	"suid": true, "dev": true, "exec": true, "private": true, "rprivate": true,
	"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
	"relatime": true, "norelatime": true, "strictatime": true, "noatime": true, "nodiratime": true,
}

func mapMounts(ms []specs.Mount, bundle string, sp *sandbox.Spec, note func(string, ...any)) error {
	for i, m := range ms {
		field := fmt.Sprintf("mounts[%d]", i)
		dest := path.Clean(m.Destination)
		if !path.IsAbs(m.Destination) {
			return fieldErr(field+".destination", "%q: must be an absolute path", m.Destination)
		}
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return fieldErr(field+".uidMappings", "%s: idmapped mounts are not supported", dest)
		}
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		switch {
		case bind:
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(bundle, src)
			}
			if dest == "/dev/shm" {
				// The engine's shm (podman's, shared in a pod): the box
				// keeps its own, noexec, nosuid, nodev.
				note("mounts %s: the box's own tmpfs, not %s", dest, src)
				continue
			}
			ro := false
			for _, o := range m.Options {
				switch {
				case o == "ro":
					ro = true
				case o == "rw":
					ro = false
				case o == "noexec":
					return fieldErr(field+".options", "%s: noexec on a bind is not supported yet", dest)
				case !mountOpts[o]:
					return fieldErr(field+".options", "%s: option %q not supported", dest, o)
				}
			}
			if slices.Contains(sandbox.DeviceNodes(), dest) {
				continue // the box binds these itself
			}
			if dest == "/sys" && src == "/sys" {
				note("mounts %s: the host's /sys is not bound", dest)
				continue
			}
			t := "bind"
			if ro {
				t = "ro-bind"
			}
			sp.Mounts = append(sp.Mounts, sandbox.Mount{Type: t, Source: src, Dest: dest})
		case m.Type == "proc" && dest == "/proc",
			m.Type == "tmpfs" && dest == "/dev",
			m.Type == "devpts" && dest == "/dev/pts":
			// The box makes its own: a procfs of its pid namespace, a
			// minimal /dev, a devpts instance of its own. Its own are
			// writable where the kernel lets them be: "ro" would be
			// dropped.
			if slices.Contains(m.Options, "ro") {
				return fieldErr(field+".options", "%s: a read-only %s is not supported yet", dest, m.Type)
			}
			for _, o := range m.Options {
				// procfs options restrict it (hidepid=, subset=pid):
				// dropping one would show the payload more.
				if m.Type == "proc" && o != "noexec" && !mountOpts[o] {
					return fieldErr(field+".options", "%s: proc option %q not supported", dest, o)
				}
			}
		case m.Type == "mqueue":
			// The queues of the box's IPC namespace, always its own.
			for _, o := range m.Options {
				if o == "ro" || !mountOpts[o] && o != "noexec" {
					return fieldErr(field+".options", "%s: mqueue option %q not supported", dest, o)
				}
			}
			sp.Mounts = append(sp.Mounts, sandbox.Mount{Type: "mqueue", Dest: dest})
		case m.Type == "sysfs" || m.Type == "cgroup" || m.Type == "cgroup2":
			// Left out: the box is stronger without them, and nothing of
			// the host shows through their absence.
			note("mounts %s (%s): not mounted", dest, m.Type)
		case m.Type == "tmpfs":
			size := int64(0)
			for _, o := range m.Options {
				k, v, _ := strings.Cut(o, "=")
				switch {
				case k == "size":
					n, err := parseSize(v)
					if err != nil {
						return fieldErr(field+".options", "%s: %q: %v", dest, o, err)
					}
					size = n
				case k == "mode" || k == "nr_inodes" || k == "uid" || k == "gid":
				case o == "ro":
					// "ro" is in mountOpts for binds; the box's tmpfs
					// mounts are writable, so it would be dropped.
					return fieldErr(field+".options", "%s: a read-only tmpfs is not supported yet", dest)
				case o == "noexec" && dest != "/dev/shm":
					return fieldErr(field+".options", "%s: noexec on a tmpfs is not supported yet", dest)
				case o == "noexec", o == "tmpcopyup", o == "notmpcopyup":
				case !mountOpts[o]:
					return fieldErr(field+".options", "%s: option %q not supported", dest, o)
				}
			}
			sp.Mounts = append(sp.Mounts, sandbox.Mount{Type: "tmpfs", Dest: dest, Size: size})
		default:
			return fieldErr(field+".type", "%s: mount type %q not supported", dest, m.Type)
		}
	}
	return nil
}

// parseSize reads a tmpfs size: bytes with an optional k, m or g.
func parseSize(v string) (int64, error) {
	mul := int64(1)
	switch {
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mul = 1 << 10
	case strings.HasSuffix(v, "m"), strings.HasSuffix(v, "M"):
		mul = 1 << 20
	case strings.HasSuffix(v, "g"), strings.HasSuffix(v, "G"):
		mul = 1 << 30
	}
	if mul > 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return 0, errors.New("not a size")
	}
	return n * mul, nil
}

func mapLinux(l *specs.Linux, p *specs.Process, h Host, r *Result, note func(string, ...any)) error {
	sp := &r.Spec
	have := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		switch ns.Type {
		case specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
			specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace:
		case specs.TimeNamespace:
			return fieldErr(field, "time namespaces are not supported yet")
		default:
			return fieldErr(field+".type", "unknown namespace %q", ns.Type)
		}
		if have[ns.Type] {
			return fieldErr(field, "%s namespace given twice", ns.Type)
		}
		have[ns.Type] = true
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				return fieldErr(field+".path", "%s: must be an absolute path", ns.Path)
			}
			switch ns.Type {
			case specs.NetworkNamespace:
				r.NetNS = ns.Path
			case specs.IPCNamespace, specs.UTSNamespace:
				// A pod's containers join its first's (the CRI's pause
				// container). setns(2) takes CAP_SYS_ADMIN in the
				// runtime's own user namespace too: a regular user's
				// runtime cannot join anything.
				if h.UID != 0 {
					return fieldErr(field+".path", "%s: joining a %s namespace needs CAP_SYS_ADMIN in the runtime's user namespace (root, or root of an engine's user namespace)", ns.Path, ns.Type)
				}
				if ns.Type == specs.IPCNamespace {
					sp.IPCNS = ns.Path
				} else {
					sp.UTSNS = ns.Path
				}
			default:
				// pid, mount, user, cgroup: the box's own always.
				return fieldErr(field+".path", "%s: joining a %s namespace is not supported", ns.Path, ns.Type)
			}
		}
	}
	if !have[specs.NetworkNamespace] || r.NetNS != "" {
		sp.Net = "host" // the runtime's own network, or the one joined
	}
	for _, t := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace,
		specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace} {
		if !have[t] {
			note("linux.namespaces: a new %s namespace all the same", t)
		}
	}
	if !have[specs.UTSNamespace] && sp.Hostname != "" {
		return fieldErr("hostname", "needs a uts namespace")
	}
	if sp.UTSNS != "" && sp.Hostname != "" {
		// The joined namespace is another user namespace's, where the
		// box's root has no CAP_SYS_ADMIN: its host name is its owner's.
		return fieldErr("hostname", "%q: the uts namespace is joined (%s): its host name is set by its owner, not this box", sp.Hostname, sp.UTSNS)
	}
	if sp.IPCNS != "" {
		// Its message queue file system cannot be mounted by the box
		// (CAP_SYS_ADMIN over the IPC namespace): left out. mq_open(3)
		// reaches the queues without it.
		sp.Mounts = slices.DeleteFunc(sp.Mounts, func(m sandbox.Mount) bool {
			if m.Type == "mqueue" {
				note("mounts %s (mqueue): not mounted: the ipc namespace is joined (%s), and its queues' file system is its owner's to mount", m.Dest, sp.IPCNS)
				return true
			}
			return false
		})
	}
	gids, setgroups, err := mapIDs(l, h, r)
	if err != nil {
		return err
	}
	if p != nil {
		if err := mapGroups(p.User, gids, setgroups, &sp.Groups); err != nil {
			return err
		}
	}
	if err := mapSysctl(l.Sysctl, have, r, note); err != nil {
		return err
	}
	if err := mapResources(l.Resources, sp, note); err != nil {
		return err
	}
	if err := mapCgroupsPath(l.CgroupsPath, h, r, note); err != nil {
		return err
	}
	for i, d := range l.Devices {
		if !slices.Contains(sandbox.DeviceNodes(), path.Clean(d.Path)) {
			return fieldErr(fmt.Sprintf("linux.devices[%d]", i), "%s: only %s are supported", d.Path, strings.Join(sandbox.DeviceNodes(), ", "))
		}
	}
	if l.Seccomp != nil {
		b, err := json.Marshal(l.Seccomp)
		if err != nil {
			return fieldErr("linux.seccomp", "%v", err)
		}
		r.Seccomp = b
	}
	// Masked and read-only paths: any path in the box, resolved inside
	// its root by pid 1 after every mount (a missing one is skipped, as
	// runc skips it); the box's own stay, and are not asked twice.
	masked, ro := sandbox.MaskedPaths(), sandbox.ReadOnlyPaths()
	for i, m := range l.MaskedPaths {
		c := path.Clean(m)
		switch {
		case !path.IsAbs(m) || strings.IndexByte(m, 0) >= 0:
			return fieldErr(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q: must be an absolute path", m)
		case c == "/":
			return fieldErr(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q: the root cannot be masked", m)
		case !slices.Contains(masked, c):
			sp.MaskedPaths = append(sp.MaskedPaths, c)
		}
	}
	for i, m := range l.ReadonlyPaths {
		c := path.Clean(m)
		switch {
		case !path.IsAbs(m) || strings.IndexByte(m, 0) >= 0:
			return fieldErr(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q: must be an absolute path", m)
		case !slices.Contains(ro, c):
			sp.ReadOnlyPaths = append(sp.ReadOnlyPaths, c)
		}
	}
	switch l.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave":
	default:
		return fieldErr("linux.rootfsPropagation", "%q: the box's mounts are private", l.RootfsPropagation)
	}
	if l.MountLabel != "" {
		return fieldErr("linux.mountLabel", "SELinux labels are not supported")
	}
	if l.IntelRdt != nil {
		return fieldErr("linux.intelRdt", "not supported")
	}
	if l.Personality != nil {
		return fieldErr("linux.personality", "not supported")
	}
	if len(l.TimeOffsets) > 0 {
		return fieldErr("linux.timeOffsets", "not supported")
	}
	return nil
}

// mapSysctl keeps the sysctls of the box's own namespaces (as runc
// allows them: sandbox.CheckSysctl); the box writes them after its /proc
// is mounted, before the payload starts. Any other key is refused by name.
func mapSysctl(sysctls map[string]string, have map[specs.LinuxNamespaceType]bool, r *Result, note func(string, ...any)) error {
	sp := &r.Spec
	ownNet := have[specs.NetworkNamespace] && r.NetNS == ""
	for k, v := range sysctls {
		if strings.HasPrefix(k, "net.") && r.NetNS != "" {
			if k == "net.ipv4.ping_group_range" {
				// podman's default: who may open ICMP sockets. Left
				// unset, nobody in the box's network namespace may
				// (stronger).
				note("linux.sysctl %s=%q: not set in the joined network namespace", k, v)
				continue
			}
			// The joined namespace is owned by the engine's user
			// namespace, where the box's root has no capability.
			return fieldErr("linux.sysctl", "%s: not supported in a joined network namespace (%s)", k, r.NetNS)
		}
		if sp.IPCNS != "" && !strings.HasPrefix(k, "net.") && k != "kernel.hostname" {
			// Every other key allowed is the IPC namespace's.
			return fieldErr("linux.sysctl", "%s: the ipc namespace is joined (%s): its limits are its owner's, not this box's to set", k, sp.IPCNS)
		}
		if k == "kernel.hostname" {
			// The UTS namespace's, but its file is host root's: set
			// with sethostname, as the hostname field is.
			if !have[specs.UTSNamespace] || sp.UTSNS != "" || sp.Hostname != "" && sp.Hostname != v {
				return fieldErr("linux.sysctl", "%s=%q: needs a uts namespace, and the hostname field (%q) unset or the same", k, v, sp.Hostname)
			}
			sp.Hostname = v
			continue
		}
		if err := sandbox.CheckSysctl(k, v, ownNet); err != nil {
			return fieldErr("linux.sysctl", "%v", err)
		}
		if sp.Sysctls == nil {
			sp.Sysctls = map[string]string{}
		}
		sp.Sysctls[k] = v
	}
	return nil
}

// mapCgroupsPath takes linux.cgroupsPath for a runtime run as host root
// (containerd, rootful podman), whose engine reads the box's metrics and
// OOM events there. A regular user's box (and root's in an engine's user
// namespace, a regular user on the host) goes in the user's own or
// delegated cgroup, never where the config says: the path is ignored.
func mapCgroupsPath(p string, h Host, r *Result, note func(string, ...any)) error {
	switch {
	case p == "":
		return nil
	case h.UID != 0 || len(h.UserNSUIDs) > 0:
		note("linux.cgroupsPath %q: ignored, a regular user's box goes in the user's own or delegated cgroup", p)
		return nil
	case strings.Contains(p, ":"):
		return fieldErr("linux.cgroupsPath", "%q: the systemd slice:prefix:name form (--systemd-cgroup) is not supported: give a path", p)
	}
	if err := cgroup.CheckPath(p); err != nil {
		return fieldErr("linux.cgroupsPath", "%v", err)
	}
	r.CgroupsPath = p
	return nil
}

// mapResources maps linux.resources onto the box's cgroup limits (the
// cgroup package's, as `sandbox exec --memory/--cpus/--pids`). A field the
// package cannot set is refused by name; where the box is stricter than
// asked (no swap at all) it is a note.
func mapResources(res *specs.LinuxResources, sp *sandbox.Spec, note func(string, ...any)) error {
	if res == nil {
		return nil
	}
	if err := mapMemory(res.Memory, sp, note); err != nil {
		return err
	}
	if err := mapCPU(res.CPU, sp); err != nil {
		return err
	}
	if res.Pids != nil && res.Pids.Limit != nil && *res.Pids.Limit > 0 {
		sp.Limits.Pids = *res.Pids.Limit
	}
	switch {
	case res.BlockIO != nil:
		return fieldErr("linux.resources.blockIO", "not supported")
	case len(res.HugepageLimits) > 0:
		return fieldErr("linux.resources.hugepageLimits", "not supported")
	case res.Network != nil:
		return fieldErr("linux.resources.network", "not supported")
	case len(res.Rdma) > 0:
		return fieldErr("linux.resources.rdma", "not supported")
	case len(res.Unified) > 0:
		return fieldErr("linux.resources.unified", "not supported")
	}
	for i, d := range res.Devices {
		// The box has no device but its own few nodes (and no
		// mknod): a rule that denies is already in force, and one
		// that allows more than those nodes is refused below.
		if d.Allow && d.Type != "c" {
			return fieldErr(fmt.Sprintf("linux.resources.devices[%d]", i), "allowing %q devices is not supported", d.Type)
		}
	}
	return nil
}

func mapMemory(m *specs.LinuxMemory, sp *sandbox.Spec, note func(string, ...any)) error {
	if m == nil {
		return nil
	}
	set := func(p *int64) bool { return p != nil && *p > 0 }
	switch {
	case set(m.Kernel):
		return fieldErr("linux.resources.memory.kernel", "not supported (deprecated by the kernel)")
	case set(m.KernelTCP):
		return fieldErr("linux.resources.memory.kernelTCP", "not supported")
	case m.Swappiness != nil:
		return fieldErr("linux.resources.memory.swappiness", "not supported")
	case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
		return fieldErr("linux.resources.memory.disableOOMKiller", "not supported: the box's OOM killer stays on")
	case m.UseHierarchy != nil && !*m.UseHierarchy:
		return fieldErr("linux.resources.memory.useHierarchy", "false: not supported")
	}
	if set(m.Limit) {
		sp.Limits.Memory = *m.Limit
	}
	if set(m.Reservation) {
		sp.Limits.MemoryReservation = *m.Reservation
	}
	// swap is memory plus swap. The box uses no swap at all (its
	// memory+swap is its memory limit where the kernel accounts swap),
	// which is at least as strict as any swap from the limit up.
	if set(m.Swap) {
		switch {
		case sp.Limits.Memory == 0:
			// Memory and swap together under swap: memory alone under
			// it, no swap, is stricter.
			sp.Limits.Memory = *m.Swap
			note("linux.resources.memory.swap %d without a limit: memory limited to %d, no swap", *m.Swap, *m.Swap)
		case *m.Swap < sp.Limits.Memory:
			return fieldErr("linux.resources.memory.swap", "%d: below the memory limit %d (it counts memory and swap)", *m.Swap, sp.Limits.Memory)
		case *m.Swap > sp.Limits.Memory:
			note("linux.resources.memory.swap %d: the box gets no swap", *m.Swap)
		}
	}
	return nil
}

func mapCPU(c *specs.LinuxCPU, sp *sandbox.Spec) error {
	if c == nil {
		return nil
	}
	switch {
	case c.Cpus != "":
		return fieldErr("linux.resources.cpu.cpus", "%q: cpuset is not supported (the cgroup package has no cpuset controller)", c.Cpus)
	case c.Mems != "":
		return fieldErr("linux.resources.cpu.mems", "%q: cpuset is not supported (the cgroup package has no cpuset controller)", c.Mems)
	case c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0, c.RealtimePeriod != nil && *c.RealtimePeriod != 0:
		return fieldErr("linux.resources.cpu.realtimeRuntime", "not supported")
	case c.Idle != nil && *c.Idle != 0:
		return fieldErr("linux.resources.cpu.idle", "not supported")
	case c.Burst != nil && *c.Burst != 0:
		return fieldErr("linux.resources.cpu.burst", "not supported")
	}
	if c.Shares != nil && *c.Shares > 0 {
		sp.Limits.CPUShares = *c.Shares
	}
	if c.Quota != nil && *c.Quota > 0 {
		period := uint64(100000)
		if c.Period != nil && *c.Period > 0 {
			period = *c.Period
		}
		if period < 1000 || period > 1000000 {
			return fieldErr("linux.resources.cpu.period", "%d: the kernel takes 1000 to 1000000 µs", period)
		}
		if *c.Quota < 1000 {
			return fieldErr("linux.resources.cpu.quota", "%d: the kernel takes at least 1000 µs", *c.Quota)
		}
		sp.Limits.CPUPeriod = period
		sp.Limits.CPUs = float64(*c.Quota) / float64(period)
		if sp.Limits.CPUs > sandbox.MaxCPUs {
			return fieldErr("linux.resources.cpu.quota", "%d: more than %d CPUs' worth of period %d", *c.Quota, sandbox.MaxCPUs, period)
		}
	}
	return nil
}

// mapGroups gives the payload the config's supplementary groups
// (additionalGids but the primary gid) where the box's user namespace lets
// it have them: setgroups(2) allowed there, and every group mapped. A group
// the payload would go without may be what grants it a file, or what a
// file's group is meant to keep out: refused, never dropped.
func mapGroups(u specs.User, gids []syscall.SysProcIDMap, setgroups bool, out *[]int) error {
	var extra []int
	for _, g := range u.AdditionalGids {
		if g != u.GID && !slices.Contains(extra, int(g)) {
			extra = append(extra, int(g))
		}
	}
	if len(extra) == 0 {
		return nil
	}
	if !setgroups {
		return fieldErr("process.user.additionalGids", "%v: the box's user namespace maps one gid (a regular caller's own, where setgroups(2) is denied; "+
			"a root caller's nobody or first id of its range): map a range (linux.gidMappings: the caller at 0 and its /etc/subgid range from 1, through newgidmap)", extra)
	}
	for _, g := range extra {
		if !idmap.Maps(gids, g) {
			return fieldErr("process.user.additionalGids", "%d: not a gid of the box's user namespace (%s)", g, strings.TrimSpace(idmap.MapText(gids)))
		}
	}
	*out = extra
	return nil
}

// mapIDs matches the config's id mappings with the two the box can make:
// the caller's id alone at process.user (idmap.ModeSelf), or the caller at
// 0 and its subordinate ranges from 1 (idmap.ModeAuto, through newuidmap).
// A config without mappings gets the first.
//
// As root in a user namespace not the host's (rootless podman runs its
// runtime so, as root of a namespace that maps the user and its
// subordinate ranges), a config without mappings gets that namespace's ids
// as they are: the box's root is the engine's root, the user on the host,
// as with runc, in a user namespace of its own. The rule that a box never
// runs as root is about host root, which such a process is not.
//
// It returns the box's gid map and whether setgroups(2) is allowed in it
// (for mapGroups): so it is with a map of the caller's subordinate ranges
// (newgidmap allows it) and in an engine's user namespace; a map of one
// gid has the caller's gid alone, or a root caller's one gid.
func mapIDs(l *specs.Linux, h Host, r *Result) ([]syscall.SysProcIDMap, bool, error) {
	sp := &r.Spec
	if len(l.UIDMappings) == 0 && len(l.GIDMappings) == 0 {
		sp.Map = idmap.ModeSelf
		if h.UID == 0 && len(h.UserNSUIDs) > 0 && len(h.UserNSGIDs) > 0 {
			m := idmap.Mapping{
				UIDs: identity(h.UserNSUIDs), GIDs: identity(h.UserNSGIDs),
				SetgroupsAllowed: true,
				InitUID:          sp.UID, InitGID: sp.GID,
				UID: sp.UID, GID: sp.GID,
			}
			r.Mapping = &m
			return m.GIDs, true, nil
		}
		// One gid: the caller's (setgroups denied), or a root caller's
		// nobody or first id of its range.
		return nil, false, nil
	}
	for _, mode := range []idmap.Mode{idmap.ModeSelf, idmap.ModeAuto} {
		m, err := idmap.Plan(idmap.Request{Mode: mode, UID: sp.UID, GID: sp.GID,
			CallerUID: h.UID, CallerGID: h.GID, SubUIDs: h.SubUIDs, SubGIDs: h.SubGIDs})
		if err != nil {
			continue
		}
		if sameMap(m.UIDs, l.UIDMappings) && sameMap(m.GIDs, l.GIDMappings) {
			sp.Map = mode
			return m.GIDs, mode == idmap.ModeAuto && m.SetgroupsAllowed, nil
		}
	}
	return nil, false, fieldErr("linux.uidMappings", "%v: the box maps either the caller's id (%d) alone to process.user.uid, "+
		"or the caller's id to 0 and its /etc/subuid ranges from 1", l.UIDMappings, h.UID)
}

func sameMap(a []syscall.SysProcIDMap, b []specs.LinuxIDMapping) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if uint32(a[i].ContainerID) != b[i].ContainerID || uint32(a[i].HostID) != b[i].HostID || uint32(a[i].Size) != b[i].Size {
			return false
		}
	}
	return true
}

// identity maps the ids of a namespace's map onto themselves.
func identity(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, l := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(l.ContainerID), HostID: int(l.ContainerID), Size: int(l.Size)})
	}
	return out
}

// readIDMap reads a uid_map or gid_map.
func readIDMap(name string) ([]specs.LinuxIDMapping, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var m []specs.LinuxIDMapping
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var v [3]uint64
		for i := range f {
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				return nil, fmt.Errorf("%s: %q", name, line)
			}
		}
		m = append(m, specs.LinuxIDMapping{ContainerID: uint32(v[0]), HostID: uint32(v[1]), Size: uint32(v[2])})
	}
	return m, nil
}
