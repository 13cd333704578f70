//! Interrupt handlers the kernel installs: the timer tick, IPIs and the faults that
//! need kernel knowledge (guard pages).

use core::sync::atomic::Ordering;
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
    trap::set_handler(14, on_page_fault);
    trap::set_handler(8, on_double_fault);
}

fn count_ipi(kind: usize) {
    percpu::this().ipis[kind].fetch_add(1, Ordering::Relaxed);
}

fn on_page_fault(f: &mut TrapFrame) {
    let addr = cpu::cr2();
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
