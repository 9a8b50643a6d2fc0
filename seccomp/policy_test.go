package seccomp

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

const denyMkdirFixture = "../testdata/seccomp/deny-mkdir.json"

// nativeNr resolves a name with libseccomp; ok is false for names the
// native ABI does not have.
func nativeNr(name string) (uint32, bool) {
	nr, err := libseccomp.GetSyscallFromName(name)
	if err != nil || nr < 0 {
		return 0, false
	}
	return uint32(nr), true
}

// TestDefaultLists checks that every name of the default's allow and deny
// lists that this architecture has ends up in the program with its verdict,
// so a name listed in the wrong place, or shadowed by another rule, shows.
func TestDefaultLists(t *testing.T) {
	arch := nativeAuditArch(t)
	cached, err := DefaultProgram()
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range [][]byte{compile(t, Default()), cached} {
		checkLists(t, arch, newVM(t, prog))
	}
}

func checkLists(t *testing.T, arch uint32, vm *VM) {
	t.Helper()
	known := 0
	for _, l := range []struct {
		names []string
		want  uint32
	}{{allowed, retAllow}, {denied, errnoRet(unix.EPERM)}} {
		for _, name := range l.names {
			nr, ok := nativeNr(name)
			if !ok {
				continue
			}
			known++
			if got := run(t, vm, seccompData{nr: nr, arch: arch}); got != l.want {
				t.Errorf("%s (nr %d): got %s, want %s", name, nr, retName(got), retName(l.want))
			}
		}
	}
	// A libseccomp that resolved nothing would make the loop above vacuous.
	if known < 250 {
		t.Fatalf("only %d names resolved; is libseccomp's syscall table usable?", known)
	}
}

// TestNoDuplicateNames: a name both allowed and denied would be decided by
// libseccomp's rule merging, not by the profile's author.
func TestNoDuplicateNames(t *testing.T) {
	seen := map[string]string{}
	for _, l := range []struct {
		list  string
		names []string
	}{{"allowed", allowed}, {"denied", denied}} {
		for _, n := range l.names {
			if prev, dup := seen[n]; dup {
				t.Errorf("%s is in %s and in %s", n, prev, l.list)
			}
			seen[n] = l.list
		}
	}
	for _, conditional := range []string{"clone", "clone3", "ioctl", "personality", "socket"} {
		if l, ok := seen[conditional]; ok {
			t.Errorf("%s has its own rules but is also in %s, which would override them", conditional, l)
		}
	}
}

// TestDenyMkdirFixture compiles the Docker-format fixture and checks it
// denies mkdir and mkdirat and nothing else.
func TestDenyMkdirFixture(t *testing.T) {
	arch := nativeAuditArch(t)
	p, err := LoadFile(denyMkdirFixture)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, compile(t, p))
	for name, want := range map[string]uint32{
		"mkdirat": errnoRet(unix.EPERM),
		"mkdir":   errnoRet(unix.EPERM),
		"read":    retAllow,
		"unshare": retAllow,
		"openat":  retAllow,
	} {
		nr, ok := nativeNr(name)
		if !ok {
			continue // mkdir does not exist on arm64
		}
		if got := run(t, vm, seccompData{nr: nr, arch: arch}); got != want {
			t.Errorf("%s: got %s, want %s", name, retName(got), retName(want))
		}
	}
	if got := run(t, vm, seccompData{nr: 1000, arch: arch}); got != retAllow {
		t.Errorf("unknown syscall under default ALLOW: got %s", retName(got))
	}
}

// TestRuleSelection covers Docker's includes/excludes: capabilities,
// architectures and minimum kernel.
func TestRuleSelection(t *testing.T) {
	base := target{caps: map[string]bool{"CAP_SYS_ADMIN": true}, goarch: "amd64", kernel: [2]int{5, 10}}
	tests := []struct {
		name string
		s    Syscall
		want bool
	}{
		{"no filter", Syscall{}, true},
		{"includes held cap", Syscall{Includes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}}}, true},
		{"includes missing cap", Syscall{Includes: &Filter{Caps: []string{"CAP_SYS_ADMIN", "CAP_BPF"}}}, false},
		{"excludes held cap", Syscall{Excludes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}}}, false},
		{"excludes missing cap", Syscall{Excludes: &Filter{Caps: []string{"CAP_BPF"}}}, true},
		{"includes this arch", Syscall{Includes: &Filter{Arches: []string{"arm64", "amd64"}}}, true},
		{"includes other arch", Syscall{Includes: &Filter{Arches: []string{"s390x"}}}, false},
		{"excludes this arch", Syscall{Excludes: &Filter{Arches: []string{"amd64"}}}, false},
		{"excludes other arch", Syscall{Excludes: &Filter{Arches: []string{"s390", "s390x"}}}, true},
		{"minKernel older", Syscall{Includes: &Filter{MinKernel: "4.8"}}, true},
		{"minKernel same", Syscall{Includes: &Filter{MinKernel: "5.10"}}, true},
		{"minKernel newer minor", Syscall{Includes: &Filter{MinKernel: "5.11"}}, false},
		{"minKernel newer major", Syscall{Includes: &Filter{MinKernel: "6"}}, false},
		{"excludes minKernel older", Syscall{Excludes: &Filter{MinKernel: "4.8"}}, false},
		{"excludes minKernel newer", Syscall{Excludes: &Filter{MinKernel: "6.1"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.selected(base); got != tt.want {
				t.Errorf("selected = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCompileForCaps checks that a capability-gated Docker rule is left out
// by Compile and applied by CompileFor with the capability.
func TestCompileForCaps(t *testing.T) {
	arch := nativeAuditArch(t)
	p := &Profile{
		DefaultAction: ActErrno,
		Syscalls: []Syscall{
			{Names: []string{"read", "exit_group"}, Action: ActAllow},
			{Names: []string{"setns"}, Action: ActAllow, Includes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}}},
			{Names: []string{"getpid"}, Action: ActAllow, Excludes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}}},
		},
	}
	setns, _ := nativeNr("setns")
	getpid, _ := nativeNr("getpid")
	plain, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := p.CompileFor([]string{"cap_sys_admin"})
	if err != nil {
		t.Fatal(err)
	}
	eperm := errnoRet(unix.EPERM)
	for _, c := range []struct {
		prog []byte
		nr   uint32
		want uint32
	}{{plain, setns, eperm}, {plain, getpid, retAllow}, {admin, setns, retAllow}, {admin, getpid, eperm}} {
		if got := run(t, newVM(t, c.prog), seccompData{nr: c.nr, arch: arch}); got != c.want {
			t.Errorf("nr %d: got %s, want %s", c.nr, retName(got), retName(c.want))
		}
	}
}

// TestArgConditions checks AND within a rule, and runc's OR when an index
// repeats, and the errno/default-errno plumbing.
func TestArgConditions(t *testing.T) {
	arch := nativeAuditArch(t)
	nr, _ := nativeNr("fchmodat")
	p := &Profile{
		DefaultAction:   ActErrno,
		DefaultErrnoRet: uintp(uint(unix.ENOSYS)),
		Syscalls: []Syscall{
			// AND: arg0 == 3 and arg2 == 0o644
			{Names: []string{"fchmodat"}, Action: ActAllow, Args: []Arg{
				{Index: 0, Op: OpEqualTo, Value: 3}, {Index: 2, Op: OpEqualTo, Value: 0o644}}},
			// OR (repeated index): arg0 == 7 or arg0 == 8
			{Names: []string{"fchmodat"}, Action: ActErrno, ErrnoRet: uintp(uint(unix.EACCES)), Args: []Arg{
				{Index: 0, Op: OpEqualTo, Value: 7}, {Index: 0, Op: OpEqualTo, Value: 8}}},
		},
	}
	vm := newVM(t, compile(t, p))
	for _, c := range []struct {
		args [6]uint64
		want uint32
	}{
		{[6]uint64{3, 0, 0o644}, retAllow},
		{[6]uint64{3, 0, 0o600}, errnoRet(unix.ENOSYS)},
		{[6]uint64{4, 0, 0o644}, errnoRet(unix.ENOSYS)},
		{[6]uint64{7}, errnoRet(unix.EACCES)},
		{[6]uint64{8}, errnoRet(unix.EACCES)},
		{[6]uint64{9}, errnoRet(unix.ENOSYS)},
	} {
		if got := run(t, vm, seccompData{nr: nr, arch: arch, args: c.args}); got != c.want {
			t.Errorf("args %v: got %s, want %s", c.args, retName(got), retName(c.want))
		}
	}
}

// TestDefaultRoundTrip: the default profile written as JSON (what
// SECURITY.md and users see) parses back to the same profile and program.
func TestDefaultRoundTrip(t *testing.T) {
	data, err := json.MarshalIndent(Default(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse the default profile's JSON: %v", err)
	}
	if !reflect.DeepEqual(p, Default()) {
		t.Fatal("the default profile changed in a JSON round trip")
	}
	if !bytes.Equal(compile(t, p), compile(t, Default())) {
		t.Fatal("the default profile's JSON compiles to another program")
	}
}

// TestDefaultIsFresh: callers may change what Default returns without
// changing the built-in profile.
func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Syscalls[0].Names[0] = "changed"
	a.DefaultAction = ActAllow
	if b := Default(); b.Syscalls[0].Names[0] == "changed" || b.DefaultAction != ActErrno {
		t.Fatal("Default returns shared, mutable data")
	}
}

// TestCompileErrors: a profile that validates but cannot be compiled fails
// in Compile, before anything starts, with the rule named.
func TestCompileErrors(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testenv.Skip(t, "the architecture case below is written for amd64")
	}
	tests := []struct {
		name string
		p    *Profile
		want string
	}{
		{"invalid after Parse", &Profile{DefaultAction: "SCMP_ACT_NOPE"}, `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"loongarch unknown to this libseccomp", &Profile{DefaultAction: ActAllow, Architectures: []string{"SCMP_ARCH_LOONGARCH64"}},
			"SCMP_ARCH_LOONGARCH64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.Compile()
			if err == nil {
				if tt.name == "loongarch unknown to this libseccomp" {
					// A newer libseccomp knows it: nothing to refuse, and
					// no feature missing.
					t.Log("this libseccomp knows loongarch64: the case does not apply")
					return
				}
				t.Fatal("no error")
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadFileErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.json")
	if err := writeFile(path, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_FOO"}]}`); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	want := path + `: syscalls[0].action: unknown action "SCMP_ACT_FOO"`
	if err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte(want)) {
		t.Fatalf("got %v, want prefix %q", err, want)
	}
	_, err = LoadFile(filepath.Join(t.TempDir(), "missing.json"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("missing.json: ")) {
		t.Fatalf("missing file: got %v", err)
	}
}
