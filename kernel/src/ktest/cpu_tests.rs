//! CPU, interrupt, clock and IPI tests (run across every online CPU).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use weft_arch::{MAX_CPUS, apic, cpu, percpu, time, trap};

use super::Ctx;
use crate::check;
use crate::smp::{call_on_wait, online_count};

static BP_HITS: AtomicUsize = AtomicUsize::new(0);

pub fn breakpoint_resumes(_: &Ctx) -> Result<(), String> {
    trap::set_handler(3, |_| {
        BP_HITS.fetch_add(1, Ordering::SeqCst);
    });
    let before = BP_HITS.load(Ordering::SeqCst);
    cpu::breakpoint();
    cpu::breakpoint();
    let after = BP_HITS.load(Ordering::SeqCst);
    crate::irq::restore_default(3);
    check!(
        after == before + 2,
        "int3 handler ran {} times, expected 2",
        after - before
    );
    Ok(())
}

/// Runs `f` on every online CPU in turn; collects failures.
fn on_every_cpu(
    f: impl Fn(usize) -> Option<String> + Send + Sync + Clone + 'static,
) -> Result<(), String> {
    let errors = Arc::new(spin::Mutex::new(Vec::<String>::new()));
    for c in 0..online_count() {
        let e = errors.clone();
        let f = f.clone();
        call_on_wait(c, move || {
            if let Some(msg) = f(c) {
                e.lock().push(msg);
            }
        });
    }
    let errors = errors.lock();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

pub fn clock_monotonic_every_cpu(_: &Ctx) -> Result<(), String> {
    on_every_cpu(|c| {
        let mut last = time::now_ns();
        let first = last;
        for i in 0..20_000 {
            let t = time::now_ns();
            if t < last {
                return Some(alloc::format!(
                    "cpu{c}: clock went back from {last} to {t} at read {i}"
                ));
            }
            last = t;
        }
        if last == first {
            return Some(alloc::format!(
                "cpu{c}: clock did not advance over 20000 reads"
            ));
        }
        None
    })
}

pub fn clock_cross_cpu_order(_: &Ctx) -> Result<(), String> {
    let n = online_count();
    let stamp = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    for a in 0..n {
        for b in 0..n {
            let s = stamp.clone();
            call_on_wait(a, move || s.store(time::now_ns(), Ordering::Release));
            let s = stamp.clone();
            let bad2 = bad.clone();
            call_on_wait(b, move || {
                if time::now_ns() < s.load(Ordering::Acquire) {
                    bad2.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    let bad = bad.load(Ordering::Relaxed);
    check!(
        bad == 0,
        "{bad} CPU pairs read an earlier time after a later one was published"
    );
    Ok(())
}

pub fn timer_every_cpu(_: &Ctx) -> Result<(), String> {
    let n = online_count();
    let before: Vec<u64> = (0..n)
        .map(|c| percpu::get(c).timer_ticks.load(Ordering::Relaxed))
        .collect();
    let wait_ns = 12 * crate::task::TICK_NS;
    time::spin_ns(wait_ns);
    let mut msgs = Vec::new();
    for (c, b) in before.iter().enumerate() {
        let now = percpu::get(c).timer_ticks.load(Ordering::Relaxed);
        if now < b + 2 {
            msgs.push(alloc::format!(
                "cpu{c}: {} timer interrupts in {} ms",
                now - b,
                wait_ns / 1_000_000
            ));
        }
    }
    check!(msgs.is_empty(), "{}", msgs.join("\n"));
    Ok(())
}

const TEST_VECTOR: u8 = 0xe0;
static IPI_HITS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn wait_for_hit(dst: usize, before: u64) -> bool {
    let deadline = time::now_ns() + 1_000_000_000;
    while IPI_HITS[dst].load(Ordering::Acquire) <= before {
        if time::now_ns() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

pub fn ipi_all_pairs(_: &Ctx) -> Result<(), String> {
    trap::set_handler(TEST_VECTOR, |_| {
        IPI_HITS[percpu::cpu_id()].fetch_add(1, Ordering::AcqRel);
    });
    let n = online_count();
    let failures = Arc::new(spin::Mutex::new(Vec::<String>::new()));
    // Self IPI from normal context (interrupts enabled).
    let me = percpu::cpu_id();
    let before = IPI_HITS[me].load(Ordering::Acquire);
    apic::send_ipi_self(TEST_VECTOR);
    if !wait_for_hit(me, before) {
        failures
            .lock()
            .push(alloc::format!("cpu{me} -> itself: IPI not received"));
    }
    for src in 0..n {
        let f = failures.clone();
        call_on_wait(src, move || {
            for dst in (0..n).filter(|&d| d != src) {
                let before = IPI_HITS[dst].load(Ordering::Acquire);
                apic::send_ipi(dst, TEST_VECTOR);
                if !wait_for_hit(dst, before) {
                    f.lock().push(alloc::format!(
                        "cpu{src} -> cpu{dst}: IPI not received within 1 s"
                    ));
                }
            }
        });
    }
    let failures = failures.lock();
    check!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

pub fn features_enabled(_: &Ctx) -> Result<(), String> {
    let f = *cpu::features();
    on_every_cpu(move |c| {
        let (cr0, cr4) = cpu::cr0_cr4();
        let efer = cpu::rdmsr(cpu::msr::EFER);
        let mut errs = String::new();
        if cr0 & (1 << 2) != 0 || cr0 & (1 << 1) == 0 {
            errs += &alloc::format!("cpu{c}: CR0.EM set or CR0.MP clear ({cr0:#x}); ");
        }
        if cr4 & (1 << 9) == 0 || cr4 & (1 << 10) == 0 {
            errs += &alloc::format!("cpu{c}: OSFXSR/OSXMMEXCPT not set ({cr4:#x}); ");
        }
        if f.xsave && cr4 & (1 << 18) == 0 {
            errs += &alloc::format!("cpu{c}: OSXSAVE not set; ");
        }
        if f.smep && cr4 & (1 << 20) == 0 {
            errs += &alloc::format!("cpu{c}: SMEP not set; ");
        }
        if f.nx && efer & (1 << 11) == 0 {
            errs += &alloc::format!("cpu{c}: EFER.NXE not set; ");
        }
        if errs.is_empty() { None } else { Some(errs) }
    })
}

/// Ctrl-P arriving while this CPU holds the process table with interrupts off
/// (as the console interrupt would find it): the dump is deferred to a thread
/// instead of spinning on the lock its own CPU holds.
pub fn debug_key_while_table_locked(_: &Ctx) -> Result<(), String> {
    let before = crate::debug_dumps_done();
    {
        let _irq = cpu::IrqGuard::new();
        crate::proc::with_table_locked(crate::fs::on_debug_key);
    }
    let deadline = time::now_ns() + 10_000_000_000;
    while crate::debug_dumps_done() == before {
        check!(
            time::now_ns() < deadline,
            "the Ctrl-P dump did not run within 10 s"
        );
        crate::task::sleep_ns(1_000_000);
    }
    Ok(())
}
