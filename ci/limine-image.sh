#!/usr/bin/env bash
# Builds a bootable Weft image with real Limine (BIOS + UEFI).
#
#   ci/limine-image.sh iso   ->  build/weft.iso  (hybrid ISO: CD or USB stick, BIOS or UEFI)
#   ci/limine-image.sh usb   ->  build/weft.img  (raw GPT disk with hybrid MBR, one FAT32
#                                 EFI system partition; BIOS via `limine bios-install`)
#
# Environment (the Makefile sets these):
#   KERNEL      kernel ELF           (default target/x86_64-unknown-none/release/weft-kernel)
#   INITRAMFS   initramfs tar        (default build/initramfs.tar)
#   LIMINE_DIR  a Limine binary release directory (limine-bios.sys, limine-bios-cd.bin,
#               limine-uefi-cd.bin, BOOTX64.EFI and the `limine` host tool or its
#               source limine.c). Unset: use build/limine, fetching the pinned
#               binary release there if it is not present yet.
#   LIMINE_REF  binary release to fetch (default v10.4.0-binary, then the v10.x-binary branch)
#   IMG_MB      size of the USB image in MiB (default: 64, or more if the files need it)
#
# Image layout (matches limine.conf): /boot/kernel, /boot/initramfs.tar,
# /boot/limine/{limine.conf, limine-bios.sys, ...}, /EFI/BOOT/BOOTX64.EFI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

kind="${1:-}"
case "$kind" in
    iso | usb) ;;
    *)
        echo "usage: $0 iso|usb" >&2
        exit 2
        ;;
esac

KERNEL="${KERNEL:-target/x86_64-unknown-none/release/weft-kernel}"
INITRAMFS="${INITRAMFS:-build/initramfs.tar}"
LIMINE_REF="${LIMINE_REF:-v10.4.0-binary}"
LIMINE_BRANCH="v10.x-binary"
LIMINE_URLS=(https://codeberg.org/Limine/Limine.git https://github.com/limine-bootloader/limine.git)
BUILD=build
# Never leave an old image behind that looks like the result of this run.
if [ "$kind" = iso ]; then rm -f "$BUILD/weft.iso"; else rm -f "$BUILD/weft.img"; fi

say() { echo "$kind: $*"; }
die() {
    echo "$kind: error: $*" >&2
    exit 1
}

for f in "$KERNEL" "$INITRAMFS" limine.conf; do
    [ -f "$f" ] || die "$f is missing (run 'make kernel initramfs')"
done

# ---- host tools ----------------------------------------------------------------
need_pkgs=()
if [ "$kind" = iso ]; then
    command -v xorriso >/dev/null 2>&1 || need_pkgs+=(xorriso)
else
    command -v sgdisk >/dev/null 2>&1 || need_pkgs+=(gdisk)
    command -v mformat >/dev/null 2>&1 || need_pkgs+=(mtools)
fi
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc)
if [ ${#need_pkgs[@]} -ne 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing ${need_pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || true
        apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" </dev/null
    else
        die "missing packages: ${need_pkgs[*]} (apt-get install ${need_pkgs[*]})"
    fi
fi

# ---- Limine --------------------------------------------------------------------
limine_files=(limine-bios.sys limine-bios-cd.bin limine-uefi-cd.bin BOOTX64.EFI)

has_limine_files() {
    local d="$1" f
    for f in "${limine_files[@]}"; do
        [ -f "$d/$f" ] || return 1
    done
    [ -x "$d/limine" ] || [ -f "$d/limine.c" ]
}

how_to_get_limine() {
    cat >&2 <<EOF
$kind: Limine is needed for a bootable image, and it could not be downloaded here.
$kind: On a machine with access to the Limine repository:
$kind:     git clone --branch=$LIMINE_BRANCH --depth=1 ${LIMINE_URLS[0]} /some/where/limine
$kind: (or the GitHub mirror ${LIMINE_URLS[1]}), copy that directory here if needed, and run
$kind:     make $kind LIMINE_DIR=/some/where/limine
$kind: The directory must hold ${limine_files[*]} and the limine host tool (or limine.c).
EOF
}

fetch_limine() {
    local dest="$1" url ref
    command -v git >/dev/null 2>&1 || return 1
    for ref in "$LIMINE_REF" "$LIMINE_BRANCH"; do
        for url in "${LIMINE_URLS[@]}"; do
            say "fetching Limine $ref from $url"
            rm -rf "$dest.tmp"
            if GIT_TERMINAL_PROMPT=0 timeout 120 git clone -q --depth=1 --branch="$ref" \
                "$url" "$dest.tmp" </dev/null; then
                rm -rf "$dest" && mv "$dest.tmp" "$dest"
                return 0
            fi
        done
    done
    rm -rf "$dest.tmp"
    return 1
}

if [ -n "${LIMINE_DIR:-}" ]; then
    has_limine_files "$LIMINE_DIR" ||
        die "LIMINE_DIR=$LIMINE_DIR lacks some of: ${limine_files[*]} and limine (or limine.c)"
    limine_dir="$LIMINE_DIR"
else
    limine_dir="$BUILD/limine"
    if ! has_limine_files "$limine_dir"; then
        mkdir -p "$BUILD"
        if ! fetch_limine "$limine_dir" || ! has_limine_files "$limine_dir"; then
            how_to_get_limine
            exit 1
        fi
    fi
fi
say "Limine from $limine_dir"

# The host tool: use the release's binary, or build it from limine.c (the
# binary release ships it as source) into build/, leaving LIMINE_DIR untouched.
if [ -x "$limine_dir/limine" ] && [ ! -d "$limine_dir/limine" ]; then
    limine_tool="$limine_dir/limine"
else
    limine_tool="$BUILD/limine-tool/limine"
    mkdir -p "$(dirname "$limine_tool")"
    say "compiling the limine host tool from $limine_dir/limine.c"
    cc -O2 -std=gnu99 -I"$limine_dir" -o "$limine_tool" "$limine_dir/limine.c"
fi

# ---- staging (same tree for both images) ------------------------------------------
stage="$BUILD/image-root"
rm -rf "$stage"
mkdir -p "$stage/boot/limine" "$stage/EFI/BOOT"
cp "$KERNEL" "$stage/boot/kernel"
cp "$INITRAMFS" "$stage/boot/initramfs.tar"
cp limine.conf "$limine_dir/limine-bios.sys" "$stage/boot/limine/"
cp "$limine_dir/BOOTX64.EFI" "$stage/EFI/BOOT/"
if [ -f "$limine_dir/BOOTIA32.EFI" ]; then
    cp "$limine_dir/BOOTIA32.EFI" "$stage/EFI/BOOT/"
fi

if [ "$kind" = iso ]; then
    cp "$limine_dir/limine-bios-cd.bin" "$limine_dir/limine-uefi-cd.bin" "$stage/boot/limine/"
    out="$BUILD/weft.iso"
    rm -f "$out"
    # El Torito: BIOS no-emulation boot image + EFI boot image (a FAT image
    # Limine provides), with a protective MBR so the ISO also boots from USB.
    xorriso -as mkisofs -quiet -R -r -J \
        -b boot/limine/limine-bios-cd.bin -no-emul-boot -boot-load-size 4 -boot-info-table \
        -hfsplus -apm-block-size 2048 \
        --efi-boot boot/limine/limine-uefi-cd.bin -efi-boot-part --efi-boot-image \
        --protective-msdos-label \
        "$stage" -o "$out"
    "$limine_tool" bios-install "$out"
    say "wrote $out ($(du -h "$out" | cut -f1))"
    exit 0
fi

# ---- USB / raw disk image ---------------------------------------------------------
# Layout (512-byte sectors):
#   GPT, with a hybrid MBR (the protective 0xEE entry plus the ESP) whose ESP
#   entry is marked active, for BIOSes that want an active MBR partition;
#   partition 2, sectors 34-2047: BIOS boot partition (type EF02), where
#     `limine bios-install` puts Limine's BIOS stage 2 (it finds it by type);
#   partition 1, from 1 MiB to 1 MiB before the end: EFI system partition,
#     FAT32, holding the files (UEFI boots /EFI/BOOT/BOOTX64.EFI, BIOS Limine
#     reads /boot/limine/limine-bios.sys).
payload_kb=$(du -sk "$stage" | cut -f1)
min_mb=$((payload_kb / 1024 + 40))
img_mb="${IMG_MB:-64}"
[ "$img_mb" -ge "$min_mb" ] || img_mb="$min_mb"
out="$BUILD/weft.img"
part="$BUILD/weft-esp.img"
rm -f "$out" "$part"
truncate -s "${img_mb}M" "$out"
part_sectors=$(((img_mb - 2) * 2048))
# (sgdisk's -q made it drop its changes here, so its output is discarded instead.)
sgdisk -o -a 1 \
    -n "2:34:2047" -t 2:ef02 -c 2:BIOS \
    -n "1:2048:+${part_sectors}" -t 1:ef00 -c 1:WEFT \
    -h 1 "$out" >/dev/null
for i in 0 1 2 3; do
    if [ "$(od -An -tx1 -j $((446 + 16 * i + 4)) -N1 "$out" | tr -d ' ')" = ef ]; then
        printf '\x80' | dd of="$out" bs=1 seek=$((446 + 16 * i)) conv=notrunc status=none
    fi
done
truncate -s "$((part_sectors * 512))" "$part"
mformat -i "$part" -F -H 2048 -v WEFT ::
mmd -i "$part" ::/boot ::/boot/limine ::/EFI ::/EFI/BOOT
mcopy -i "$part" "$stage/boot/kernel" "$stage/boot/initramfs.tar" ::/boot/
mcopy -i "$part" "$stage/boot/limine/limine.conf" "$stage/boot/limine/limine-bios.sys" ::/boot/limine/
mcopy -i "$part" "$stage"/EFI/BOOT/* ::/EFI/BOOT/
dd if="$part" of="$out" bs=1M seek=1 conv=notrunc status=none
rm -f "$part"
"$limine_tool" bios-install "$out"
say "wrote $out (${img_mb} MiB); write it to a stick with:"
say "    dd if=$out of=/dev/sdX bs=4M conv=fsync"
