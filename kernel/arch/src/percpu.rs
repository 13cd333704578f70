//! Per-CPU storage reached through the GS base.
//!
//! Each CPU owns one [`PerCpu`] slot in a static array; its GS base points at that
//! slot for the CPU's whole life (user GS is swapped in with `swapgs` on entry and
//! exit from user mode). The first fields have fixed offsets so that assembly (the
//! system call entry) can use them.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use x2apic::lapic::LocalApic;
use x86_64::structures::gdt::GlobalDescriptorTable;
use x86_64::structures::tss::TaskStateSegment;

use crate::MAX_CPUS;

/// Offset of [`PerCpu::kernel_stack_top`] for assembly.
pub const OFF_KERNEL_STACK_TOP: usize = 16;
/// Offset of [`PerCpu::user_rsp_scratch`] for assembly.
pub const OFF_USER_RSP: usize = 24;

/// One CPU's private state.
#[repr(C, align(64))]
pub struct PerCpu {
    /// Address of this structure (gs:0), so `gs:0` yields a normal pointer.
    self_ptr: AtomicU64,
    /// Dense CPU index, 0 = boot CPU (gs:8).
    cpu_id: AtomicU32,
    /// Local APIC id (gs:12).
    lapic_id: AtomicU32,
    /// Kernel stack top of the running thread, used on user->kernel entry (gs:16).
    pub kernel_stack_top: AtomicU64,
    /// Scratch slot for the user stack pointer during system call entry (gs:24).
    pub user_rsp_scratch: AtomicU64,
    /// Pointer to the running thread (gs:32; see `set_current`).
    current: AtomicUsize,
    current_type: AtomicUsize,
    /// The context this CPU is switching away from (see `context::finish_switch`).
    pub(crate) switch_prev: AtomicUsize,
    /// Threads handed over by `context::switch_to` (raw Arcs) and their type tag.
    pub(crate) switch_last: AtomicUsize,
    pub(crate) switch_in: AtomicUsize,
    pub(crate) switch_type: AtomicUsize,
    /// Set once this CPU has finished bring-up.
    pub online: AtomicBool,
    /// Local APIC timer interrupts taken on this CPU.
    pub timer_ticks: AtomicU64,
    /// IPIs received on this CPU, by kind (reschedule, TLB, call, other).
    pub ipis: [AtomicU64; 4],
    pub(crate) gdt: UnsafeCell<GlobalDescriptorTable<8>>,
    pub(crate) tss: UnsafeCell<TaskStateSegment>,
    pub(crate) lapic: UnsafeCell<Option<LocalApic>>,
}

// SAFETY: the UnsafeCell fields (GDT, TSS, LocalApic) are only touched by the CPU
// that owns the slot, during its own bring-up or with interrupts disabled; all
// other fields are atomics.
unsafe impl Sync for PerCpu {}

impl PerCpu {
    const fn new() -> PerCpu {
        PerCpu {
            self_ptr: AtomicU64::new(0),
            cpu_id: AtomicU32::new(0),
            lapic_id: AtomicU32::new(0),
            kernel_stack_top: AtomicU64::new(0),
            user_rsp_scratch: AtomicU64::new(0),
            current: AtomicUsize::new(0),
            current_type: AtomicUsize::new(0),
            switch_prev: AtomicUsize::new(0),
            switch_last: AtomicUsize::new(0),
            switch_in: AtomicUsize::new(0),
            switch_type: AtomicUsize::new(0),
            online: AtomicBool::new(false),
            timer_ticks: AtomicU64::new(0),
            ipis: [const { AtomicU64::new(0) }; 4],
            gdt: UnsafeCell::new(GlobalDescriptorTable::empty()),
            tss: UnsafeCell::new(TaskStateSegment::new()),
            lapic: UnsafeCell::new(None),
        }
    }

    /// Dense CPU index.
    pub fn id(&self) -> usize {
        self.cpu_id.load(Ordering::Relaxed) as usize
    }

    /// Local APIC id.
    pub fn lapic_id(&self) -> u32 {
        self.lapic_id.load(Ordering::Relaxed)
    }
}

static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];
static CPU_COUNT: AtomicUsize = AtomicUsize::new(1);
static GS_READY: AtomicBool = AtomicBool::new(false);

/// Points this CPU's GS base at slot `cpu` and records its ids. Must be the first
/// thing a CPU does (before logging), since [`cpu_id`] reads through GS.
pub fn install(cpu: usize, lapic_id: u32) {
    assert!(cpu < MAX_CPUS, "cpu index {cpu} exceeds MAX_CPUS");
    let slot = &CPUS[cpu];
    slot.self_ptr
        .store(slot as *const PerCpu as u64, Ordering::Relaxed);
    slot.cpu_id.store(cpu as u32, Ordering::Relaxed);
    slot.lapic_id.store(lapic_id, Ordering::Relaxed);
    // SAFETY: GS_BASE is architectural; the slot is a static that lives forever, and
    // KERNEL_GS_BASE (the user GS while in the kernel) starts as 0.
    unsafe {
        crate::cpu::wrmsr(crate::cpu::msr::GS_BASE, slot as *const PerCpu as u64);
        crate::cpu::wrmsr(crate::cpu::msr::KERNEL_GS_BASE, 0);
    }
    GS_READY.store(true, Ordering::Release);
}

/// Records how many CPUs the system has (for iteration over [`get`]).
pub fn set_cpu_count(n: usize) {
    CPU_COUNT.store(n.min(MAX_CPUS), Ordering::Relaxed);
}

/// Number of CPUs in the system.
pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Relaxed)
}

/// This CPU's slot.
#[inline]
pub fn this() -> &'static PerCpu {
    &CPUS[cpu_id()]
}

/// Another CPU's slot.
pub fn get(cpu: usize) -> &'static PerCpu {
    &CPUS[cpu]
}

/// This CPU's dense index (0 before per-CPU setup).
#[inline]
pub fn cpu_id() -> usize {
    if !GS_READY.load(Ordering::Relaxed) {
        return 0;
    }
    let id: u32;
    // SAFETY: once GS_READY is set, every CPU that runs kernel code has its GS base
    // pointing at its PerCpu slot, where offset 8 is `cpu_id`.
    unsafe {
        core::arch::asm!("mov {:e}, gs:[8]", out(reg) id, options(nostack, readonly, preserves_flags))
    };
    id as usize
}

/// Records the thread that runs next on this CPU (called by the scheduler, with
/// interrupts disabled, just before switching to it). `None` for the idle context.
pub fn set_current<T: Send + Sync + 'static>(t: Option<&alloc::sync::Arc<T>>) {
    let pc = this();
    pc.current_type
        .store(current_type_tag::<T>(), Ordering::Relaxed);
    pc.current.store(
        t.map_or(0, |t| alloc::sync::Arc::as_ptr(t) as usize),
        Ordering::Release,
    );
}

fn current_type_tag<T: 'static>() -> usize {
    current_type_tag::<T> as fn() -> usize as usize
}

/// The thread running on this CPU, without taking any lock: one GS-relative load
/// gives the running thread's own pointer whichever CPU executes it, so migration
/// cannot make the answer stale.
pub fn current<T: Send + Sync + 'static>() -> Option<alloc::sync::Arc<T>> {
    let p: usize;
    // SAFETY: gs:32 is `PerCpu::current` (offset asserted below) of the executing
    // CPU once GS_READY is set; a single load is atomic with respect to migration.
    unsafe {
        core::arch::asm!("mov {}, gs:[32]", out(reg) p, options(nostack, readonly, preserves_flags))
    };
    if p == 0 || !GS_READY.load(Ordering::Relaxed) {
        return None;
    }
    assert_eq!(
        this().current_type.load(Ordering::Relaxed),
        current_type_tag::<T>(),
        "percpu::current with a different thread type"
    );
    // SAFETY: `p` came from `Arc::as_ptr` of the thread the scheduler made current on
    // this CPU; that thread is the one executing this code, and the scheduler holds
    // an `Arc` to it (its run queue's current slot) for as long as it runs, so the
    // allocation is live and taking one more strong reference is sound.
    unsafe {
        alloc::sync::Arc::increment_strong_count(p as *const T);
        Some(alloc::sync::Arc::from_raw(p as *const T))
    }
}

const _: () = assert!(core::mem::offset_of!(PerCpu, current) == 32);
