//! `utest`: the Weft user-space test suite.
//!
//! ```text
//! utest [FILTER]            run the tests whose name contains FILTER (all without)
//! utest --list              list the test names
//! utest --exit N            exit with status N at once (for exec tests)
//! utest --exec-helper ...   internal: the new image of user_exec_kills_threads
//! ```
//!
//! Output (the serial contract): one `test <name> ... ok` / `test <name> ... FAILED`
//! line per test (a failure followed by indented detail lines), then
//! `<N> passed, <M> failed`. Exit status 0 iff every test passed.
//!
//! Every test also runs natively on Linux (this binary is a plain static Linux
//! executable); tests of Weft-only calls report `ok` with a note there.
//! Files the tests expect next to this program (`/bin` on Weft): `bad-garbage`,
//! `bad-truncated`, `bad-truncated-phdrs`, `bad-truncated-segment`, `bad-arch`
//! (made by `user/bad-elf/gen.sh`).
#![no_std]
#![no_main]

extern crate alloc;

mod fpu;
mod harness;
mod t_basic;
mod t_futex;
mod t_mm;
mod t_proc;
mod t_reliab;
mod t_sync;
mod t_threads;
mod util;

use harness::Test;
use weft_rt::env::Args;
use weft_rt::println;

weft_rt::entry!(main);

macro_rules! tests {
    ($($module:ident :: $name:ident $(= $t:expr)?),* $(,)?) => {
        &[$(Test {
            name: stringify!($name),
            f: $module::$name,
            timeout_s: tests!(@t $($t)?),
        }),*]
    };
    (@t) => { 120 };
    (@t $t:expr) => { $t };
}

const TESTS: &[Test] = tests![
    t_basic::user_hello,
    t_basic::user_efault,
    t_basic::user_bad_elf,
    t_basic::user_cwd_paths,
    t_mm::user_mmap_semantics,
    t_mm::user_cow_fork,
    t_mm::user_shared_anon,
    t_mm::user_tlb_shootdown,
    t_threads::user_fpu_isolation,
    t_threads::user_threads_many = 300,
    t_threads::user_exec_kills_threads,
    t_threads::user_fork_from_thread,
    t_proc::user_wait_status,
    t_proc::user_segv_kills,
    t_threads::user_stack_guard,
    t_threads::user_thread_limit = 300,
    t_threads::user_tsuspend_tresume,
    t_proc::user_frames_return = 300,
    t_sync::futex_mutex_exact = 300,
    t_sync::futex_condvar_broadcast,
    t_futex::futex_requeue,
    t_futex::futex_cmp_requeue,
    t_futex::futex_wake_op,
    t_futex::futex_bitset,
    t_futex::futex_timeout,
    t_futex::futex_shared_across_fork,
    t_futex::futex_efault_einval,
    t_futex::futex_robust_owner_died,
    t_futex::futex_cleartid_join,
    t_sync::semaphore_pingpong,
    t_sync::rwlock_readers_writers = 300,
    t_sync::barrier_rounds,
    t_sync::sync_once,
    t_sync::sync_spinlock,
    t_sync::sync_try_lock,
    t_sync::sync_thread_local,
    t_sync::sync_uncontended_no_syscall,
    t_reliab::reliab_poll_readiness,
    t_reliab::reliab_poll_timeouts_errors,
    t_reliab::reliab_file_size_limit,
    t_reliab::reliab_affinity_other_process = 60,
    t_reliab::reliab_rlimit_errors,
    t_reliab::reliab_failed_copyout,
];

fn main(args: Args) -> i32 {
    match args.get(1) {
        Some("--list") => {
            for t in TESTS {
                println!("{}", t.name);
            }
            0
        }
        Some("--exit") => args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1),
        Some("--exec-helper") => t_threads::exec_helper(&args),
        filter => {
            let failed = harness::run(TESTS, filter);
            if failed == 0 { 0 } else { 1 }
        }
    }
}
