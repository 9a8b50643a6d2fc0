package seccomp

import (
	"strings"
	"testing"
)

// A profile that stops the box before its command runs is refused when it
// is loaded, naming the call; one that lets the command start is not.
func TestCheckStartable(t *testing.T) {
	nativeAuditArch(t)
	deny := func(names ...string) *Profile {
		return &Profile{DefaultAction: ActAllow, Syscalls: []Syscall{{Names: names, Action: ActErrno}}}
	}
	for _, c := range []struct {
		name string
		p    *Profile
		want string // "" for no error
	}{
		{"default", Default(), ""},
		{"allow all", &Profile{DefaultAction: ActAllow}, ""},
		{"deny all", &Profile{DefaultAction: ActErrno}, "execve"},
		{"kill all", &Profile{DefaultAction: ActKillProcess}, "execve kills the process"},
		{"deny mkdir", deny("mkdir"), ""},
		{"deny execve", deny("execve"), "execve fails with EPERM"},
		{"deny write", deny("write"), "write"},
		{"deny exit_group", deny("exit_group"), "exit_group"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckStartable(compile(t, c.p))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}
