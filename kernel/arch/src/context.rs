//! Thread execution contexts and the context switch, with the invariants checked at
//! run time so that the scheduler (safe code) cannot resume a context twice, resume
//! one that is running, or free a stack that is in use.
//!
//! A [`Context`] owns its kernel stack (anything implementing the unsafe trait
//! [`StackMemory`]), the saved stack pointer while it is switched out, the user FS
//! base, and optionally a user FPU/SSE/AVX save area. [`switch`] saves the running
//! context and resumes another; the code that runs next (on whichever CPU) first
//! calls [`finish_switch`] internally, which marks the previous context resumable
//! only once its registers are completely saved (Linux's `switch_to(prev, next, last)`
//! idea: the "last" context is handed over through the per-CPU area).

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::percpu;

/// Memory usable as a kernel stack.
///
/// # Safety
/// `top()` must return the 16-byte-aligned top of a mapped, writable region of at
/// least a few KiB that nothing else uses for as long as the value lives.
pub unsafe trait StackMemory: Send + Sync {
    /// The initial stack pointer (one past the highest usable byte).
    fn top(&self) -> u64;
}

const NOT_RUNNING: usize = usize::MAX;

/// A user FPU/SSE/AVX save area (XSAVE needs 64-byte alignment).
#[repr(C, align(64))]
pub struct FpuArea(pub [u8; 4096]);

/// How this machine saves user FPU state (what a signal frame carries).
#[derive(Clone, Copy, Debug)]
pub struct UserFpuFormat {
    /// XSAVE (standard format) rather than FXSAVE.
    pub xsave: bool,
    /// Bytes of one image.
    pub size: usize,
    /// Enabled state components (XCR0).
    pub xfeatures: u64,
    /// MXCSR bits the CPU accepts.
    pub mxcsr_mask: u32,
}

/// A context's own FPU save area.
struct FpuSlot(core::cell::UnsafeCell<FpuArea>);

// SAFETY: the area is only accessed by the CPU the context runs on: switch-out
// saves into it and switch-in restores from it (interrupts off, with the context
// claimed by the running/resumable protocol), and the running thread's own
// `save_user_fpu`/`load_user_fpu` run with interrupts off on that CPU. Accesses
// never overlap.
unsafe impl Sync for FpuSlot {}

impl FpuSlot {
    fn ptr(&self) -> *mut u8 {
        self.0.get().cast()
    }
}

/// The initial user FPU image (built once; read-only afterwards).
static INITIAL_FPU: spin::Once<Box<FpuArea>> = spin::Once::new();

static MXCSR_MASK: AtomicU64 = AtomicU64::new(0);

/// The user FPU save format (XCR0 as `cpu::enable_features` set it).
pub fn user_fpu_format() -> UserFpuFormat {
    let f = crate::cpu::features();
    let mut mask = MXCSR_MASK.load(Ordering::Relaxed) as u32;
    if mask == 0 {
        let mut area = Box::new(FpuArea([0; 4096]));
        // SAFETY: FXSAVE only writes the 512-byte, 16-byte aligned area it is given
        // (ours, freshly allocated); it does not change any register.
        unsafe {
            core::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack, preserves_flags))
        };
        mask = u32::from_le_bytes([area.0[28], area.0[29], area.0[30], area.0[31]]);
        if mask == 0 {
            mask = 0xffbf;
        }
        MXCSR_MASK.store(mask as u64, Ordering::Relaxed);
    }
    UserFpuFormat {
        xsave: f.xsave,
        size: if f.xsave {
            crate::cpu::fpu_state_size()
        } else {
            512
        },
        xfeatures: if f.xsave {
            if f.avx { 0b111 } else { 0b011 }
        } else {
            0b011
        },
        mxcsr_mask: mask,
    }
}

/// One thread's execution context.
pub struct Context {
    /// Saved stack pointer while switched out.
    rsp: AtomicU64,
    /// True while the context is switched out with a complete saved state.
    resumable: AtomicBool,
    /// CPU the context is running on, or NOT_RUNNING.
    running_on: AtomicUsize,
    /// User FS base (TLS pointer), loaded on switch-in.
    pub fs_base: AtomicU64,
    /// User GS base, loaded on switch-in (kept in KERNEL_GS_BASE while in the kernel).
    pub gs_base: AtomicU64,
    stack: Option<Box<dyn StackMemory>>,
    fpu: Option<Box<FpuSlot>>,
}

impl Context {
    /// The context of code that is already running on this CPU (boot or idle code
    /// on its current stack): it gets a saved state the first time it is switched out.
    pub fn current_cpu() -> Context {
        Context {
            rsp: AtomicU64::new(0),
            resumable: AtomicBool::new(false),
            running_on: AtomicUsize::new(percpu::cpu_id()),
            fs_base: AtomicU64::new(0),
            gs_base: AtomicU64::new(0),
            stack: None,
            fpu: None,
        }
    }

    /// A new context that starts by calling `entry(a, b)` on `stack`. `entry` must
    /// never return (threads end by switching away for good).
    pub fn new(
        stack: Box<dyn StackMemory>,
        entry: extern "C" fn(usize, usize) -> !,
        a: usize,
        b: usize,
    ) -> Context {
        Context::with_reserve(stack, 0, entry, a, b)
    }

    /// A new context for a user thread: like [`Context::new`], but the top of the
    /// stack is kept free for the user register frame that
    /// [`crate::syscall::enter_user_with`] places there (and that every later entry
    /// from user mode builds at the same spot). It gets a user FPU state.
    pub fn new_user(
        stack: Box<dyn StackMemory>,
        entry: extern "C" fn(usize, usize) -> !,
        a: usize,
        b: usize,
    ) -> Context {
        let reserve = core::mem::size_of::<crate::trap::TrapFrame>() as u64;
        Context::with_reserve(stack, reserve, entry, a, b).with_fpu()
    }

    fn with_reserve(
        stack: Box<dyn StackMemory>,
        reserve: u64,
        entry: extern "C" fn(usize, usize) -> !,
        a: usize,
        b: usize,
    ) -> Context {
        let top = (stack.top() - reserve) & !15;
        // SAFETY: `StackMemory` guarantees the stack's top is the aligned top of
        // writable, exclusively owned memory, which this context now owns; the
        // initial kernel frames go below the `reserve` bytes kept free at the top.
        let rsp = unsafe { crate::switch::init_stack(top, entry, a, b) };
        Context {
            rsp: AtomicU64::new(rsp),
            resumable: AtomicBool::new(true),
            running_on: AtomicUsize::new(NOT_RUNNING),
            fs_base: AtomicU64::new(0),
            gs_base: AtomicU64::new(0),
            stack: Some(stack),
            fpu: None,
        }
    }

    /// Puts the running thread's user FPU/SSE/AVX registers back to their initial
    /// state (execve). Call only on the context running on this CPU.
    pub fn reset_user_fpu(&self) {
        if self.fpu.is_none() {
            return;
        }
        self.assert_running_here();
        let init = INITIAL_FPU.call_once(|| {
            let mut a = Box::new(FpuArea([0; 4096]));
            crate::switch::fpu_init_area(&mut a.0);
            a
        });
        let _irq = crate::cpu::IrqGuard::new();
        // SAFETY: `init` is a valid image (XSAVE header zero: every component in its
        // initial state; FCW and MXCSR set) and 64-byte aligned; the registers belong
        // to this running context, whose own save area is rewritten at its next
        // switch-out.
        unsafe { crate::switch::fpu_restore(init.0.as_ptr()) };
    }

    /// Copies the running thread's current user FPU registers into `out` (the
    /// layout of [`user_fpu_format`]; zeros for a context without user FPU state).
    /// Call only on the context running on this CPU.
    pub fn save_user_fpu(&self, out: &mut [u8]) {
        let Some(area) = self.fpu.as_ref() else {
            out.fill(0);
            return;
        };
        self.assert_running_here();
        let _irq = crate::cpu::IrqGuard::new();
        let n = out.len().min(4096);
        // SAFETY: the area is this running context's own 64-byte aligned 4 KiB save
        // area (see FpuSlot); with interrupts off nothing else touches it, and its
        // contents are rewritten at the next switch-out anyway.
        unsafe {
            crate::switch::fpu_save(area.ptr());
            core::ptr::copy_nonoverlapping(area.ptr(), out.as_mut_ptr(), n);
        }
    }

    /// Loads `image` into the running thread's user FPU registers. `image` must be
    /// a valid save image for this CPU (weft-signal's `sanitize_fpu_image` makes
    /// one from user bytes). Call only on the context running on this CPU.
    pub fn load_user_fpu(&self, image: &[u8]) {
        let Some(area) = self.fpu.as_ref() else {
            return;
        };
        self.assert_running_here();
        let n = image.len().min(4096);
        let _irq = crate::cpu::IrqGuard::new();
        // SAFETY: our own area (FpuSlot: untouched by others with interrupts off);
        // the image's MXCSR and XSAVE header were checked for this CPU, so XRSTOR
        // or FXRSTOR accepts it; the registers are this running context's.
        unsafe {
            core::ptr::copy_nonoverlapping(image.as_ptr(), area.ptr(), n);
            crate::switch::fpu_restore(area.ptr());
        }
    }

    fn assert_running_here(&self) {
        assert_eq!(
            self.running_on.load(Ordering::Acquire),
            percpu::cpu_id(),
            "user FPU access on a context that is not running here"
        );
    }

    /// Gives this context a user FPU state (initial values as for a new program).
    pub fn with_fpu(mut self) -> Context {
        let mut slot = Box::new(FpuSlot(core::cell::UnsafeCell::new(FpuArea([0; 4096]))));
        crate::switch::fpu_init_area(&mut slot.0.get_mut().0);
        self.fpu = Some(slot);
        self
    }

    /// Top of this context's kernel stack (0 for a `current_cpu` context).
    pub fn stack_top(&self) -> u64 {
        self.stack.as_ref().map_or(0, |s| s.top())
    }

    /// Whether the context is running on some CPU right now.
    pub fn is_running(&self) -> bool {
        self.running_on.load(Ordering::Acquire) != NOT_RUNNING
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // Freeing a stack that some CPU is executing on would be fatal later and far
        // away; stop right here instead.
        assert!(!self.is_running(), "dropping a running context");
    }
}

/// Switches from `prev` (the context running on this CPU) to `next`. Returns when
/// some CPU switches back to `prev`. Interrupts are disabled across the switch and
/// restored afterwards.
///
/// Panics if `prev` is not running on this CPU or `next` is not resumable (running
/// somewhere, or being switched out right now on another CPU).
fn switch(prev: &Context, next: &Context) {
    let irq = crate::cpu::irq_save();
    let me = percpu::cpu_id();
    assert_eq!(
        prev.running_on.load(Ordering::Acquire),
        me,
        "switch: prev is not running on this cpu"
    );
    assert!(
        next.resumable
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok(),
        "switch: next context is not resumable"
    );
    next.running_on.store(me, Ordering::Release);
    if let Some(f) = prev.fpu.as_ref() {
        // SAFETY: the area is 64-byte aligned and 4 KiB, enough for any XSAVE layout
        // Weft enables; this CPU's FPU registers belong to `prev`.
        unsafe { crate::switch::fpu_save(f.ptr()) };
    }
    let fs = next.fs_base.load(Ordering::Relaxed);
    if fs != prev.fs_base.load(Ordering::Relaxed) {
        // SAFETY: FS_BASE only affects user-mode (and explicit fs:) accesses; the
        // kernel does not use FS.
        unsafe { crate::cpu::wrmsr(crate::cpu::msr::FS_BASE, fs) };
    }
    let gs = next.gs_base.load(Ordering::Relaxed);
    if gs != prev.gs_base.load(Ordering::Relaxed) {
        // SAFETY: while in the kernel, KERNEL_GS_BASE holds the user GS base that the
        // next swapgs to user mode installs; the kernel's own GS is untouched.
        unsafe { crate::cpu::wrmsr(crate::cpu::msr::KERNEL_GS_BASE, gs) };
    }
    if let Some(f) = next.fpu.as_ref() {
        // SAFETY: the area holds an image saved by `fpu_save` or initialised by
        // `fpu_init_area`.
        unsafe { crate::switch::fpu_restore(f.ptr()) };
    }
    if next.stack.is_some() {
        crate::gdt::set_rsp0(percpu::this(), next.stack_top());
        percpu::this()
            .kernel_stack_top
            .store(next.stack_top(), Ordering::Relaxed);
    }
    percpu::this()
        .switch_prev
        .store(prev as *const Context as usize, Ordering::Relaxed);
    // SAFETY: `next` was resumable (checked and claimed above), so its saved stack
    // pointer is a complete switched-out state on a stack it owns; `prev` is running
    // here, so saving into it is what the protocol expects; interrupts are off.
    unsafe { crate::switch::switch_stacks(prev.rsp.as_ptr(), next.rsp.load(Ordering::Acquire)) };
    finish_switch();
    crate::cpu::irq_restore(irq);
}

/// Marks the context this CPU just left as resumable. Runs right after every
/// switch, in the context switched to (also at the start of a new context).
pub fn finish_switch() {
    let pc = percpu::this();
    let prev = pc.switch_prev.swap(0, Ordering::Relaxed) as *const Context;
    if prev.is_null() {
        return;
    }
    // SAFETY: `switch` stored a pointer to `prev`, which its caller keeps alive
    // until `prev` is resumable again (the context is still marked running, so it
    // cannot be dropped: `Drop` asserts that).
    let prev = unsafe { &*prev };
    prev.running_on.store(NOT_RUNNING, Ordering::Release);
    prev.resumable.store(true, Ordering::Release);
}

/// Something that owns a [`Context`]: the kernel's thread type.
pub trait HasContext: Send + Sync + 'static {
    /// The thread's execution context.
    fn context(&self) -> &Context;
}

/// Switches this CPU from `prev` to `next` (`None` = this CPU's `idle` context).
///
/// The threads are handed over by value, so nothing in a suspended stack frame
/// keeps another thread alive or points into one that may be freed: `prev` is
/// parked in the per-CPU area and handed to whoever runs next on this CPU, which
/// gets it back from this function (when a switched-out context resumes) or from
/// [`take_last`] (at the start of a new context). `next` is only borrowed for the
/// switch (the caller's scheduler keeps it alive as the CPU's current thread).
///
/// Returns the thread this CPU switched away from to resume the caller (`None`
/// for the idle context). The caller must release it to the scheduler.
pub fn switch_to<T: HasContext>(
    prev: Option<Arc<T>>,
    next: Option<Arc<T>>,
    idle: &'static Context,
) -> Option<Arc<T>> {
    let prev_ctx: *const Context = prev
        .as_ref()
        .map_or(idle as *const Context, |p| p.context() as *const Context);
    let next_ctx: *const Context = next
        .as_ref()
        .map_or(idle as *const Context, |n| n.context() as *const Context);
    let pc = percpu::this();
    pc.switch_type.store(type_tag::<T>(), Ordering::Relaxed);
    pc.switch_last.store(
        prev.map_or(0, |p| Arc::into_raw(p) as usize),
        Ordering::Relaxed,
    );
    pc.switch_in.store(
        next.map_or(0, |n| Arc::into_raw(n) as usize),
        Ordering::Relaxed,
    );
    // SAFETY: both pointers come from live objects: `idle` is 'static, `prev` and
    // `next` were turned into raw Arcs just above and are only released by
    // `take_last` on the context that runs next, after `switch` has returned there.
    unsafe { switch(&*prev_ctx, &*next_ctx) };
    take_last::<T>()
}

fn type_tag<T: 'static>() -> usize {
    // A per-type address: the monomorphised function's own address differs per T.
    type_tag::<T> as fn() -> usize as usize
}

/// On the context that just started running on this CPU: returns the thread the
/// CPU switched away from (see [`switch_to`]) and drops the hand-over reference to
/// the incoming one. New contexts call it first thing.
pub fn take_last<T: HasContext>() -> Option<Arc<T>> {
    let pc = percpu::this();
    let last = pc.switch_last.swap(0, Ordering::Relaxed);
    let incoming = pc.switch_in.swap(0, Ordering::Relaxed);
    if last == 0 && incoming == 0 {
        return None;
    }
    assert_eq!(
        pc.switch_type.load(Ordering::Relaxed),
        type_tag::<T>(),
        "take_last with a different thread type"
    );
    if incoming != 0 {
        // SAFETY: `incoming` came from `Arc::into_raw::<T>` in `switch_to` (type
        // checked above) and is released exactly once, here.
        drop(unsafe { Arc::from_raw(incoming as *const T) });
    }
    if last == 0 {
        None
    } else {
        // SAFETY: as above, for the parked `prev`.
        Some(unsafe { Arc::from_raw(last as *const T) })
    }
}

/// Loads `ctx`'s user FS and GS bases into this CPU now (after the running thread
/// changed them: arch_prctl, execve).
pub fn load_user_bases(ctx: &Context) {
    let _irq = crate::cpu::IrqGuard::new();
    // SAFETY: as in `switch`: FS_BASE and the user GS slot (KERNEL_GS_BASE while in
    // the kernel) only affect user mode; the caller's context is the running one.
    unsafe {
        crate::cpu::wrmsr(
            crate::cpu::msr::FS_BASE,
            ctx.fs_base.load(Ordering::Relaxed),
        );
        crate::cpu::wrmsr(
            crate::cpu::msr::KERNEL_GS_BASE,
            ctx.gs_base.load(Ordering::Relaxed),
        );
    }
}

#[unsafe(no_mangle)]
extern "C" fn weft_context_started() {
    finish_switch();
}
