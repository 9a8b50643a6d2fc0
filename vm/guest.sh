#!/bin/sh
# guest.sh: the test run inside the VM, as a systemd service (root; the
# tests drop to the unprivileged user for every rootless case). It writes
# the output and the exit code to the shared directory /vm/out and powers
# the guest off.
. /vm/env
out=/vm/out
mkdir -p $out
uid=$(id -u "$VM_TEST_USER")
{
	echo "guest: kernel $(uname -r), $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null | sed 's/^/cgroup v2 controllers: /')"
	grep -q ' cgroup ' /proc/mounts && echo "guest: cgroup v1 is mounted" || echo "guest: no cgroup v1 mount"
	echo "guest: systemd $(systemctl --version | head -1)"
	# The user's manager comes from lingering; wait for its bus.
	for i in $(seq 1 120); do
		[ -S /run/user/$uid/bus ] && break
		sleep 1
	done
	ls -la /run/user/$uid/bus 2>&1
	systemctl --no-pager status "user@$uid.service" 2>&1 | head -5
	echo "guest: user@$uid.service delegates: $(cat /sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service/cgroup.controllers 2>&1)"
	echo "guest: sandbox doctor as $VM_TEST_USER:"
	setpriv --reuid="$uid" --regid="$(id -g "$VM_TEST_USER")" --clear-groups /vm/bin/sandbox doctor 2>&1
} > $out/guest.log 2>&1
echo "guest: up $(cut -d' ' -f1 /proc/uptime)s when the tests start" >> $out/guest.log
cat $out/guest.log > /dev/console

export CI=true SANDBOX_TEST_VM=1 SANDBOX_TEST_USER=$VM_TEST_USER SANDBOX_TEST_BIN=/vm/bin/sandbox SANDBOX_TEST_PROBE=/vm/bin/probe
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# The package directory: the tests find ../../testdata from there.
# The binaries and the output live on the guest's own tmpfs while the
# tests run (nothing of a box's launch goes through 9p), the output is
# copied to the console as it comes (the host keeps it even if the guest
# wedges), and to the share at the end.
mkdir -p /tmp/vmbin && cp /vm/bin/sandbox /vm/bin/probe /vm/bin/sandbox.test /tmp/vmbin/ && chmod -R a+rX /tmp/vmbin
export SANDBOX_TEST_BIN=/tmp/vmbin/sandbox SANDBOX_TEST_PROBE=/tmp/vmbin/probe
# The package directory: the tests find ../../testdata from there.
cd "$VM_REPO/cmd/sandbox"
rc=0
{ /tmp/vmbin/sandbox.test -test.v -test.count=1 -test.timeout=${VM_GO_TIMEOUT:-15m} ${VM_TEST_RUN:+-test.run "$VM_TEST_RUN"} 2>&1 || echo "VMTEST-RC $?"; } |
	tee /tmp/test.log > /dev/console
rc=$(sed -n 's/^VMTEST-RC \([0-9]*\)$/\1/p' /tmp/test.log | tail -n 1)
rc=${rc:-0}
echo "VMTEST-RESULT rc=$rc" > /dev/console
cp /tmp/test.log $out/test.log
echo $rc > $out/rc
sync
systemctl poweroff --force --force
