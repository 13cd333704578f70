//! TLB shootdown across CPUs.
//!
//! A request names an address space (a CR3 root, or 0 for kernel/global mappings)
//! and a virtual range. It is queued on every target CPU, which is kicked with the
//! TLB_SHOOTDOWN IPI; the sender waits until every target has flushed. While
//! waiting, the sender also serves requests queued for itself, so two CPUs that
//! shoot at each other at the same time (even with interrupts disabled) cannot
//! deadlock.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;
use weft_arch::{MAX_CPUS, apic, cpu, percpu, vectors};

/// Above this many pages a full flush is cheaper than page-by-page invlpg.
const FULL_FLUSH_PAGES: u64 = 32;

struct Request {
    root: u64,
    start: u64,
    end: u64,
    pending: AtomicUsize,
}

static QUEUES: [Mutex<Vec<Arc<Request>>>; MAX_CPUS] = [const { Mutex::new(Vec::new()) }; MAX_CPUS];
static SENT: AtomicU64 = AtomicU64::new(0);

/// Number of shootdown IPIs sent so far.
pub fn sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

fn flush_local(root: u64, start: u64, end: u64) {
    let pages = (end.saturating_sub(start)).div_ceil(4096);
    if root != 0 && cpu::cr3() & !0xfff != root {
        return; // this CPU no longer uses that address space: a later CR3 load flushes
    }
    if root != 0 && pages > FULL_FLUSH_PAGES {
        cpu::flush_tlb();
        return;
    }
    // Kernel mappings are global: only invlpg removes them.
    let mut a = start & !0xfff;
    while a < end {
        cpu::invlpg(a);
        a += 4096;
    }
}

/// Serves every request queued for this CPU (IPI handler, and senders while waiting).
pub fn serve() {
    let me = percpu::cpu_id();
    loop {
        // The IPI handler takes this lock too: never hold it with interrupts on.
        let batch = {
            let _irq = cpu::IrqGuard::new();
            core::mem::take(&mut *QUEUES[me].lock())
        };
        if batch.is_empty() {
            return;
        }
        for r in batch {
            flush_local(r.root, r.start, r.end);
            r.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Flushes `[start, end)` of address space `root` (0 = kernel) on this CPU and on
/// every CPU in `mask`, returning when all have done it.
pub fn shootdown(mask: u64, root: u64, start: u64, end: u64) {
    let me = percpu::cpu_id();
    flush_local(root, start, end);
    let targets: Vec<usize> = (0..percpu::cpu_count())
        .filter(|&c| {
            c != me && mask & (1 << c) != 0 && percpu::get(c).online.load(Ordering::Acquire)
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    let req = Arc::new(Request {
        root,
        start,
        end,
        pending: AtomicUsize::new(targets.len()),
    });
    for &c in &targets {
        {
            let _irq = cpu::IrqGuard::new();
            QUEUES[c].lock().push(req.clone());
        }
        apic::send_ipi(c, vectors::TLB_SHOOTDOWN);
        SENT.fetch_add(1, Ordering::Relaxed);
    }
    while req.pending.load(Ordering::Acquire) != 0 {
        serve();
        core::hint::spin_loop();
    }
}

/// The hook weft-mm calls after unmapping kernel ranges (stacks): flush everywhere.
pub fn kernel_range_flushed(start: u64, end: u64) {
    shootdown(u64::MAX, 0, start, end);
}
