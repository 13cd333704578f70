# gdb setup for Weft. `make debug` runs, from the repository root:
#   gdb target/x86_64-unknown-none/release/weft-kernel -x tools/gdb/weft.gdb
# while QEMU waits with -s -S (gdb server on :1234, CPUs halted at reset).
#
# Every QEMU vCPU shows up as a gdb thread: `info threads`, `thread N`.
# `weft-cpus` lists all CPUs at once (tools/gdb/weft.py).
# The kernel is linked at 0xffffffff80000000; before it runs, QEMU executes the
# direct-boot loader (32-bit, then 64-bit code at 0x100000) with no symbols.

set pagination off
set confirm off
set print pretty on
set print symbol-filename on
set disassembly-flavor intel
set architecture i386:x86-64
# QEMU's gdb stub serves reads through the current CPU's page tables.
set remotetimeout 10

source tools/gdb/weft.py

# Connect (retrying while QEMU starts up) and stop at the kernel's entry.
weft-connect 1234
weft-break-entry

echo \n
echo Weft: QEMU is halted at reset. `continue` runs to the kernel entry point.\n
echo Weft: `weft-cpus` lists the CPUs, `info threads` / `thread N` switch CPUs.\n
