#!/usr/bin/env bash
# bench/net.sh: a 100 MB HTTP transfer from a "public" host through
# `sandbox exec --net user` (pasta and the egress policy), as a ratio
# against `--net host`. Run by bench/run.sh (section 6) or alone, as root:
#
#   SANDBOX_BIN=bin/sandbox bench/net.sh
#
# Everything stays on this machine: three network namespaces joined by veth
# pairs (the box's host, a router, the public host 203.0.113.10 behind it),
# with no route off the machine, removed at the end. The box runs as
# $BENCH_USER. Knobs: BENCH_NET_RUNS (hyperfine runs per mode, default 5),
# BENCH_NET_MB (default 100).
set -euo pipefail

RUNS=${BENCH_NET_RUNS:-5}
MB=${BENCH_NET_MB:-100}
BENCH_USER=${BENCH_USER:-sandbox-test}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
src_bin=${SANDBOX_BIN:-$repo/bin/sandbox}

die() {
	echo "bench/net: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (to build the lab's network namespaces)"
for c in ip pasta hyperfine python3 busybox setpriv; do
	command -v "$c" >/dev/null 2>&1 || die "$c not found (make deps; make bench installs hyperfine)"
done
[ -x "$src_bin" ] || die "$src_bin not found: run make build"
uid=$(id -u "$BENCH_USER") && gid=$(id -g "$BENCH_USER") || die "no user $BENCH_USER: make testuser"

p=sbxb$$
work=$(mktemp -d /tmp/sandbox-bench-net.XXXXXX)
server=
tun_mode=$(stat -c %a /dev/net/tun)
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null || true
	for n in h r p; do ip netns del "$p$n" 2>/dev/null || true; done
	chmod "$tun_mode" /dev/net/tun
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# pasta makes the box's interface through /dev/net/tun (Debian's udev: 0666).
chmod 0666 /dev/net/tun
chmod 755 "$work"
cp "$src_bin" "$work/sandbox"
chmod 755 "$work/sandbox"
mkdir "$work/www"
head -c "${MB}M" /dev/zero >"$work/www/blob"
chmod -R a+rX "$work/www"

ip netns add "${p}h"
ip netns add "${p}r"
ip netns add "${p}p"
ip link add "${p}h0" netns "${p}h" type veth peer name "${p}r0" netns "${p}r"
ip link add "${p}p0" netns "${p}p" type veth peer name "${p}r1" netns "${p}r"
for n in h r p; do ip -n "$p$n" link set lo up; done
ip -n "${p}h" addr add 10.98.0.2/24 dev "${p}h0"
ip -n "${p}h" link set "${p}h0" up
ip -n "${p}h" route add default via 10.98.0.1
ip -n "${p}r" addr add 10.98.0.1/24 dev "${p}r0"
ip -n "${p}r" addr add 203.0.113.1/24 dev "${p}r1"
ip -n "${p}r" link set "${p}r0" up
ip -n "${p}r" link set "${p}r1" up
ip netns exec "${p}r" sysctl -qw net.ipv4.ip_forward=1
ip -n "${p}p" addr add 203.0.113.10/24 dev "${p}p0"
ip -n "${p}p" link set "${p}p0" up
ip -n "${p}p" route add default via 203.0.113.1
# The bind address is an IP: http.server's command line would look a name
# up in DNS, which hangs in a closed namespace.
ip netns exec "${p}p" python3 -m http.server --bind 203.0.113.10 --directory "$work/www" 80 >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do
	ip netns exec "${p}h" busybox wget -q -O /dev/null http://203.0.113.10/ 2>/dev/null && break
	sleep 0.05
done

url=http://203.0.113.10/blob
run() {
	echo "ip netns exec ${p}h setpriv --reuid=$uid --regid=$gid --clear-groups -- $work/sandbox exec --net $1 -- busybox wget -q -O /dev/null $url"
}
start() {
	echo "ip netns exec ${p}h setpriv --reuid=$uid --regid=$gid --clear-groups -- $work/sandbox exec --net $1 -- true"
}
cd "$work"
printf '\n== 6. network: %s MB over HTTP from the public test host, --net user (pasta) against --net host (hyperfine, %s runs each)\n' "$MB" "$RUNS"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/net.json" \
	-n "net host" "$(run host)" -n "net user" "$(run user)" \
	-n "net host, start only" "$(start host)" -n "net user, start only" "$(start user)" 2>&1 | grep -v -e '^ *Warning' -e '^$' || true
python3 - "$work/net.json" "$MB" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
mb = float(sys.argv[2])
h, u = r["net host"]["median"], r["net user"]["median"]
h0, u0 = r["net host, start only"]["median"], r["net user, start only"]["median"]
print(f"--net host: {h:.3f} s ({mb / h:.0f} MB/s); --net user: {u:.3f} s ({mb / u:.0f} MB/s); "
      f"ratio user/host: {u / h:.2f}, each run including the box's start")
print(f"the start alone: --net host {h0:.3f} s, --net user {u0:.3f} s (pasta and the policy: {u0 - h0:+.3f} s); "
      f"the transfer alone: --net host {mb / (h - h0):.0f} MB/s, --net user {mb / (u - u0):.0f} MB/s, ratio {(u - u0) / (h - h0):.2f}")
PY
