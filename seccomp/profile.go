// Package seccomp turns seccomp profiles into classic BPF programs for the box.
//
// A profile is data in the Docker/OCI seccomp JSON format, so existing Docker
// profiles load unchanged. The built-in profile (Default) is stated as a Go
// literal in default.go and documented in PROFILE.md.
//
// The package only compiles: Compile returns the program as raw
// `struct sock_filter` bytes (8 bytes each, native endian). Loading is the
// last step of the box's init stage before execve, done by C code that does
// not link libseccomp; Install is the same load for Go callers and tests.
// Compiling in the supervisor, before anything starts, means a broken
// profile fails before any process is created.
package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Action is what the filter does with a matching system call, named as in
// the Docker/OCI format (SCMP_ACT_*).
type Action string

// The actions of the Docker/OCI format. ActNotify is accepted by the format
// but rejected by Parse: it needs a seccomp agent, which sandbox does not run.
const (
	ActKill        Action = "SCMP_ACT_KILL" // kills the thread, as SCMP_ACT_KILL_THREAD
	ActKillThread  Action = "SCMP_ACT_KILL_THREAD"
	ActKillProcess Action = "SCMP_ACT_KILL_PROCESS"
	ActTrap        Action = "SCMP_ACT_TRAP"
	ActErrno       Action = "SCMP_ACT_ERRNO"
	ActTrace       Action = "SCMP_ACT_TRACE"
	ActAllow       Action = "SCMP_ACT_ALLOW"
	ActLog         Action = "SCMP_ACT_LOG"
	ActNotify      Action = "SCMP_ACT_NOTIFY"
)

// Op compares one system call argument, named as in the Docker/OCI format
// (SCMP_CMP_*).
type Op string

// The comparison operators. For OpMaskedEqual, Arg.Value is the mask and
// Arg.ValueTwo the value the masked argument must equal (runc's and
// libseccomp's order).
const (
	OpNotEqual     Op = "SCMP_CMP_NE"
	OpLessThan     Op = "SCMP_CMP_LT"
	OpLessEqual    Op = "SCMP_CMP_LE"
	OpEqualTo      Op = "SCMP_CMP_EQ"
	OpGreaterEqual Op = "SCMP_CMP_GE"
	OpGreaterThan  Op = "SCMP_CMP_GT"
	OpMaskedEqual  Op = "SCMP_CMP_MASKED_EQ"
)

// Profile is a seccomp profile in the Docker/OCI JSON format. Unknown fields
// are ignored, as Docker does, so profiles written for newer Docker versions
// still load.
type Profile struct {
	// DefaultAction applies to every system call no rule matches.
	DefaultAction Action `json:"defaultAction"`
	// DefaultErrnoRet is the errno of DefaultAction when it is
	// SCMP_ACT_ERRNO (EPERM when unset) or the message of SCMP_ACT_TRACE.
	DefaultErrnoRet *uint `json:"defaultErrnoRet,omitempty"`
	// Architectures lists the ABIs (SCMP_ARCH_*) the rules also apply to.
	// The native ABI is always included; system calls of any ABI not
	// listed kill the process (see Compile). Use this or ArchMap, not both.
	Architectures []string `json:"architectures,omitempty"`
	// ArchMap lists, per native ABI, the sub-ABIs the rules also apply to;
	// only the entry of the native ABI is used.
	ArchMap []ArchMap `json:"archMap,omitempty"`
	// Flags are SECCOMP_FILTER_FLAG_* names. They are validated and kept,
	// but the loader always uses SECCOMP_FILTER_FLAG_TSYNC and nothing else.
	Flags []string `json:"flags,omitempty"`
	// ListenerPath names a seccomp agent's socket; it must be empty, as
	// sandbox runs no agent.
	ListenerPath string `json:"listenerPath,omitempty"`
	// Syscalls are the rules, merged as libseccomp merges them: for one
	// system call an unconditional rule overrides every rule with argument
	// conditions, and equality tests (SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ) are
	// decided before range tests (libseccomp 2.5), so a rule with "index N >= 0" is a
	// catch-all for the values no equality rule matched (the default
	// profile relies on this; its tests check it).
	Syscalls []Syscall `json:"syscalls,omitempty"`
}

// ArchMap is one archMap entry: a native ABI and its sub-ABIs.
type ArchMap struct {
	// Arch is the native ABI, e.g. SCMP_ARCH_X86_64.
	Arch string `json:"architecture"`
	// SubArches are the other ABIs that native programs can use, e.g.
	// SCMP_ARCH_X86 and SCMP_ARCH_X32.
	SubArches []string `json:"subArchitectures"`
}

// Syscall is one rule: an action for some system calls, optionally only when
// their arguments match.
type Syscall struct {
	// Names are the system calls' names as libseccomp knows them. Names
	// unknown on the native ABI are skipped, as Docker does, so one profile
	// serves several architectures.
	Names []string `json:"names,omitempty"`
	// Name is the older single-name form; use Name or Names, not both.
	Name string `json:"name,omitempty"`
	// Action is what happens when the rule matches.
	Action Action `json:"action"`
	// ErrnoRet is the errno for SCMP_ACT_ERRNO (EPERM when unset) or the
	// message for SCMP_ACT_TRACE.
	ErrnoRet *uint `json:"errnoRet,omitempty"`
	// Args are argument conditions, all of which must hold (AND). As in
	// runc, when two conditions test the same argument each becomes a rule
	// of its own (OR), because libseccomp cannot AND them.
	Args []Arg `json:"args,omitempty"`
	// Comment is free text for readers of the profile.
	Comment string `json:"comment,omitempty"`
	// Includes limits the rule to boxes that match it.
	Includes *Filter `json:"includes,omitempty"`
	// Excludes drops the rule for boxes that match it.
	Excludes *Filter `json:"excludes,omitempty"`
}

// Arg is one condition on a system call argument.
type Arg struct {
	// Index is the argument's position, 0 to 5.
	Index uint `json:"index"`
	// Value is compared with the argument; for SCMP_CMP_MASKED_EQ it is the
	// mask.
	Value uint64 `json:"value"`
	// ValueTwo is, for SCMP_CMP_MASKED_EQ, the value the masked argument
	// must equal; other operators ignore it.
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	// Op is the comparison.
	Op Op `json:"op"`
}

// Filter is a rule's includes or excludes condition. A Filter matches when
// every non-empty field matches.
type Filter struct {
	// Caps matches when the box keeps all of these capabilities
	// (CAP_SYS_ADMIN form); see CompileFor.
	Caps []string `json:"caps,omitempty"`
	// Arches matches when the native architecture, in Go's GOARCH names
	// (amd64, arm64, ...), is one of these.
	Arches []string `json:"arches,omitempty"`
	// MinKernel matches when the running kernel is at least this version
	// ("MAJOR.MINOR").
	MinKernel string `json:"minKernel,omitempty"`
}

// maxProfileSize bounds what Parse reads: Docker's default profile is about
// 13 KB, so 4 MiB is generous and still stops a runaway input.
const maxProfileSize = 4 << 20

// Parse reads a profile in the Docker/OCI JSON format and checks it. Errors
// name the field, e.g. `syscalls[3].action: unknown action "SCMP_ACT_FOO"`,
// or the byte offset of malformed JSON.
func Parse(r io.Reader) (*Profile, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	if len(data) > maxProfileSize {
		return nil, fmt.Errorf("seccomp profile is larger than %d bytes", maxProfileSize)
	}
	return parseBytes(data)
}

// LoadFile reads and checks the profile at path. Errors start with the path.
func LoadFile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func parseBytes(data []byte) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, jsonError(data, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// jsonError rewrites encoding/json's errors so that they carry the place in
// the input (offset, line and column) and, for type errors, the field.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off := syn.Offset
		if off < int64(len(data)) {
			// Offset counts the offending character; point at it.
			off--
		}
		return fmt.Errorf("invalid JSON at %s: %w", position(data, off), err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s, value ending at %s: JSON %s is not a valid %s", field, position(data, typ.Offset), typ.Value, typ.Type)
	default:
		return fmt.Errorf("invalid JSON: %w", err)
	}
}

// position describes a byte offset as offset, line and column (1-based),
// because editors jump to lines, not offsets.
func position(data []byte, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("offset %d (line %d, column %d)", off, line, col)
}

// Validate checks what Parse checks; call it on a Profile built in Go.
// Compile calls it too.
func (p *Profile) Validate() error {
	if p.DefaultAction == "" {
		return errors.New("defaultAction: missing; set it, e.g. to SCMP_ACT_ERRNO")
	}
	if err := checkAction("defaultAction", p.DefaultAction, p.DefaultErrnoRet, "defaultErrnoRet"); err != nil {
		return err
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return errors.New("architectures and archMap: both are set; use one of them")
	}
	for i, a := range p.Architectures {
		if _, ok := archByName[a]; !ok {
			return fmt.Errorf("architectures[%d]: unknown architecture %q (want SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)", i, a)
		}
	}
	for i, m := range p.ArchMap {
		if _, ok := archByName[m.Arch]; !ok {
			return fmt.Errorf("archMap[%d].architecture: unknown architecture %q", i, m.Arch)
		}
		for j, a := range m.SubArches {
			if _, ok := archByName[a]; !ok {
				return fmt.Errorf("archMap[%d].subArchitectures[%d]: unknown architecture %q", i, j, a)
			}
		}
	}
	for i, f := range p.Flags {
		if !knownFlags[f] {
			return fmt.Errorf("flags[%d]: unknown flag %q", i, f)
		}
	}
	if p.ListenerPath != "" {
		return errors.New("listenerPath: sandbox runs no seccomp agent; remove it and any SCMP_ACT_NOTIFY rule")
	}
	for i := range p.Syscalls {
		if err := p.Syscalls[i].validate(fmt.Sprintf("syscalls[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Syscall) validate(at string) error {
	if s.Name != "" && len(s.Names) > 0 {
		return fmt.Errorf("%s: both name and names are set; use one of them", at)
	}
	if s.Name == "" && len(s.Names) == 0 {
		return fmt.Errorf("%s.names: missing; list at least one system call", at)
	}
	if s.Name != "" {
		if !validName(s.Name) {
			return fmt.Errorf("%s.name: %q is not a system call name", at, s.Name)
		}
	}
	for j, n := range s.Names {
		if !validName(n) {
			return fmt.Errorf("%s.names[%d]: %q is not a system call name", at, j, n)
		}
	}
	if s.Action == "" {
		return fmt.Errorf("%s.action: missing", at)
	}
	if err := checkAction(at+".action", s.Action, s.ErrnoRet, at+".errnoRet"); err != nil {
		return err
	}
	for j, a := range s.Args {
		if a.Index > 5 {
			return fmt.Errorf("%s.args[%d].index: %d is out of range; system calls have arguments 0 to 5", at, j, a.Index)
		}
		if _, ok := opByName[a.Op]; !ok {
			return fmt.Errorf("%s.args[%d].op: unknown operator %q (want SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...)", at, j, a.Op)
		}
	}
	if err := s.Includes.validate(at + ".includes"); err != nil {
		return err
	}
	return s.Excludes.validate(at + ".excludes")
}

func (f *Filter) validate(at string) error {
	if f == nil {
		return nil
	}
	for i, c := range f.Caps {
		if !strings.HasPrefix(c, "CAP_") || !validName(strings.ToLower(c[4:])) {
			return fmt.Errorf("%s.caps[%d]: %q is not a capability name like CAP_SYS_ADMIN", at, i, c)
		}
	}
	for i, a := range f.Arches {
		if !validName(a) {
			return fmt.Errorf("%s.arches[%d]: %q is not an architecture name like amd64", at, i, a)
		}
	}
	if f.MinKernel != "" {
		if _, err := parseKernelVersion(f.MinKernel); err != nil {
			return fmt.Errorf("%s.minKernel: %w", at, err)
		}
	}
	return nil
}

// checkAction checks an action and its errnoRet. The errno is bounded by
// 4095 (MAX_ERRNO) because the kernel clamps bigger values, and by 16 bits
// for SCMP_ACT_TRACE because that is all SECCOMP_RET_DATA holds.
func checkAction(at string, a Action, ret *uint, retAt string) error {
	switch a {
	case ActKill, ActKillThread, ActKillProcess, ActTrap, ActAllow, ActLog:
		if ret != nil {
			return fmt.Errorf("%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", retAt, a)
		}
	case ActErrno:
		if ret != nil && *ret > 4095 {
			return fmt.Errorf("%s: errno %d is out of range 0..4095", retAt, *ret)
		}
	case ActTrace:
		if ret != nil && *ret > 0xffff {
			return fmt.Errorf("%s: trace message %d is out of range 0..65535", retAt, *ret)
		}
	case ActNotify:
		return fmt.Errorf("%s: %s needs a seccomp agent, which sandbox does not run; use SCMP_ACT_ERRNO", at, a)
	default:
		return fmt.Errorf("%s: unknown action %q (want SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, ...)", at, a)
	}
	return nil
}

// validName accepts the characters of system call and architecture names
// (lower case, digits, underscore), which keeps typos such as "open at" or
// "OPEN" from being skipped silently as "unknown on this architecture".
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseKernelVersion parses "MAJOR" or "MAJOR.MINOR" (Docker's minKernel).
func parseKernelVersion(s string) ([2]int, error) {
	var v [2]int
	parts := strings.SplitN(s, ".", 3)
	if len(parts) > 2 {
		return v, fmt.Errorf("kernel version %q: want MAJOR.MINOR, e.g. 5.8", s)
	}
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || len(part) > 6 {
			return v, fmt.Errorf("kernel version %q: want MAJOR.MINOR, e.g. 5.8", s)
		}
		v[i] = n
	}
	return v, nil
}

// knownFlags are the SECCOMP_FILTER_FLAG_* names of the OCI runtime spec.
var knownFlags = map[string]bool{
	"SECCOMP_FILTER_FLAG_TSYNC":              true,
	"SECCOMP_FILTER_FLAG_LOG":                true,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW":         true,
	"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": true,
}
