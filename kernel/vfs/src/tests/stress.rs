//! Many threads on one table, one pipe, one file, one tree.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use weft_abi::fcntl::*;

use super::*;

const THREADS: usize = 4;

/// Threads allocate, dup, dup2, fcntl-dup and close descriptors on one shared
/// table while others look them up. An ownership array records which thread
/// holds each descriptor: taking an fd another thread holds (a double
/// allocation) or finding someone else's file behind one's own fd fails.
#[test]
fn fd_table_hammer() {
    let vfs = Vfs::new();
    let root = vfs.root();
    let table = Arc::new(FdTable::with_limit(512));
    let owners: Arc<Vec<AtomicUsize>> = Arc::new((0..512).map(|_| AtomicUsize::new(0)).collect());
    let files: Vec<Arc<File>> = (0..THREADS)
        .map(|i| {
            vfs.open(&root, format!("/f{i}").as_bytes(), O_RDWR | O_CREAT, 0o644)
                .unwrap()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(THREADS + 1));

    let claim = |owners: &[AtomicUsize], fd: i32, me: usize| {
        let prev = owners[fd as usize].swap(me, Ordering::SeqCst);
        assert_eq!(
            prev,
            0,
            "fd {fd} handed to thread {me} while thread {} holds it",
            prev.wrapping_sub(1)
        );
    };
    let release = |owners: &[AtomicUsize], fd: i32, me: usize| {
        assert_eq!(owners[fd as usize].swap(0, Ordering::SeqCst), me);
    };

    let mut workers = Vec::new();
    for (t, file) in files.iter().enumerate() {
        let (table, owners, file, barrier) =
            (table.clone(), owners.clone(), file.clone(), barrier.clone());
        workers.push(thread::spawn(move || {
            let me = t + 1;
            let mut mine: Vec<i32> = Vec::new();
            barrier.wait();
            for round in 0..20_000usize {
                match round % 5 {
                    0 | 1 => {
                        let fd = table.alloc(file.clone(), round % 2 == 0).unwrap();
                        claim(&owners, fd, me);
                        mine.push(fd);
                    }
                    2 => {
                        if let Some(&fd) = mine.last() {
                            let d = table.dup(fd).unwrap();
                            claim(&owners, d, me);
                            mine.push(d);
                        }
                    }
                    3 => {
                        if let Some(&fd) = mine.first() {
                            let d = table.fcntl(fd, F_DUPFD_CLOEXEC, 100).unwrap() as i32;
                            claim(&owners, d, me);
                            assert!(table.cloexec(d).unwrap());
                            mine.push(d);
                        }
                    }
                    _ => {
                        // Close about half of what we hold, from the middle.
                        while mine.len() > 3 {
                            let fd = mine.remove(mine.len() / 2);
                            release(&owners, fd, me);
                            table.close(fd).unwrap();
                        }
                    }
                }
                // Every descriptor we hold still refers to our file.
                for &fd in &mine {
                    assert!(
                        Arc::ptr_eq(&table.get(fd).unwrap(), &file),
                        "fd {fd} changed under thread {me}"
                    );
                }
            }
            // dup2 within our own descriptors: the target keeps its number.
            if mine.len() >= 2 {
                let (a, b) = (mine[0], mine[1]);
                assert_eq!(table.dup2(a, b).unwrap(), b);
            }
            for fd in mine.drain(..) {
                release(&owners, fd, me);
                table.close(fd).unwrap();
            }
        }));
    }
    // Readers: lookups and forks of the table in parallel.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (table, stop) = (table.clone(), stop.clone());
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for fd in 0..200 {
                        if let Ok(f) = table.get(fd) {
                            n += f.offset();
                        }
                    }
                    let copy = table.fork();
                    assert!(copy.count() <= 512);
                    drop(copy);
                }
                n
            })
        })
        .collect();
    barrier.wait();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(table.count(), 0);
    assert!(table.fds().is_empty());
    assert!(owners.iter().all(|o| o.load(Ordering::SeqCst) == 0));
    for f in &files {
        assert_eq!(Arc::strong_count(f), 1, "no reference leaked");
    }
}

/// Deterministic byte stream: position -> byte.
fn pattern(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8 ^ (i as u8)
}

/// Tiny PRNG for chunk sizes.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// One producer, one consumer, 16 MiB in random chunk sizes through the
/// blocking shim; the stream arrives intact and ends with EOF.
#[test]
fn pipe_stream_intact() {
    const TOTAL: u64 = 16 << 20;
    let wq = HostWait::new();
    let (r, w) = pipe(wq.clone(), 0).unwrap();
    let producer = thread::spawn(move || {
        let mut seed = 0x1234_5678u64;
        let mut pos = 0u64;
        let mut chunk = vec![0u8; 200_000];
        while pos < TOTAL {
            let len = ((next(&mut seed) % 150_000) + 1).min(TOTAL - pos) as usize;
            for (i, b) in chunk[..len].iter_mut().enumerate() {
                *b = pattern(pos + i as u64);
            }
            assert_eq!(w.write(&chunk[..len]).unwrap(), len);
            pos += len as u64;
        }
        // Dropping `w` is the EOF.
    });
    let mut seed = 0xdead_beefu64;
    let mut pos = 0u64;
    let mut buf = vec![0u8; 100_000];
    loop {
        let want = (next(&mut seed) % 100_000 + 1) as usize;
        let n = r.read(&mut buf[..want]).unwrap();
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, pattern(pos + i as u64), "byte {}", pos + i as u64);
        }
        pos += n as u64;
    }
    producer.join().unwrap();
    assert_eq!(pos, TOTAL);
    assert!(
        wq.sleeps.load(Ordering::Relaxed) > 0,
        "the test did exercise blocking"
    );
}

/// Several writers share the write end (as threads sharing an fd); writes of
/// at most PIPE_BUF bytes never interleave, and each writer's records arrive in
/// order.
#[test]
fn pipe_atomic_records_from_many_writers() {
    const PER_WRITER: u32 = 3000;
    let (r, w) = pipe(HostWait::new(), 0).unwrap();
    let writers: Vec<_> = (0..THREADS as u32)
        .map(|id| {
            let w = w.clone();
            thread::spawn(move || {
                for seq in 0..PER_WRITER {
                    // Record: [len u16][id u32][seq u32][filler...], 10..=4096 bytes.
                    let len = 10 + ((seq as usize * 7919 + id as usize * 104_729) % (PIPE_BUF - 9));
                    let mut rec = vec![(id as u8) ^ (seq as u8); len];
                    rec[0..2].copy_from_slice(&(len as u16).to_le_bytes());
                    rec[2..6].copy_from_slice(&id.to_le_bytes());
                    rec[6..10].copy_from_slice(&seq.to_le_bytes());
                    assert_eq!(w.write(&rec).unwrap(), len);
                }
            })
        })
        .collect();
    drop(w);
    let mut stream = Vec::new();
    let mut buf = vec![0u8; 7777];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        stream.extend_from_slice(&buf[..n]);
    }
    for t in writers {
        t.join().unwrap();
    }
    let mut next_seq = [0u32; THREADS];
    let mut i = 0;
    while i < stream.len() {
        let len = u16::from_le_bytes([stream[i], stream[i + 1]]) as usize;
        let id = u32::from_le_bytes(stream[i + 2..i + 6].try_into().unwrap());
        let seq = u32::from_le_bytes(stream[i + 6..i + 10].try_into().unwrap());
        assert!((id as usize) < THREADS, "garbled record at {i}");
        assert_eq!(seq, next_seq[id as usize], "writer {id} out of order");
        let fill = (id as u8) ^ (seq as u8);
        assert!(
            stream[i + 10..i + len].iter().all(|&b| b == fill),
            "interleaved record at {i}"
        );
        next_seq[id as usize] += 1;
        i += len;
    }
    assert_eq!(next_seq, [PER_WRITER; THREADS]);
}

/// Threads appending through one shared O_APPEND description and through
/// separate ones: nothing is overwritten. Then threads reading one shared
/// description split the file without overlap.
#[test]
fn shared_offsets_under_contention() {
    let vfs = Vfs::new();
    let root = vfs.root();
    let shared = vfs
        .open(&root, b"/log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        .unwrap();
    let ts: Vec<_> = (0..THREADS)
        .map(|t| {
            let shared = shared.clone();
            let own = vfs.open(&root, b"/log", O_WRONLY | O_APPEND, 0).unwrap();
            thread::spawn(move || {
                for i in 0..2000u32 {
                    let f = if i % 2 == 0 { &shared } else { &own };
                    let mut rec = [b'a' + t as u8; 8];
                    rec[4..8].copy_from_slice(&i.to_le_bytes());
                    f.write(&rec).unwrap();
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    let data = vfs
        .lookup(&root, b"/log", true)
        .unwrap()
        .contents()
        .unwrap();
    assert_eq!(data.len(), THREADS * 2000 * 8);
    let mut counts = [0usize; THREADS];
    for rec in data.chunks(8) {
        let t = (rec[0] - b'a') as usize;
        assert!(rec[..4].iter().all(|&b| b == rec[0]), "torn record");
        counts[t] += 1;
    }
    assert_eq!(counts, [2000; THREADS]);

    // Readers sharing one offset: each byte is read exactly once.
    let rd = vfs.open(&root, b"/log", O_RDONLY, 0).unwrap();
    let ts: Vec<_> = (0..THREADS)
        .map(|_| {
            let rd = rd.clone();
            thread::spawn(move || {
                let mut got = 0usize;
                let mut buf = [0u8; 8];
                loop {
                    let n = rd.read(&mut buf).unwrap();
                    if n == 0 {
                        return got;
                    }
                    assert_eq!(n, 8, "8-byte reads of an 8-byte-record file stay aligned");
                    got += n;
                }
            })
        })
        .collect();
    let total: usize = ts.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, data.len());
}

/// Threads create, rename across two directories, and remove subdirectories
/// while others resolve paths and ask getcwd; no deadlock, and the link counts
/// add up at the end.
#[test]
fn tree_operations_concurrently() {
    let vfs = Arc::new(Vfs::new());
    let root = vfs.root();
    vfs.mkdir(&root, b"/x", 0o755).unwrap();
    vfs.mkdir(&root, b"/y", 0o755).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let vfs = vfs.clone();
            thread::spawn(move || {
                let root = vfs.root();
                for i in 0..1500 {
                    let a = format!("/x/d{t}_{}", i % 7);
                    let b = format!("/y/d{t}_{}", i % 7);
                    let _ = vfs.mkdir(&root, a.as_bytes(), 0o755);
                    let _ = vfs.create(&root, format!("{a}/f").as_bytes(), 0o644);
                    match i % 4 {
                        0 => {
                            let _ = vfs.rename(&root, a.as_bytes(), &root, b.as_bytes());
                        }
                        1 => {
                            let _ = vfs.rename(&root, b.as_bytes(), &root, a.as_bytes());
                        }
                        2 => {
                            let _ = vfs.unlink(&root, format!("{b}/f").as_bytes());
                            let _ = vfs.rmdir(&root, b.as_bytes());
                        }
                        _ => {
                            // Cross renames between the two trees.
                            let _ = vfs.rename(&root, b"/x", &root, b"/y/x");
                            let _ = vfs.rename(&root, b"/y/x", &root, b"/x");
                        }
                    }
                }
            })
        })
        .collect();
    let lookers: Vec<_> = (0..2)
        .map(|_| {
            let (vfs, stop) = (vfs.clone(), stop.clone());
            thread::spawn(move || {
                let root = vfs.root();
                while !stop.load(Ordering::Relaxed) {
                    for t in 0..THREADS {
                        for k in 0..7 {
                            for p in [
                                format!("/x/d{t}_{k}/f"),
                                format!("/y/d{t}_{k}/../d{t}_{k}/f"),
                            ] {
                                if let Ok(i) = vfs.lookup(&root, p.as_bytes(), true) {
                                    assert_eq!(i.file_type(), FileType::Regular);
                                }
                            }
                            if let Ok(d) =
                                vfs.lookup(&root, format!("/y/d{t}_{k}").as_bytes(), true)
                            {
                                match vfs.getcwd(&d) {
                                    Ok(p) => assert!(p.starts_with(b"/")),
                                    Err(e) => assert_eq!(e, Errno::ENOENT),
                                }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for l in lookers {
        l.join().unwrap();
    }
    // /x may sit under /y if a cross rename was left half done by interleaving;
    // find both and check nlink = 2 + subdirectories everywhere.
    fn check(vfs: &Vfs, dir: &Arc<Inode>) -> usize {
        let f = vfs.open(dir, b".", O_RDONLY, 0).unwrap();
        let list = read_dir(&f, 4096);
        let mut subdirs = 0;
        let mut count = 0;
        for e in list.iter().filter(|e| e.name != b"." && e.name != b"..") {
            let child = vfs.lookup(dir, &e.name, false).unwrap();
            count += 1;
            if child.is_dir() {
                subdirs += 1;
                assert_eq!(vfs.lookup(&child, b"..", false).unwrap().ino(), dir.ino());
                count += check(vfs, &child);
            } else {
                assert_eq!(child.nlink(), 1);
            }
        }
        assert_eq!(dir.nlink(), 2 + subdirs as u64, "directory {}", dir.ino());
        count
    }
    check(&vfs, &root);
    assert!(vfs.lookup(&root, b"/x", true).is_ok() || vfs.lookup(&root, b"/y/x", true).is_ok());
}
