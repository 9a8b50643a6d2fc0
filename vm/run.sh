#!/bin/bash
# vm/run.sh: the VM test stage (`make vmtest`). Boots Debian's kernel
# (linux-image-amd64, fetched with apt-get download and unpacked, never
# installed) under qemu with cgroup v2 only and systemd as init, and runs
# the integration tests there, built here, as root dropping to the
# unprivileged test user. The guest's root is this host's own tree, shared
# read-only over 9p with a tmpfs overlay (see vm/init): no image to build.
# The guest's `go test` output is copied to stdout; the stage fails if the
# guest's tests fail or it does not finish within VM_TIMEOUT seconds.
#
#   VM_ACCEL    kvm or tcg (default: kvm on bare metal, tcg when this host is
#               itself a VM, where nested KVM is not to be trusted)
#   VM_TIMEOUT  seconds for the whole guest run (default 1080)
#   VM_TEST_RUN a -test.run pattern (default: the cgroup and limit tests,
#               and those of supervisors killed and of reports, whose
#               cgroups differ on v2, and the OCI runtime's cgroup tests
#               (linux.resources, cgroupsPath; the engines' tests are the
#               host's: make ocitest);
#               not the wall-clock bounds of TestTimeout*, TestCPUTimeLimit
#               and TestReportFields, which TCG on a loaded host cannot
#               meet, nor TestPeakMemoryIgnoresPageCache, whose file would
#               be on the guest's tmpfs /tmp, not on a disk)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=${VM_WORK:-$repo/vm/.work}
user=${SANDBOX_TEST_USER:-sandbox-test}
timeout=${VM_TIMEOUT:-1080}
run=${VM_TEST_RUN:-'TestSystemdUser|TestCgroup|TestLimit|TestPidsForkBomb|TestPidNamespace|TestNothingLeftAfterKilledSupervisors|TestKilledSupervisorsLeaveNothing|TestReportOnSetupError|TestReportSaysCPULowerBound|TestOCIResources|TestOCICgroupsPath|TestOCISysctl|TestOCILifecycle'}
start=$(date +%s)
mkdir -p "$work"

# 1. The kernel: Debian's, unpacked into $work/kernel.
if [ ! -f "$work/kernel/.done" ]; then
	rm -rf "$work/kernel" "$work/deb"
	mkdir -p "$work/deb" "$work/kernel"
	(cd "$work/deb" && apt-get download linux-image-amd64 >/dev/null 2>&1 &&
		dep=$(dpkg-deb -f linux-image-amd64_*.deb Depends | grep -o 'linux-image-[0-9][^ ,]*' | head -1) &&
		apt-get download "$dep" >/dev/null 2>&1)
	dpkg-deb -x "$work"/deb/linux-image-[0-9]*.deb "$work/kernel"
	rm -rf "$work/deb"
	touch "$work/kernel/.done"
fi
kver=$(ls "$work/kernel/lib/modules" | head -1)
vmlinuz="$work/kernel/boot/vmlinuz-$kver"

# 2. The initramfs: busybox, the modules for virtio, 9p and overlayfs (in
# their dependency order), and vm/init.
ird="$work/initramfs"
rm -rf "$ird" && mkdir -p "$ird/bin" "$ird/modules" "$ird/proc" "$ird/sys" "$ird/dev"
cp "$(command -v busybox)" "$ird/bin/busybox"
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"
for m in $mods; do
	f=$(find "$work/kernel/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
	[ -n "$f" ] || { echo "vmtest: module $m not in kernel $kver" >&2; exit 1; }
	case $f in *.xz) xz -dc "$f" > "$ird/modules/$m.ko" ;; *) cp "$f" "$ird/modules/$m.ko" ;; esac
done
echo "$mods" | tr ' ' '\n' > "$ird/modules.order"
cp vm/init "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet) > "$work/initramfs.cpio"

# 3. What the guest runs, built here: the test binary, the sandbox binary and
# the probe (the test binary finds the other two through SANDBOX_TEST_BIN and
# SANDBOX_TEST_PROBE).
share="$work/share"
rm -rf "$share" && mkdir -p "$share/bin" "$share/out"
go test -c -o "$share/bin/sandbox.test" ./cmd/sandbox
go build -tags osusergo,netgo -ldflags -extldflags=-static -o "$share/bin/sandbox" ./cmd/sandbox
CGO_ENABLED=0 go build -o "$share/bin/probe" ./testdata/probe
cp vm/guest.sh vm/guest-prepare.sh "$share/"
cat > "$share/env" <<ENV
VM_TEST_USER=$user
VM_REPO=$repo
VM_TEST_RUN='$run'
ENV
chmod -R a+rX "$share"
built=$(date +%s)

# 4. Boot. KVM only where this host is not itself a guest.
accel=${VM_ACCEL:-}
if [ -z "$accel" ]; then
	if [ -w /dev/kvm ] && ! grep -qw hypervisor /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
cpu=max
[ "$accel" = kvm ] && cpu=host
echo "vmtest: kernel $kver, accel $accel, tests matching '$run', timeout ${timeout}s"
rc=0
timeout --foreground -k 10 "$timeout" qemu-system-x86_64 \
	-machine q35,accel="$accel" -cpu "$cpu" -smp 2 -m 3072 \
	-nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$work/initramfs.cpio" \
	-append "console=ttyS0 loglevel=4 panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 systemd.unit=sandbox-vmtest.target systemd.show_status=0" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs local,path="$share",mount_tag=vm,security_model=none,multidevs=remap \
	< /dev/null > "$work/console.log" 2>&1 || rc=$?
end=$(date +%s)
echo "vmtest: build $((built - start))s, guest $((end - built))s, total $((end - start))s"
if [ -f "$share/out/guest.log" ]; then cat "$share/out/guest.log"; fi
if [ -f "$share/out/test.log" ]; then cat "$share/out/test.log"; fi
if [ ! -f "$share/out/rc" ]; then
	# The console has the output as it came, and the result line if the
	# tests finished but the share did not get it.
	grc=$(sed -n 's/^VMTEST-RESULT rc=\([0-9]*\).*/\1/p' "$work/console.log" | tail -n 1)
	if [ -z "$grc" ]; then
		echo "vmtest: FAIL: the guest did not finish within ${timeout}s (qemu exit $rc); its console:" >&2
		tail -n 80 "$work/console.log" >&2
		exit 1
	fi
	tail -n 80 "$work/console.log"
	echo "$grc" > "$share/out/rc"
fi
grc=$(cat "$share/out/rc")
if [ "$grc" != 0 ]; then
	echo "vmtest: FAIL: the guest's tests exited $grc" >&2
	exit 1
fi
echo "vmtest: PASS"
