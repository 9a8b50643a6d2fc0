package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// batchOut is one result line as the tests read it.
type batchOut struct {
	ID       string `json:"id"`
	Line     int    `json:"line"`
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error"`
}

func parseBatch(t *testing.T, out string) map[string]batchOut {
	t.Helper()
	got := map[string]batchOut{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var b batchOut
		if err := json.Unmarshal([]byte(l), &b); err != nil {
			t.Fatalf("result line %q is not JSON: %v", l, err)
		}
		got[b.ID] = b
	}
	return got
}

// A batch runs every line, each in a fresh box; a line that cannot run
// gives a setup-error for that line and the batch goes on.
func TestBatch(t *testing.T) {
	dir := hostDir(t)
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("from stdin\n"), 0o644)
	os.Chown(in, env.uid, env.gid)
	out := filepath.Join(dir, "out.txt")
	lines := []string{
		`{"id":"ok","args":["/bin/true"]}`,
		`{"id":"exit","args":["/bin/sh","-c","exit 3"]}`,
		`not json`,
		`{"id":"typo","args":["/bin/true"],"timout":1}`,
		`{"id":"timeout","args":["/bin/sleep","30"],"timeout":0.5}`,
		`{"id":"notfound","args":["/nonexistent"]}`,
		`{"id":"io","args":["/bin/sh","-c","cat; echo $$"],"stdin":"` + in + `","stdout":"` + out + `"}`,
		`{"id":"pidns","args":["/bin/sh","-c","test $$ = 2"]}`,
	}
	r := runWith(t, runOpts{stdin: strings.Join(lines, "\n") + "\n"}, "batch", "-j", "2")
	if r.code != 0 {
		t.Fatalf("batch: want exit 0\n%s", r)
	}
	got := parseBatch(t, r.stdout)
	if n := strings.Count(strings.TrimSpace(r.stdout), "\n") + 1; n != len(lines) {
		t.Fatalf("%d result lines for %d input lines\n%s", n, len(lines), r)
	}
	for id, want := range map[string]struct {
		status string
		code   int
	}{
		"ok": {"ok", 0}, "exit": {"exit", 3}, "typo": {"setup-error", 125}, "timeout": {"timeout", 124},
		"notfound": {"exit", 127}, "io": {"ok", 0}, "pidns": {"ok", 0}, "": {"setup-error", 125},
	} {
		if g := got[id]; g.Status != want.status || g.ExitCode != want.code {
			t.Errorf("line %q: status %s exit %d, want %s %d\n%s", id, g.Status, g.ExitCode, want.status, want.code, r)
		}
	}
	if g := got[""]; g.Line != 3 || !strings.Contains(g.Error, "line 3") {
		t.Errorf("the bad line's result must name line 3: %+v", g)
	}
	if g := got["typo"]; !strings.Contains(g.Error, "timout") {
		t.Errorf("the misspelt field must be named: %+v", g)
	}
	if b, _ := os.ReadFile(out); string(b) != "from stdin\n2\n" {
		t.Errorf("stdout file holds %q, want the stdin file and pid 2", b)
	}
}

// What the supervisor writes for the caller is never written through a
// link or into a FIFO a box could have planted: the line fails, the batch
// does not hang.
func TestBatchOutputsRefuseLinksAndFifos(t *testing.T) {
	dir := hostDir(t)
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(victim, link)
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o666)
	for _, p := range []string{victim, link, fifo} {
		os.Lchown(p, env.uid, env.gid)
	}
	lines := `{"id":"link","args":["/bin/echo","x"],"stdout":"` + link + `"}` + "\n" +
		`{"id":"fifo","args":["/bin/echo","x"],"stderr":"` + fifo + `"}` + "\n"
	r := runWith(t, runOpts{stdin: lines}, "batch")
	got := parseBatch(t, r.stdout)
	for _, id := range []string{"link", "fifo"} {
		if got[id].Status != "setup-error" {
			t.Errorf("%s: want setup-error, got %+v", id, got[id])
		}
	}
	if r := runWith(t, runOpts{stdin: `{"args":["/bin/true"]}`}, "batch", "-o", link); r.code != 125 {
		t.Errorf("-o through a symlink: want exit 125\n%s", r)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the link's target was written: %q", b)
	}
}

// SIGTERM to a batch kills every running box, reports the lines, and exits
// 143; nothing is left running.
func TestBatchSignalStopsEverything(t *testing.T) {
	need(t)
	marker := "sleep 31.4159"
	var lines []string
	for _, id := range []string{"a", "b", "c", "d"} {
		lines = append(lines, `{"id":"`+id+`","args":["/bin/sh","-c","`+marker+`"]}`)
	}
	cmd := exec.Command(env.bin, "batch", "-j", "2")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Two boxes run at once: wait until both sleep.
	deadline := time.Now().Add(20 * time.Second)
	for len(pgrep(marker)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("batch did not end after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit %d, want 143", code)
	}
	got := parseBatch(t, stdout.String())
	if len(got) != 4 {
		t.Errorf("want a result line for each of the 4 lines:\n%s", stdout.String())
	}
	for id, g := range got {
		if g.Status != "cancelled" {
			t.Errorf("line %s: status %s, want cancelled", id, g.Status)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if left := pgrep(marker); len(left) > 0 {
		t.Fatalf("left running: %v", left)
	}
}
