//! The lockup watchdog: the kernel side of `weft_sched::Watchdog`.
//!
//! Every timer interrupt feeds the detector ([`on_tick`]); the scheduler, the idle
//! loop and the return to user mode [`touch`] it. `watchdog=N` on the command line
//! sets the threshold in seconds (default 10, 0 disables). On a lockup the CPU
//! that noticed it prints one `WATCHDOG: ` line, its own registers and backtrace
//! (the context its timer interrupt came from), then sends an NMI to every other
//! CPU in turn and waits (bounded) for each to print the context the NMI
//! interrupted, so the reports never interleave; then it panics, which ends the
//! run. tools/runner fails a run on the `WATCHDOG:` line.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use weft_arch::trap::{self, TrapFrame};
use weft_arch::{apic, log, percpu, rawprintln, time};
use weft_sched::{Lockup, Watchdog};

/// Default threshold, in seconds.
pub const DEFAULT_SECS: u64 = 10;
/// How long the reporting CPU waits for one CPU to answer its NMI.
const NMI_WAIT_NS: u64 = 2_000_000_000;

static WD: Watchdog = Watchdog::new();
/// Set while the reporting CPU collects the other CPUs' reports.
static DUMPING: AtomicBool = AtomicBool::new(false);
/// Number of CPUs that have printed their NMI report.
static ANSWERED: AtomicUsize = AtomicUsize::new(0);

/// Reads `watchdog=N` from the command line and installs the NMI handler
/// (boot CPU, before interrupts are enabled).
pub fn init(cmdline: &str) {
    let secs = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix("watchdog="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_SECS);
    set_threshold_secs(secs);
    trap::set_handler(2, on_nmi);
    if secs == 0 {
        weft_arch::kprintln!("watchdog: off");
    } else {
        weft_arch::kprintln!("watchdog: soft and hard lockups after {} s", secs);
    }
}

/// Changes the threshold (0 disables).
pub fn set_threshold_secs(secs: u64) {
    WD.set_threshold_ns(secs.saturating_mul(1_000_000_000));
}

/// This CPU scheduled (entered the scheduler, ran its idle loop or returned to
/// user mode).
#[inline]
pub fn touch(cpu: usize) {
    WD.touch(cpu);
}

/// The timer interrupt on this CPU; `f` is the interrupted context.
pub fn on_tick(f: &TrapFrame) {
    let cpu = percpu::cpu_id();
    if let Some(l) = WD.tick(cpu, time::now_ns(), percpu::cpu_count()) {
        report(cpu, l, f);
    }
}

fn report(me: usize, l: Lockup, f: &TrapFrame) -> ! {
    log::bound_waits();
    let what = match l.kind {
        weft_sched::LockupKind::Soft => "running in the kernel without scheduling",
        weft_sched::LockupKind::Hard => "no timer interrupt",
    };
    rawprintln!(
        "\nWATCHDOG: {} lockup on cpu{}: {} for {}.{:03} s (noticed by cpu{})",
        l.kind.name(),
        l.cpu,
        what,
        l.stuck_ns / 1_000_000_000,
        (l.stuck_ns / 1_000_000) % 1000,
        me
    );
    DUMPING.store(true, Ordering::SeqCst);
    print_cpu(me, f, "timer interrupt");
    for cpu in (0..percpu::cpu_count()).filter(|&c| c != me) {
        if !percpu::get(cpu).online.load(Ordering::Acquire) {
            continue;
        }
        let before = ANSWERED.load(Ordering::Acquire);
        apic::send_nmi(cpu);
        let deadline = time::now_ns() + NMI_WAIT_NS;
        while ANSWERED.load(Ordering::Acquire) == before && time::now_ns() < deadline {
            core::hint::spin_loop();
        }
        if ANSWERED.load(Ordering::Acquire) == before {
            rawprintln!("watchdog: cpu{} did not answer the NMI", cpu);
        }
    }
    panic!(
        "watchdog: {} lockup on cpu{} ({} for {}.{:03} s)",
        l.kind.name(),
        l.cpu,
        what,
        l.stuck_ns / 1_000_000_000,
        (l.stuck_ns / 1_000_000) % 1000
    )
}

/// One CPU's report: which thread it runs, its registers, and a symbolised
/// backtrace of the interrupted kernel code.
fn print_cpu(cpu: usize, f: &TrapFrame, how: &str) {
    // Nothing here may allocate or wait for a lock: the interrupted code may hold it.
    let thread = crate::task::current();
    log::with_console(|w| {
        use core::fmt::Write;
        let _ = write!(w, "watchdog: cpu{cpu} ");
        match &thread {
            Some(t) => {
                let _ = write!(w, "thread {}", t.tid());
                t.try_with_name(|n| write!(w, " ({n})"));
            }
            None => {
                let _ = write!(w, "idle context");
            }
        }
        let _ = writeln!(
            w,
            ", {how} in {} mode:",
            if f.from_user() { "user" } else { "kernel" }
        );
        trap::write_regs(w, f);
    });
}

fn on_nmi(f: &mut TrapFrame) {
    if !DUMPING.load(Ordering::SeqCst) {
        trap::fatal(f, Some("unexpected NMI"));
    }
    print_cpu(percpu::cpu_id(), f, "NMI");
    ANSWERED.fetch_add(1, Ordering::Release);
}
