//! Thread-local keys with destructors ([`Key`], POSIX `pthread_key_*` semantics)
//! and a typed [`ThreadLocal`] on top.
//!
//! A key is an index into a per-thread table of [`KEYS_MAX`] values, allocated on
//! a thread's first [`Key::set`] and found through the thread's TLS block: weft-rt
//! gives every thread's TCB (at `fs:[0]`) one word for this,
//! [`weft_rt::thread::Tcb::specific`]. Getting and setting a value are plain memory
//! accesses (no system call, no lock).
//!
//! # Destructors
//!
//! When a thread made by `weft_rt::thread::spawn`, `weft_rt::wthread::spawn` or
//! [`crate::thread::spawn_raw`] ends, the runtime calls [`run_thread_exit`] on it
//! (this module installs it as weft-rt's thread-exit hook when the first key is
//! created): for every key with a destructor and a non-null value, the value is set
//! to null and the destructor called with the old value; values set again by
//! destructors are handled in up to [`DESTRUCTOR_ITERATIONS`] passes. As in POSIX,
//! the main thread runs no destructors when the process ends, and
//! [`Key::delete`] runs none either (values still set are forgotten).
//!
//! Only threads whose FS base is a weft-rt TCB can use keys: the three spawners
//! above and the main thread. (A thread made with a bare `clone` without
//! `CLONE_SETTLS` shares its creator's TLS block, and so its values.)

use alloc::boxed::Box;
use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};

use weft_rt::Errno;
use weft_rt::thread::Tcb;

use crate::mutex::Mutex;
use crate::once::{Once, OnceLock};

/// Number of keys a process can have at once (POSIX `PTHREAD_KEYS_MAX` is 128).
pub const KEYS_MAX: usize = 128;
/// Passes over the destructors at thread exit (POSIX
/// `PTHREAD_DESTRUCTOR_ITERATIONS`).
pub const DESTRUCTOR_ITERATIONS: usize = 4;

/// A key's destructor: called at thread exit with the thread's (non-null) value.
pub type Destructor = unsafe fn(*mut u8);

// Per key: a sequence number, odd while the key exists (bumped by create and
// delete, so a value stored under a deleted key never shows through a new key at the
// same index), and the destructor (0: none).
static SEQ: [AtomicU32; KEYS_MAX] = [const { AtomicU32::new(0) }; KEYS_MAX];
static DTOR: [AtomicUsize; KEYS_MAX] = [const { AtomicUsize::new(0) }; KEYS_MAX];
/// Serialises create and delete (rare); lookups do not take it.
static KEYS_LOCK: Mutex<()> = Mutex::new(());
static HOOK: Once = Once::new();

#[derive(Copy, Clone)]
struct Slot {
    seq: u32,
    value: *mut u8,
}

/// One thread's values.
struct Table {
    slots: [Slot; KEYS_MAX],
}

/// The calling thread's `Tcb::specific` word.
fn specific() -> &'static AtomicUsize {
    let tcb: usize;
    // SAFETY: weft-rt threads (and the main thread) have their TCB at the FS base,
    // whose first word is its own address.
    unsafe {
        asm!("mov {}, fs:[0]", out(reg) tcb, options(nostack, readonly, preserves_flags));
        &(*(tcb as *const Tcb)).specific
    }
}

fn table() -> *mut Table {
    specific().load(Relaxed) as *mut Table
}

fn table_or_new() -> *mut Table {
    let t = table();
    if !t.is_null() {
        return t;
    }
    let t = Box::into_raw(Box::new(Table {
        slots: [Slot {
            seq: 0,
            value: core::ptr::null_mut(),
        }; KEYS_MAX],
    }));
    specific().store(t as usize, Relaxed);
    t
}

/// A thread-local key: one `*mut u8` value per thread, null until set.
///
/// ```ignore
/// use weft_sync::tls::Key;
/// unsafe fn free(p: *mut u8) { drop(Box::from_raw(p as *mut String)) }
/// let key = Key::create(Some(free)).unwrap();
/// key.set(Box::into_raw(Box::new(String::from("mine"))) as *mut u8);
/// // ... at thread exit `free` gets the value ...
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Key {
    index: u32,
    seq: u32,
}

impl Key {
    /// A new key (`pthread_key_create`), with an optional destructor for the values
    /// threads leave set when they exit. `EAGAIN` when [`KEYS_MAX`] keys exist.
    pub fn create(dtor: Option<Destructor>) -> Result<Key, Errno> {
        HOOK.call_once(|| {
            weft_rt::thread::set_exit_hook(run_thread_exit);
        });
        let _g = KEYS_LOCK.lock();
        for (i, seq) in SEQ.iter().enumerate() {
            let s = seq.load(Relaxed);
            if s & 1 == 0 {
                DTOR[i].store(dtor.map_or(0, |d| d as usize), Relaxed);
                let s = s.wrapping_add(1);
                seq.store(s, Release);
                return Ok(Key {
                    index: i as u32,
                    seq: s,
                });
            }
        }
        Err(Errno::EAGAIN)
    }

    /// Deletes the key (`pthread_key_delete`): no destructor runs; values threads
    /// still hold under it are forgotten, never shown through a later key.
    pub fn delete(self) {
        let _g = KEYS_LOCK.lock();
        let seq = &SEQ[self.index as usize];
        if seq.load(Relaxed) == self.seq {
            DTOR[self.index as usize].store(0, Relaxed);
            seq.store(self.seq.wrapping_add(1), Release);
        }
    }

    /// The calling thread's value (null if it never set one).
    #[inline]
    pub fn get(self) -> *mut u8 {
        let t = table();
        if t.is_null() {
            return core::ptr::null_mut();
        }
        // SAFETY: the table belongs to this thread and lives until it exits.
        let slot = unsafe { (*t).slots[self.index as usize] };
        if slot.seq == self.seq {
            slot.value
        } else {
            core::ptr::null_mut()
        }
    }

    /// Sets the calling thread's value (the first `set` of a thread allocates its
    /// table).
    #[inline]
    pub fn set(self, value: *mut u8) {
        let t = table_or_new();
        // SAFETY: as in get.
        unsafe {
            (*t).slots[self.index as usize] = Slot {
                seq: self.seq,
                value,
            }
        };
    }
}

/// Runs the calling thread's destructors and frees its table (see the module
/// docs). The runtime calls it at thread exit; call it yourself only at the end of
/// a thread made some other way, as the last thing before it exits.
pub fn run_thread_exit() {
    let t = table();
    if t.is_null() {
        return;
    }
    for _ in 0..DESTRUCTOR_ITERATIONS {
        let mut ran = false;
        for i in 0..KEYS_MAX {
            // SAFETY: this thread's table; destructors may set values meanwhile,
            // which is why no reference into it is held across a call.
            let slot = unsafe { (*t).slots[i] };
            if slot.value.is_null() {
                continue;
            }
            let seq = SEQ[i].load(Acquire);
            let d = DTOR[i].load(Acquire);
            if slot.seq != seq || d == 0 || SEQ[i].load(Acquire) != seq {
                continue;
            }
            // SAFETY: as above.
            unsafe { (*t).slots[i].value = core::ptr::null_mut() };
            // SAFETY: only Destructor pointers are stored in DTOR.
            let d: Destructor = unsafe { core::mem::transmute::<usize, Destructor>(d) };
            // SAFETY: the key's creator supplied the destructor for its values.
            unsafe { d(slot.value) };
            ran = true;
        }
        if !ran {
            break;
        }
    }
    specific().store(0, Relaxed);
    // SAFETY: allocated by table_or_new for this thread; unreachable now.
    drop(unsafe { Box::from_raw(t) });
}

/// A typed thread-local value: each thread gets its own `T`, made by `init` on the
/// thread's first [`ThreadLocal::with`] and dropped when the thread exits (see the
/// module docs for which threads run destructors).
///
/// ```ignore
/// use core::cell::Cell;
/// use weft_sync::ThreadLocal;
/// static CALLS: ThreadLocal<Cell<u64>> = ThreadLocal::new(|| Cell::new(0));
/// CALLS.with(|c| c.set(c.get() + 1));
/// ```
pub struct ThreadLocal<T: 'static> {
    key: OnceLock<Key>,
    init: fn() -> T,
}

// SAFETY: every thread only ever reaches its own T (made, used and dropped on it).
unsafe impl<T: 'static> Sync for ThreadLocal<T> {}

unsafe fn drop_box<T>(p: *mut u8) {
    // SAFETY: ThreadLocal stores Box<T> pointers under its key only.
    drop(unsafe { Box::from_raw(p as *mut T) });
}

impl<T: 'static> ThreadLocal<T> {
    /// A thread-local whose per-thread value starts as `init()`.
    pub const fn new(init: fn() -> T) -> Self {
        ThreadLocal {
            key: OnceLock::new(),
            init,
        }
    }

    fn key(&self) -> Key {
        *self.key.get_or_init(|| {
            Key::create(Some(drop_box::<T>)).expect("ThreadLocal: no thread-local key left")
        })
    }

    /// Calls `f` with the calling thread's value (made first if need be).
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let key = self.key();
        let mut p = key.get();
        if p.is_null() {
            p = Box::into_raw(Box::new((self.init)())) as *mut u8;
            key.set(p);
        }
        // SAFETY: a live Box<T> of this thread's, freed only at its exit.
        f(unsafe { &*(p as *const T) })
    }

    /// True if the calling thread has made its value.
    pub fn is_set(&self) -> bool {
        self.key.get().is_some_and(|k| !k.get().is_null())
    }
}

impl<T: 'static> Drop for ThreadLocal<T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.get() {
            k.delete();
        }
    }
}
