//! Many std threads as CPUs over a shared population of simulated threads.
//!
//! Each "CPU" loops over a bounded number of steps. A step first runs the CPU's
//! "timer interrupt" (expired timeouts wake their threads), then lets its current
//! thread do one random thing: keep running (tick), yield, sleep on one of a few wait
//! queues (half of the time with a timeout), wake a wait queue, wake a random thread,
//! change a random thread's affinity, balance, steal, or handle an IPI. An idle CPU
//! sometimes wakes a waiter from "interrupt context". Every switch is completed the
//! way the kernel does it (`finish_switch` after the "context" was released).
//!
//! Checked along the way:
//! - no thread ever runs on two CPUs at once (each thread's `running_on` slot is
//!   claimed with a swap on every switch-in and must have been free);
//! - interrupts are restored after every scheduler call;
//! - in consistent snapshots taken concurrently (all queue locks, ascending order), no
//!   thread appears twice among currents, queues and wake lists, queued threads are
//!   flagged `on_rq`, and no sleeping thread is on a queue.
//!
//! At the end, after every sleeper is woken:
//! - every thread is accounted for exactly once (current, queued or wake list);
//! - a queued thread outside its affinity is flagged for its CPU's next pick;
//! - with only ticks and preemption running, every thread is picked again within a
//!   bounded number of steps, on a CPU its affinity allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;

use crate::cpuset::CpuSet;
use crate::runqueue::MIN_GRANULARITY_NS;
use crate::scheduler::{CpuSnapshot, Intent, Scheduler, SwitchDecision};
use crate::testing::{Ent, HostPlatform, NOT_RUNNING, Rng, irqs_enabled, set_current_cpu};
use crate::thread::{Schedulable, ThreadSched, ThreadState};
use crate::timer::CpuTimers;
use crate::waitqueue::WaitQueue;

struct World {
    cpus: usize,
    sched: Scheduler<Ent, HostPlatform>,
    ents: Vec<Arc<Ent>>,
    wqs: Vec<WaitQueue<Ent, HostPlatform>>,
    /// Timeouts of sleeping threads, expired by each CPU's "timer interrupt".
    timers: CpuTimers<Arc<Ent>, HostPlatform>,
    /// Threads picked at least once in the final phase.
    fresh_picks: AtomicUsize,
    /// Whether picks must be checked against affinity (no concurrent changes).
    check_affinity: AtomicBool,
}

/// One simulated CPU.
struct Cpu<'w> {
    w: &'w World,
    cpu: usize,
    cur: Option<Arc<Ent>>,
    now: u64,
    rng: Rng,
}

impl<'w> Cpu<'w> {
    fn new(w: &'w World, cpu: usize, seed: u64) -> Self {
        Cpu {
            w,
            cpu,
            cur: None,
            now: 0,
            rng: Rng::new(seed),
        }
    }

    fn switch(&mut self, intent: Intent) {
        let d = self.w.sched.schedule(self.cpu, self.now, intent);
        self.apply(d);
    }

    /// Completes a decision like the kernel: release prev's context, finish_switch,
    /// claim next's context.
    fn apply(&mut self, d: SwitchDecision<Ent>) {
        let (prev, cur) = (d.prev.as_ref(), self.cur.as_ref());
        assert!(
            match (prev, cur) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            },
            "schedule's prev is not this CPU's current thread"
        );
        if d.is_switch() {
            if let Some(p) = &d.prev {
                assert_eq!(p.running_on.swap(NOT_RUNNING, Ordering::SeqCst), self.cpu);
            }
            self.w.sched.finish_switch(self.cpu, d.prev.as_ref());
            if let Some(n) = &d.next {
                let was = n.running_on.swap(self.cpu, Ordering::SeqCst);
                assert_eq!(
                    was, NOT_RUNNING,
                    "thread {} picked by cpu{} while running on cpu{was}",
                    n.id, self.cpu
                );
                if n.picks.fetch_add(1, Ordering::SeqCst) == 0 {
                    self.w.fresh_picks.fetch_add(1, Ordering::SeqCst);
                }
                if self.w.check_affinity.load(Ordering::SeqCst) {
                    assert!(
                        n.sched().allowed_on(self.cpu),
                        "thread {} on cpu{}",
                        n.id,
                        self.cpu
                    );
                }
            }
        }
        if let Some(n) = &d.next {
            assert!(n.sched().on_cpu() && !n.sched().on_rq());
        }
        self.cur = d.next;
        assert!(irqs_enabled());
    }

    fn random_mask(&mut self) -> CpuSet {
        match self.rng.below(4) {
            0 => CpuSet::single(self.rng.below(self.w.cpus)),
            1 => [self.rng.below(self.w.cpus), self.rng.below(self.w.cpus)]
                .into_iter()
                .collect(),
            _ => CpuSet::first_n(self.w.cpus),
        }
    }

    /// One step of the random phase.
    fn random_step(&mut self) {
        self.now += MIN_GRANULARITY_NS / 4;
        let w = self.w;
        self.timer_interrupt();
        let Some(e) = self.cur.clone() else {
            // Idle: now and then an "interrupt" wakes a waiter, as a device would.
            if self.rng.below(8) == 0 {
                let k = self.rng.below(w.wqs.len());
                w.wqs[k].wake_one(&w.sched, self.cpu);
            }
            self.switch(Intent::Preempt);
            if self.cur.is_none() {
                thread::yield_now();
            }
            return;
        };
        self.resume(&e);
        match self.rng.below(100) {
            0..30 => {
                if w.sched.tick(self.cpu, self.now) {
                    self.switch(Intent::Preempt);
                }
            }
            30..38 => self.switch(Intent::Yield),
            38..60 => {
                let k = self.rng.below(w.wqs.len());
                w.wqs[k].prepare_to_wait(&e);
                if self.rng.below(4) == 0 {
                    // The condition turned out true.
                    w.wqs[k].finish_wait(&e);
                } else {
                    e.pending_wq.store(k, Ordering::SeqCst);
                    if self.rng.below(2) == 0 {
                        // A sleep with a timeout.
                        let deadline =
                            self.now + (self.rng.below(20) as u64 + 1) * MIN_GRANULARITY_NS;
                        let id = w.timers.arm(self.cpu, deadline, e.clone());
                        *e.timer.lock().unwrap() = Some(id);
                    }
                    self.switch(Intent::Sleep);
                }
            }
            60..76 => {
                let k = self.rng.below(w.wqs.len());
                if self.rng.below(4) == 0 {
                    w.wqs[k].wake_all(&w.sched, self.cpu);
                } else {
                    w.wqs[k].wake_one(&w.sched, self.cpu);
                }
            }
            76..84 => {
                let t = &w.ents[self.rng.below(w.ents.len())];
                w.sched.wake(t, self.cpu);
            }
            84..87 => {
                let t = &w.ents[self.rng.below(w.ents.len())];
                let mask = self.random_mask();
                if w.sched.set_affinity(t, mask, self.cpu) == Ok(Some(self.cpu)) {
                    self.switch(Intent::Preempt);
                }
            }
            87..90 => {
                w.sched.balance(self.cpu, self.now);
            }
            90..93 => {
                w.sched.steal(self.cpu);
            }
            93..96 => {
                if w.sched.handle_ipi(self.cpu) {
                    self.switch(Intent::Preempt);
                }
            }
            _ => self.switch(Intent::Preempt),
        }
        assert!(irqs_enabled());
    }

    /// Expires this CPU's timers and wakes their threads (a timeout wake may race
    /// with a wait-queue wake: only one of them wakes the thread).
    fn timer_interrupt(&mut self) {
        for t in self.w.timers.expire(self.cpu, self.now) {
            self.w.sched.wake(&t, self.cpu);
        }
    }

    /// What a thread does when it runs again after a sleep: leave the wait queue and
    /// cancel its timeout.
    fn resume(&self, e: &Arc<Ent>) {
        let pending = e.pending_wq.swap(NOT_RUNNING, Ordering::SeqCst);
        if pending != NOT_RUNNING {
            self.w.wqs[pending].finish_wait(e);
        }
        if let Some(id) = e.timer.lock().unwrap().take() {
            self.w.timers.cancel(id);
        }
    }

    /// One step of the final phase: time passes, the tick preempts.
    fn fair_step(&mut self) {
        self.now += MIN_GRANULARITY_NS / 4;
        if let Some(e) = self.cur.clone() {
            self.resume(&e);
        }
        if self.cur.is_none() || self.w.sched.tick(self.cpu, self.now) {
            self.switch(Intent::Preempt);
        }
        if self.cur.is_none() {
            thread::yield_now();
        }
    }
}

/// Checks a consistent snapshot: nobody twice, flags consistent. With `complete`, also
/// that every thread is somewhere (the system is quiescent and nobody sleeps).
fn check_snapshot(w: &World, complete: bool) {
    w.sched.inspect_all(|snap| check_cut(w, snap, complete));
}

fn check_cut(w: &World, snap: &[CpuSnapshot<Ent>], complete: bool) {
    let mut seen = vec![0u32; w.ents.len()];
    for c in snap {
        if let Some(e) = &c.current {
            seen[e.id] += 1;
            assert!(!e.sched().on_rq(), "current thread {} flagged on_rq", e.id);
            assert!(e.sched().on_cpu());
            assert!(matches!(
                e.sched().state(),
                ThreadState::Runnable | ThreadState::Blocking
            ));
        }
        for e in &c.queued {
            seen[e.id] += 1;
            assert!(
                e.sched().on_rq(),
                "queued thread {} not flagged on_rq",
                e.id
            );
            assert_eq!(e.sched().cpu(), Some(c.cpu));
            assert!(matches!(
                e.sched().state(),
                ThreadState::Runnable | ThreadState::Blocking
            ));
        }
        for e in &c.wake_list {
            seen[e.id] += 1;
            assert!(
                !e.sched().on_rq(),
                "thread {} in cpu{} wake list is on_rq (cpu {:?}, on_cpu {}, {:?})",
                e.id,
                c.cpu,
                e.sched().cpu(),
                e.sched().on_cpu(),
                e.sched().state()
            );
            assert_eq!(e.sched().state(), ThreadState::Runnable);
        }
    }
    for (id, &n) in seen.iter().enumerate() {
        if complete {
            assert_eq!(
                n,
                1,
                "thread {id} appears {n} times ({:?})",
                w.ents[id].sched().state()
            );
        } else {
            assert!(n <= 1, "thread {id} appears {n} times");
        }
    }
}

/// A counter that moves whenever the system makes progress towards picking every
/// thread.
fn progress(w: &World) -> u64 {
    let moves: u64 = (0..w.cpus)
        .map(|c| {
            let st = w.sched.stats(c);
            st.wakeups + st.migrations + st.steals
        })
        .sum();
    w.fresh_picks.load(Ordering::SeqCst) as u64 + moves
}

/// Describes the threads not picked in the final phase, for a failure message.
fn starved(snap: &[CpuSnapshot<Ent>]) -> String {
    let mut out = String::new();
    for c in snap {
        let unpicked = |e: &&Arc<Ent>| e.picks.load(Ordering::SeqCst) == 0;
        let show = |e: &Arc<Ent>| (e.id, e.sched().vruntime(), e.sched().affinity());
        let floor = c
            .queued
            .iter()
            .chain(c.current.iter())
            .map(|e| e.sched().vruntime())
            .min();
        out += &format!(
            "cpu{}: {} queued, lowest vruntime {floor:?}, current {:?}; not picked: queued {:?} wake list {:?}\n",
            c.cpu,
            c.queued.len(),
            c.current.as_ref().map(show),
            c.queued
                .iter()
                .filter(unpicked)
                .map(show)
                .collect::<Vec<_>>(),
            c.wake_list
                .iter()
                .filter(unpicked)
                .map(show)
                .collect::<Vec<_>>()
        );
    }
    out
}

/// Phase control that cannot hang when a thread fails: every wait gives up (by
/// panicking) once some thread has panicked.
struct Phases {
    phase: AtomicUsize,
    arrived: AtomicUsize,
    abort: AtomicBool,
}

impl Phases {
    /// A CPU thread: reports the end of its phase and waits for `next` to start.
    fn arrive_and_wait(&self, next: usize) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        while self.phase.load(Ordering::SeqCst) < next {
            assert!(
                !self.abort.load(Ordering::SeqCst),
                "another test thread failed"
            );
            thread::yield_now();
        }
    }

    /// The controller: waits until `n` arrivals in total, then starts `next`.
    fn await_then_start(&self, n: usize, next: usize) {
        while self.arrived.load(Ordering::SeqCst) < n {
            assert!(!self.abort.load(Ordering::SeqCst), "a test thread failed");
            thread::yield_now();
        }
        self.phase.store(next, Ordering::SeqCst);
    }
}

/// Sets the abort flag if the owning thread unwinds.
struct AbortOnPanic<'a>(&'a AtomicBool);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

fn run(cpus: usize, threads: usize, steps: usize, seed: u64) {
    let w = World {
        cpus,
        sched: Scheduler::new(cpus),
        ents: (0..threads)
            .map(|id| Ent::numbered(id, ThreadSched::new()))
            .collect(),
        wqs: (0..6).map(|_| WaitQueue::new()).collect(),
        timers: CpuTimers::new(cpus),
        fresh_picks: AtomicUsize::new(0),
        check_affinity: AtomicBool::new(false),
    };
    for (i, e) in w.ents.iter().enumerate() {
        e.sched().set_nice((i % 7) as i8 - 3);
        w.sched.add_new(e.clone(), i % cpus);
    }
    let ph = Phases {
        phase: AtomicUsize::new(0),
        arrived: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
    };
    // Liveness in the final phase: a CPU counts the steps it took since it last saw
    // any progress (a fresh pick, a wakeup, a migration or a steal anywhere). The run
    // fails only when every CPU took `budget` steps without progress: a CPU cannot
    // run a thread queued on another CPU that the host OS is not running, so only
    // all of them together prove a starvation.
    let idle_steps: Vec<(AtomicU64, AtomicU64)> = (0..cpus)
        .map(|_| (AtomicU64::new(u64::MAX), AtomicU64::new(0)))
        .collect();
    let final_steps: Vec<AtomicUsize> = (0..cpus).map(|_| AtomicUsize::new(0)).collect();
    let budget = 100 * threads as u64;
    let stop_checker = AtomicBool::new(false);

    thread::scope(|sc| {
        for cpu in 0..cpus {
            let (w, ph, final_steps, idle_steps) = (&w, &ph, &final_steps, &idle_steps);
            sc.spawn(move || {
                let _abort = AbortOnPanic(&ph.abort);
                set_current_cpu(cpu);
                let mut c = Cpu::new(w, cpu, seed ^ (cpu as u64 + 1));
                ph.arrive_and_wait(1);
                for _ in 0..steps {
                    c.random_step();
                }
                ph.arrive_and_wait(2);
                // Count picked threads directly: `fresh_picks` may miss a pick that
                // raced with its reset at the phase change.
                while w.ents.iter().filter(|e| e.picks.load(Ordering::SeqCst) > 0).count() < threads {
                    assert!(!ph.abort.load(Ordering::SeqCst), "another test thread failed");
                    let p = progress(w);
                    let (seen, n) = &idle_steps[cpu];
                    if seen.load(Ordering::SeqCst) != p {
                        n.store(0, Ordering::SeqCst);
                        seen.store(p, Ordering::SeqCst);
                    }
                    n.fetch_add(1, Ordering::SeqCst);
                    let starving = idle_steps
                        .iter()
                        .all(|(seen, n)| seen.load(Ordering::SeqCst) == p && n.load(Ordering::SeqCst) >= budget);
                    // A thread pushed to a wake list after its CPU's last step is not
                    // starving yet: that CPU drains it at its next step.
                    if starving && w.sched.inspect_all(|snap| snap.iter().all(|c| c.wake_list.is_empty())) {
                        let detail = w.sched.inspect_all(starved);
                        panic!("every CPU took {budget} steps without progress; threads never picked:\n{detail}");
                    }
                    c.fair_step();
                    final_steps[cpu].fetch_add(1, Ordering::SeqCst);
                }
                ph.arrive_and_wait(3);
            });
        }
        // A concurrent observer taking consistent snapshots during the random phase.
        let checker = {
            let (w, ph, stop) = (&w, &ph, &stop_checker);
            sc.spawn(move || {
                let _abort = AbortOnPanic(&ph.abort);
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) && !ph.abort.load(Ordering::SeqCst) {
                    check_snapshot(w, false);
                    n += 1;
                    thread::yield_now();
                }
                n
            })
        };
        ph.await_then_start(cpus, 1);
        ph.await_then_start(2 * cpus, 1); // random phase over (phase stays 1)
        stop_checker.store(true, Ordering::SeqCst);
        assert!(checker.join().unwrap() > 0);

        // Quiescent: wake every sleeper, then every thread must be somewhere, once.
        set_current_cpu(0);
        for wq in &w.wqs {
            wq.wake_all(&w.sched, 0);
        }
        for e in &w.ents {
            w.sched.wake(e, 0);
        }
        for e in &w.ents {
            assert_ne!(e.sched().state(), ThreadState::Blocked, "thread {}", e.id);
        }
        check_snapshot(&w, true);
        for c in w.sched.snapshot_all() {
            for e in &c.queued {
                assert!(
                    e.sched().allowed_on(c.cpu) || w.sched.strays_flagged(c.cpu),
                    "thread {} queued on cpu{} outside its affinity {:?}, and not flagged",
                    e.id,
                    c.cpu,
                    e.sched().affinity()
                );
            }
        }
        // The final phase counts picks afresh; threads running right now count as
        // picked (a CPU whose only allowed thread is running never switches).
        for e in &w.ents {
            e.picks.store(0, Ordering::SeqCst);
        }
        w.fresh_picks.store(0, Ordering::SeqCst);
        for c in w.sched.snapshot_all() {
            if let Some(e) = c.current {
                e.picks.store(1, Ordering::SeqCst);
                w.fresh_picks.fetch_add(1, Ordering::SeqCst);
            }
        }
        w.check_affinity.store(true, Ordering::SeqCst);
        ph.phase.store(2, Ordering::SeqCst);
        ph.await_then_start(3 * cpus, 3);
    });

    check_snapshot(&w, true);
    let mut totals = (0, 0, 0);
    for (cpu, steps) in final_steps.iter().enumerate() {
        let st = w.sched.stats(cpu);
        eprintln!("{st} (final phase: {} steps)", steps.load(Ordering::SeqCst));
        totals.0 += st.switches;
        totals.1 += st.steals;
        totals.2 += st.migrations;
    }
    assert!(totals.0 > 0 && totals.2 >= totals.1);
    for e in &w.ents {
        assert!(e.picks.load(Ordering::SeqCst) > 0);
        let on = e.running_on.load(Ordering::SeqCst);
        assert!(on == NOT_RUNNING || w.sched.current(on).is_some_and(|c| Arc::ptr_eq(&c, e)));
    }
}

#[test]
fn stress_4_cpus_256_threads() {
    run(4, 256, 12_000, 0x5eed_0001);
}

#[test]
fn stress_8_cpus_96_threads() {
    run(8, 96, 6_000, 0x5eed_0002);
}

#[test]
fn stress_2_cpus_few_threads() {
    // Few threads: CPUs are often idle, so stealing, idle placement and the
    // on_cpu-racing wakeups are exercised hardest.
    run(2, 6, 20_000, 0x5eed_0003);
}
