//! Watchdog self-tests. They end the run on purpose (the watchdog panics), so they
//! are not in the normal list: `test=watchdog_selftest_soft` or
//! `test=watchdog_selftest_hard` (exact names) runs one, with a short threshold
//! such as `watchdog=1`, and tools/runner expects the report
//! (`--expect-watchdog soft|hard`, `make test-guest` runs both at SMP=2).

use alloc::string::String;
use weft_arch::{cpu, kprintln, percpu};

use super::Ctx;

/// The loop the watchdog must catch; the runner looks for this name in the
/// stuck CPU's report.
#[inline(never)]
fn watchdog_selftest_spin() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Spins in the kernel with interrupts on but preemption off: ticks arrive, the
/// CPU never schedules.
pub fn soft(_: &Ctx) -> Result<(), String> {
    crate::task::sched().preempt_disable();
    kprintln!(
        "watchdog_selftest: spinning with preemption off on cpu{}",
        percpu::cpu_id()
    );
    watchdog_selftest_spin()
}

/// Spins with interrupts off: no more ticks on this CPU; another CPU must notice.
pub fn hard(ctx: &Ctx) -> Result<(), String> {
    if ctx.expect_cpus.unwrap_or(1) < 2 {
        return Err("a hard lockup needs a second CPU to notice it".into());
    }
    kprintln!(
        "watchdog_selftest: spinning with interrupts off on cpu{}",
        percpu::cpu_id()
    );
    cpu::disable_interrupts();
    watchdog_selftest_spin()
}
