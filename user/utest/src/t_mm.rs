//! user_mmap_semantics, user_cow_fork, user_shared_anon, user_tlb_shootdown.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use core::time::Duration;

use weft_rt::abi::mman::*;
use weft_rt::abi::signal::SIGSEGV;
use weft_rt::process::WaitStatus;
use weft_rt::time::Instant;
use weft_rt::{Errno, sys, thread};

use crate::harness::{Ctx, Label, fork_child, run_child, wait_child};
use crate::util::*;

const RW: u32 = PROT_READ | PROT_WRITE;
const PA: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

fn map(addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
    // SAFETY: the tests only use MAP_FIXED over their own mappings.
    unsafe { sys::mmap(addr, len, prot, flags, -1, 0) }.map(|p| p as usize)
}

fn fill(addr: usize, len: usize, v: u8) {
    // SAFETY: callers pass their own writable mappings.
    unsafe { core::ptr::write_bytes(addr as *mut u8, v, len) }
}

fn expect_err(ctx: &mut Ctx, what: &str, r: Result<impl core::fmt::Debug, Errno>, want: Errno) {
    match r {
        Err(e) if e == want => {}
        other => ctx.fail(format!("{what}: {other:?}, expected {want:?}")),
    }
}

pub fn user_mmap_semantics(ctx: &mut Ctx) -> Result<(), String> {
    // Page rounding: a 1-byte mapping is a whole zeroed page.
    let p = map(0, 1, RW, PA).label("mmap(1 byte)")?;
    ctx.check(p % PAGE == 0, || format!("mmap returned unaligned {p:#x}"));
    // SAFETY: the page is ours.
    unsafe {
        ctx.check(peek(p) == 0 && peek(p + PAGE - 1) == 0, || {
            String::from("fresh page not zero")
        });
        poke(p + PAGE - 1, 7);
        ctx.check(peek(p + PAGE - 1) == 7, || {
            String::from("write to the last byte of the page lost")
        });
    }
    // SAFETY: our page; munmap(1 byte) removes the whole page.
    unsafe { sys::munmap(p as *mut u8, 1) }.label("munmap(1 byte)")?;
    expect_signal(ctx, "read after munmap of 1 byte", SIGSEGV, || {
        // SAFETY: expected to fault (in the child).
        unsafe { peek(p + 100) as i32 }
    });

    // MAP_FIXED replaces the middle page of a three-page mapping.
    let q = map(0, 3 * PAGE, RW, PA).label("mmap 3 pages")?;
    fill(q, 3 * PAGE, 0xaa);
    let r = map(q + PAGE, PAGE, RW, PA | MAP_FIXED).label("mmap MAP_FIXED")?;
    ctx.check(r == q + PAGE, || {
        format!("MAP_FIXED at {:#x} returned {r:#x}", q + PAGE)
    });
    // SAFETY: all three pages are mapped.
    unsafe {
        ctx.check(peek(q + PAGE) == 0 && peek(q + 2 * PAGE - 1) == 0, || {
            String::from("MAP_FIXED replacement page is not zero")
        });
        ctx.check(peek(q) == 0xaa && peek(q + 2 * PAGE) == 0xaa, || {
            String::from("MAP_FIXED changed the neighbouring pages")
        });
    }
    // MAP_FIXED_NOREPLACE over existing pages: EEXIST; into a hole: exactly there.
    expect_err(
        ctx,
        "MAP_FIXED_NOREPLACE over a mapping",
        map(q, PAGE, RW, PA | MAP_FIXED_NOREPLACE),
        Errno::EEXIST,
    );
    expect_err(
        ctx,
        "MAP_FIXED_NOREPLACE partly over a mapping",
        map(q + 2 * PAGE, 2 * PAGE, RW, PA | MAP_FIXED_NOREPLACE),
        Errno::EEXIST,
    );
    // SAFETY: our page.
    unsafe { sys::munmap((q + PAGE) as *mut u8, PAGE) }.label("munmap middle page")?;
    match map(q + PAGE, PAGE, RW, PA | MAP_FIXED_NOREPLACE) {
        Ok(a) => ctx.check(a == q + PAGE, || {
            format!("MAP_FIXED_NOREPLACE into a hole gave {a:#x}")
        }),
        Err(e) => ctx.check(false, || format!("MAP_FIXED_NOREPLACE into a hole: {e:?}")),
    };

    // munmap of the middle of a mapping leaves both ends intact.
    let s = map(0, 3 * PAGE, RW, PA).label("mmap 3 pages")?;
    fill(s, PAGE, 0x11);
    fill(s + PAGE, PAGE, 0x22);
    fill(s + 2 * PAGE, PAGE, 0x33);
    // SAFETY: our page.
    unsafe { sys::munmap((s + PAGE) as *mut u8, PAGE) }.label("munmap middle")?;
    // SAFETY: the outer pages are still mapped.
    unsafe {
        ctx.check(
            peek(s + PAGE - 1) == 0x11 && peek(s + 2 * PAGE) == 0x33,
            || String::from("munmap of the middle page changed the outer pages"),
        );
    }
    expect_signal(ctx, "read of an unmapped middle page", SIGSEGV, || {
        // SAFETY: expected to fault.
        unsafe { peek(s + PAGE + 8) as i32 }
    });

    // PROT_NONE pages fault on read and on write.
    let n = map(0, PAGE, PROT_NONE, PA).label("mmap PROT_NONE")?;
    expect_signal(ctx, "read of a PROT_NONE page", SIGSEGV, || {
        // SAFETY: expected to fault.
        unsafe { peek(n) as i32 }
    });
    expect_signal(ctx, "write to a PROT_NONE page", SIGSEGV, || {
        // SAFETY: expected to fault.
        unsafe { poke(n, 1) };
        0
    });

    // mprotect to read-only: reads work, writes fault; back to RW works.
    let m = map(0, PAGE, RW, PA).label("mmap")?;
    fill(m, PAGE, 7);
    // SAFETY: our page.
    unsafe { sys::mprotect(m as *mut u8, PAGE, PROT_READ) }.label("mprotect(PROT_READ)")?;
    // SAFETY: readable.
    ctx.check(unsafe { peek(m + 5) } == 7, || {
        String::from("read-only page lost its data")
    });
    expect_signal(ctx, "write to a read-only page", SIGSEGV, || {
        // SAFETY: expected to fault.
        unsafe { poke(m, 9) };
        0
    });
    // SAFETY: our page.
    unsafe { sys::mprotect(m as *mut u8, PAGE, RW) }.label("mprotect(RW)")?;
    // SAFETY: writable again.
    unsafe {
        poke(m, 8);
        ctx.check(peek(m) == 8 && peek(m + 1) == 7, || {
            String::from("page after mprotect(RW)")
        });
    }

    // Errors.
    expect_err(ctx, "mmap(len 0)", map(0, 0, RW, PA), Errno::EINVAL);
    expect_err(
        ctx,
        "mmap(MAP_FIXED, unaligned)",
        map(q + 1, PAGE, RW, PA | MAP_FIXED),
        Errno::EINVAL,
    );
    expect_err(
        ctx,
        "mmap(neither SHARED nor PRIVATE)",
        map(0, PAGE, RW, MAP_ANONYMOUS),
        Errno::EINVAL,
    );
    expect_err(
        ctx,
        "mmap(1 << 62 bytes)",
        map(0, 1 << 62, RW, PA),
        Errno::ENOMEM,
    );
    // SAFETY: invalid arguments: nothing changes.
    unsafe {
        expect_err(
            ctx,
            "munmap(unaligned)",
            sys::munmap((q + 1) as *mut u8, PAGE),
            Errno::EINVAL,
        );
        expect_err(
            ctx,
            "munmap(len 0)",
            sys::munmap(q as *mut u8, 0),
            Errno::EINVAL,
        );
        expect_err(
            ctx,
            "mprotect(unaligned)",
            sys::mprotect((q + 1) as *mut u8, PAGE, RW),
            Errno::EINVAL,
        );
        let hole = unmapped_addr()?;
        expect_err(
            ctx,
            "mprotect(unmapped)",
            sys::mprotect(hole as *mut u8, PAGE, RW),
            Errno::ENOMEM,
        );
        let r = sys::munmap(hole as *mut u8, PAGE);
        ctx.check(r.is_ok(), || {
            format!("munmap of an unmapped range: {r:?}, expected success")
        });
    }

    // brk: grow, use, shrink (the pages go), grow again (zeroed).
    // SAFETY: the program does not use the break otherwise.
    unsafe {
        let b0 = sys::brk(0);
        let b1 = sys::brk(b0 + 64 * 1024);
        if ctx.check(b1 == b0 + 64 * 1024, || {
            format!("brk grow: {b0:#x} -> {b1:#x}")
        }) {
            fill(b0, 64 * 1024, 0x5a);
            ctx.check(peek(b0 + 64 * 1024 - 1) == 0x5a, || {
                String::from("brk memory")
            });
            let b2 = sys::brk(b0);
            ctx.check(b2 == b0, || format!("brk shrink to {b0:#x}: {b2:#x}"));
            let probe = ((b0 + PAGE - 1) & !(PAGE - 1)) + 8 * PAGE;
            expect_signal(ctx, "access above a shrunk break", SIGSEGV, || {
                // SAFETY: expected to fault.
                peek(probe) as i32
            });
            let b3 = sys::brk(b0 + 64 * 1024);
            ctx.check(b3 == b0 + 64 * 1024, || format!("brk regrow: {b3:#x}"));
            ctx.check(peek(probe) == 0, || {
                String::from("regrown brk memory is not zero")
            });
            let b4 = sys::brk(1);
            ctx.check(b4 == b3, || format!("brk(1) moved the break to {b4:#x}"));
            sys::brk(b0);
        }
    }

    // MADV_DONTNEED zeroes private anonymous pages.
    let d = map(0, 2 * PAGE, RW, PA).label("mmap")?;
    fill(d, 2 * PAGE, 0x55);
    // SAFETY: our pages; their contents may go.
    unsafe { sys::madvise(d as *mut u8, 2 * PAGE, MADV_DONTNEED) }.label("madvise(DONTNEED)")?;
    // SAFETY: still mapped.
    unsafe {
        ctx.check(peek(d) == 0 && peek(d + 2 * PAGE - 1) == 0, || {
            String::from("MADV_DONTNEED did not zero the pages")
        });
    }
    Ok(())
}

static COW_STATIC: AtomicU64 = AtomicU64::new(1);

pub fn user_cow_fork(ctx: &mut Ctx) -> Result<(), String> {
    const BIG: usize = 8 * 1024 * 1024;
    let mut big = vec![0u8; BIG];
    for (i, chunk) in big.chunks_mut(PAGE).enumerate() {
        chunk[0] = i as u8;
        chunk[PAGE - 1] = !(i as u8);
    }
    let stack_var = AtomicU64::new(1);
    COW_STATIC.store(1, SeqCst);
    let big_addr = big.as_mut_ptr() as usize;
    let stack_addr = &stack_var as *const AtomicU64 as usize;

    let pid = fork_child(|| {
        // SAFETY: the child's own copies of the parent's objects.
        let (big, sv) = unsafe {
            (
                core::slice::from_raw_parts_mut(big_addr as *mut u8, BIG),
                &*(stack_addr as *const AtomicU64),
            )
        };
        // Give the parent time to write its own values first.
        thread::sleep(Duration::from_millis(30));
        let mut bad = 0;
        if COW_STATIC.load(SeqCst) != 1 || sv.load(SeqCst) != 1 {
            bad |= 1;
        }
        for (i, c) in big.chunks(PAGE).enumerate() {
            if c[0] != i as u8 || c[PAGE - 1] != !(i as u8) {
                bad |= 2;
                break;
            }
        }
        COW_STATIC.store(2, SeqCst);
        sv.store(2, SeqCst);
        for c in big.chunks_mut(PAGE) {
            c[1] = 0xc1;
        }
        // The child can allocate and use fresh memory too.
        let v = vec![3u8; 100_000];
        thread::sleep(Duration::from_millis(30));
        if COW_STATIC.load(SeqCst) != 2 || sv.load(SeqCst) != 2 || v.iter().any(|&b| b != 3) {
            bad |= 4;
        }
        if big.chunks(PAGE).any(|c| c[1] != 0xc1) {
            bad |= 8;
        }
        bad
    })?;
    // The parent writes at once, while the child still sleeps.
    COW_STATIC.store(3, SeqCst);
    stack_var.store(3, SeqCst);
    for c in big.chunks_mut(PAGE) {
        c[1] = 0xa1;
    }
    let st = wait_child(pid, Duration::from_secs(60))?;
    match st {
        WaitStatus::Exited(0) => {}
        WaitStatus::Exited(bad) => {
            ctx.check(bad & 1 == 0, || {
                String::from("child saw the parent's post-fork writes (static/stack)")
            });
            ctx.check(bad & 2 == 0, || {
                String::from("child's copy of the big buffer differs from the pre-fork data")
            });
            ctx.check(bad & 4 == 0, || String::from("child lost its own writes"));
            ctx.check(bad & 8 == 0, || {
                String::from("child lost its own writes to the big buffer")
            });
        }
        other => ctx.fail(format!("child ended with {other:?}")),
    }
    ctx.check(
        COW_STATIC.load(SeqCst) == 3 && stack_var.load(SeqCst) == 3,
        || {
            format!(
                "parent's values changed: static {} stack {}",
                COW_STATIC.load(SeqCst),
                stack_var.load(SeqCst)
            )
        },
    );
    let mut bad_pages = 0;
    for (i, c) in big.chunks(PAGE).enumerate() {
        if c[0] != i as u8 || c[1] != 0xa1 || c[PAGE - 1] != !(i as u8) {
            bad_pages += 1;
        }
    }
    ctx.check(bad_pages == 0, || {
        format!("{bad_pages} pages of the parent's big buffer changed")
    });
    Ok(())
}

pub fn user_shared_anon(ctx: &mut Ctx) -> Result<(), String> {
    // Two pages: words in the first, one word in the second.
    let w = shared_words(1024)?;
    w[0].store(0x1111, SeqCst);
    w[600].store(0, SeqCst);
    let pid = fork_child(|| {
        if w[0].load(SeqCst) != 0x1111 {
            return 1;
        }
        w[1].store(0x2222, SeqCst);
        w[600].store(0x3333, SeqCst);
        if !wait_until(Duration::from_secs(10), || w[2].load(SeqCst) == 0x4444) {
            return 2;
        }
        w[3].store(0x5555, SeqCst);
        0
    })?;
    let saw_child = wait_until(Duration::from_secs(10), || w[1].load(SeqCst) == 0x2222);
    ctx.check(saw_child, || {
        String::from("parent never saw the child's write")
    });
    w[2].store(0x4444, SeqCst);
    let st = wait_child(pid, Duration::from_secs(30))?;
    match st {
        WaitStatus::Exited(0) => {}
        WaitStatus::Exited(1) => ctx.fail(String::from("child did not see the pre-fork value")),
        WaitStatus::Exited(2) => ctx.fail(String::from("child never saw the parent's write")),
        other => ctx.fail(format!("child ended with {other:?}")),
    }
    ctx.check(w[3].load(SeqCst) == 0x5555, || {
        String::from("child's last write not visible")
    });
    ctx.check(w[600].load(SeqCst) == 0x3333, || {
        String::from("child's write to the second page not visible")
    });
    Ok(())
}

static TLB_READS: AtomicU64 = AtomicU64::new(0);
static TLB_UNMAPPED: AtomicBool = AtomicBool::new(false);
const TLB_MAGIC: u64 = 0x7e57_7ab1_e5ee_d001;

pub fn user_tlb_shootdown(ctx: &mut Ctx) -> Result<(), String> {
    let cpus = thread::allowed_cpus();
    if cpus.len() < 2 {
        ctx.note("only 1 CPU: skipped");
        return Ok(());
    }
    let (cpu_a, cpu_b) = (cpus[0], cpus[1]);
    let st = run_child(
        move || {
            let page = match sys::mmap_anon(PAGE) {
                Ok(p) => p as usize,
                Err(_) => return 10,
            };
            // SAFETY: our page.
            unsafe { core::ptr::write_volatile(page as *mut u64, TLB_MAGIC) };
            let reader = thread::spawn(move || -> i32 {
                if thread::pin_to_cpu(cpu_a).is_err() {
                    weft_rt::process::exit(11);
                }
                loop {
                    let unmapped = TLB_UNMAPPED.load(SeqCst);
                    // SAFETY: faults once the page is unmapped: that is the test.
                    let v = unsafe { core::ptr::read_volatile(page as *const u64) };
                    if v != TLB_MAGIC {
                        weft_rt::process::exit(3);
                    }
                    if unmapped {
                        // Read after munmap returned: a stale TLB entry.
                        weft_rt::process::exit(4);
                    }
                    TLB_READS.fetch_add(1, Relaxed);
                }
            });
            let unmapper = thread::spawn(move || -> i32 {
                if thread::pin_to_cpu(cpu_b).is_err() {
                    weft_rt::process::exit(12);
                }
                let t = Instant::now();
                while TLB_READS.load(Relaxed) < 100_000 {
                    if t.elapsed() > Duration::from_secs(20) {
                        weft_rt::process::exit(6);
                    }
                    core::hint::spin_loop();
                }
                // SAFETY: the reader is meant to fault on this page.
                let _ = unsafe { sys::munmap(page as *mut u8, PAGE) };
                TLB_UNMAPPED.store(true, SeqCst);
                thread::sleep(Duration::from_secs(5));
                weft_rt::process::exit(5);
            });
            unmapper.join() + reader.join()
        },
        Duration::from_secs(60),
    )?;
    match st {
        WaitStatus::Signaled(SIGSEGV) => {}
        WaitStatus::Exited(3) => ctx.fail(String::from("reader saw wrong data before the unmap")),
        WaitStatus::Exited(4) => ctx.fail(String::from(
            "reader on the other CPU read the page after munmap returned (stale TLB entry)",
        )),
        WaitStatus::Exited(5) => ctx.fail(String::from("reader never faulted after the unmap")),
        WaitStatus::Exited(6) => ctx.fail(String::from("reader thread never got going")),
        WaitStatus::Exited(c @ 10..=12) => {
            ctx.fail(format!("setup failed ({c}: mmap or sched_setaffinity)"))
        }
        other => ctx.fail(format!("child ended with {other:?}, expected SIGSEGV")),
    }
    Ok(())
}
