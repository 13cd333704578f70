//! Bringing up the application processors and running code on other CPUs.
//!
//! CPU indices are dense: the boot CPU is 0 and the others follow in the order of
//! the bootloader's MP response. Each CPU gets its own kernel stack, IST stacks
//! (guarded), GDT/TSS and local APIC before it reports in.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;
use weft_arch::{MAX_CPUS, apic, cpu, gdt, kprintln, percpu, time, trap, vectors};

use crate::{IST_PAGES, KSTACK_PAGES, boot, bootglue};

static XAPIC_VIRT: AtomicU64 = AtomicU64::new(0);
static AP_STACK_TOP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// How long the boot CPU waits for the APs before giving up.
const AP_TIMEOUT_NS: u64 = 5_000_000_000;

/// Builds this CPU's GDT/TSS with freshly allocated, guarded IST stacks.
pub fn init_cpu_tables(cpu_index: usize) {
    let mut tops = [0u64; 3];
    for t in tops.iter_mut() {
        let s = weft_mm::alloc_kernel_stack(IST_PAGES).expect("no memory for IST stacks");
        *t = s.top();
        core::mem::forget(s); // IST stacks live as long as the CPU
    }
    debug_assert_eq!(percpu::cpu_id(), cpu_index);
    gdt::init_cpu(percpu::this(), tops);
}

/// Enables the boot CPU's local APIC (mapping the xAPIC window if needed).
pub fn init_local_apic(madt: &weft_arch::acpi::MadtInfo) {
    let virt = if cpu::features().x2apic {
        0
    } else {
        let phys = if madt.lapic_phys != 0 {
            madt.lapic_phys
        } else {
            apic::xapic_phys_base()
        };
        weft_mm::map_mmio(phys, 4096) as u64
    };
    XAPIC_VIRT.store(virt, Ordering::Relaxed);
    apic::init_cpu(virt);
    percpu::install(0, apic::id());
    ONLINE.store(1, Ordering::Release);
    percpu::this().online.store(true, Ordering::Release);
}

/// Starts every AP through the bootloader's MP response and waits until all have
/// reported in. Returns the number of online CPUs.
pub fn start_aps() -> usize {
    let mp = boot::mp_response();
    let bsp = mp.bsp_lapic_id();
    let cpus = mp.cpus();
    if cpus.len() > MAX_CPUS {
        panic!(
            "smp: {} CPUs reported, Weft supports at most {}",
            cpus.len(),
            MAX_CPUS
        );
    }
    percpu::set_cpu_count(cpus.len().max(1));
    let mut next = 1;
    for c in cpus.iter().filter(|c| c.lapic_id != bsp) {
        let idx = next;
        next += 1;
        let stack = weft_mm::alloc_kernel_stack(KSTACK_PAGES).expect("no memory for AP stacks");
        AP_STACK_TOP[idx].store(stack.top(), Ordering::Release);
        core::mem::forget(stack);
        c.extra.store(idx as u64, Ordering::Release);
        c.goto_address.write(ap_entry);
    }
    let expected = next;
    let deadline = time::now_ns() + AP_TIMEOUT_NS;
    while ONLINE.load(Ordering::Acquire) < expected {
        if time::now_ns() > deadline {
            panic!(
                "smp: only {} of {} CPUs came online",
                ONLINE.load(Ordering::Acquire),
                expected
            );
        }
        core::hint::spin_loop();
    }
    expected
}

/// First code an AP runs (on the bootloader's AP stack).
unsafe extern "C" fn ap_entry(info: &limine::mp::Cpu) -> ! {
    let idx = info.extra.load(Ordering::Acquire) as usize;
    percpu::install(idx, info.lapic_id);
    cpu::enable_features();
    bootglue::load_kernel_page_table();
    trap::load_idt();
    let top = AP_STACK_TOP[idx].load(Ordering::Acquire);
    bootglue::run_on_stack(top, ap_main, idx)
}

extern "C" fn ap_main(idx: usize, _: usize) -> ! {
    init_cpu_tables(idx);
    apic::init_cpu(XAPIC_VIRT.load(Ordering::Relaxed));
    weft_arch::syscall::init_cpu();
    percpu::this().online.store(true, Ordering::Release);
    kprintln!("smp: cpu{} online (APIC id {})", idx, apic::id());
    ONLINE.fetch_add(1, Ordering::AcqRel);
    cpu::enable_interrupts();
    crate::task::enter_idle()
}

/// Number of CPUs that have come online.
pub fn online_count() -> usize {
    ONLINE.load(Ordering::Acquire)
}

type Call = Box<dyn FnOnce() + Send>;
static CALLS: [Mutex<VecDeque<Call>>; MAX_CPUS] = [const { Mutex::new(VecDeque::new()) }; MAX_CPUS];

/// Queues `f` to run on `cpu` in interrupt context and kicks it with an IPI.
pub fn call_on(cpu: usize, f: impl FnOnce() + Send + 'static) {
    {
        let _irq = cpu::IrqGuard::new();
        CALLS[cpu].lock().push_back(Box::new(f));
    }
    apic::send_ipi(cpu, vectors::CALL_FUNCTION);
}

/// Runs `f` on `cpu` and waits for it to finish (directly if `cpu` is this CPU).
/// Must be called with interrupts enabled, so that two CPUs calling each other
/// cannot deadlock.
pub fn call_on_wait(cpu: usize, f: impl FnOnce() + Send + 'static) {
    if cpu == percpu::cpu_id() {
        let _irq = cpu::IrqGuard::new();
        f();
        return;
    }
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    call_on(cpu, move || {
        f();
        d.store(true, Ordering::Release);
    });
    while !done.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// CALL_FUNCTION IPI handler: runs everything queued for this CPU.
pub fn handle_call_ipi(_f: &mut trap::TrapFrame) {
    let me = percpu::cpu_id();
    loop {
        let next = CALLS[me].lock().pop_front();
        match next {
            Some(f) => f(),
            None => break,
        }
    }
}
