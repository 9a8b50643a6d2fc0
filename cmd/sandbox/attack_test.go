package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// A box of a batch replaces a directory of its --bind with a symlink to
// another of the caller's directories; a later line's stdout path goes
// through that directory. The supervisor must not follow the box's symlink
// (O_NOFOLLOW covers only the last component): the line is refused, and
// the caller's file outside the bind keeps its content. The same holds for
// --report, which later exec runs open through the same path.
func TestAttackOutputThroughPlantedDirSymlink(t *testing.T) {
	dir := hostDir(t)
	work := filepath.Join(dir, "work")
	home := filepath.Join(dir, "home")
	for _, d := range []string{work, filepath.Join(work, "1"), home} {
		os.Mkdir(d, 0o755)
		os.Chown(d, env.uid, env.gid)
	}
	victim := filepath.Join(home, "stdout.txt")
	report := filepath.Join(home, "report.json")
	for _, f := range []string{victim, report} {
		os.WriteFile(f, []byte("precious"), 0o644)
		os.Chown(f, env.uid, env.gid)
	}
	lines := `{"id":"plant","args":["/bin/sh","-c","rm -rf /work/1 && ln -s ` + home + ` /work/1"],` +
		`"mounts":[{"type":"bind","source":"` + work + `","dest":"/work"}]}` + "\n" +
		`{"id":"write","args":["/bin/echo","pwned"],"stdout":"` + filepath.Join(work, "1", "stdout.txt") + `"}` + "\n"
	r := runWith(t, runOpts{stdin: lines}, "batch", "-j", "1")
	got := parseBatch(t, r.stdout)
	if got["plant"].Status != "ok" {
		t.Fatalf("the planting box did not run: %+v\n%s", got["plant"], r)
	}
	if fi, err := os.Lstat(filepath.Join(work, "1")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the box did not plant its symlink: %v", err)
	}
	if got["write"].Status != "setup-error" {
		t.Errorf("a stdout path through the box's symlink: want setup-error, got %+v", got["write"])
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the caller's file outside the bind was written through the box's symlink: %q", b)
	}
	r = runSandbox(t, "exec", "--report", filepath.Join(work, "1", "report.json"), "--", "/bin/true")
	if r.code != 125 {
		t.Errorf("--report through the box's symlink: want exit 125\n%s", r)
	}
	if b, _ := os.ReadFile(report); string(b) != "precious" {
		t.Errorf("the caller's report-named file outside the bind was written: %q", b)
	}
	if !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("the refusal should name the symlink: %s", r.stderr)
	}
}

// A box of a batch plants, in its bind, a symlink to a secret of the
// caller's and a FIFO where later lines read their stdin. The later box
// must not be handed the secret, and the batch must not hang opening the
// FIFO (a SIGTERM could not end it: the worker is stuck in open(2)).
func TestAttackBatchStdinPlanted(t *testing.T) {
	dir := hostDir(t)
	work := filepath.Join(dir, "work")
	secret := filepath.Join(dir, "id_rsa")
	os.Mkdir(work, 0o755)
	os.Chown(work, env.uid, env.gid)
	os.WriteFile(secret, []byte("SECRET-KEY"), 0o600)
	os.Chown(secret, env.uid, env.gid)
	bind := `"mounts":[{"type":"bind","source":"` + work + `","dest":"/work"}]`
	lines := `{"id":"plant","args":["/bin/sh","-c","ln -s ` + secret + ` /work/in.txt && mkfifo /work/fifo"],` + bind + "}\n" +
		`{"id":"leak","args":["/bin/sh","-c","cat > /work/leak"],"stdin":"` + filepath.Join(work, "in.txt") + `",` + bind + "}\n" +
		`{"id":"fifo","args":["/bin/true"],"stdin":"` + filepath.Join(work, "fifo") + `"}` + "\n"
	r := runWith(t, runOpts{stdin: lines}, "batch", "-j", "1")
	got := parseBatch(t, r.stdout)
	if got["plant"].Status != "ok" {
		t.Fatalf("the planting box did not run: %+v\n%s", got["plant"], r)
	}
	if b, err := os.ReadFile(filepath.Join(work, "leak")); err == nil && strings.Contains(string(b), "SECRET") {
		t.Errorf("a later box read the caller's secret through the planted symlink: %q", b)
	}
	for _, id := range []string{"leak", "fifo"} {
		if got[id].Status != "setup-error" {
			t.Errorf("%s: want setup-error, got %+v", id, got[id])
		}
	}
}

// A default box (no cgroup: its CPU time is sampled from /proc) holds a
// chain of 900 sleeping processes, each the parent of the next. They cost
// the box nothing, but every sample walked each of them up the chain and
// read all their stat files: about a third of a core of the supervisor's,
// which no limit of the box's bounds. The supervisor must stay cheap.
func TestAttackSamplerCost(t *testing.T) {
	need(t)
	const script = `if [ $1 -gt 0 ]; then /bin/sh -c "$0" "$0" $(($1-1)) & wait; else echo ready; exec sleep 60; fi`
	cmd := exec.Command(env.bin, "exec", "--", "/bin/sh", "-c", script, script, "900")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		ready <- l == "ready\n"
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the chain did not build")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the chain did not build in 90s")
	}
	ticks := func() int {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		return u + s
	}
	a := ticks()
	start := time.Now()
	time.Sleep(5 * time.Second)
	used := time.Duration(ticks()-a) * 10 * time.Millisecond // USER_HZ 100
	if share := float64(used) / float64(time.Since(start)); share > 0.12 {
		t.Errorf("the supervisor used %v of CPU in %v (%.0f%%) relaying a box of sleeping processes; want at most 12%%", used, time.Since(start).Round(time.Millisecond), share*100)
	}
}

// With --map auto the payload's root keeps CAP_SETUID, and RLIMIT_NPROC
// counts per uid: switching to another of the box's uids started a fresh
// count (1505 processes against the default cap of 1024, 49 against
// --rlimit nproc=20). The box's pid namespace has its own kernel.pid_max
// (Linux 6.14+), set to the cap plus the 300 pids the kernel reserves, which
// counts every uid's processes together. The count is read with shell
// builtins alone: a full box cannot fork ls.
func TestAttackNprocCapMapAuto(t *testing.T) {
	need(t)
	testUserRanges(t)
	const script = `s='i=0; while [ $i -lt 390 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null'
sh -c "$s"
for u in 1 2; do setpriv --reuid=$u --regid=$u --clear-groups /bin/sh -c "$s" 2>/dev/null; done
sleep 1; set -- /proc/[0-9]*; echo $#`
	out := strings.TrimSpace(box(t, script, "--map", "auto", "--rlimit", "nproc=400"))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("unexpected output %q", out)
	}
	// 3 uids x 390 sleepers were asked for; pid_max 701 holds 700.
	if n > 400+pidReservedForTest {
		t.Errorf("%d processes in a box capped at 400 (+%d reserved pids): setuid to the box's other users escapes the cap", n, pidReservedForTest)
	}
	if n < 390 {
		t.Errorf("%d processes: the test did not fill the box (want at least 390)", n)
	}
}

// pidReservedForTest is the kernel's RESERVED_PIDS, what sandbox adds to the
// process cap for the box's kernel.pid_max.
const pidReservedForTest = 300

// The payload, whose bind holds the --report path, renames the report file
// away and leaves a report of its own at the path: a grader reading the
// path read "ok" for a run that timed out.
func TestAttackReportForged(t *testing.T) {
	work := hostDir(t)
	report := filepath.Join(work, "report.json")
	r := runSandbox(t, "exec", "--timeout", "1", "--bind", work+":/work", "--report", report, "--",
		"/bin/sh", "-c", `mv /work/report.json /work/.real; echo '{"status":"ok","exit_code":0}' > /work/report.json; sleep 100`)
	if r.code != 124 {
		t.Fatalf("want exit 124 (timeout)\n%s", r)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"status": "timeout"`) {
		t.Errorf("the report at the path is the box's, not the supervisor's: %s", b)
	}
}

// SysV shared memory is shmem on the kernel's own tmpfs, outside every
// tmpfs cap of the box's: a default box filled a 700 MiB segment, detached
// it, and held the memory with no process's RSS showing it (the OOM killer
// sees none). It gets what /dev/shm gets.
func TestAttackSysVShmUncapped(t *testing.T) {
	const script = `python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
id = libc.shmget(0, ctypes.c_size_t(200 << 20), 0o1000 | 0o600)
print("created" if id >= 0 else "refused %d" % ctypes.get_errno())
'`
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testenv.Skip(t, "no python3 on the host (apt-get install python3; make deps does)")
	}
	out := strings.TrimSpace(box(t, script))
	if out == "created" {
		t.Errorf("a 200 MiB SysV segment was created in a box whose /dev/shm holds 64 MiB")
	}
	// --tmpfs /dev/shm:size= raises both.
	out = strings.TrimSpace(box(t, script, "--tmpfs", "/dev/shm:size=256m"))
	if out != "created" {
		t.Errorf("with /dev/shm at 256 MiB: %s, want created", out)
	}
}

// SysV message queues keep their messages in unreclaimable kernel memory:
// a default box filled 20,000 queues (330 MiB of slab) with 1.6 MiB of RSS.
// They get as much as /dev/shm.
func TestAttackSysVMsgUncapped(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testenv.Skip(t, "no python3 on the host (apt-get install python3; make deps does)")
	}
	const script = `python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
q = 0
while q < 20000 and libc.msgget(0, 0o1000 | 0o600) >= 0:
    q += 1
print(q)
'`
	out := strings.TrimSpace(box(t, script))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("unexpected output %q", out)
	}
	if n > 4096 {
		t.Errorf("%d SysV message queues (16 KiB each) in a box whose /dev/shm holds 64 MiB; want at most 4096", n)
	}
}

// SysV semaphores are unreclaimable kernel memory too, 64 bytes each, and
// an IPC namespace may hold 1,024,000,000 of them (65 GB): a default box
// made 100 sets of 32,000 (205 MiB of slab) and could go on to the host's
// whole memory. They get as much as /dev/shm.
func TestAttackSysVSemUncapped(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testenv.Skip(t, "no python3 on the host (apt-get install python3; make deps does)")
	}
	const script = `python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
n = 0
while n < 100 and libc.semget(0, 32000, 0o1000 | 0o600) >= 0:
    n += 1
print(n)
'`
	out := strings.TrimSpace(box(t, script))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("unexpected output %q", out)
	}
	if n*32000*64 > 2*64<<20 {
		t.Errorf("%d sets of 32,000 SysV semaphores (%d MiB of kernel memory) in a box whose /dev/shm holds 64 MiB", n, n*32000*64>>20)
	}
}

// A box of a batch whose bind holds the -o results file renames it away
// and leaves results of its own at the path.
func TestAttackBatchResultsForged(t *testing.T) {
	work := hostDir(t)
	results := filepath.Join(work, "results.jsonl")
	line := `{"id":"forger","args":["/bin/sh","-c","mv /work/results.jsonl /work/.real; echo '{\"id\":\"forger\",\"status\":\"ok\"}' > /work/results.jsonl; exit 3"],` +
		`"mounts":[{"type":"bind","source":"` + work + `","dest":"/work"}]}` + "\n"
	runWith(t, runOpts{stdin: line}, "batch", "-o", results)
	b, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseBatch(t, string(b))["forger"]; got.Status != "exit" || got.ExitCode != 3 {
		t.Errorf("the results at the path are the box's: %s", b)
	}
}

// A batch line (or --cpus) asking for 1e308 CPUs: the CFS quota overflowed
// int64 and became the smallest the box can get, 1% of one CPU; a grader
// saw its runs time out. It is refused.
func TestAttackCPUsOverflow(t *testing.T) {
	r := runWith(t, runOpts{stdin: `{"id":"c","args":["/bin/true"],"limits":{"cpus":1e308}}` + "\n"}, "batch")
	if got := parseBatch(t, r.stdout)["c"]; got.Status != "setup-error" || !strings.Contains(got.Error, "cpus") {
		t.Errorf("cpus 1e308: want a setup error naming --cpus, got %+v", got)
	}
}
