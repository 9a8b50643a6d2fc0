package seccomp

import (
	"os"
	"strings"
	"testing"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

func TestParseGood(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(*Profile) bool
	}{
		{"minimal", `{"defaultAction": "SCMP_ACT_ALLOW"}`,
			func(p *Profile) bool { return p.DefaultAction == ActAllow && len(p.Syscalls) == 0 }},
		{"unknown fields ignored", `{"defaultAction": "SCMP_ACT_ERRNO", "futureField": {"x": [1]}, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "someday": true}]}`,
			func(p *Profile) bool { return len(p.Syscalls) == 1 && p.Syscalls[0].Names[0] == "read" }},
		{"defaultErrnoRet", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}`,
			func(p *Profile) bool { return p.DefaultErrnoRet != nil && *p.DefaultErrnoRet == 38 }},
		{"old name form", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO"}]}`,
			func(p *Profile) bool { return p.Syscalls[0].names()[0] == "mkdir" }},
		{"args", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO",
			"args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}`,
			func(p *Profile) bool {
				a := p.Syscalls[0].Args[0]
				return a.Index == 0 && a.Value == 2114060288 && a.Op == OpMaskedEqual
			}},
		{"full 64-bit value", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
			"args": [{"index": 1, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]}]}`,
			func(p *Profile) bool { return p.Syscalls[0].Args[0].Value == 1<<64-1 }},
		{"archMap", `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]}`,
			func(p *Profile) bool { return len(p.ArchMap) == 1 && len(p.ArchMap[0].SubArches) == 2 }},
		{"includes and excludes", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
			"includes": {"caps": ["CAP_SYS_PTRACE"], "minKernel": "4.8", "arches": ["amd64"]}, "excludes": {"arches": ["s390x"]}}]}`,
			func(p *Profile) bool { return p.Syscalls[0].Includes.MinKernel == "4.8" }},
		{"kill actions and flags", `{"defaultAction": "SCMP_ACT_KILL", "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS"}, {"names": ["write"], "action": "SCMP_ACT_TRACE", "errnoRet": 1000}, {"names": ["getpid"], "action": "SCMP_ACT_LOG"}]}`,
			func(p *Profile) bool { return p.DefaultAction == ActKill && len(p.Syscalls) == 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.check(p) {
				t.Fatalf("parsed wrongly: %+v", p)
			}
			if _, err := p.Compile(); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	const ok = `"defaultAction": "SCMP_ACT_ALLOW"`
	tests := []struct {
		name string
		in   string
		want string // the error must contain this: the field and the reason
	}{
		{"empty input", ``, "invalid JSON at offset 0 (line 1, column 1): unexpected end of JSON input"},
		{"truncated", "{\n" + ok + `, "syscalls": [{"names": ["read"`, "invalid JSON at offset 67 (line 2, column 66): unexpected end of JSON input"},
		{"syntax", "{\n" + ok + ",\n  \"syscalls\": [,]}", "invalid JSON at offset 52 (line 3, column 16): invalid character ','"},
		{"trailing garbage", `{` + ok + `} x`, "invalid JSON at offset 37"},
		{"not an object", `[1, 2]`, "JSON array is not a valid seccomp.Profile"},
		{"missing defaultAction", `{}`, "defaultAction: missing"},
		{"unknown defaultAction", `{"defaultAction": "SCMP_ACT_FOO"}`, `defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"unknown action", `{` + ok + `, "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_ALLOW"}, {"names": ["c"], "action": "SCMP_ACT_ALLOW"}, {"names": ["d"], "action": "SCMP_ACT_FOO"}]}`,
			`syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{"missing action", `{` + ok + `, "syscalls": [{"names": ["read"]}]}`, "syscalls[0].action: missing"},
		{"notify", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}`, "syscalls[0].action: SCMP_ACT_NOTIFY needs a seccomp agent"},
		{"listener", `{` + ok + `, "listenerPath": "/run/agent.sock"}`, "listenerPath: sandbox runs no seccomp agent"},
		{"bad op", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}`,
			`syscalls[0].args[0].op: unknown operator "SCMP_CMP_LIKE"`},
		{"missing op", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1}]}]}`,
			`syscalls[0].args[0].op: unknown operator ""`},
		{"arg index > 5", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`,
			"syscalls[0].args[1].index: 6 is out of range"},
		{"negative index", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": -1, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`,
			"field syscalls.args.index, value ending at offset 118 (line 1, column 119): JSON number -1 is not a valid uint"},
		{"value not a number", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": "1", "op": "SCMP_CMP_EQ"}]}]}`,
			"field syscalls.args.value"},
		{"name and names", `{` + ok + `, "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ERRNO"}]}`,
			"syscalls[0]: both name and names are set"},
		{"no names", `{` + ok + `, "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}`, "syscalls[0].names: missing"},
		{"bad name", `{` + ok + `, "syscalls": [{"names": ["read", "Open At"], "action": "SCMP_ACT_ERRNO"}]}`,
			`syscalls[0].names[1]: "Open At" is not a system call name`},
		{"errno too big", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}`,
			"syscalls[0].errnoRet: errno 70000 is out of range"},
		{"errnoRet with allow", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}`,
			"syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"},
		{"defaultErrnoRet with allow", `{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}`,
			"defaultErrnoRet: only valid with SCMP_ACT_ERRNO"},
		{"unknown architecture", `{` + ok + `, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}`,
			`architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{"unknown subarchitecture", `{` + ok + `, "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["x86"]}]}`,
			`archMap[0].subArchitectures[0]: unknown architecture "x86"`},
		{"both arch forms", `{` + ok + `, "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`,
			"architectures and archMap: both are set"},
		{"unknown flag", `{` + ok + `, "flags": ["SECCOMP_FILTER_FLAG_MAGIC"]}`, `flags[0]: unknown flag "SECCOMP_FILTER_FLAG_MAGIC"`},
		{"bad minKernel", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "four"}}]}`,
			`syscalls[0].includes.minKernel: kernel version "four"`},
		{"bad cap", `{` + ok + `, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["SYS_ADMIN"]}}]}`,
			`syscalls[0].excludes.caps[0]: "SYS_ADMIN" is not a capability name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("no error; parsed %+v", p)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n  %v\ndoes not contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	big := `{"defaultAction": "SCMP_ACT_ALLOW", "comment": "` + strings.Repeat("x", maxProfileSize) + `"}`
	_, err := Parse(strings.NewReader(big))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParse: Parse must never panic, and whatever it accepts must compile
// or fail with an error (never produce an empty or misaligned program).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"defaultAction": "SCMP_ACT_ALLOW"}`,
		`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "ioctl", "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}], "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}}]}`,
		`{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_TRACE", "errnoRet": 7, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LE"}, {"index": 0, "value": 9, "op": "SCMP_CMP_NE"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(denyMkdirFixture); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseBytes(data)
		if err != nil {
			if p != nil {
				t.Fatal("a profile and an error")
			}
			return
		}
		prog, err := p.Compile()
		if err != nil {
			return
		}
		if len(prog) == 0 || len(prog)%8 != 0 {
			t.Fatalf("program of %d bytes", len(prog))
		}
	})
}
