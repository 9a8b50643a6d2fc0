#!/bin/sh
# guest-prepare.sh ROOT: run by the initramfs before systemd starts. It
# writes the guest's own units into the overlay: a target that starts only
# what the tests need (journald, udev, D-Bus, logind, and the test user's
# systemd manager through lingering) and the service that runs the tests.
set -eu
root=$1
. "$root/vm/env"
# The guest mounts a tmpfs of its own on /tmp (vm/init): a repository that
# lives under it (a CI clone can) is bound back from the host's tree.
case "$VM_REPO" in
/tmp/*)
	mkdir -p "$root$VM_REPO"
	mount -o bind "/lower$VM_REPO" "$root$VM_REPO"
	;;
esac
mkdir -p "$root/etc/systemd/system" "$root/var/lib/systemd/linger"
: > "$root/var/lib/systemd/linger/$VM_TEST_USER"
cat > "$root/etc/systemd/system/sandbox-vmtest.target" <<UNIT
[Unit]
Description=sandbox VM test stage
Requires=sandbox-vmtest.service basic.target
After=basic.target
AllowIsolate=yes
UNIT
cat > "$root/etc/systemd/system/sandbox-vmtest.service" <<UNIT
[Unit]
Description=sandbox tests
Wants=dbus.service systemd-logind.service
After=dbus.service systemd-logind.service basic.target
[Service]
Type=oneshot
# The tests as root make box cgroups below their own cgroup: a delegated one.
Delegate=yes
StandardOutput=journal+console
StandardError=journal+console
ExecStart=/bin/sh /vm/guest.sh
UNIT
