"""gdb helpers for debugging Weft under QEMU (loaded by tools/gdb/weft.gdb).

Commands:
  weft-connect [PORT]   connect to QEMU's gdb server, retrying for a few
                        seconds while QEMU starts (default port 1234)
  weft-break-entry      hardware breakpoint at the loaded ELF's entry point
  weft-cpus             one line per CPU (= QEMU vCPU = gdb thread): state,
                        rip and function, rsp, cr3, gs_base (the per-CPU base),
                        and whether interrupts are enabled
"""

import struct
import time

import gdb

MASK64 = (1 << 64) - 1


def _reg(frame, name):
    try:
        return int(frame.read_register(name)) & MASK64
    except (gdb.error, ValueError):
        return None


def _hex(v):
    return "?" if v is None else "0x%016x" % v


class WeftConnect(gdb.Command):
    """Connect to QEMU's gdb server: weft-connect [PORT] (default 1234).
Retries for up to 10 seconds, since `make debug` starts QEMU and gdb together."""

    def __init__(self):
        super().__init__("weft-connect", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        port = arg.strip() or "1234"
        deadline = time.monotonic() + 10.0
        while True:
            try:
                gdb.execute("target remote :%s" % port, from_tty)
                return
            except gdb.error as e:
                if time.monotonic() > deadline:
                    raise gdb.GdbError("weft-connect: no gdb server on :%s (%s)" % (port, e))
                time.sleep(0.2)


class WeftBreakEntry(gdb.Command):
    """Set a hardware breakpoint at the entry point of the ELF file gdb loaded.
A hardware breakpoint works before the kernel is mapped or even loaded."""

    def __init__(self):
        super().__init__("weft-break-entry", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        path = gdb.current_progspace().filename
        if not path:
            print("weft-break-entry: no executable loaded (gdb <kernel ELF> ...); no breakpoint set")
            return
        with open(path, "rb") as f:
            header = f.read(32)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            raise gdb.GdbError("weft-break-entry: %s is not a 64-bit ELF file" % path)
        (entry,) = struct.unpack_from("<Q", header, 24)
        gdb.execute("hbreak *0x%x" % entry, from_tty)


class WeftCpus(gdb.Command):
    """List all CPUs: state, rip and function, rsp, cr3, gs_base, interrupt flag.
QEMU presents each vCPU as one gdb thread; `thread N` selects CPU N-1."""

    def __init__(self):
        super().__init__("weft-cpus", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        inferior = gdb.selected_inferior()
        if inferior.pid == 0:
            raise gdb.GdbError("weft-cpus: not connected (weft-connect)")
        original = gdb.selected_thread()
        rows = []
        try:
            for t in sorted(inferior.threads(), key=lambda t: t.num):
                t.switch()
                frame = gdb.newest_frame()
                rip = _reg(frame, "rip")
                eflags = _reg(frame, "eflags")
                # QEMU names threads "CPU#N [running]" / "CPU#N [halted ]".
                details = getattr(t, "details", None) or t.name or ""
                state = "halted" if "halted" in details else "running"
                func = frame.name() or "?"
                rows.append(
                    (
                        "*" if original is not None and t.num == original.num else " ",
                        t.num,
                        state,
                        _hex(rip),
                        func,
                        _hex(_reg(frame, "rsp")),
                        _hex(_reg(frame, "cr3")),
                        _hex(_reg(frame, "gs_base")),
                        "?" if eflags is None else ("on" if eflags & 0x200 else "off"),
                    )
                )
        finally:
            if original is not None and original.is_valid():
                original.switch()
        print("  thr state    rip                 rsp                 cr3                 gs_base             IF   function")
        for mark, num, state, rip, func, rsp, cr3, gs, intr in rows:
            print("%s %3d %-8s %s  %s  %s  %s  %-4s %s" % (mark, num, state, rip, rsp, cr3, gs, intr, func))


WeftConnect()
WeftBreakEntry()
WeftCpus()
