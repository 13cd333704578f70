//! Threads and scheduling in the kernel: the glue between the scheduler logic
//! (`weft-sched`: queues, placement, stealing, wait queues, timers) and the machine
//! (`weft-arch`: context switch, LAPIC timer, IPIs).
//!
//! Every CPU runs its idle loop on the context it booted on; everything else runs in
//! [`Thread`]s. A switch goes `schedule()` → `Scheduler::schedule` (decide) →
//! `context::switch` → [`after_switch`] (on the new context: release the previous
//! thread to the scheduler, queue dead threads for reaping).

pub mod kthread;
mod timer;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, Once};
use weft_arch::context::{self, Context, HasContext};
use weft_arch::{MAX_CPUS, apic, cpu, percpu, time, trap, vectors};
use weft_sched::{Intent, Platform, Schedulable, Scheduler, ThreadSched, ThreadState};

pub use timer::{TICK_NS, sleep_ns, sleep_prepared_until};

/// The kernel's implementation of the scheduler's platform hooks.
pub struct KernelPlatform;

impl Platform for KernelPlatform {
    fn irq_save() -> bool {
        cpu::irq_save()
    }
    fn irq_restore(was_enabled: bool) {
        cpu::irq_restore(was_enabled)
    }
    fn send_resched_ipi(cpu: usize) {
        apic::send_ipi(cpu, vectors::RESCHEDULE);
    }
    fn current_cpu() -> usize {
        percpu::cpu_id()
    }
}

/// The scheduler type used by the kernel.
pub type Sched = Scheduler<Thread, KernelPlatform>;

static SCHED: Once<Sched> = Once::new();
/// Each CPU's idle context (the context it booted on).
static IDLE: [Once<Context>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];
/// Dead threads waiting to be freed with interrupts enabled (freeing a kernel stack
/// needs a TLB shootdown).
static ZOMBIES: [Mutex<Vec<Arc<Thread>>>; MAX_CPUS] = [const { Mutex::new(Vec::new()) }; MAX_CPUS];
static NEXT_TID: AtomicU64 = AtomicU64::new(1);
/// Thread objects in existence (created and not yet freed).
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Set when the scheduler runs (after all CPUs are online).
static STARTED: AtomicBool = AtomicBool::new(false);

/// The global scheduler.
pub fn sched() -> &'static Sched {
    SCHED.get().expect("scheduler used before task::init")
}

/// Whether threads are being scheduled yet.
pub fn started() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// Allocates a system-wide unique thread id.
pub fn alloc_tid() -> u64 {
    NEXT_TID.fetch_add(1, Ordering::Relaxed)
}

/// A schedulable thread (kernel threads now, user threads later).
pub struct Thread {
    /// Thread id (changes only when a non-leader thread execs and takes the pid).
    tid: AtomicU64,
    /// Futex wait state.
    pub(crate) futex: weft_futex::WaitState,
    name: Mutex<String>,
    sched: ThreadSched,
    pub(crate) ctx: Context,
    /// What the thread is for; kernel threads carry their entry closure and exit state.
    pub(crate) kernel: Option<kthread::KernelThread>,
    /// The user part of a user thread.
    pub(crate) user: Option<crate::proc::UserThread>,
    /// Declared last so it is dropped last: the thread counts as gone only once its
    /// stack and everything else have been freed.
    _live: LiveToken,
}

struct LiveToken;

impl Drop for LiveToken {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Release);
    }
}

impl Schedulable for Thread {
    fn sched(&self) -> &ThreadSched {
        &self.sched
    }
}

/// Number of thread objects not yet freed.
pub fn live_threads() -> usize {
    LIVE.load(Ordering::Acquire)
}

impl HasContext for Thread {
    fn context(&self) -> &Context {
        &self.ctx
    }
}

impl Thread {
    /// A new kernel thread (not yet scheduled).
    pub fn new(
        name: &str,
        sched: ThreadSched,
        ctx: Context,
        kernel: Option<kthread::KernelThread>,
    ) -> Thread {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Thread {
            tid: AtomicU64::new(alloc_tid()),
            futex: weft_futex::WaitState::new(),
            name: Mutex::new(String::from(name)),
            sched,
            ctx,
            kernel,
            user: None,
            _live: LiveToken,
        }
    }

    /// A new user thread with thread id `tid` (not yet scheduled).
    pub fn new_user(
        tid: u64,
        name: &str,
        sched: ThreadSched,
        ctx: Context,
        user: crate::proc::UserThread,
    ) -> Thread {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Thread {
            tid: AtomicU64::new(tid),
            futex: weft_futex::WaitState::new(),
            name: Mutex::new(String::from(name)),
            sched,
            ctx,
            kernel: None,
            user: Some(user),
            _live: LiveToken,
        }
    }

    /// The address space this thread runs in (None for kernel threads).
    pub fn aspace(&self) -> Option<Arc<weft_mm::user::AddressSpace>> {
        self.user.as_ref()?.process.aspace()
    }

    /// Thread id.
    pub fn tid(&self) -> u64 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Changes the thread id (exec by a non-leader thread takes the process id).
    pub fn set_tid(&self, tid: u64) {
        self.tid.store(tid, Ordering::Relaxed);
    }

    /// The thread's name.
    pub fn name(&self) -> String {
        self.name.lock().clone()
    }

    /// Runs `f` on the thread's name unless its lock is taken (for reports from
    /// interrupt or NMI context, which must neither wait nor allocate).
    pub fn try_with_name<R>(&self, f: impl FnOnce(&str) -> R) -> Option<R> {
        self.name.try_lock().map(|n| f(&n))
    }

    /// Renames the thread.
    pub fn set_name(&self, name: &str) {
        *self.name.lock() = String::from(name);
    }

    /// Its scheduling state.
    pub fn sched_state(&self) -> ThreadState {
        self.sched.state()
    }
}

/// Creates the scheduler; every CPU then calls [`enter_idle`].
pub fn init(nr_cpus: usize) {
    SCHED.call_once(|| Sched::new(nr_cpus));
    trap::set_handler(vectors::RESCHEDULE, on_resched_ipi);
    trap::set_handler(vectors::TIMER, timer::on_timer);
    trap::set_return_hook(on_trap_return);
    STARTED.store(true, Ordering::Release);
}

/// The running thread on this CPU (None in the idle loop or before start).
pub fn current() -> Option<Arc<Thread>> {
    percpu::current::<Thread>()
}

fn idle_ctx(cpu: usize) -> &'static Context {
    IDLE[cpu].get().expect("CPU has no idle context")
}

/// Makes the calling context this CPU's idle context and runs the idle loop.
pub fn enter_idle() -> ! {
    let cpu = percpu::cpu_id();
    IDLE[cpu].call_once(Context::current_cpu);
    timer::arm(cpu);
    loop {
        crate::watchdog::touch(cpu);
        reap_zombies();
        cpu::disable_interrupts();
        if sched().has_work(cpu) {
            schedule(Intent::Preempt);
            cpu::enable_interrupts();
        } else {
            // sti; hlt is atomic: a wakeup IPI arriving after the check ends the halt.
            cpu::enable_and_halt();
        }
    }
}

/// Runs the scheduler on this CPU: the current thread (or the idle context) gives
/// up the CPU according to `intent`. Returns when the caller runs again (never for
/// `Intent::Exit`).
pub fn schedule(intent: Intent) {
    let irq = cpu::irq_save();
    let cpu = percpu::cpu_id();
    crate::watchdog::touch(cpu);
    let d = sched().schedule(cpu, time::now_ns(), intent);
    if d.is_switch() {
        switch_mm(cpu, d.next.as_ref());
        percpu::set_current(d.next.as_ref());
        let last = context::switch_to(d.prev, d.next, idle_ctx(cpu));
        after_switch(last);
    }
    cpu::irq_restore(irq);
}

/// The address space each CPU has loaded (kept alive while loaded).
static LOADED: [Mutex<Option<Arc<weft_mm::user::AddressSpace>>>; MAX_CPUS] =
    [const { Mutex::new(None) }; MAX_CPUS];

/// Loads `next`'s address space on this CPU (the kernel tables for kernel threads
/// and idle). Interrupts are disabled.
fn switch_mm(cpu: usize, next: Option<&Arc<Thread>>) {
    let next_as = next.and_then(|t| t.aspace());
    let mut loaded = LOADED[cpu].lock();
    let same = match (&*loaded, &next_as) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    if !same {
        weft_mm::user::switch_address_space(loaded.as_deref(), next_as.as_deref(), cpu);
        *loaded = next_as;
    }
}

/// Switches this CPU to the kernel page tables (a process's last thread does this
/// before the process releases its address space).
pub fn leave_address_space() {
    let old = {
        let _irq = cpu::IrqGuard::new();
        let cpu = percpu::cpu_id();
        let mut loaded = LOADED[cpu].lock();
        weft_mm::user::switch_address_space(loaded.as_deref(), None, cpu);
        loaded.take()
    };
    drop(old);
}

/// Loads `aspace` on this CPU right now (exec installs a new address space).
pub fn enter_address_space(aspace: Arc<weft_mm::user::AddressSpace>) {
    let old = {
        let _irq = cpu::IrqGuard::new();
        let cpu = percpu::cpu_id();
        let mut loaded = LOADED[cpu].lock();
        weft_mm::user::switch_address_space(loaded.as_deref(), Some(&aspace), cpu);
        loaded.replace(aspace)
    };
    drop(old);
}

/// Runs on the new context right after every switch (and at the start of a new
/// thread): hands the thread this CPU left back to the scheduler; dead ones are
/// queued for freeing.
pub fn after_switch(last: Option<Arc<Thread>>) {
    let cpu = percpu::cpu_id();
    sched().finish_switch(cpu, last.as_ref());
    if let Some(p) = last
        && p.sched_state() == ThreadState::Dead
    {
        ZOMBIES[cpu].lock().push(p);
    }
}

/// Frees dead threads queued on any CPU. Needs interrupts enabled (stack unmapping
/// sends TLB shootdown IPIs and waits for them).
pub fn reap_zombies() {
    if !cpu::interrupts_enabled() {
        return;
    }
    for list in ZOMBIES.iter().take(percpu::cpu_count()) {
        let dead = {
            let _irq = cpu::IrqGuard::new();
            core::mem::take(&mut *list.lock())
        };
        for t in dead {
            // Wait until no CPU is still executing on its stack (finish_switch released it).
            while t.ctx.is_running() {
                core::hint::spin_loop();
            }
            drop(t);
        }
    }
}

/// Gives up the CPU voluntarily.
pub fn yield_now() {
    schedule(Intent::Yield);
    reap_zombies();
}

fn on_resched_ipi(_f: &mut trap::TrapFrame) {
    percpu::this().ipis[0].fetch_add(1, Ordering::Relaxed);
    let cpu = percpu::cpu_id();
    sched().handle_ipi(cpu);
}

/// End of every trap: preempt the interrupted thread if a reschedule is pending and
/// the interrupted code could be switched away (interrupts were on, no preemption
/// lock held).
fn on_trap_return(f: &mut trap::TrapFrame) {
    if f.from_user() {
        crate::watchdog::touch(percpu::cpu_id());
    }
    if !started() || f.rflags & (1 << 9) == 0 {
        return;
    }
    crate::proc::uthread::check_return_to_user(f);
    let cpu = percpu::cpu_id();
    let s = sched();
    if s.need_resched(cpu) && s.preemptible(cpu) {
        schedule(Intent::Preempt);
    }
}

/// Per-CPU statistics lines (`sched: cpu<N> switches=... steals=... migrations=... idle=...%`).
pub fn print_stats() {
    let Some(s) = SCHED.get() else { return };
    for cpu in 0..s.nr_cpus() {
        let st = s.stats(cpu);
        weft_arch::rawprintln!(
            "sched: cpu{} switches={} steals={} migrations={} idle={}%",
            cpu,
            st.switches,
            st.steals,
            st.migrations,
            st.idle_percent()
        );
    }
}

/// Restricts the current thread to `mask` and moves it there if needed.
pub fn set_current_affinity(mask: weft_sched::CpuSet) -> Result<(), weft_sched::AffinityError> {
    let me = current().expect("set_current_affinity outside a thread");
    sched().set_affinity(&me, mask, percpu::cpu_id())?;
    while !me.sched().allowed_on(percpu::cpu_id()) {
        schedule(Intent::Preempt);
    }
    Ok(())
}

/// Waits until every CPU has freed its dead threads and at most `baseline` thread
/// objects remain (for exact resource accounting in tests).
pub fn reap_until(baseline: usize) {
    loop {
        reap_all();
        if live_threads() <= baseline {
            return;
        }
        timer::sleep_ns(1_000_000);
    }
}

/// Waits until every CPU has freed its dead threads (for exact resource accounting).
pub fn reap_all() {
    loop {
        reap_zombies();
        let pending: usize = (0..percpu::cpu_count())
            .map(|c| {
                let _irq = cpu::IrqGuard::new();
                ZOMBIES[c].lock().len()
            })
            .sum();
        if pending == 0 {
            return;
        }
        // Idle CPUs reap on their next loop iteration; give them a moment.
        timer::sleep_ns(1_000_000);
    }
}

/// Wakes `t` (the calling CPU is read with interrupts off, so it cannot change
/// under the scheduler's feet).
pub fn wake(t: &Arc<Thread>) -> weft_sched::WakeResult {
    let _irq = cpu::IrqGuard::new();
    sched().wake(t, percpu::cpu_id())
}

/// Asks `target` to reschedule.
pub fn kick(target: usize) {
    let _irq = cpu::IrqGuard::new();
    sched().kick(target, percpu::cpu_id());
}

/// Wakes every thread sleeping on `wq`.
pub fn wake_all(wq: &weft_sched::WaitQueue<Thread, KernelPlatform>) -> usize {
    let _irq = cpu::IrqGuard::new();
    wq.wake_all(sched(), percpu::cpu_id())
}

/// Completes `c`, waking its waiters.
pub fn complete(c: &weft_sched::Completion<Thread, KernelPlatform>) -> usize {
    let _irq = cpu::IrqGuard::new();
    c.complete(sched(), percpu::cpu_id())
}

/// The scheduler side of mm's sleeping address-space lock (`weft_mm::sync::RwSem`):
/// a waiter sleeps in [`wait_event`] until its release hands it the lock.
pub struct MmParker;

impl weft_mm::sync::Parker for MmParker {
    fn current(&self) -> Option<Arc<dyn weft_mm::sync::Unpark>> {
        if !started() || !cpu::interrupts_enabled() {
            return None;
        }
        current().map(|t| t as Arc<dyn weft_mm::sync::Unpark>)
    }

    fn park(&self, granted: &core::sync::atomic::AtomicBool) {
        wait_event(None, None, || granted.load(Ordering::Acquire), || false);
    }
}

impl weft_mm::sync::Unpark for Thread {
    fn unpark(self: Arc<Self>) {
        wake(&self);
    }
}

/// How a [`wait_event`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// The condition holds.
    Woken,
    /// `interrupted()` said so (a signal, or the thread must exit).
    Interrupted,
    /// The deadline passed first.
    TimedOut,
}

/// The one way a thread sleeps: until `cond()` holds, `interrupted()` says the
/// wait must end, or the monotonic clock reaches `deadline`. On `wq` when given
/// (its wakers make the thread re-check), else woken only by a direct wake or the
/// deadline. The order is the no-lost-wakeup protocol: announce the sleep (and
/// queue on `wq`), then check, then sleep; a wake between the check and the sleep
/// turns the sleep into a no-op. The condition wins over an interruption and a
/// timeout that race with it.
pub fn wait_event(
    wq: Option<&weft_sched::WaitQueue<Thread, KernelPlatform>>,
    deadline: Option<u64>,
    mut cond: impl FnMut() -> bool,
    interrupted: impl Fn() -> bool,
) -> WaitResult {
    let me = current().expect("wait_event outside a thread");
    let finish = |me: &Arc<Thread>| match wq {
        Some(q) => q.finish_wait(me),
        None => me.sched.cancel_sleep(),
    };
    loop {
        match wq {
            Some(q) => q.prepare_to_wait(&me),
            None => me.sched.prepare_sleep(),
        }
        let outcome = if cond() {
            Some(WaitResult::Woken)
        } else if interrupted() {
            Some(WaitResult::Interrupted)
        } else if deadline.is_some_and(|d| time::now_ns() >= d) {
            Some(WaitResult::TimedOut)
        } else {
            None
        };
        if let Some(r) = outcome {
            finish(&me);
            return r;
        }
        match deadline {
            Some(d) => sleep_prepared_until(d),
            None => schedule(Intent::Sleep),
        }
    }
}
