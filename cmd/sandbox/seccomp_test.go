package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 4 through the binary: profiles from files, and ordinary programs
// under the default filter.

func TestSeccompProfileFile(t *testing.T) {
	need(t)
	profile, err := filepath.Abs("../../testdata/seccomp/deny-mkdir.json")
	if err != nil {
		t.Fatal(err)
	}
	// The test user must be able to read the profile: copy it to the
	// harness's world-readable directory.
	b, err := os.ReadFile(profile)
	if err != nil {
		t.Fatal(err)
	}
	profile = filepath.Join(env.dir, "deny-mkdir.json")
	if err := os.WriteFile(profile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `mkdir /tmp/d 2>&1 && echo made`
	if out := box(t, script); !strings.Contains(out, "made") {
		t.Fatalf("mkdir fails in a default box: %q", out)
	}
	r := runSandbox(t, "exec", "--seccomp", profile, "--", "/bin/sh", "-c", script)
	if strings.Contains(r.stdout, "made") || !strings.Contains(r.stdout, "ermitted") {
		t.Fatalf("mkdir under a Docker-format profile that denies it:\n%s", r)
	}
}

func TestSeccompBrokenProfile(t *testing.T) {
	need(t)
	good, err := os.ReadFile("../../testdata/seccomp/deny-mkdir.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"truncated.json":      string(good[:len(good)/2]),
		"unknown-action.json": `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}`,
		"bad-arg.json":        `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`,
	} {
		p := filepath.Join(env.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runSandbox(t, "exec", "--seccomp", p, "--", "/bin/sh", "-c", "echo RAN")
		if r.code != 125 || strings.Contains(r.stdout, "RAN") || !strings.Contains(r.stderr, name) {
			t.Errorf("%s: want exit 125 naming the file, nothing run\n%s", name, r)
		}
	}
}

func TestOrdinaryProgramsInDefaultBox(t *testing.T) {
	out := box(t, `cd /tmp && mkdir d && echo hi > d/f && ln -s d/f l && cat l && ls d && rm -r d l && date +%Y >/dev/null && echo shell-ok`)
	if !strings.Contains(out, "hi") || !strings.Contains(out, "shell-ok") {
		t.Fatalf("shell session: %q", out)
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		out := box(t, `python3 -c 'import threading, subprocess; t = threading.Thread(target=print, args=("thread-ok",)); t.start(); t.join(); print(subprocess.run(["echo", "sub-ok"], capture_output=True, text=True).stdout.strip())'`)
		if !strings.Contains(out, "thread-ok") || !strings.Contains(out, "sub-ok") {
			t.Fatalf("python3: %q", out)
		}
	}
	if _, err := os.Stat("/usr/bin/gcc"); err == nil {
		out := box(t, `cd /tmp && printf '#include <pthread.h>\n#include <stdio.h>\nvoid *f(void *a){puts("cc-thread-ok");return 0;}\nint main(){pthread_t t;pthread_create(&t,0,f,0);pthread_join(t,0);}\n' > t.c && gcc -pthread -o t t.c && ./t`)
		if !strings.Contains(out, "cc-thread-ok") {
			t.Fatalf("gcc: %q", out)
		}
	}
}
