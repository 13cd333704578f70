//! Host tests. `HostWait` is the blocking shim: a `WaitQueue` on a std mutex and
//! condition variable, standing in for the kernel's scheduler wait queues.

mod fdtable;
mod file;
mod initramfs;
mod pipe;
mod stress;
mod tree;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use weft_abi::poll::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};

use crate::*;

/// A host wait queue: `ready` is checked under the shim mutex, and `wake_all`
/// takes that mutex before notifying, so no wakeup is lost.
#[derive(Default)]
pub(crate) struct HostWait {
    generation: Mutex<u64>,
    cv: Condvar,
    /// When set, waits fail with EINTR (a "signal").
    pub(crate) interrupt: AtomicBool,
    pub(crate) sleeps: AtomicUsize,
    pub(crate) wakes: AtomicUsize,
}

impl HostWait {
    pub(crate) fn new() -> Arc<HostWait> {
        Arc::new(HostWait::default())
    }
}

impl WaitQueue for HostWait {
    fn wait_until(&self, ready: &mut dyn FnMut() -> bool) -> Result<(), Errno> {
        let mut g = self.generation.lock().unwrap();
        loop {
            if ready() {
                return Ok(());
            }
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(Errno::EINTR);
            }
            self.sleeps.fetch_add(1, Ordering::Relaxed);
            g = self.cv.wait(g).unwrap();
        }
    }

    fn wake_all(&self) {
        *self.generation.lock().unwrap() += 1;
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.cv.notify_all();
    }
}

/// A console-like device: input is fed by the test, reads would block when
/// there is none; output is collected.
#[derive(Default)]
pub(crate) struct TestConsole {
    pub(crate) input: Mutex<VecDeque<u8>>,
    pub(crate) output: Mutex<Vec<u8>>,
    pub(crate) wq: Arc<HostWait>,
    pub(crate) opens: AtomicUsize,
}

impl TestConsole {
    pub(crate) fn feed(&self, bytes: &[u8]) {
        self.input.lock().unwrap().extend(bytes);
        self.wq.wake_all();
    }
}

impl CharDevice for TestConsole {
    fn open(&self, _flags: u32) -> Result<(), Errno> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut q = self.input.lock().unwrap();
        if q.is_empty() {
            return Err(WOULD_BLOCK);
        }
        let n = buf.len().min(q.len());
        for b in buf.iter_mut().take(n) {
            *b = q.pop_front().unwrap();
        }
        Ok(n)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.output.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn poll(&self) -> i16 {
        let mut ev = POLLOUT | POLLWRNORM;
        if !self.input.lock().unwrap().is_empty() {
            ev |= POLLIN | POLLRDNORM;
        }
        ev
    }

    fn ioctl(&self, cmd: u32, arg: u64) -> Result<u64, Errno> {
        if cmd == weft_abi::ioctl::TCGETS {
            Ok(arg + 1)
        } else {
            Err(Errno::ENOTTY)
        }
    }

    fn wait_queue(&self) -> Option<Arc<dyn WaitQueue>> {
        Some(self.wq.clone())
    }
}

/// A tree with `/dev` populated; returns the console too.
pub(crate) fn vfs_with_dev() -> (Vfs, Arc<TestConsole>) {
    let vfs = Vfs::new();
    let con = Arc::new(TestConsole::default());
    vfs.populate_dev(con.clone()).unwrap();
    (vfs, con)
}

/// One decoded `linux_dirent64` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dirent {
    pub(crate) ino: u64,
    pub(crate) off: i64,
    pub(crate) dtype: u8,
    pub(crate) name: Vec<u8>,
}

/// Decodes a getdents64 buffer, checking record framing.
pub(crate) fn parse_dirents(buf: &[u8]) -> Vec<Dirent> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        let ino = u64::from_le_bytes(buf[i..i + 8].try_into().unwrap());
        let off = i64::from_le_bytes(buf[i + 8..i + 16].try_into().unwrap());
        let reclen = u16::from_le_bytes(buf[i + 16..i + 18].try_into().unwrap()) as usize;
        assert!(reclen >= 24 && reclen.is_multiple_of(8), "reclen {reclen}");
        let dtype = buf[i + 18];
        let name_area = &buf[i + 19..i + reclen];
        let nul = name_area
            .iter()
            .position(|&b| b == 0)
            .expect("NUL in record");
        assert_eq!(reclen, weft_abi::stat::dirent64_reclen(nul));
        out.push(Dirent {
            ino,
            off,
            dtype,
            name: name_area[..nul].to_vec(),
        });
        i += reclen;
    }
    assert_eq!(i, buf.len());
    out
}

/// Reads a whole directory through getdents64 with a buffer of `bufsize`.
pub(crate) fn read_dir(f: &File, bufsize: usize) -> Vec<Dirent> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; bufsize];
    loop {
        let n = f.getdents64(&mut buf).unwrap();
        if n == 0 {
            return all;
        }
        all.extend(parse_dirents(&buf[..n]));
    }
}

/// Names of a directory listing, without "." and "..", sorted.
pub(crate) fn names(list: &[Dirent]) -> Vec<String> {
    let mut v: Vec<String> = list
        .iter()
        .filter(|d| d.name != b"." && d.name != b"..")
        .map(|d| String::from_utf8(d.name.clone()).unwrap())
        .collect();
    v.sort();
    v
}
