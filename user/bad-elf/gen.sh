#!/bin/sh
# Makes the broken "executables" user_bad_elf (utest) expects execve to refuse
# with ENOEXEC. Usage: gen.sh <a valid static x86_64 ELF> <output directory>
#
#   bad-garbage            text, neither ELF nor #!
#   bad-truncated          the first 40 bytes of the ELF header
#   bad-truncated-phdrs    the 64-byte ELF header only; the program headers are cut off
#   bad-truncated-segment  headers intact, file cut inside the loadable segments
#   bad-arch               the whole program with e_machine = EM_AARCH64 (183)
#
# The output is deterministic. They are installed as /bin/<name> with mode 0755
# (mode 0644 would make execve fail with EACCES before the format is looked at).
set -eu
src=$1
out=$2
mkdir -p "$out"
tmp=$out/.bad-elf-src.$$
trap 'rm -f "$tmp"' EXIT
# Without symbols and sections the file ends soon after its last segment, so
# that cutting it in half cuts a segment.
strip -o "$tmp" "$src"
size=$(wc -c < "$tmp")

yes 'this is not an executable file' | head -c 4096 > "$out/bad-garbage"
head -c 40 "$tmp" > "$out/bad-truncated"
head -c 64 "$tmp" > "$out/bad-truncated-phdrs"
head -c $((size / 2)) "$tmp" > "$out/bad-truncated-segment"
cp "$tmp" "$out/bad-arch"
printf '\267\000' | dd of="$out/bad-arch" bs=1 seek=18 conv=notrunc status=none
chmod 0755 "$out/bad-garbage" "$out/bad-truncated" "$out/bad-truncated-phdrs" \
    "$out/bad-truncated-segment" "$out/bad-arch"
