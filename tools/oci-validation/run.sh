#!/usr/bin/env bash
# The OCI runtime-tools validation suite (v0.9.0, pinned in this directory's
# go.mod) against bin/sandbox-oci, as root: builds every program of
# runtime-tools' validation/ and its runtimetest, runs each with a timeout
# (a hang must not eat the CI run), keeps its TAP in $OUT, prints ok / not ok
# / skip counts per program, and fails when a check fails that
# expected-failures does not list, or when a listed one passes (the list is
# then out of date: remove the entry; one whose reason starts "flaky:" may
# pass). See docs/oci.md.
#
#   tools/oci-validation/run.sh [PROGRAM...]    (default: every program)
#
# RUNTIME (default bin/sandbox-oci), OUT (default bin/oci-validation),
# TIMEOUT (seconds per program, default 60; the longest takes about 15),
# BUDGET (seconds for the whole suite, default 600; about 150 here): past
# it, the programs left are failures, not run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
RUNTIME=${RUNTIME:-$top/bin/sandbox-oci}
OUT=${OUT:-$top/bin/oci-validation}
TIMEOUT=${TIMEOUT:-60}
BUDGET=${BUDGET:-600}
expected=${EXPECTED:-$here/expected-failures}
GO=${GO:-go}

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: run as root (the suite's checks are written for a root runtime, as runc passes them)" >&2
	exit 1
fi
[ -x "$RUNTIME" ] || { echo "run.sh: $RUNTIME: not found (make build)" >&2; exit 1; }

# Build: the programs and runtimetest into $OUT/bin.
mkdir -p "$OUT/bin" "$OUT/tap" "$OUT/work"
(cd "$here" && $GO build -o "$OUT/bin/" \
	github.com/opencontainers/runtime-tools/cmd/runtimetest \
	github.com/opencontainers/runtime-tools/validation/...) || { echo "run.sh: build failed" >&2; exit 1; }
moddir=$(cd "$here" && $GO list -m -f '{{.Dir}}' github.com/opencontainers/runtime-tools) || exit 1

# Every program runs in $OUT/work: it untars ./rootfs-amd64.tar.gz (the
# busybox rootfs runtime-tools ships in its module) into a new bundle and
# copies ./runtimetest into it.
install -m 0644 "$moddir/rootfs-amd64.tar.gz" "$OUT/work/rootfs-amd64.tar.gz"
install -m 0755 "$OUT/bin/runtimetest" "$OUT/work/runtimetest"

# The runtime as the suite calls it (one path, no flags): a state root of
# the suite's own, so that a container it leaves behind is not among the
# machine's others, and is removed below.
#
# The suite's bundles are root's (it untars its rootfs as root), written for
# a runtime whose container runs as host root, which this one's never does:
# a root caller's box maps its root to nobody, or to root's /etc/subuid
# range (docs/oci.md). So before create and run the wrapper gives the
# bundle's rootfs to the host ids the box maps its root to, as an engine
# that runs its containers in user namespaces gives them its images; the
# payload then writes into a writable root (root.readonly false) as it does
# under runc. Those ids are asked of the runtime itself, once, below.
state=$OUT/state
rm -rf "$state" && mkdir -m 0700 "$state"
probe=$OUT/probe
rm -rf "$probe" && mkdir -p "$probe/rootfs"
tar -xf "$OUT/work/rootfs-amd64.tar.gz" -C "$probe/rootfs" &&
	"$RUNTIME" spec --bundle "$probe" &&
	python3 -c '
import json, sys
p = sys.argv[1] + "/config.json"
c = json.load(open(p))
c["process"]["args"] = ["sh", "-c", "head -n1 /proc/self/uid_map; head -n1 /proc/self/gid_map"]
json.dump(c, open(p, "w"))' "$probe" || { echo "run.sh: the probe bundle" >&2; exit 1; }
boxids=$("$RUNTIME" --root "$state" run --bundle "$probe" probe </dev/null | awk '{ printf "%s%s", sep, $2; sep = ":" }')
rm -rf "$probe"
case $boxids in
[1-9]*:[1-9]*) ;;
*) echo "run.sh: the ids a root caller's box runs as: got \"$boxids\"" >&2; exit 1 ;;
esac
cat >"$OUT/runtime" <<EOF
#!/bin/sh
cmd= bundle=. prev=
for a in "\$@"; do
	case \$prev in --bundle | -b) bundle=\$a ;; esac
	case \$a in
	--bundle=*) bundle=\${a#--bundle=} ;;
	create | run) [ -n "\$cmd" ] || cmd=\$a ;;
	esac
	prev=\$a
done
if [ -n "\$cmd" ] && [ -f "\$bundle/config.json" ]; then
	rootfs=\$(python3 -c 'import json, os, sys; print(os.path.join(sys.argv[1], json.load(open(os.path.join(sys.argv[1], "config.json")))["root"]["path"]))' "\$bundle") &&
		chown -hR $boxids "\$rootfs"
fi
exec "$RUNTIME" --root "$state" "\$@"
EOF
chmod 0755 "$OUT/runtime"

if [ $# -gt 0 ]; then
	progs=("$@")
else
	progs=()
	for p in "$OUT"/bin/*; do
		n=$(basename "$p")
		[ "$n" = runtimetest ] || progs+=("$n")
	done
fi

# Programs that print nothing when they pass: each checks that create
# refuses a bad config, and reports only when it did not.
silent="process_rlimits_fail process_capabilities_fail"

# The failures: "PROGRAM | CHECK" a line, CHECK the TAP line's description,
# or "(exit N)" / "(timeout)" for a program that ended so without a failed
# check. TAP's TODO lines are not failures.
failures=$OUT/failures
: >"$failures"
printf '%-42s %5s %7s %5s %s\n' program ok "not ok" skip result
total_ok=0 total_fail=0 total_skip=0
suite_start=$(date +%s)
for n in "${progs[@]}"; do
	tap=$OUT/tap/$n.tap
	start=$(date +%s)
	if [ $((start - suite_start)) -ge "$BUDGET" ]; then
		echo "$n | (not run: past the suite's budget of ${BUDGET}s)" >>"$failures"
		printf '%-42s %5s %7s %5s %s\n' "$n" - - - "not run: past the budget"
		continue
	fi
	(cd "$OUT/work" && RUNTIME=$OUT/runtime timeout -k 10 "$TIMEOUT" "$OUT/bin/$n" >"$tap" 2>"$OUT/tap/$n.err")
	rc=$?
	secs=$(($(date +%s) - start))
	ok=$(grep -E '^ok [0-9]+' "$tap" | grep -vc '# SKIP')
	skip=$(grep -cE '^ok [0-9]+.*# SKIP' "$tap")
	# A failed check: a "not ok" line, or (the lifecycle programs report
	# so) a YAML diagnostic with an "error" that follows no test line.
	awk -v p="$n" '
		/^not ok [0-9]+/ { if ($0 !~ /# TODO/) { sub(/^not ok [0-9]+( - )?/, ""); print p " | " $0 }; after = 1; next }
		/^ok [0-9]+/ { after = 1; next }
		/^  \.\.\.$/ { after = 0; next }
		/^    "error": "/ && !after { e = $0; sub(/^    "error": "/, "", e); sub(/(\\n.*)?",?$/, "", e); print p " | (diagnostic) " e }
	' "$tap" >"$OUT/tap/$n.failures"
	fail=$(wc -l <"$OUT/tap/$n.failures")
	cat "$OUT/tap/$n.failures" >>"$failures"
	result="${secs}s"
	if [ $rc = 0 ] && ! grep -q '^1\.\.' "$tap" && ! printf '%s\n' $silent | grep -qxF "$n"; then
		echo "$n | (no TAP plan)" >>"$failures"
		result="$result no TAP: $(grep -v '^$' "$OUT/tap/$n.err" | tail -1 | cut -c1-120)"
		fail=$((fail + 1))
	elif [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "$n | (timeout)" >>"$failures"
		result="$result timeout after ${TIMEOUT}s"
		fail=$((fail + 1))
	elif [ $rc != 0 ] && [ "$fail" = 0 ]; then
		echo "$n | (exit $rc)" >>"$failures"
		result="$result exit $rc: $(grep -v '^$' "$OUT/tap/$n.err" | tail -1 | cut -c1-120)"
		fail=$((fail + 1))
	fi
	printf '%-42s %5d %7d %5d %s\n' "$n" "$ok" "$fail" "$skip" "$result"
	total_ok=$((total_ok + ok)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
done
printf '%-42s %5d %7d %5d\n' total $total_ok $total_fail $total_skip

# Containers the programs left behind (a failed check may skip their
# cleanup): killed and deleted, then the state root goes.
for d in "$state"/*/; do
	[ -d "$d" ] && "$RUNTIME" --root "$state" delete --force "$(basename "$d")" >/dev/null 2>&1
done
rm -rf "$state"

# Against the list: "PROGRAM | CHECK | REASON" a line (# comments), CHECK
# "*" for every failure of the program.
bad=0
while IFS= read -r f; do
	p=${f%% | *} c=${f#* | }
	if ! awk -F' [|] ' -v p="$p" -v c="$c" '!/^#/ && NF >= 3 && ($1 == p || $1 == "*") && ($2 == c || $2 == "*") { found = 1 } END { exit !found }' "$expected"; then
		echo "FAIL (not in expected-failures): $f"
		bad=1
	fi
done <"$failures"
while IFS= read -r line; do
	case $line in '#'* | '') continue ;; esac
	p=$(awk -F' [|] ' '{ print $1 }' <<<"$line") c=$(awk -F' [|] ' '{ print $2 }' <<<"$line")
	# A check that races the payload's end may pass: not judged.
	case $(awk -F' [|] ' '{ print $3 }' <<<"$line") in flaky:*) continue ;; esac
	if [ "$p" = "*" ]; then
		# Any program's: judged only when every program ran.
		[ $# -gt 0 ] && continue
		awk -v c="$c" 'substr($0, length($0) - length(c) - 2) == " | " c { f = 1 } END { exit !f }' "$failures" && continue
	else
		printf '%s\n' "${progs[@]}" | grep -qxF "$p" || continue # not run this time
		if [ "$c" = "*" ]; then
			grep -q "^$p | " "$failures" && continue
		else
			grep -qxF "$p | $c" "$failures" && continue
		fi
	fi
	echo "FIXED (passes now: remove it from $expected): $p | $c"
	bad=1
done <"$expected"
if [ $bad != 0 ]; then
	echo "oci validation: the failures differ from $expected (TAP in $OUT/tap)" >&2
	exit 1
fi
echo "oci validation: every failure is an expected one ($expected)"
