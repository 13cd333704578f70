//! The kernel's file system glue: the one VFS tree (unpacked from the initramfs
//! module), the console device, and the sleeping primitive the VFS blocks with.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use spin::{Mutex, Once};
use weft_abi::Errno;
use weft_arch::{cpu, kprintln};
use weft_vfs::{CharDevice, FdTable, Vfs, WOULD_BLOCK};

use crate::task::{self, KernelPlatform, Thread};

static VFS: Once<Vfs> = Once::new();

/// The VFS.
pub fn vfs() -> &'static Vfs {
    VFS.get().expect("VFS used before fs::init")
}

/// A wait queue the VFS can sleep on: the scheduler's wait queue with the
/// no-lost-wakeup protocol (queue, re-check, sleep). A thread told to exit gets
/// EINTR.
pub struct KWaitQueue {
    wq: weft_sched::WaitQueue<Thread, KernelPlatform>,
}

impl KWaitQueue {
    pub fn new() -> Arc<KWaitQueue> {
        Arc::new(KWaitQueue {
            wq: weft_sched::WaitQueue::new(),
        })
    }
}

/// Whether the current thread's sleep must end (a signal to take, or it must exit).
pub fn interrupted() -> bool {
    crate::proc::signal::interrupted()
}

impl weft_vfs::WaitQueue for KWaitQueue {
    /// Sleeps until `ready()`; a signal ends the wait with ERESTARTSYS (EINTR, or
    /// a restart under SA_RESTART, on the way back to user mode).
    fn wait_until(&self, ready: &mut dyn FnMut() -> bool) -> Result<(), Errno> {
        match crate::proc::signal::wait_event(Some(&self.wq), None, ready) {
            crate::task::WaitResult::Interrupted => Err(Errno::ERESTARTSYS),
            _ => Ok(()),
        }
    }

    fn wake_all(&self) {
        task::wake_all(&self.wq);
    }
}

/// The serial console as a character device: output to COM1, input from the UART
/// receive interrupt through a small buffer.
pub struct Console {
    input: Mutex<VecDeque<u8>>,
    /// A `KWaitQueue` that `poll` can also register on.
    wq: Arc<crate::proc::syscall::poll::PollQueue>,
}

static CONSOLE: Once<Arc<Console>> = Once::new();

impl CharDevice for Console {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let _irq = cpu::IrqGuard::new();
        let mut input = self.input.lock();
        if input.is_empty() {
            return Err(WOULD_BLOCK);
        }
        let n = buf.len().min(input.len());
        for b in buf.iter_mut().take(n) {
            *b = input.pop_front().unwrap_or(0);
        }
        Ok(n)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        weft_arch::log::with_console(|_| weft_arch::serial::write_bytes(buf));
        Ok(buf.len())
    }

    fn poll(&self) -> i16 {
        let _irq = cpu::IrqGuard::new();
        let readable = !self.input.lock().is_empty();
        weft_abi::poll::POLLOUT
            | weft_abi::poll::POLLWRNORM
            | if readable {
                weft_abi::poll::POLLIN | weft_abi::poll::POLLRDNORM
            } else {
                0
            }
    }

    fn wait_queue(&self) -> Option<Arc<dyn weft_vfs::WaitQueue>> {
        Some(self.wq.clone())
    }
}

/// Ctrl-P on the serial console prints the kernel's statistics (scheduler, memory).
pub const DEBUG_KEY: u8 = 0x10;

/// Ctrl-P (in the console interrupt): asks for the statistics dump. The dump
/// itself takes locks that are taken with interrupts enabled (the process table,
/// the heap), so it runs in a kernel thread, never here.
pub fn on_debug_key() {
    crate::request_debug_dump();
}

/// UART receive interrupt: buffer the bytes, wake readers.
pub fn console_input_irq() {
    let Some(c) = CONSOLE.get() else { return };
    let mut any = false;
    while let Some(b) = weft_arch::serial::try_read_byte() {
        if b == DEBUG_KEY {
            on_debug_key();
            continue;
        }
        let mut input = c.input.lock();
        if input.len() < 4096 {
            input.push_back(if b == b'\r' { b'\n' } else { b });
        }
        any = true;
    }
    if any {
        weft_vfs::WaitQueue::wake_all(&*c.wq);
    }
}

/// Builds the tree: unpacks the initramfs module and creates /dev.
pub fn init(initramfs: Option<&[u8]>) {
    let vfs = Vfs::new();
    if let Some(bytes) = initramfs {
        match vfs.unpack_initramfs(bytes) {
            Ok(st) => kprintln!("fs: initramfs unpacked: {:?}", st),
            Err(e) => kprintln!("fs: initramfs rejected: {}", e.summary()),
        }
    } else {
        kprintln!("fs: no initramfs module");
    }
    let console = CONSOLE
        .call_once(|| {
            Arc::new(Console {
                input: Mutex::new(VecDeque::new()),
                wq: crate::proc::syscall::poll::PollQueue::new(KWaitQueue::new()),
            })
        })
        .clone();
    if let Err(e) = vfs.populate_dev(console) {
        kprintln!("fs: cannot create /dev: {:?}", e);
    }
    weft_vfs::set_clock(crate::time::realtime_timespec);
    VFS.call_once(|| vfs);
}

/// Opens /dev/console as descriptors 0, 1 and 2.
pub fn open_console_fds(files: &FdTable) -> Result<(), Errno> {
    for _ in 0..3 {
        let f = vfs().open(&vfs().root(), b"/dev/console", weft_abi::fcntl::O_RDWR, 0)?;
        files.alloc(f, false)?;
    }
    Ok(())
}

/// Looks up a regular file to execute or read (EACCES for a directory).
pub fn lookup_file(path: &[u8]) -> Result<Arc<weft_vfs::Inode>, Errno> {
    lookup_file_at(&vfs().root(), path)
}

/// [`lookup_file`] with relative paths resolved from `base`.
pub fn lookup_file_at(
    base: &Arc<weft_vfs::Inode>,
    path: &[u8],
) -> Result<Arc<weft_vfs::Inode>, Errno> {
    let inode = vfs().lookup(base, path, true)?;
    if inode.is_dir() {
        return Err(Errno::EACCES);
    }
    Ok(inode)
}
