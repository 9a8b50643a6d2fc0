#!/bin/sh
# mkrootfs.sh DIR: build a minimal root filesystem from Debian's
# busybox-static (apt-get install busybox-static) for --rootfs tests.
# The mount points the box needs (/proc, /dev, /tmp) are made here, so the
# tree works read-only and for users who cannot write to it.
set -eu
dir=${1:?usage: mkrootfs.sh DIR}
bb=$(command -v busybox || true)
[ -n "$bb" ] || { echo "mkrootfs.sh: busybox not found: apt-get install busybox-static" >&2; exit 1; }
if ! LC_ALL=C ldd "$bb" 2>&1 | grep -q 'not a dynamic'; then
	echo "mkrootfs.sh: $bb is not static: apt-get install busybox-static" >&2
	exit 1
fi
mkdir -p "$dir/bin" "$dir/proc" "$dir/dev" "$dir/tmp" "$dir/etc" "$dir/root"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
echo 'root:x:0:' > "$dir/etc/group"
echo 'this is the busybox rootfs' > "$dir/etc/rootfs-marker"
chmod -R a+rX "$dir"
