use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use weft_abi::fcntl::*;
use weft_abi::poll::*;

use super::*;

#[test]
fn basics_and_eof() {
    let wq = HostWait::new();
    let (r, w) = pipe(wq.clone(), 0).unwrap();
    assert!(r.readable() && !r.writable());
    assert!(w.writable() && !w.readable());
    assert_eq!(w.write(b"abc").unwrap(), 3);
    assert_eq!(w.write(b"").unwrap(), 0);
    let mut buf = [0u8; 2];
    assert_eq!(r.read(&mut buf).unwrap(), 2);
    assert_eq!(&buf, b"ab");
    assert_eq!(r.bytes_available(), Some(1));
    let mut big = [0u8; 100];
    assert_eq!(r.read(&mut big).unwrap(), 1, "a read returns what is there");
    assert_eq!(r.read(&mut []).unwrap(), 0);
    // Wrong directions.
    assert_eq!(r.write(b"x").unwrap_err(), Errno::EBADF);
    assert_eq!(w.read(&mut buf).unwrap_err(), Errno::EBADF);
    // Not seekable.
    assert_eq!(r.lseek(0, SEEK_SET).unwrap_err(), Errno::ESPIPE);
    assert_eq!(r.pread(&mut buf, 0).unwrap_err(), Errno::ESPIPE);
    assert_eq!(w.pwrite(b"x", 0).unwrap_err(), Errno::ESPIPE);
    assert_eq!(r.pread(&mut buf, -1).unwrap_err(), Errno::EINVAL);
    assert_eq!(r.getdents64(&mut big).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(r.truncate(0).unwrap_err(), Errno::EINVAL);
    // fstat: a FIFO, same inode on both ends.
    let st = r.stat();
    assert_eq!(st.st_mode, S_IFIFO | 0o600);
    assert_eq!(st.st_ino, w.stat().st_ino);
    assert_eq!(r.file_type(), FileType::Fifo);
    assert!(r.inode().is_none());
    // EOF once the writer is gone (buffered data first).
    w.write(b"tail").unwrap();
    drop(w);
    assert_eq!(r.read(&mut big).unwrap(), 4);
    assert_eq!(r.read(&mut big).unwrap(), 0);
    assert_eq!(r.poll() & POLLHUP, POLLHUP);
    assert!(wq.wakes.load(Ordering::Relaxed) > 0);
}

#[test]
fn epipe_without_readers() {
    let (r, w) = pipe(HostWait::new(), 0).unwrap();
    let r2 = r.clone(); // a dup: same description
    drop(r);
    assert_eq!(w.write(b"ok").unwrap(), 2);
    assert_eq!(w.poll() & POLLERR, 0);
    drop(r2);
    assert_eq!(w.write(b"x").unwrap_err(), Errno::EPIPE);
    assert_eq!(w.poll() & POLLERR, POLLERR);
}

#[test]
fn nonblocking_and_pipe_buf() {
    let (r, w) = pipe(HostWait::new(), O_NONBLOCK | O_CLOEXEC).unwrap();
    assert!(r.nonblocking() && w.nonblocking());
    let mut buf = vec![0u8; PIPE_DEFAULT_CAPACITY * 2];
    assert_eq!(r.read(&mut buf).unwrap_err(), WOULD_BLOCK);
    assert_eq!(r.poll() & (POLLIN | POLLHUP), 0);
    assert_eq!(w.poll() & POLLOUT, POLLOUT);
    // Fill to one byte short of full.
    let data: Vec<u8> = (0..PIPE_DEFAULT_CAPACITY).map(|i| i as u8).collect();
    assert_eq!(
        w.write(&data[..PIPE_DEFAULT_CAPACITY - 1]).unwrap(),
        PIPE_DEFAULT_CAPACITY - 1
    );
    // An atomic write (<= PIPE_BUF) that does not fit: all or nothing.
    assert_eq!(w.write(&[1, 2]).unwrap_err(), WOULD_BLOCK);
    assert_eq!(w.write(&[1]).unwrap(), 1);
    assert_eq!(w.poll() & POLLOUT, 0);
    assert_eq!(w.write(&[1]).unwrap_err(), WOULD_BLOCK);
    assert_eq!(r.poll() & POLLIN, POLLIN);
    // Free 100 bytes: a big non-atomic write takes what fits.
    assert_eq!(r.read(&mut buf[..100]).unwrap(), 100);
    assert_eq!(w.write(&vec![7u8; PIPE_BUF + 1]).unwrap(), 100);
    // Contents come out in order across the ring's wrap.
    let n = r.read(&mut buf).unwrap();
    assert_eq!(n, PIPE_DEFAULT_CAPACITY);
    assert_eq!(
        &buf[..PIPE_DEFAULT_CAPACITY - 100 - 1],
        &data[100..PIPE_DEFAULT_CAPACITY - 1]
    );
    assert_eq!(buf[PIPE_DEFAULT_CAPACITY - 101], 1);
    assert!(buf[PIPE_DEFAULT_CAPACITY - 100..n].iter().all(|&b| b == 7));
    // Bad flags.
    assert_eq!(pipe(HostWait::new(), O_DIRECT).unwrap_err(), Errno::EINVAL);
    assert_eq!(pipe(HostWait::new(), O_APPEND).unwrap_err(), Errno::EINVAL);
}

#[test]
fn pipe_capacity() {
    let (r, w) = pipe(HostWait::new(), O_NONBLOCK).unwrap();
    assert_eq!(w.pipe_capacity().unwrap(), PIPE_DEFAULT_CAPACITY);
    assert_eq!(r.set_pipe_capacity(0).unwrap(), 4096);
    assert_eq!(r.set_pipe_capacity(5000).unwrap(), 8192);
    assert_eq!(w.pipe_capacity().unwrap(), 8192);
    assert_eq!(
        w.set_pipe_capacity(PIPE_MAX_CAPACITY as u64 + 1)
            .unwrap_err(),
        Errno::EPERM
    );
    w.write(&[3u8; 6000]).unwrap();
    assert_eq!(w.set_pipe_capacity(4096).unwrap_err(), Errno::EBUSY);
    // Growing keeps the buffered bytes (and their order).
    let mut buf = vec![0u8; 1000];
    r.read(&mut buf).unwrap();
    w.write(&[4u8; 3000]).unwrap(); // wraps in the 8192 ring
    assert_eq!(w.set_pipe_capacity(1 << 16).unwrap(), 1 << 16);
    let mut out = vec![0u8; 10000];
    let n = r.read(&mut out).unwrap();
    assert_eq!(n, 8000);
    assert!(out[..5000].iter().all(|&b| b == 3));
    assert!(out[5000..8000].iter().all(|&b| b == 4));
    let (_, anon) = pipe(HostWait::new(), 0).unwrap();
    let vfs = Vfs::new();
    let f = vfs
        .open(&vfs.root(), b"/f", O_CREAT | O_RDWR, 0o644)
        .unwrap();
    assert_eq!(f.pipe_capacity().unwrap_err(), Errno::EBADF);
    assert_eq!(f.set_pipe_capacity(4096).unwrap_err(), Errno::EBADF);
    drop(anon);
}

#[test]
fn blocking_read_waits_for_writer() {
    let wq = HostWait::new();
    let (r, w) = pipe(wq.clone(), 0).unwrap();
    let t = thread::spawn(move || {
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf).unwrap();
        let first = buf[..n].to_vec();
        let eof = r.read(&mut buf).unwrap();
        (first, eof)
    });
    thread::sleep(Duration::from_millis(50));
    w.write(b"wake up").unwrap();
    thread::sleep(Duration::from_millis(20));
    drop(w);
    let (first, eof) = t.join().unwrap();
    assert_eq!(first, b"wake up");
    assert_eq!(eof, 0);
    assert!(wq.sleeps.load(Ordering::Relaxed) >= 1);
}

#[test]
fn blocking_write_waits_for_reader() {
    let wq = HostWait::new();
    let (r, w) = pipe(wq.clone(), 0).unwrap();
    let total = PIPE_DEFAULT_CAPACITY * 3 + 123;
    let t = thread::spawn(move || {
        let data = vec![9u8; total];
        w.write(&data).unwrap()
    });
    thread::sleep(Duration::from_millis(50));
    let mut got = 0;
    let mut buf = vec![0u8; 10000];
    while got < total {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0);
        assert!(buf[..n].iter().all(|&b| b == 9));
        got += n;
    }
    assert_eq!(
        t.join().unwrap(),
        total,
        "a blocking write returns only when all is in"
    );
    assert_eq!(r.read(&mut buf).unwrap(), 0);
}

#[test]
fn blocked_writer_gets_epipe_or_partial_count() {
    let (r, w) = pipe(HostWait::new(), 0).unwrap();
    w.write(&vec![0u8; PIPE_DEFAULT_CAPACITY]).unwrap();
    let t = thread::spawn(move || w.write(b"never fits"));
    thread::sleep(Duration::from_millis(50));
    drop(r);
    assert_eq!(t.join().unwrap().unwrap_err(), Errno::EPIPE);

    let (r, w) = pipe(HostWait::new(), 0).unwrap();
    w.write(&vec![0u8; PIPE_DEFAULT_CAPACITY - 10]).unwrap();
    let t = thread::spawn(move || w.write(&vec![1u8; PIPE_BUF * 2]));
    thread::sleep(Duration::from_millis(50));
    drop(r);
    assert_eq!(
        t.join().unwrap().unwrap(),
        10,
        "the bytes that went in are reported"
    );
}

#[test]
fn interrupted_waits() {
    let wq = HostWait::new();
    let (r, w) = pipe(wq.clone(), 0).unwrap();
    wq.interrupt.store(true, Ordering::SeqCst);
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap_err(), Errno::EINTR);
    w.write(&vec![0u8; PIPE_DEFAULT_CAPACITY - 4]).unwrap();
    // A non-atomic write that partly went in reports the count, not EINTR.
    assert_eq!(w.write(&vec![1u8; PIPE_BUF + 8]).unwrap(), 4);
    assert_eq!(w.write(&[1u8; 8]).unwrap_err(), Errno::EINTR);
    // Data present: no wait, no EINTR.
    assert_eq!(r.read(&mut buf).unwrap(), 8);
    assert!(Arc::strong_count(&wq) >= 2);
}

#[test]
fn failed_copy_out_keeps_pipe_data() {
    let wq = HostWait::new();
    let (r, w) = pipe(wq.clone(), 0).unwrap();
    w.write(b"abcdef").unwrap();
    let mut buf = [0u8; 4];
    let fail = &mut |_: &[u8]| Err(Errno::EFAULT);
    assert_eq!(r.read_with(&mut buf, fail).unwrap_err(), Errno::EFAULT);
    assert_eq!(r.bytes_available(), Some(6));
    let mut all = [0u8; 16];
    assert_eq!(r.read(&mut all).unwrap(), 6);
    assert_eq!(&all[..6], b"abcdef");
    // Wrapped around the end of the ring: still in order.
    let cap = PIPE_DEFAULT_CAPACITY;
    let data: Vec<u8> = (0..cap).map(|i| i as u8).collect();
    assert_eq!(w.write(&data[..cap - 3]).unwrap(), cap - 3);
    let mut sink = vec![0u8; cap - 5];
    assert_eq!(r.read(&mut sink).unwrap(), cap - 5);
    assert_eq!(w.write(&data[..10]).unwrap(), 10);
    let mut buf = [0u8; 8];
    assert_eq!(r.read_with(&mut buf, fail).unwrap_err(), Errno::EFAULT);
    let mut rest = vec![0u8; 64];
    let n = r.read(&mut rest).unwrap();
    assert_eq!(n, 12);
    assert_eq!(&rest[..2], &data[cap - 5..cap - 3]);
    assert_eq!(&rest[2..12], &data[..10]);
}
