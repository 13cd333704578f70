//! Interrupt and exception handlers the kernel installs: IPIs, the console input
//! interrupt, page faults (demand paging, copy-on-write, user-copy fixups, stack
//! guards) and the exceptions that end a user process with a signal.

use core::sync::atomic::Ordering;
use weft_abi::signal::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP, SigInfo};
use weft_arch::trap::{self, TrapFrame};
use weft_arch::{cpu, kprintln, percpu, vectors};

/// Installs the kernel's handlers (boot CPU, before interrupts are enabled).
pub fn init() {
    trap::set_handler(vectors::TLB_SHOOTDOWN, |_| {
        count_ipi(1);
        crate::tlb::serve()
    });
    trap::set_handler(vectors::CALL_FUNCTION, |f| {
        count_ipi(2);
        crate::smp::handle_call_ipi(f)
    });
    trap::set_handler(vectors::APIC_ERROR, |_| kprintln!("apic: error interrupt"));
    trap::set_report_hook(report_thread);
    trap::set_handler(14, on_page_fault);
    trap::set_handler(8, on_double_fault);
    for v in [0u8, 1, 3, 4, 5, 6, 7, 10, 11, 12, 13, 16, 17, 19, 20, 21] {
        trap::set_handler(v, on_exception);
    }
}

/// The end of every crash report (exceptions through `trap::write_report`, and
/// panics): the running user thread and, if it is inside a system call, the
/// call's number and arguments, so that a crash names its trigger. Takes no lock.
pub fn report_thread(w: &mut dyn core::fmt::Write) {
    let Some((t, p)) = crate::proc::uthread::current_user() else {
        return;
    };
    match weft_arch::syscall::current_syscall() {
        Some((nr, a)) => {
            let _ = writeln!(
                w,
                "  in system call: tid {} (pid {}) nr {} ({}) args {:#x} {:#x} {:#x} {:#x} {:#x} {:#x}",
                t.tid(),
                p.pid,
                nr,
                weft_abi::nr::name(nr as usize).unwrap_or("?"),
                a[0],
                a[1],
                a[2],
                a[3],
                a[4],
                a[5]
            );
        }
        None => {
            let _ = writeln!(
                w,
                "  thread: tid {} (pid {}), not in a system call",
                t.tid(),
                p.pid
            );
        }
    }
}

/// Puts the default handler for `vector` back (tests that borrow a vector).
pub fn restore_default(vector: u8) {
    trap::set_handler(vector, on_exception);
}

fn count_ipi(kind: usize) {
    percpu::this().ipis[kind].fetch_add(1, Ordering::Relaxed);
}

/// Routes the COM1 receive interrupt (ISA IRQ 4) to the boot CPU.
pub fn init_console_input(madt: Option<&weft_arch::acpi::MadtInfo>) {
    let Some(madt) = madt else { return };
    let o = madt.isa_irq(4);
    let vector = vectors::IRQ_BASE + 4;
    trap::set_handler(vector, |_| crate::fs::console_input_irq());
    if weft_arch::ioapic::route(
        o.gsi,
        vector,
        percpu::get(0).lapic_id() as u8,
        o.active_low,
        o.level,
    ) {
        weft_arch::serial::enable_rx_interrupt();
    }
}

/// The signal a user-mode exception raises.
fn signal_for(vector: u64) -> u32 {
    match vector {
        0 | 16 | 19 => SIGFPE,
        1 | 3 => SIGTRAP,
        6 | 7 => SIGILL,
        17 => SIGBUS,
        _ => SIGSEGV,
    }
}

/// The siginfo of a user-mode exception (Linux's si_code choices).
fn fault_info(vector: u64, rip: u64) -> SigInfo {
    use weft_abi::signal::*;
    let sig = signal_for(vector);
    let (code, addr) = match vector {
        0 => (FPE_INTDIV, rip),
        16 | 19 => (FPE_FLTINV, rip),
        6 => (ILL_ILLOPN, rip),
        7 => (ILL_COPROC, rip),
        17 => (BUS_ADRALN, 0),
        1 => (TRAP_TRACE, rip),
        _ => (SI_KERNEL, 0),
    };
    SigInfo::fault(sig, code, addr)
}

/// The current user thread takes `info` for what it just did (the signal is
/// delivered on the way back to user mode: a handler, or death by it).
fn user_fault(info: SigInfo) {
    cpu::enable_interrupts();
    crate::proc::signal::force_fault(info);
    cpu::disable_interrupts();
}

fn on_exception(f: &mut TrapFrame) {
    if f.from_user() && crate::proc::uthread::current_user().is_some() {
        user_fault(fault_info(f.vector, f.rip));
        return;
    }
    if f.vector == 13
        && let Some(resume) = weft_mm::user::fixup_for(f.rip)
    {
        f.rip = resume;
        return;
    }
    trap::fatal(f, None)
}

fn on_page_fault(f: &mut TrapFrame) {
    let addr = cpu::cr2();
    if f.from_user() {
        let Some((_, p)) = crate::proc::uthread::current_user() else {
            trap::fatal(f, None)
        };
        cpu::enable_interrupts();
        let r = p.aspace().map(|a| a.handle_fault(addr, f.error_code));
        cpu::disable_interrupts();
        use weft_abi::signal::{SEGV_ACCERR, SEGV_MAPERR};
        use weft_mm::user::FaultError;
        drop(p);
        let info = match r {
            Some(Ok(())) => return,
            Some(Err(FaultError::AccessDenied)) => SigInfo::fault(SIGSEGV, SEGV_ACCERR, addr),
            Some(Err(FaultError::OutOfMemory)) => {
                kprintln!(
                    "mm: out of memory resolving a user fault at {:#x}: SIGKILL",
                    addr
                );
                SigInfo::new(weft_abi::signal::SIGKILL, weft_abi::signal::SI_KERNEL)
            }
            _ => SigInfo::fault(SIGSEGV, SEGV_MAPERR, addr),
        };
        if info.signo as u32 == weft_abi::signal::SIGKILL {
            let (_, p) = crate::proc::uthread::me();
            crate::proc::signal::kill_group(&p, weft_abi::signal::SIGKILL);
            return;
        }
        user_fault(info);
        return;
    }
    if let Some(fx) = weft_mm::user::uaccess_fixup(f.rip) {
        if fx.may_resolve
            && addr < weft_mm::user::USER_LIMIT
            && let Some((_, p)) = crate::proc::uthread::current_user()
        {
            let was_on = f.rflags & (1 << 9) != 0;
            if was_on {
                cpu::enable_interrupts();
            }
            let r = p.aspace().map(|a| a.handle_fault(addr, f.error_code));
            cpu::disable_interrupts();
            if matches!(r, Some(Ok(()))) {
                return;
            }
        }
        f.rip = fx.resume;
        return;
    }
    if weft_mm::is_guard_page(addr) {
        trap::fatal(
            f,
            Some("kernel stack overflow: the fault address is a stack guard page"),
        );
    }
    trap::fatal(f, None)
}

fn on_double_fault(f: &mut TrapFrame) {
    // A kernel stack overflow ends up here: the page fault cannot push its frame
    // onto the guard page, so the CPU raises #DF on its IST stack.
    let addr = cpu::cr2();
    if weft_mm::is_guard_page(addr) || weft_mm::is_guard_page(f.rsp.wrapping_sub(8)) {
        kprintln!(
            "fault: kernel stack overflow in thread {:?} (guard page {:#x}); ending the thread",
            crate::task::current().map(|t| t.name()),
            addr
        );
        crate::task::kthread::die_from_fault(crate::task::kthread::EXIT_STACK_OVERFLOW);
        trap::fatal(
            f,
            Some("kernel stack overflow: the stack pointer ran into a guard page"),
        );
    }
    trap::fatal(f, None)
}
