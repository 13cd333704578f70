#!/usr/bin/env bash
# Runs a static program as /init under a Linux kernel in the same QEMU setup Weft
# uses (TCG, qboot, -nodefaults, serial console), so that the same binary can be
# measured on both kernels (`make bench-linux LINUX=/path/to/bzImage`).
#
#   tools/compare/linux.sh LINUX_BZIMAGE PROGRAM [SMP] [MEM] [ICOUNT]
#
# A Debian kernel works: apt-get download linux-image-<version>-cloud-amd64, then
# dpkg-deb -x it and pass boot/vmlinuz-*. Needs root (mknod for /dev/console).
set -euo pipefail
linux=${1:?usage: linux.sh BZIMAGE PROGRAM [SMP] [MEM] [ICOUNT]}
prog=${2:?program to run as /init}
smp=${3:-4}
mem=${4:-512M}
icount=${5:-0}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/dev"
cp "$prog" "$work/root/init"
chmod 0755 "$work/root/init"
mknod "$work/root/dev/console" c 5 1
(cd "$work/root" && find . | cpio --quiet -o -H newc) > "$work/initrd.cpio"

extra=()
if [ "$icount" = 1 ]; then
    extra+=(-icount shift=0)
fi
exec qemu-system-x86_64 -accel tcg -bios /usr/share/qemu/qboot.rom -nodefaults \
    -m "$mem" -smp "$smp" -display none -serial stdio -no-reboot "${extra[@]}" \
    -kernel "$linux" -initrd "$work/initrd.cpio" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init"
