#!/usr/bin/env bash
# Installs what `make test` / `make run` need on a Debian machine:
#   - the Rust toolchain pinned in rust-toolchain.toml (with its targets and
#     components), through rustup;
#   - QEMU (qemu-system-x86, whose qemu-system-data carries qboot.rom) and
#     musl-gcc (musl-tools), through apt-get when they are missing.
# Quick when everything is present. `make deps` runs it once (stamp file in
# build/); CI runs it through `make test` with no stdin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "install-deps: $*"; }

# ---- Rust ------------------------------------------------------------------
if ! command -v rustup >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/rustup" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v rustup >/dev/null 2>&1; then
    say "rustup is not installed. Install it (https://rustup.rs), then run 'make deps' again."
    exit 1
fi
# With no argument, rustup installs the toolchain named in rust-toolchain.toml,
# including the targets and components listed there.
rustup toolchain install
# Older rustup versions install only the bare toolchain: add what is missing.
sysroot="$(rustc --print sysroot)"
for target in x86_64-unknown-none x86_64-unknown-linux-musl; do
    if [ ! -d "$sysroot/lib/rustlib/$target" ]; then
        rustup target add "$target"
    fi
done
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1 \
    || [ ! -d "$sysroot/lib/rustlib/src" ]; then
    rustup component add rustfmt clippy rust-src
fi

# ---- Debian packages ---------------------------------------------------------
# Sets `missing` to the packages that provide what is not there.
find_missing() {
    missing=()
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    [ -f /usr/share/qemu/qboot.rom ] || missing+=(qemu-system-data)
    command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
}
find_missing

if [ ${#missing[@]} -eq 0 ]; then
    say "toolchain $(rustc --version | cut -d' ' -f2), $(qemu-system-x86_64 --version | head -n1), musl-gcc: all present"
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    say "missing Debian packages: ${missing[*]}"
    say "install them as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
fi

say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq || say "warning: apt-get update failed; trying the install anyway"
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null

find_missing
if [ ${#missing[@]} -ne 0 ]; then
    say "still missing after the install: ${missing[*]}"
    exit 1
fi
say "done: $(qemu-system-x86_64 --version | head -n1)"
