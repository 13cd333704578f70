//! `threads-demo`: one thread per CPU the process may use; each reports a few
//! times which CPU it is running on (`getcpu`), yielding in between.
//! For `make run-smp RUN=/bin/threads-demo`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use weft_rt::env::Args;
use weft_rt::time::Instant;
use weft_rt::{println, sys, thread};

weft_rt::entry!(main);

const ROUNDS: usize = 4;

fn main(_args: Args) -> i32 {
    let n = thread::available_parallelism();
    println!(
        "threads-demo: pid {}, {} CPU(s) in the affinity mask, starting {} threads",
        sys::getpid(),
        n,
        n
    );
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::Builder::new()
                .name("demo")
                .spawn(move || {
                    let mut cpus = Vec::new();
                    for round in 0..ROUNDS {
                        // A little work so that the threads overlap and spread.
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(5) {
                            core::hint::spin_loop();
                        }
                        let cpu = weft_rt::getcpu();
                        cpus.push(cpu);
                        println!(
                            "threads-demo: thread {i} (tid {}) round {round}: on cpu {cpu}",
                            sys::gettid()
                        );
                        thread::yield_now();
                    }
                    cpus
                })
                .expect("spawn")
        })
        .collect();
    let mut seen = [false; 64];
    for h in handles {
        for c in h.join() {
            seen[(c as usize) % 64] = true;
        }
    }
    let used = seen.iter().filter(|&&b| b).count();
    println!("threads-demo: done, the threads ran on {used} distinct CPU(s)");
    0
}
