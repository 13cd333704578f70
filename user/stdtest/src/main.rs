//! `stdtest`: Rust std on Weft (x86_64-unknown-linux-musl, std's own runtime).
//!
//! ```text
//! stdtest --list        print the subtest names, one a line
//! stdtest NAME          run subtest NAME: exit 0 on success; on failure one line
//!                       `stdtest NAME: FAIL: ...` on stderr and exit status 1
//! stdtest --overflow    internal: a thread that recurses without end (stack_overflow)
//! stdtest --echo ARG..  internal: prints its arguments (command)
//! stdtest --cat         internal: copies stdin to stdout (command)
//! stdtest --exit N      internal: exits with status N (command)
//! ```
//!
//! A watchdog thread ends a subtest that runs longer than its time limit. Child
//! processes are found through `argv[0]` (`/proc/self/exe` does not exist on Weft),
//! falling back to `/bin/stdtest`.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

type TestResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

const SIGSEGV: i32 = 11;
const SIGABRT: i32 = 6;

/// This program's path: `argv[0]` if it names a file, else `/bin/stdtest`.
fn self_exe() -> PathBuf {
    let arg0 = std::env::args_os().next().map(PathBuf::from);
    match arg0 {
        Some(p) if p.components().count() > 1 && p.exists() => p,
        _ => PathBuf::from("/bin/stdtest"),
    }
}

/// Waits for `child` at most `limit`; kills it on timeout.
fn wait_limit(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Ok(st),
            Ok(None) => {}
            Err(e) => return Err(format!("try_wait: {e}")),
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("child still running after {limit:?}: killed"));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` to completion (bounded) and returns its status, stdout and stderr.
fn run_output(cmd: &mut Command, limit: Duration) -> Result<(ExitStatus, String, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut err = child.stderr.take().ok_or("no stderr pipe")?;
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let st = wait_limit(&mut child, limit)?;
    let so = t_out.join().map_err(|_| "stdout reader panicked")?;
    let se = t_err.join().map_err(|_| "stderr reader panicked")?;
    Ok((st, so, se))
}

fn threads() -> TestResult {
    let handles: Vec<_> = (0..64u64)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    let name = thread::current().name().map(str::to_owned);
                    (i * i, thread::current().id(), name)
                })
                .map_err(|e| format!("spawn {i}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut ids = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (v, id, name) = h.join().map_err(|_| format!("thread {i} panicked"))?;
        ensure!(v == (i * i) as u64, "thread {i} returned {v}");
        ensure!(
            name.as_deref() == Some(format!("worker-{i}").as_str()),
            "thread {i} name {name:?}"
        );
        ids.push(id);
    }
    let n = ids.len();
    ids.sort_by_key(|id| format!("{id:?}"));
    ids.dedup();
    ensure!(ids.len() == n, "thread ids not distinct");
    // Many short-lived threads in waves.
    let total = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let t = Arc::clone(&total);
                thread::spawn(move || t.fetch_add(1, SeqCst))
            })
            .collect();
        for h in hs {
            h.join().map_err(|_| "wave thread panicked")?;
        }
    }
    ensure!(
        total.load(SeqCst) == 200,
        "{} of 200 wave threads ran",
        total.load(SeqCst)
    );
    ensure!(
        thread::available_parallelism().is_ok(),
        "available_parallelism failed"
    );
    Ok(())
}

fn mutex_condvar() -> TestResult {
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                for _ in 0..10_000 {
                    *m.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.join().map_err(|_| "adder panicked")?;
    }
    let v = *m.lock().unwrap();
    ensure!(v == 80_000, "mutex counter {v}, expected 80000");
    // A bounded queue with two condition variables.
    let q = Arc::new((
        Mutex::new(Vec::<u32>::new()),
        Condvar::new(),
        Condvar::new(),
    ));
    let prod = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            for i in 0..5000 {
                let (l, not_empty, not_full) = &*q;
                let mut g = l.lock().unwrap();
                while g.len() >= 4 {
                    g = not_full.wait(g).unwrap();
                }
                g.push(i);
                not_empty.notify_one();
            }
        })
    };
    let mut next = 0u32;
    while next < 5000 {
        let (l, not_empty, not_full) = &*q;
        let mut g = l.lock().unwrap();
        while g.is_empty() {
            g = not_empty.wait(g).unwrap();
        }
        for v in g.drain(..) {
            ensure!(v == next, "consumer got {v}, expected {next}");
            next += 1;
        }
        not_full.notify_one();
    }
    prod.join().map_err(|_| "producer panicked")?;
    // wait_timeout times out.
    let (l, c, _) = &*q;
    let t0 = Instant::now();
    let (_g, r) = c
        .wait_timeout(l.lock().unwrap(), Duration::from_millis(100))
        .unwrap();
    ensure!(r.timed_out(), "wait_timeout did not time out");
    ensure!(
        t0.elapsed() >= Duration::from_millis(90),
        "wait_timeout(100 ms) after {:?}",
        t0.elapsed()
    );
    // notify_all wakes every waiter.
    let state = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let s = Arc::clone(&state);
            thread::spawn(move || {
                let (l, c) = &*s;
                let mut g = l.lock().unwrap();
                g.1 += 1;
                while !g.0 {
                    g = c.wait(g).unwrap();
                }
            })
        })
        .collect();
    let (l, c) = &*state;
    let deadline = Instant::now() + Duration::from_secs(10);
    while l.lock().unwrap().1 < 8 {
        ensure!(Instant::now() < deadline, "waiters did not start");
        thread::sleep(Duration::from_millis(1));
    }
    l.lock().unwrap().0 = true;
    c.notify_all();
    for h in hs {
        h.join().map_err(|_| "waiter panicked")?;
    }
    Ok(())
}

fn mpsc() -> TestResult {
    let (tx, rx) = mpsc::channel::<(usize, usize)>();
    let hs: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    tx.send((p, i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0usize; 4];
    let mut n = 0;
    while let Ok((p, i)) = rx.recv_timeout(Duration::from_secs(20)) {
        ensure!(
            i == next[p],
            "from producer {p}: message {i}, expected {}",
            next[p]
        );
        next[p] += 1;
        n += 1;
    }
    ensure!(n == 4000, "received {n} of 4000 messages");
    for h in hs {
        h.join().map_err(|_| "producer panicked")?;
    }
    ensure!(
        rx.recv().is_err(),
        "recv after every sender dropped did not fail"
    );
    // Rendezvous channel.
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let h = thread::spawn(move || (0..100).map(|_| rx.recv().unwrap()).sum::<u32>());
    for i in 0..100 {
        tx.send(i).map_err(|e| format!("sync send: {e}"))?;
    }
    let s = h.join().map_err(|_| "receiver panicked")?;
    ensure!(s == 4950, "rendezvous sum {s}");
    ensure!(
        tx.send(1).is_err(),
        "send to a dropped receiver did not fail"
    );
    // recv_timeout times out.
    let (_tx, rx) = mpsc::channel::<u32>();
    let t0 = Instant::now();
    ensure!(
        matches!(
            rx.recv_timeout(Duration::from_millis(100)),
            Err(mpsc::RecvTimeoutError::Timeout)
        ),
        "recv_timeout did not time out"
    );
    ensure!(
        t0.elapsed() >= Duration::from_millis(90),
        "recv_timeout(100 ms) after {:?}",
        t0.elapsed()
    );
    Ok(())
}

fn barrier() -> TestResult {
    const N: usize = 8;
    const ROUNDS: usize = 20;
    let b = Arc::new(Barrier::new(N));
    let count = Arc::new(AtomicUsize::new(0));
    let leaders = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let (b, count, leaders, bad) = (b.clone(), count.clone(), leaders.clone(), bad.clone());
            thread::spawn(move || {
                for r in 0..ROUNDS {
                    count.fetch_add(1, SeqCst);
                    if b.wait().is_leader() {
                        leaders.fetch_add(1, SeqCst);
                    }
                    // Everyone of this round has arrived.
                    if count.load(SeqCst) < (r + 1) * N {
                        bad.store(true, SeqCst);
                    }
                    b.wait();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().map_err(|_| "barrier thread panicked")?;
    }
    ensure!(
        !bad.load(SeqCst),
        "a thread passed the barrier before all arrived"
    );
    ensure!(
        leaders.load(SeqCst) == ROUNDS,
        "{} leaders in {ROUNDS} rounds",
        leaders.load(SeqCst)
    );
    Ok(())
}

fn rwlock() -> TestResult {
    let l = Arc::new(RwLock::new(0u64));
    // Readers share: four readers hold the lock at once.
    let holding = Arc::new(AtomicUsize::new(0));
    let all_seen = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let (l, holding, all_seen) = (l.clone(), holding.clone(), all_seen.clone());
            thread::spawn(move || {
                let _g = l.read().unwrap();
                holding.fetch_add(1, SeqCst);
                let deadline = Instant::now() + Duration::from_secs(10);
                while holding.load(SeqCst) < 4 && Instant::now() < deadline {
                    thread::yield_now();
                }
                if holding.load(SeqCst) == 4 {
                    all_seen.store(true, SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().map_err(|_| "reader panicked")?;
    }
    ensure!(
        all_seen.load(SeqCst),
        "four readers never held the read lock at once"
    );
    // Writers exclude readers and each other.
    let inside = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..6)
        .map(|i| {
            let (l, inside, bad) = (l.clone(), inside.clone(), bad.clone());
            thread::spawn(move || {
                for _ in 0..2000 {
                    if i % 2 == 0 {
                        let mut g = l.write().unwrap();
                        if inside.fetch_add(1, SeqCst) != 0 {
                            bad.store(true, SeqCst);
                        }
                        *g += 1;
                        inside.fetch_sub(1, SeqCst);
                    } else {
                        let g = l.read().unwrap();
                        let a = *g;
                        thread::yield_now();
                        if *g != a {
                            bad.store(true, SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().map_err(|_| "rwlock thread panicked")?;
    }
    ensure!(
        !bad.load(SeqCst),
        "a writer overlapped another writer or a reader"
    );
    let v = *l.read().unwrap();
    ensure!(v == 6000, "counter {v}, expected 6000");
    Ok(())
}

fn scoped() -> TestResult {
    let mut data: Vec<u64> = (0..10_000).collect();
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for chunk in data.chunks_mut(1000) {
            let total = &total;
            s.spawn(move || {
                for v in chunk.iter_mut() {
                    *v *= 2;
                }
                total.fetch_add(chunk.len(), SeqCst);
            });
        }
    });
    ensure!(
        total.load(SeqCst) == 10_000,
        "scoped threads did {} items",
        total.load(SeqCst)
    );
    ensure!(
        data.iter().enumerate().all(|(i, &v)| v == 2 * i as u64),
        "scoped threads did not double every item"
    );
    let r = thread::scope(|s| s.spawn(|| data.iter().sum::<u64>()).join());
    ensure!(
        r.as_ref().ok() == Some(&99_990_000),
        "scoped sum {:?}",
        r.as_ref().ok()
    );
    Ok(())
}

fn park_unpark() -> TestResult {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let h = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f.load(SeqCst) && Instant::now() < deadline {
            thread::park();
        }
        f.load(SeqCst)
    });
    thread::sleep(Duration::from_millis(100));
    flag.store(true, SeqCst);
    h.thread().unpark();
    ensure!(
        h.join().map_err(|_| "parked thread panicked")?,
        "parked thread never saw the flag"
    );
    // An unpark before park is a token: park returns at once.
    thread::current().unpark();
    let t0 = Instant::now();
    thread::park();
    ensure!(
        t0.elapsed() < Duration::from_secs(5),
        "park with a token blocked for {:?}",
        t0.elapsed()
    );
    // park_timeout returns after about the timeout.
    let t0 = Instant::now();
    thread::park_timeout(Duration::from_millis(100));
    let dt = t0.elapsed();
    ensure!(
        dt < Duration::from_secs(5),
        "park_timeout(100 ms) took {dt:?}"
    );
    // Ping-pong.
    let main = thread::current();
    let turn = Arc::new(AtomicUsize::new(0));
    let t2 = turn.clone();
    let h = thread::spawn(move || {
        for i in 0..200 {
            while t2.load(SeqCst) != 2 * i + 1 {
                thread::park_timeout(Duration::from_millis(50));
            }
            t2.store(2 * i + 2, SeqCst);
            main.unpark();
        }
    });
    for i in 0..200 {
        turn.store(2 * i + 1, SeqCst);
        h.thread().unpark();
        let deadline = Instant::now() + Duration::from_secs(20);
        while turn.load(SeqCst) != 2 * i + 2 {
            ensure!(Instant::now() < deadline, "ping-pong stuck at round {i}");
            thread::park_timeout(Duration::from_millis(50));
        }
    }
    h.join().map_err(|_| "ping-pong thread panicked")?;
    Ok(())
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

struct Tracked(usize);

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(self.0, SeqCst);
    }
}

thread_local! {
    static TRACKED: std::cell::RefCell<Option<Tracked>> = const { std::cell::RefCell::new(None) };
    static COUNTER: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn tls_destructors() -> TestResult {
    let hs: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || {
                TRACKED.with(|t| *t.borrow_mut() = Some(Tracked(1)));
                for _ in 0..=i {
                    COUNTER.with(|c| c.set(c.get() + 1));
                }
                COUNTER.with(|c| c.get())
            })
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        let c = h.join().map_err(|_| "tls thread panicked")?;
        ensure!(
            c == i as u32 + 1,
            "thread {i}: thread-local counter {c}, expected {}",
            i + 1
        );
    }
    ensure!(
        DROPS.load(SeqCst) == 10,
        "{} of 10 thread-local destructors ran",
        DROPS.load(SeqCst)
    );
    ensure!(
        COUNTER.with(|c| c.get()) == 0,
        "the main thread's thread-local changed"
    );
    // A thread that never touches the key runs no destructor.
    thread::spawn(|| COUNTER.with(|c| c.set(5)))
        .join()
        .map_err(|_| "panicked")?;
    ensure!(
        DROPS.load(SeqCst) == 10,
        "a destructor ran for an untouched thread-local"
    );
    Ok(())
}

fn fs_test() -> TestResult {
    let dir = PathBuf::from(format!("/tmp/weft-stdtest-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("create_dir_all {}: {e}", dir.display()))?;
    let a = dir.join("a.txt");
    let b = dir.join("b.txt");
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&a, &body).map_err(|e| format!("write: {e}"))?;
    let back = fs::read(&a).map_err(|e| format!("read: {e}"))?;
    ensure!(
        back == body,
        "read back {} bytes differing from the {} written",
        back.len(),
        body.len()
    );
    {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&a)
            .map_err(|e| format!("open append: {e}"))?;
        f.write_all(b"tail").map_err(|e| format!("append: {e}"))?;
    }
    let len = fs::metadata(&a)
        .map_err(|e| format!("metadata: {e}"))?
        .len();
    ensure!(len == body.len() as u64 + 4, "length after append {len}");
    fs::rename(&a, &b).map_err(|e| format!("rename: {e}"))?;
    ensure!(
        !a.exists() && b.exists(),
        "rename: old exists {} new exists {}",
        a.exists(),
        b.exists()
    );
    let names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("read_dir: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    ensure!(names == ["b.txt"], "read_dir lists {names:?}");
    let s = fs::read(&b).map_err(|e| format!("read renamed: {e}"))?;
    ensure!(
        s.ends_with(b"tail") && s.len() == body.len() + 4,
        "renamed file contents wrong"
    );
    fs::remove_file(&b).map_err(|e| format!("remove_file: {e}"))?;
    ensure!(!b.exists(), "file exists after remove_file");
    ensure!(fs::read(&b).is_err(), "read of a removed file succeeded");
    fs::remove_dir(&dir).map_err(|e| format!("remove_dir: {e}"))?;
    ensure!(
        !Path::new(&dir).exists(),
        "directory exists after remove_dir"
    );
    Ok(())
}

fn panic_join() -> TestResult {
    let h = thread::Builder::new()
        .name("panicker".into())
        .spawn(|| -> u32 { panic!("boom {}", 42) })
        .map_err(|e| format!("spawn: {e}"))?;
    let r = h.join();
    let payload = match r {
        Ok(v) => return Err(format!("join of a panicking thread returned Ok({v})")),
        Err(p) => p,
    };
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
    println!("stdtest panic_join: the thread's panic message: {msg:?}");
    ensure!(
        msg.as_deref() == Some("boom 42"),
        "panic payload {msg:?}, expected \"boom 42\""
    );
    // The process goes on: threads still work, and catch_unwind works on this thread.
    let r = std::panic::catch_unwind(|| panic!("caught here"));
    ensure!(r.is_err(), "catch_unwind did not catch");
    let v = thread::spawn(|| 7)
        .join()
        .map_err(|_| "thread after the panic failed")?;
    ensure!(v == 7, "thread after the panic returned {v}");
    Ok(())
}

fn overflow_child() -> i32 {
    fn recurse(n: u64, buf: &mut [u8; 1024]) -> u64 {
        let mut local = [0u8; 1024];
        if n == u64::MAX {
            return 0;
        }
        local[(n % 1024) as usize] = buf[(n % 1024) as usize].wrapping_add(1);
        std::hint::black_box(&mut local);
        recurse(n + 1, &mut local) + local[0] as u64
    }
    let h = thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| recurse(0, &mut [0u8; 1024]))
        .expect("spawn");
    let _ = h.join();
    eprintln!("stdtest --overflow: the thread returned");
    3
}

fn stack_overflow() -> TestResult {
    let exe = self_exe();
    let (st, _out, err) = run_output(
        Command::new(&exe).arg("--overflow"),
        Duration::from_secs(60),
    )?;
    let sig = st.signal();
    ensure!(
        sig == Some(SIGSEGV) || sig == Some(SIGABRT),
        "{} --overflow ended with {st:?}, expected death by SIGSEGV or SIGABRT; stderr: {err:?}",
        exe.display()
    );
    ensure!(
        err.contains("has overflowed its stack"),
        "stderr lacks std's \"has overflowed its stack\": {err:?}"
    );
    Ok(())
}

fn command() -> TestResult {
    let exe = self_exe();
    // Arguments through execve, stdout through a pipe.
    let (st, out, _) = run_output(
        Command::new(&exe).args(["--echo", "hello", "two words"]),
        Duration::from_secs(30),
    )?;
    ensure!(st.success(), "--echo: {st:?}");
    ensure!(out == "hello\ntwo words\n", "--echo printed {out:?}");
    // Exit status.
    let (st, _, _) = run_output(
        Command::new(&exe).args(["--exit", "3"]),
        Duration::from_secs(30),
    )?;
    ensure!(st.code() == Some(3), "--exit 3: {st:?}");
    // stdin through a pipe.
    let mut child = Command::new(&exe)
        .arg("--cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn --cat: {e}"))?;
    let mut sin = child.stdin.take().ok_or("no stdin pipe")?;
    let mut sout = child.stdout.take().ok_or("no stdout pipe")?;
    let writer = thread::spawn(move || {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        sin.write_all(&data).map(|_| data)
    });
    let mut got = Vec::new();
    sout.read_to_end(&mut got)
        .map_err(|e| format!("read --cat output: {e}"))?;
    let data = writer
        .join()
        .map_err(|_| "writer panicked")?
        .map_err(|e| format!("write: {e}"))?;
    let st = wait_limit(&mut child, Duration::from_secs(30))?;
    ensure!(st.success(), "--cat: {st:?}");
    ensure!(
        got == data,
        "--cat returned {} bytes, {} sent",
        got.len(),
        data.len()
    );
    // The environment is passed.
    let (_, out, _) = run_output(
        Command::new(&exe)
            .args(["--echo-env", "WEFT_STDTEST"])
            .env("WEFT_STDTEST", "value-42"),
        Duration::from_secs(30),
    )?;
    ensure!(out == "value-42\n", "--echo-env printed {out:?}");
    // sigtest --list, when sigtest is next to us.
    let sigtest = exe.with_file_name("sigtest");
    if sigtest.exists() {
        let (st, out, _) = run_output(
            Command::new(&sigtest).arg("--list"),
            Duration::from_secs(30),
        )?;
        ensure!(st.success(), "{} --list: {st:?}", sigtest.display());
        ensure!(
            out.lines().any(|l| l == "handler_siginfo"),
            "sigtest --list output lacks handler_siginfo: {out:?}"
        );
    } else {
        println!(
            "stdtest command: note: no {} (skipped that part)",
            sigtest.display()
        );
    }
    // A missing program is a spawn error, not a crash.
    ensure!(
        Command::new("/nonexistent/prog").spawn().is_err(),
        "spawn of a missing program succeeded"
    );
    Ok(())
}

type TestFn = fn() -> TestResult;

const TESTS: &[(&str, TestFn, u64)] = &[
    ("threads", threads, 60),
    ("mutex_condvar", mutex_condvar, 60),
    ("mpsc", mpsc, 60),
    ("barrier", barrier, 60),
    ("rwlock", rwlock, 60),
    ("scoped", scoped, 60),
    ("park_unpark", park_unpark, 60),
    ("tls_destructors", tls_destructors, 60),
    ("fs", fs_test, 60),
    ("panic_join", panic_join, 60),
    ("stack_overflow", stack_overflow, 90),
    ("command", command, 90),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("--list") => {
            for (name, _, _) in TESTS {
                println!("{name}");
            }
            0
        }
        Some("--overflow") => overflow_child(),
        Some("--echo") => {
            for a in &args[2..] {
                println!("{a}");
            }
            0
        }
        Some("--echo-env") => {
            println!(
                "{}",
                args.get(2)
                    .and_then(std::env::var_os)
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            0
        }
        Some("--cat") => {
            let mut buf = Vec::new();
            let ok = std::io::stdin().read_to_end(&mut buf).is_ok()
                && std::io::stdout().write_all(&buf).is_ok();
            if ok { 0 } else { 1 }
        }
        Some("--exit") => args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1),
        Some(name) => match TESTS.iter().find(|t| t.0 == name) {
            Some(&(name, f, limit)) => run_one(name, f, limit),
            None => {
                eprintln!("stdtest: unknown subtest '{name}' (stdtest --list)");
                2
            }
        },
        None => {
            eprintln!("usage: stdtest --list | stdtest NAME");
            2
        }
    };
    std::process::exit(code);
}

fn run_one(name: &'static str, f: TestFn, limit: u64) -> i32 {
    // The watchdog: a hung subtest fails instead of hanging its caller.
    thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            thread::sleep(Duration::from_secs(limit));
            eprintln!("stdtest {name}: FAIL: timed out after {limit} s");
            std::process::exit(1);
        })
        .expect("watchdog thread");
    let _ = HashMap::<u8, u8>::new(); // std's hashing (getrandom) works
    match f() {
        Ok(()) => {
            println!("stdtest {name}: ok");
            0
        }
        Err(e) => {
            eprintln!("stdtest {name}: FAIL: {e}");
            1
        }
    }
}
