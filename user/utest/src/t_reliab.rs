//! Robustness: poll/ppoll, bounded file sizes, affinity of other processes,
//! rlimit errors, and failed copy-outs without side effects.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use weft_rt::abi::fcntl::{AT_FDCWD, O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, O_TRUNC};
use weft_rt::abi::nr;
use weft_rt::abi::poll::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, PollFd};
use weft_rt::abi::resource::RLIMIT_NOFILE;
use weft_rt::abi::signal::SIG_BLOCK;
use weft_rt::abi::uio::IoVec;
use weft_rt::syscall::{ret, syscall6};
use weft_rt::time::Instant;
use weft_rt::{Errno, sys};

use crate::harness::{Ctx, Label, fork_child, wait_child};
use crate::util::*;

/// A raw system call with up to six arguments.
fn sc(n: usize, a: &[usize]) -> Result<usize, Errno> {
    let mut v = [0usize; 6];
    v[..a.len()].copy_from_slice(a);
    // SAFETY: every caller passes pointers that are either valid for the call or
    // deliberately bad (the kernel must refuse them without touching memory).
    ret(unsafe { syscall6(n, v[0], v[1], v[2], v[3], v[4], v[5]) })
}

fn pipe() -> Result<(i32, i32), String> {
    let mut fds = [0i32; 2];
    sc(nr::PIPE2, &[fds.as_mut_ptr() as usize, 0]).label("pipe2")?;
    Ok((fds[0], fds[1]))
}

fn close(fd: i32) {
    let _ = sys::close(fd);
}

fn pfd(fd: i32, events: i16) -> PollFd {
    PollFd {
        fd,
        events,
        revents: 0,
    }
}

fn poll(fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
    sc(
        nr::POLL,
        &[fds.as_mut_ptr() as usize, fds.len(), timeout_ms as usize],
    )
}

/// A scratch directory (removed by the caller's `cleanup`), under /tmp.
fn scratch_dir(tag: &str) -> Result<String, String> {
    let _ = sc(nr::MKDIR, &[c"/tmp".as_ptr() as usize, 0o777]);
    let dir = format!("/tmp/utest-{tag}-{}", sys::getpid());
    let c = cstr(&dir);
    sc(nr::MKDIR, &[c.as_ptr() as usize, 0o755]).label("mkdir scratch")?;
    Ok(dir)
}

fn open(path: &str, flags: u32) -> Result<i32, String> {
    let c = cstr(path);
    sc(
        nr::OPENAT,
        &[
            AT_FDCWD as usize,
            c.as_ptr() as usize,
            flags as usize,
            0o644,
        ],
    )
    .map(|fd| fd as i32)
    .label(&format!("open {path}"))
}

fn unlink(path: &str) {
    let c = cstr(path);
    let _ = sc(nr::UNLINK, &[c.as_ptr() as usize]);
}

fn rmdir(path: &str) {
    let c = cstr(path);
    let _ = sc(nr::RMDIR, &[c.as_ptr() as usize]);
}

fn file_size(fd: i32) -> Result<u64, String> {
    let mut st = [0u8; 144];
    sc(nr::FSTAT, &[fd as usize, st.as_mut_ptr() as usize]).label("fstat")?;
    Ok(u64::from_le_bytes(st[48..56].try_into().unwrap()))
}

pub fn reliab_poll_readiness(ctx: &mut Ctx) -> Result<(), String> {
    let (r, w) = pipe()?;
    // An empty pipe: the write end is writable, the read end not readable.
    let mut f = [pfd(r, POLLIN), pfd(w, POLLOUT)];
    let n = poll(&mut f, 0).label("poll empty pipe")?;
    ctx.check(
        n == 1 && f[0].revents == 0 && f[1].revents == POLLOUT,
        || {
            format!(
                "empty pipe: poll = {n}, revents {:#x} {:#x}",
                f[0].revents, f[1].revents
            )
        },
    );
    // Data makes the read end readable.
    sys::write(w, b"x").label("write")?;
    let mut f = [pfd(r, POLLIN | POLLOUT)];
    let n = poll(&mut f, 0).label("poll after write")?;
    ctx.check(n == 1 && f[0].revents == POLLIN, || {
        format!("after write: poll = {n}, revents {:#x}", f[0].revents)
    });
    let mut b = [0u8; 4];
    sys::read(r, &mut b).label("read")?;
    // Closed write end: POLLHUP (even when not asked for), no POLLIN.
    close(w);
    let mut f = [pfd(r, POLLIN)];
    let n = poll(&mut f, 0).label("poll after close(w)")?;
    ctx.check(n == 1 && f[0].revents == POLLHUP, || {
        format!("writer closed: poll = {n}, revents {:#x}", f[0].revents)
    });
    close(r);
    // Closed read end: the write end reports POLLERR (and is still "writable").
    let (r, w) = pipe()?;
    close(r);
    let mut f = [pfd(w, POLLOUT)];
    let n = poll(&mut f, 0).label("poll after close(r)")?;
    ctx.check(n == 1 && f[0].revents == POLLOUT | POLLERR, || {
        format!("reader closed: poll = {n}, revents {:#x}", f[0].revents)
    });
    close(w);

    // Always-ready files: a regular file, /dev/null, /dev/zero.
    let both = POLLIN | POLLOUT;
    for path in [self_exe(), "/dev/null", "/dev/zero"] {
        let fd = open(path, O_RDONLY)?;
        let mut f = [pfd(fd, both)];
        let n = poll(&mut f, -1).label("poll always-ready")?;
        ctx.check(n == 1 && f[0].revents == both, || {
            format!("{path}: poll = {n}, revents {:#x}", f[0].revents)
        });
        close(fd);
    }
    // Standard descriptors as Rust's std start-up polls them: no POLLNVAL.
    let mut f = [pfd(0, 0), pfd(1, 0), pfd(2, 0)];
    poll(&mut f, 0).label("poll fds 0-2")?;
    ctx.check(f.iter().all(|p| p.revents & POLLNVAL == 0), || {
        format!("fds 0-2 revents {:?}", f.map(|p| p.revents))
    });
    let mut f = [pfd(1, POLLOUT)];
    let n = poll(&mut f, 0).label("poll stdout")?;
    ctx.check(n == 1 && f[0].revents & POLLOUT != 0, || {
        format!("stdout: poll = {n}, revents {:#x}", f[0].revents)
    });

    // Bad and negative descriptors.
    let mut f = [pfd(999, POLLIN), pfd(-1, POLLIN)];
    f[1].revents = 0x7777;
    let n = poll(&mut f, 0).label("poll bad fds")?;
    ctx.check(
        n == 1 && f[0].revents == POLLNVAL && f[1].revents == 0,
        || {
            format!(
                "fd 999 / -1: poll = {n}, revents {:#x} {:#x}",
                f[0].revents, f[1].revents
            )
        },
    );

    // A sleeping poll on two pipes is woken by a write to the second one.
    let (r1, w1) = pipe()?;
    let (r2, w2) = pipe()?;
    let child = fork_child(|| {
        weft_rt::thread::sleep(Duration::from_millis(50));
        if sys::write(w2, b"y").is_ok() { 0 } else { 1 }
    })?;
    let mut f = [pfd(r1, POLLIN), pfd(r2, POLLIN)];
    let n = poll(&mut f, -1).label("blocking poll")?;
    ctx.check(
        n == 1 && f[0].revents == 0 && f[1].revents == POLLIN,
        || {
            format!(
                "woken poll = {n}, revents {:#x} {:#x}",
                f[0].revents, f[1].revents
            )
        },
    );
    wait_child(child, Duration::from_secs(10))?;
    // ppoll without a timeout, woken by the writer's close.
    let child = fork_child(|| {
        weft_rt::thread::sleep(Duration::from_millis(30));
        0
    })?;
    close(w1);
    // The child still holds w1 until it exits.
    let mut f = [pfd(r1, POLLIN)];
    let n = sc(nr::PPOLL, &[f.as_mut_ptr() as usize, 1, 0, 0, 8]).label("ppoll")?;
    ctx.check(n == 1 && f[0].revents == POLLHUP, || {
        format!(
            "ppoll after last writer exit = {n}, revents {:#x}",
            f[0].revents
        )
    });
    wait_child(child, Duration::from_secs(10))?;
    for fd in [r1, r2, w2] {
        close(fd);
    }
    Ok(())
}

pub fn reliab_poll_timeouts_errors(ctx: &mut Ctx) -> Result<(), String> {
    let (r, w) = pipe()?;
    // poll's millisecond timeout.
    let t = Instant::now();
    let mut f = [pfd(r, POLLIN)];
    let n = poll(&mut f, 100).label("poll 100 ms")?;
    let el = t.elapsed();
    ctx.check(n == 0 && el >= Duration::from_millis(100), || {
        format!("poll(100 ms) = {n} after {el:?}")
    });
    // Nothing to poll: a plain sleep.
    let t = Instant::now();
    let n = sc(nr::POLL, &[0, 0, 30]).label("poll nfds 0")?;
    let el = t.elapsed();
    ctx.check(n == 0 && el >= Duration::from_millis(30), || {
        format!("poll(NULL, 0, 30) = {n} after {el:?}")
    });
    // ppoll's timespec, and a signal mask for the call only.
    let mut before = 0u64;
    sc(
        nr::RT_SIGPROCMASK,
        &[SIG_BLOCK as usize, 0, &mut before as *mut u64 as usize, 8],
    )
    .label("rt_sigprocmask")?;
    let ts = [0i64, 50_000_000];
    let mask: u64 = 1 << 9; // SIGUSR1
    let t = Instant::now();
    let n = sc(
        nr::PPOLL,
        &[
            f.as_mut_ptr() as usize,
            1,
            ts.as_ptr() as usize,
            &mask as *const u64 as usize,
            8,
        ],
    )
    .label("ppoll 50 ms")?;
    let el = t.elapsed();
    ctx.check(n == 0 && el >= Duration::from_millis(50), || {
        format!("ppoll(50 ms) = {n} after {el:?}")
    });
    let mut after = 0u64;
    sc(
        nr::RT_SIGPROCMASK,
        &[SIG_BLOCK as usize, 0, &mut after as *mut u64 as usize, 8],
    )
    .label("rt_sigprocmask")?;
    ctx.check(before == after, || {
        format!("ppoll left the signal mask {after:#x} (was {before:#x})")
    });
    // ppoll with a zero timespec does not wait.
    let zero = [0i64, 0];
    let n = sc(
        nr::PPOLL,
        &[f.as_mut_ptr() as usize, 1, zero.as_ptr() as usize, 0, 0],
    )
    .label("ppoll 0")?;
    ctx.check(n == 0, || format!("ppoll(0) = {n}"));

    // Errors.
    let expect = |ctx: &mut Ctx, what: &str, r: Result<usize, Errno>, e: Errno| {
        ctx.check(r == Err(e), || format!("{what}: {r:?}, expected {e:?}"));
    };
    // PROT_NONE: stays bad whatever the allocator maps meanwhile.
    let hole = prot_none_page()?;
    for bad in [hole, KERNEL_ADDR, NONCANONICAL_ADDR] {
        expect(
            ctx,
            "poll(bad fds)",
            sc(nr::POLL, &[bad, 1, 0]),
            Errno::EFAULT,
        );
        expect(
            ctx,
            "ppoll(bad fds)",
            sc(nr::PPOLL, &[bad, 1, zero.as_ptr() as usize, 0, 0]),
            Errno::EFAULT,
        );
        expect(
            ctx,
            "ppoll(bad timespec)",
            sc(nr::PPOLL, &[f.as_mut_ptr() as usize, 1, bad, 0, 0]),
            Errno::EFAULT,
        );
        expect(
            ctx,
            "ppoll(bad sigmask)",
            sc(
                nr::PPOLL,
                &[f.as_mut_ptr() as usize, 1, zero.as_ptr() as usize, bad, 8],
            ),
            Errno::EFAULT,
        );
    }
    let bad_ts = [0i64, 1_000_000_000];
    expect(
        ctx,
        "ppoll(tv_nsec 1e9)",
        sc(
            nr::PPOLL,
            &[f.as_mut_ptr() as usize, 1, bad_ts.as_ptr() as usize, 0, 0],
        ),
        Errno::EINVAL,
    );
    expect(
        ctx,
        "ppoll(sigsetsize 4)",
        sc(
            nr::PPOLL,
            &[
                f.as_mut_ptr() as usize,
                1,
                zero.as_ptr() as usize,
                &mask as *const u64 as usize,
                4,
            ],
        ),
        Errno::EINVAL,
    );
    let lim = sys::getrlimit(RLIMIT_NOFILE).label("getrlimit")?;
    expect(
        ctx,
        "poll(nfds > RLIMIT_NOFILE)",
        sc(
            nr::POLL,
            &[f.as_mut_ptr() as usize, lim.rlim_cur as usize + 1, 0],
        ),
        Errno::EINVAL,
    );
    close(r);
    close(w);
    ctx.note("EINTR needs a signal handler: not tested");
    Ok(())
}

pub fn reliab_file_size_limit(ctx: &mut Ctx) -> Result<(), String> {
    let dir = scratch_dir("fsize")?;
    let path = format!("{dir}/f");
    let res = (|| -> Result<(), String> {
        let fd = open(&path, O_CREAT | O_RDWR | O_TRUNC)?;
        sys::write(fd, b"hello").label("write")?;
        // A far offset (128 TiB - 4 KiB): EFBIG where the file system cannot
        // hold it (Weft's ramfs, ext4), or a sparse file (tmpfs). Never a crash.
        let far: usize = 0x7fff_ffff_f000;
        let r = sc(nr::PWRITE64, &[fd as usize, b"x".as_ptr() as usize, 1, far]);
        let size = file_size(fd)?;
        match r {
            Err(Errno::EFBIG) => {
                ctx.check(size == 5, || {
                    format!("EFBIG pwrite changed the size to {size}")
                });
            }
            Ok(1) if !is_weft() => {
                ctx.check(size == far as u64 + 1, || {
                    format!("size {size} after far pwrite")
                });
            }
            other => ctx.fail(format!("pwrite at {far:#x}: {other:?}")),
        }
        let mut b = [0u8; 5];
        let n = sc(nr::PREAD64, &[fd as usize, b.as_mut_ptr() as usize, 5, 0]).label("pread")?;
        ctx.check(n == 5 && &b == b"hello", || {
            format!("data after far pwrite: {n} {:?}", &b[..n])
        });
        // The same through lseek + write (ext4 already refuses the lseek).
        match sc(nr::LSEEK, &[fd as usize, far, 0]) {
            Ok(_) => {
                let r = sc(nr::WRITE, &[fd as usize, b"y".as_ptr() as usize, 1]);
                ctx.check(r == Err(Errno::EFBIG) || (!is_weft() && r == Ok(1)), || {
                    format!("write at {far:#x}: {r:?}")
                });
            }
            Err(Errno::EINVAL) if !is_weft() => {}
            Err(e) => ctx.fail(format!("lseek to {far:#x}: {e:?}")),
        }
        // A 1 MiB write is one call (Weft moves it in 64 KiB pieces).
        close(fd);
        let fd = open(&path, O_CREAT | O_RDWR | O_TRUNC)?;
        let big: Vec<u8> = (0..1usize << 20)
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        let n =
            sc(nr::WRITE, &[fd as usize, big.as_ptr() as usize, big.len()]).label("write 1 MiB")?;
        ctx.check(n == big.len(), || format!("write of 1 MiB returned {n}"));
        let size = file_size(fd)?;
        ctx.check(size == n as u64, || {
            format!("size {size} after writing {n}")
        });
        let n = sc(
            nr::PWRITE64,
            &[fd as usize, big.as_ptr() as usize, big.len(), 4096],
        )
        .label("pwrite 1 MiB")?;
        ctx.check(n == big.len(), || format!("pwrite of 1 MiB returned {n}"));
        let mut back = vec![0u8; 4096];
        for off in [0usize, 65536 * 3 + 17, (1 << 20) - 4096] {
            let n = sc(
                nr::PREAD64,
                &[fd as usize, back.as_mut_ptr() as usize, 4096, off + 4096],
            )
            .label("pread back")?;
            ctx.check(n == 4096 && back[..] == big[off..off + 4096], || {
                format!("bytes at {} differ after the 1 MiB pwrite", off + 4096)
            });
        }
        close(fd);
        Ok(())
    })();
    unlink(&path);
    rmdir(&dir);
    res
}

pub fn reliab_affinity_other_process(ctx: &mut Ctx) -> Result<(), String> {
    let (r, w) = pipe()?;
    let child = fork_child(|| {
        close(w);
        let mut b = [0u8; 1];
        let _ = sys::read(r, &mut b);
        0
    })?;
    close(r);
    let res = (|| -> Result<(), String> {
        let set = sys::sched_getaffinity(child).label("sched_getaffinity(child)")?;
        ctx.check(set.count() > 0, || {
            String::from("child's affinity is empty")
        });
        let r = sys::sched_setaffinity(child, &set);
        ctx.check(r.is_ok(), || format!("sched_setaffinity(child): {r:?}"));
        let none = 0x3fff_fff0;
        let r = sys::sched_getaffinity(none);
        ctx.check(r.as_ref().err() == Some(&Errno::ESRCH), || {
            format!("sched_getaffinity({none}): {:?}", r.map(|s| s.count()))
        });
        let r = sys::sched_setaffinity(none, &set);
        ctx.check(r == Err(Errno::ESRCH), || {
            format!("sched_setaffinity({none}): {r:?}")
        });
        Ok(())
    })();
    close(w);
    wait_child(child, Duration::from_secs(10))?;
    res
}

pub fn reliab_rlimit_errors(ctx: &mut Ctx) -> Result<(), String> {
    // PROT_NONE: stays bad whatever the allocator maps meanwhile.
    let hole = prot_none_page()?;
    let nofile = RLIMIT_NOFILE as usize;
    let mut buf = [0u64; 2];
    let good = buf.as_mut_ptr() as usize;
    let cases: [(&str, usize, &[usize], Errno); 7] = [
        (
            "getrlimit(NOFILE, NULL)",
            nr::GETRLIMIT,
            &[nofile, 0],
            Errno::EFAULT,
        ),
        (
            "getrlimit(NOFILE, bad)",
            nr::GETRLIMIT,
            &[nofile, hole],
            Errno::EFAULT,
        ),
        (
            "getrlimit(100, buf)",
            nr::GETRLIMIT,
            &[100, good],
            Errno::EINVAL,
        ),
        (
            "prlimit64(NOFILE, NULL, bad)",
            nr::PRLIMIT64,
            &[0, nofile, 0, hole],
            Errno::EFAULT,
        ),
        (
            "prlimit64(NOFILE, bad, NULL)",
            nr::PRLIMIT64,
            &[0, nofile, hole, 0],
            Errno::EFAULT,
        ),
        (
            "prlimit64(NOFILE, kernel, NULL)",
            nr::PRLIMIT64,
            &[0, nofile, KERNEL_ADDR, 0],
            Errno::EFAULT,
        ),
        (
            "prlimit64(100, NULL, buf)",
            nr::PRLIMIT64,
            &[0, 100, 0, good],
            Errno::EINVAL,
        ),
    ];
    for (what, n, args, want) in cases {
        let r = sc(n, args);
        ctx.check(r == Err(want), || {
            format!("{what}: {r:?}, expected {want:?}")
        });
    }
    let r = sc(nr::PRLIMIT64, &[0, nofile, 0, good]);
    ctx.check(r == Ok(0) && buf[0] > 0 && buf[0] <= buf[1], || {
        format!("prlimit64(NOFILE, NULL, buf): {r:?} {buf:?}")
    });
    Ok(())
}

/// linux_dirent64 names in `buf[..n]`.
fn dirent_names(buf: &[u8], out: &mut Vec<Vec<u8>>) {
    let mut off = 0;
    while off + 19 <= buf.len() {
        let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
        if reclen == 0 {
            break;
        }
        let name = &buf[off + 19..off + reclen];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.push(name[..end].to_vec());
        off += reclen;
    }
}

pub fn reliab_failed_copyout(ctx: &mut Ctx) -> Result<(), String> {
    // PROT_NONE: stays bad whatever the allocator maps meanwhile.
    let hole = prot_none_page()?;
    // A pipe read into a bad buffer keeps the data.
    let (r, w) = pipe()?;
    sys::write(w, b"abc").label("write")?;
    // Without a writer, lost bytes show as end of file instead of a hang.
    close(w);
    let e = sc(nr::READ, &[r as usize, hole, 3]);
    ctx.check(e == Err(Errno::EFAULT), || {
        format!("read(pipe, bad): {e:?}")
    });
    let iov = [IoVec {
        iov_base: hole as u64,
        iov_len: 3,
    }];
    let e = sc(nr::READV, &[r as usize, iov.as_ptr() as usize, 1]);
    ctx.check(e == Err(Errno::EFAULT), || {
        format!("readv(pipe, bad): {e:?}")
    });
    let mut b = [0u8; 8];
    let n = sys::read(r, &mut b).label("read(pipe)")?;
    ctx.check(&b[..n] == b"abc", || {
        format!("pipe data after failed reads: {:?}", &b[..n])
    });
    close(r);

    let dir = scratch_dir("copyout")?;
    let names: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
    let res = (|| -> Result<(), String> {
        // A regular-file read into a bad buffer does not move the offset.
        let fd = open(&format!("{dir}/{}", names[0]), O_CREAT | O_RDWR | O_TRUNC)?;
        sys::write(fd, b"0123456789").label("write file")?;
        sc(nr::LSEEK, &[fd as usize, 0, 0]).label("lseek")?;
        let e = sc(nr::READ, &[fd as usize, hole, 4]);
        ctx.check(e == Err(Errno::EFAULT), || {
            format!("read(file, bad): {e:?}")
        });
        let pos = sc(nr::LSEEK, &[fd as usize, 0, 1]).label("lseek cur")?;
        ctx.check(pos == 0, || format!("offset {pos} after a failed read"));
        let n = sys::read(fd, &mut b[..4]).label("read file")?;
        ctx.check(&b[..n] == b"0123", || {
            format!("file read after failure: {:?}", &b[..n])
        });
        close(fd);
        for n in &names[1..] {
            close(open(&format!("{dir}/{n}"), O_CREAT | O_RDWR)?);
        }
        // getdents64: too small, bad buffer, then everything still listed.
        let d = open(&dir, O_RDONLY | O_DIRECTORY)?;
        let mut small = [0u8; 8];
        let e = sc(
            nr::GETDENTS64,
            &[d as usize, small.as_mut_ptr() as usize, small.len()],
        );
        ctx.check(e == Err(Errno::EINVAL), || {
            format!("getdents64(8 bytes): {e:?}")
        });
        let mut seen = Vec::new();
        let mut one = [0u8; 30];
        let n = sc(
            nr::GETDENTS64,
            &[d as usize, one.as_mut_ptr() as usize, one.len()],
        )
        .label("getdents64(one)")?;
        dirent_names(&one[..n], &mut seen);
        let e = sc(nr::GETDENTS64, &[d as usize, hole, 4096]);
        ctx.check(e == Err(Errno::EFAULT), || {
            format!("getdents64(bad): {e:?}")
        });
        let mut big = vec![0u8; 4096];
        for _ in 0..64 {
            let e = sc(nr::GETDENTS64, &[d as usize, hole, 4096]);
            ctx.check(e == Err(Errno::EFAULT) || e == Ok(0), || {
                format!("getdents64(bad) mid-listing: {e:?}")
            });
            let n = sc(
                nr::GETDENTS64,
                &[d as usize, one.as_mut_ptr() as usize, one.len()],
            )
            .label("getdents64")?;
            if n == 0 {
                break;
            }
            dirent_names(&one[..n], &mut seen);
        }
        let n = sc(
            nr::GETDENTS64,
            &[d as usize, big.as_mut_ptr() as usize, big.len()],
        )
        .label("getdents64 at end")?;
        ctx.check(n == 0, || format!("getdents64 at the end gave {n} bytes"));
        close(d);
        let mut want: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        want.push(b".".to_vec());
        want.push(b"..".to_vec());
        want.sort();
        seen.sort();
        ctx.check(seen == want, || {
            format!(
                "listed {:?}",
                seen.iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
            )
        });
        Ok(())
    })();
    for n in &names {
        unlink(&format!("{dir}/{n}"));
    }
    rmdir(&dir);
    res
}
