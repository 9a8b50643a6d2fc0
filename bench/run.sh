#!/usr/bin/env bash
# bench/run.sh: what a sandbox launch costs, side by side with bubblewrap and
# unshare(1), in one run, as an unprivileged user (the path that matters).
#
#   1. time per launch of /bin/true (hyperfine -N): plain, sandbox (host
#      view), sandbox --rootfs (busybox), bwrap with comparable isolation,
#      unshare with every namespace; and, to see where a sandbox launch's
#      time goes, `sandbox version` (a Go start alone) and sandbox with
#      --seccomp off
#   2. throughput: N launches through xargs -P 1, 2, 8; launches/s; the same
#      N boxes through `sandbox batch -j 1, 2, 8` and through the Go library;
#      and the kernel's floor (bench/floor/floor.c: the namespaces, maps and
#      mounts alone, from one C process), the ceiling of any batch mode
#   3. the seccomp filter's cost per system call (bench/syscost.c inside the
#      box, --seccomp default against --seccomp off, and against a filter
#      that allows everything)
#   4. resident memory of a box's supervisor and its pid 1
#   5. the machine, the tool versions, and the sandbox/bwrap ratios
#   6. as root: a 100 MB HTTP transfer through --net user against --net
#      host, in a lab of network namespaces (bench/net.sh)
#
# Run by `make bench` after `make build`. As root it runs every measurement
# as $BENCH_USER (make testuser creates it); as anyone else, as that user.
# It never reaches the network. Knobs (environment): BENCH_RUNS (hyperfine
# runs per command, >= 200), BENCH_WARMUP, BENCH_N (launches per throughput
# batch), BENCH_ITERS (system calls per syscost measurement), BENCH_USER,
# SANDBOX_BIN.
set -euo pipefail

RUNS=${BENCH_RUNS:-200}
WARMUP=${BENCH_WARMUP:-20}
N=${BENCH_N:-400}
ITERS=${BENCH_ITERS:-2000000}
SECCOMP_REPEAT=3
PARALLEL=(1 2 8)
BENCH_USER=${BENCH_USER:-sandbox-test}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
src_bin=${SANDBOX_BIN:-$repo/bin/sandbox}

die() {
	echo "bench: $*" >&2
	exit 1
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

section() {
	printf '\n== %s\n' "$*"
}

# --- preconditions: fail before measuring anything -------------------------

need hyperfine "apt-get install hyperfine (make bench installs it when run as root)"
need bwrap "apt-get install bubblewrap (make bench installs it when run as root)"
need unshare "apt-get install util-linux"
need setpriv "apt-get install util-linux"
need xargs "apt-get install findutils"
need gcc "apt-get install gcc libc6-dev (a static C program measures the seccomp filter)"
need python3 "apt-get install python3 (it turns hyperfine's JSON into the tables)"
need busybox "apt-get install busybox-static (for the --rootfs launch)"
[ -x "$src_bin" ] || die "$src_bin not found or not executable: run make build"
[ "$RUNS" -ge 200 ] || die "BENCH_RUNS=$RUNS: at least 200 runs per command, or the median is noise"

if [ "$(id -u)" = 0 ]; then
	id -u "$BENCH_USER" >/dev/null 2>&1 ||
		die "user $BENCH_USER does not exist: run make testuser (or set BENCH_USER)"
	bench_uid=$(id -u "$BENCH_USER")
	bench_gid=$(id -g "$BENCH_USER")
	# setpriv execs the command itself (no extra fork, unlike runuser), so
	# the pid of a background launch is the pid of the sandbox supervisor.
	user_prefix=(setpriv --reuid="$bench_uid" --regid="$bench_gid" --init-groups --reset-env --)
else
	BENCH_USER=$(id -un)
	user_prefix=()
fi
as_user() {
	"${user_prefix[@]}" "$@"
}

# --- a world-readable work dir: the binaries, the rootfs, the results -------

work=$(mktemp -d /tmp/sandbox-bench.XXXXXX)
bg_pid=
cleanup() {
	# A box still running (an interrupted memory measurement) would keep
	# files in the work dir busy; end it before removing the dir.
	if [ -n "$bg_pid" ] && kill -0 "$bg_pid" 2>/dev/null; then
		kill -TERM "$bg_pid" 2>/dev/null || true
		wait "$bg_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
mkdir "$work/bin" "$work/out"
cp "$src_bin" "$work/bin/sandbox"
gcc -O2 -static -Wall -Wextra -o "$work/bin/syscost" "$here/syscost.c" ||
	die "compiling bench/syscost.c failed: is libc6-dev installed (static libc.a)?"
gcc -O2 -static -Wall -Wextra -o "$work/bin/floor" "$here/floor/floor.c" ||
	die "compiling bench/floor/floor.c failed"
(cd "$repo" && go build -tags osusergo,netgo -ldflags '-s -w -extldflags "-static"' -o "$work/bin/runloop" ./bench/runloop) ||
	die "building bench/runloop failed"
chmod 755 "$work/bin" "$work/bin/sandbox" "$work/bin/syscost" "$work/bin/floor" "$work/bin/runloop"
sh "$repo/testdata/mkrootfs.sh" "$work/rootfs" >/dev/null
# The results are written by the unprivileged user.
if [ "$(id -u)" = 0 ]; then
	chown "$bench_uid:$bench_gid" "$work/out"
fi
# hyperfine and the boxes start in a directory the user can read.
cd "$work"

sbx=$work/bin/sandbox
report() {
	python3 "$here/report.py" "$@"
}

# The commands compared. bwrap gets what sandbox gives by default: every
# namespace, the host's /usr and /etc read-only with the merged-/usr
# symlinks, a fresh /proc, a minimal /dev, an empty /tmp, no capabilities,
# a new session, and death with its parent. (bwrap has no seccomp filter
# by default, which favours it slightly.)
cmd_plain=(/bin/true)
cmd_sandbox=("$sbx" exec -- /bin/true)
cmd_sandbox_rootfs=("$sbx" exec --rootfs "$work/rootfs" -- /bin/true)
cmd_bwrap=(bwrap --unshare-all --die-with-parent --new-session
	--ro-bind /usr /usr --ro-bind /etc /etc
	--symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin
	--proc /proc --dev /dev --tmpfs /tmp --cap-drop ALL -- /bin/true)
cmd_unshare=(unshare -U -m -p -n -i -u -C -f --map-root-user --mount-proc /bin/true)
# Not compared, but they split a sandbox launch: the Go start and CLI alone,
# and the launch without a seccomp filter (neither built nor loaded).
cmd_sandbox_version=("$sbx" version)
cmd_sandbox_noseccomp=("$sbx" exec --seccomp off -- /bin/true)

# Each command once, with its errors shown: hyperfine and xargs would only
# say that something exited non-zero.
for name in plain sandbox sandbox_rootfs bwrap unshare sandbox_version sandbox_noseccomp; do
	declare -n cmd="cmd_$name"
	if ! err=$(as_user "${cmd[@]}" 2>&1); then
		die "$name as $BENCH_USER failed: ${cmd[*]}
$err"
	fi
	unset -n cmd
done

# --- the machine -------------------------------------------------------------

cgroup_mode() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo "cgroup v2"; else echo "cgroup v1 or hybrid"; fi
}

section "machine"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "cpus:      $(nproc) ($cpu)"
echo "kernel:    $(uname -r) $(uname -m)"
if [ -r /etc/debian_version ]; then
	echo "debian:    $(cat /etc/debian_version)"
fi
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min, at start)"
echo "user:      $BENCH_USER (uid $(as_user id -u))"
# Whether the batch's boxes get accounting cgroups: after `sandbox
# cgroup-setup` (make test runs it) each box makes and removes its own,
# which costs a batch much of its rate (docs/performance.md); without it
# they account with rusage. The batch figures below depend on it.
cg_setup=no
for d in /sys/fs/cgroup/sandbox-"$BENCH_USER" /sys/fs/cgroup/*/sandbox-"$BENCH_USER"; do
	[ -d "$d" ] && cg_setup=yes
done
if [ "$cg_setup" = yes ]; then
	echo "cgroups:   $(cgroup_mode) host, set up for $BENCH_USER: every box gets accounting cgroups"
else
	echo "cgroups:   $(cgroup_mode) host, not set up for $BENCH_USER: boxes without a cgroup (rusage accounting)"
fi
echo "sandbox:   $(as_user "$sbx" version 2>&1 | head -n 1)"
echo "bwrap:     $(bwrap --version)"
echo "unshare:   $(unshare --version)"
echo "hyperfine: $(hyperfine --version)"
echo "gcc:       $(gcc --version | head -n 1)"
echo "python3:   $(python3 --version 2>&1)"

# --- 1. time per launch ------------------------------------------------------

section "1. time per launch of /bin/true (hyperfine -N, $WARMUP warmup, $RUNS runs each)"
# -N: no intermediate shell, so each time is the command's own. The names
# are what report.py looks for. hyperfine's warnings (outliers on a busy
# machine) go to a file and are counted, not repeated per command.
as_user hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
	--export-json "$work/out/launch.json" \
	-n plain "${cmd_plain[*]}" \
	-n sandbox "${cmd_sandbox[*]}" \
	-n sandbox-rootfs "${cmd_sandbox_rootfs[*]}" \
	-n bwrap "${cmd_bwrap[*]}" \
	-n unshare "${cmd_unshare[*]}" \
	-n sandbox-version "${cmd_sandbox_version[*]}" \
	-n sandbox-seccomp-off "${cmd_sandbox_noseccomp[*]}" 2>"$work/out/hyperfine.err" ||
	die "hyperfine failed: $(cat "$work/out/hyperfine.err")"
report launch "$work/out/launch.json"

# --- 1b. CPU per launch -------------------------------------------------------

section "1b. CPU per launch (perf stat -e task-clock, every process of the launch, $RUNS runs each)"
# hyperfine's CPU column is the rusage of the children the launcher waited
# for; perf's task-clock, inherited by every process the command starts,
# counts all of a launch, kernel work included, whoever reaps what. As root
# perf runs the command through setpriv like every other measurement: the
# cost of that setpriv is measured too (setpriv-true minus true) and taken
# off. Where perf cannot count (no linux-perf, or perf_event_paranoid),
# the section says so and the ratios use hyperfine's column.
perf_ms() { # NAME CMD...: "NAME MS" with the mean task-clock in ms
	local name=$1 out
	shift
	out=$(perf stat -x, -r "$RUNS" -e task-clock -- "$@" 2>&1 >/dev/null) || return 1
	echo "$name $(printf '%s\n' "$out" | awk -F, '/task-clock/ {print $1; exit}')"
}
: >"$work/out/cpu.txt"
if command -v perf >/dev/null 2>&1 && perf_ms plain /bin/true >/dev/null 2>&1; then
	{
		perf_ms plain /bin/true
		perf_ms setpriv-true "${user_prefix[@]}" /bin/true
		for name in sandbox bwrap unshare sandbox_version; do
			declare -n cmd="cmd_$name"
			perf_ms "${name//_/-}" "${user_prefix[@]}" "${cmd[@]}"
			unset -n cmd
		done
	} >"$work/out/cpu.txt" || die "perf stat failed"
	report cpu "$work/out/cpu.txt"
else
	echo "(perf stat cannot count here: apt-get install linux-perf, and run as root or lower kernel.perf_event_paranoid)"
fi
outliers=$(grep -c 'outliers were detected' "$work/out/hyperfine.err" || true)
if [ "$outliers" -gt 0 ]; then
	echo "(hyperfine saw statistical outliers in $outliers of 7 commands: other load on the machine; compare medians)"
fi

# --- 2. throughput -------------------------------------------------------------

section "2. throughput: $N launches of /bin/true through xargs -P K"
# One batch: the whole of it timed inside the user's shell, so the setpriv
# start is not counted. xargs -I runs one command per input line; it exits
# 123 if any launch failed, which set -e turns into a failure of the run.
cat >"$work/bin/batch" <<'EOF'
#!/bin/bash
set -euo pipefail
n=$1 p=$2
shift 2
start=$EPOCHREALTIME
seq "$n" | xargs -P "$p" -I{} "$@"
end=$EPOCHREALTIME
echo "$start $end"
EOF
chmod 755 "$work/bin/batch"
for p in "${PARALLEL[@]}"; do
	for name in sandbox bwrap unshare; do
		declare -n cmd="cmd_$name"
		se=$(as_user "$work/bin/batch" "$N" "$p" "${cmd[@]}") ||
			die "the throughput batch of $name at -P $p failed (a launch exited non-zero)"
		echo "$name $p $N $se" >>"$work/out/throughput.txt"
		unset -n cmd
	done
done
report throughput "$work/out/throughput.txt"

# --- 2a. sandbox batch ----------------------------------------------------------

section "2a. throughput through sandbox batch -j P: $N boxes of /bin/true from JSON lines"
# One process runs every box, a fresh one per line: what a grader scripting
# in Python or shell gets. Timed like the xargs batches above; every line
# must come out ok.
cat >"$work/bin/batchrun" <<'EOF2'
#!/bin/bash
set -euo pipefail
n=$1 p=$2 sbx=$3
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for _ in $(seq "$n"); do echo '{"args":["/bin/true"]}'; done >"$lines"
start=$EPOCHREALTIME
ok=$("$sbx" batch -j "$p" "$lines" | grep -c '"status":"ok"')
end=$EPOCHREALTIME
[ "$ok" = "$n" ] || { echo "batch: $ok of $n runs ok" >&2; exit 1; }
echo "$start $end"
EOF2
chmod 755 "$work/bin/batchrun"
for p in "${PARALLEL[@]}"; do
	se=$(as_user "$work/bin/batchrun" "$N" "$p" "$sbx") || die "sandbox batch -j $p failed"
	echo "sandbox-batch $p $N $se" >>"$work/out/throughput.txt"
done
report throughput "$work/out/throughput.txt"

# --- 2b. the same through the Go library -----------------------------------------

section "2b. throughput through the Go library: one process calling sandbox.Run"
# A grader or CI runner written in Go pays the Go runtime's start once, not
# per box: this is the box's own cost, to set beside bwrap's launches/s above.
for p in "${PARALLEL[@]}"; do
	as_user "$work/bin/runloop" -n "$N" -p "$p" -- /bin/true ||
		die "the library batch at -P $p failed"
done

# --- 2c. the kernel's floor ---------------------------------------------------------

section "2c. the kernel's floor: $N boxes of /bin/true from one C process, P at a time"
# bench/floor/floor.c does only what the kernel must for each box, the
# namespaces, the id maps and bwrap's mounts, from P worker processes: the
# most launches/s any batch mode with fresh namespaces could reach here.
for p in "${PARALLEL[@]}"; do
	se=$(as_user bash -c 'set -e; s=$EPOCHREALTIME; "$1" -c "$2" -j "$3" -- /bin/true; echo "$s $EPOCHREALTIME"' _ \
		"$work/bin/floor" "$N" "$p") || die "the kernel floor at -j $p failed"
	echo "floor $p $N $se" >>"$work/out/throughput.txt"
done
report throughput "$work/out/throughput.txt"

# --- 3. the seccomp filter's cost per system call ------------------------------

section "3. seccomp filter cost per system call ($ITERS calls each, best of $SECCOMP_REPEAT)"
# allow-all: a filter with no rules; its cost over "off" is the price of
# having a filter at all (the kernel's slower system call entry), apart
# from running the default filter's instructions.
echo '{"defaultAction": "SCMP_ACT_ALLOW"}' >"$work/bin/allow-all.json"
chmod 644 "$work/bin/allow-all.json"
# Alternating the modes spreads the machine's background load over all.
for _ in $(seq "$SECCOMP_REPEAT"); do
	as_user "$work/bin/syscost" "$ITERS" | sed 's/^/host /' >>"$work/out/seccomp.txt"
	for mode in off allow-all default; do
		filter=$mode
		[ "$mode" = allow-all ] && filter=$work/bin/allow-all.json
		as_user "$sbx" exec --seccomp "$filter" --ro-bind "$work/bin:/opt/bench" -- \
			/opt/bench/syscost "$ITERS" | sed "s/^/$mode /" >>"$work/out/seccomp.txt"
	done
done
report seccomp "$work/out/seccomp.txt"
echo "(host: no box, the caller's own seccomp state; filter ns = default - off)"

# --- 4. resident memory ---------------------------------------------------------

section "4. resident memory of the processes of one box (sleep 5)"

status_field() { # PID FIELD: one field of /proc/PID/status, or "-"
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null | head -n 1 | grep . || echo -
}

children() { # PID: its children's pids
	cat /proc/"$1"/task/*/children 2>/dev/null || true
}

# print_tree PID DEPTH: each process of the box with its VmRSS.
print_tree() {
	local pid=$1 depth=$2 c
	printf '%*s%-8s %-14s VmRSS %-10s RssAnon %-10s RssFile %s\n' $((depth * 2)) '' "$pid" \
		"$(status_field "$pid" Name)" "$(status_field "$pid" VmRSS)" \
		"$(status_field "$pid" RssAnon)" "$(status_field "$pid" RssFile)"
	for c in $(children "$pid"); do
		print_tree "$c" $((depth + 1))
	done
}

# rss_of NAME CMD...: start CMD (ending in sleep) in the background as the
# user, wait until the box is built and its payload has become sleep (a
# grandchild named sleep), print the process tree, then let it finish.
rss_of() {
	local name=$1 i init= payload ready=
	shift
	# A simple command, not as_user: the background job's pid is then the
	# launcher's own (setpriv execs it), not a subshell's.
	"${user_prefix[@]}" "$@" </dev/null &
	bg_pid=$!
	for i in $(seq 300); do
		for init in $(children "$bg_pid"); do
			for payload in $(children "$init"); do
				if [ "$(status_field "$payload" Name)" = sleep ]; then
					ready=1
					break 3
				fi
			done
		done
		sleep 0.01
	done
	[ -n "$ready" ] || die "$name: no payload named sleep appeared in a box under pid $bg_pid within 3s"
	echo "$name:"
	print_tree "$bg_pid" 1
	echo "  => supervisor/launcher VmRSS $(status_field "$bg_pid" VmRSS), box pid 1 ($(status_field "$init" Name)) VmRSS $(status_field "$init" VmRSS)"
	wait "$bg_pid" || die "$name: the box exited non-zero"
	bg_pid=
}
# The sandbox tree should read: sandbox (the Go supervisor) -> sandbox-init
# (pid 1 in the box, the C init stage) -> sleep; the names are printed so
# that a change in that shape shows.
rss_of sandbox "$sbx" exec -- /bin/sleep 5
rss_of bwrap "${cmd_bwrap[@]:0:${#cmd_bwrap[@]}-1}" /bin/sleep 5

# --- 5. summary ----------------------------------------------------------------

section "5. sandbox / bwrap"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min, at the end; above $(nproc) means the numbers are noisy)"
report ratios "$work/out/launch.json" "$work/out/throughput.txt" "$work/out/cpu.txt"

# --- 6. --net user ------------------------------------------------------------
# A lab of network namespaces needs root; as anyone else the section says so.
if [ "$(id -u)" = 0 ]; then
	SANDBOX_BIN=$sbx BENCH_USER=$BENCH_USER "$here/net.sh"
else
	section "6. network: skipped (building the lab of network namespaces needs root)"
fi
