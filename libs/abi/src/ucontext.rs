//! Signal frame layouts for x86_64: `sigcontext` (a.k.a. `mcontext`), the kernel's
//! `ucontext`, the FXSAVE/XSAVE area and the `rt_sigframe` that `rt_sigreturn`
//! unwinds.
//!
//! # The frame the kernel builds for a handler
//! From high to low addresses on the chosen stack (the thread's stack below the
//! 128-byte red zone, or the alternate stack with `SA_ONSTACK`):
//! 1. The FPU/SSE state (an XSAVE image, 64-byte aligned; or a 512-byte FXSAVE image,
//!    16-byte aligned), pointed to by [`SigContext::fpstate`]. When it is an XSAVE
//!    image, [`UContext::flags`] has [`UC_FP_XSTATE`], the FXSAVE part's
//!    `sw_reserved` holds an [`FpxSwBytes`] with [`FP_XSTATE_MAGIC1`], and the
//!    4 bytes right after the image hold [`FP_XSTATE_MAGIC2`].
//! 2. An [`RtSigFrame`]: `pretcode` (the `sa_restorer` address, which is where the
//!    handler's `ret` goes), the [`UContext`], then the [`SigInfo`].
//!
//! The handler starts with `rsp = &frame.pretcode`, `rsp % 16 == 8` (as right after
//! a `call`), `rdi = sig`, `rsi = &frame.info`, `rdx = &frame.uc`, `rax = 0`.
//! `rt_sigreturn` finds the frame at `rsp - 8` (the restorer's `ret` popped
//! `pretcode`), restores the registers from `uc.mcontext`, the FPU state from
//! `fpstate` (0 = reset to the initial state), the signal mask from `uc.sigmask` and
//! the alternate stack settings from `uc.stack`.

use crate::signal::{SigInfo, SigSet, StackT};

/// x86_64 `struct sigcontext` = `mcontext_t` (256 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SigContext {
    /// r8
    pub r8: u64,
    /// r9
    pub r9: u64,
    /// r10
    pub r10: u64,
    /// r11
    pub r11: u64,
    /// r12
    pub r12: u64,
    /// r13
    pub r13: u64,
    /// r14
    pub r14: u64,
    /// r15
    pub r15: u64,
    /// rdi
    pub rdi: u64,
    /// rsi
    pub rsi: u64,
    /// rbp
    pub rbp: u64,
    /// rbx
    pub rbx: u64,
    /// rdx
    pub rdx: u64,
    /// rax
    pub rax: u64,
    /// rcx
    pub rcx: u64,
    /// rsp
    pub rsp: u64,
    /// rip
    pub rip: u64,
    /// rflags
    pub eflags: u64,
    /// cs selector
    pub cs: u16,
    /// gs selector
    pub gs: u16,
    /// fs selector
    pub fs: u16,
    /// ss selector (restored only with `UC_SIGCONTEXT_SS`)
    pub ss: u16,
    /// Exception error code.
    pub err: u64,
    /// Exception vector.
    pub trapno: u64,
    /// The old signal mask (legacy; the real one is [`UContext::sigmask`]).
    pub oldmask: u64,
    /// Faulting address for page faults.
    pub cr2: u64,
    /// Address of the saved FPU state (0: none, reset on return).
    pub fpstate: u64,
    /// Reserved, zero.
    pub reserved1: [u64; 8],
}

const _: () = assert!(core::mem::size_of::<SigContext>() == 256);
const _: () = assert!(core::mem::offset_of!(SigContext, rip) == 128);
const _: () = assert!(core::mem::offset_of!(SigContext, cs) == 144);
const _: () = assert!(core::mem::offset_of!(SigContext, err) == 152);
const _: () = assert!(core::mem::offset_of!(SigContext, cr2) == 176);
const _: () = assert!(core::mem::offset_of!(SigContext, fpstate) == 184);

/// `gregs` index of r8 in a C `mcontext_t` (each index is one 8-byte slot of
/// [`SigContext`]).
pub const REG_R8: usize = 0;
/// `gregs` index of r9.
pub const REG_R9: usize = 1;
/// `gregs` index of r10.
pub const REG_R10: usize = 2;
/// `gregs` index of r11.
pub const REG_R11: usize = 3;
/// `gregs` index of r12.
pub const REG_R12: usize = 4;
/// `gregs` index of r13.
pub const REG_R13: usize = 5;
/// `gregs` index of r14.
pub const REG_R14: usize = 6;
/// `gregs` index of r15.
pub const REG_R15: usize = 7;
/// `gregs` index of rdi.
pub const REG_RDI: usize = 8;
/// `gregs` index of rsi.
pub const REG_RSI: usize = 9;
/// `gregs` index of rbp.
pub const REG_RBP: usize = 10;
/// `gregs` index of rbx.
pub const REG_RBX: usize = 11;
/// `gregs` index of rdx.
pub const REG_RDX: usize = 12;
/// `gregs` index of rax.
pub const REG_RAX: usize = 13;
/// `gregs` index of rcx.
pub const REG_RCX: usize = 14;
/// `gregs` index of rsp.
pub const REG_RSP: usize = 15;
/// `gregs` index of rip.
pub const REG_RIP: usize = 16;
/// `gregs` index of rflags.
pub const REG_EFL: usize = 17;
/// `gregs` index of the packed cs/gs/fs/ss word.
pub const REG_CSGSFS: usize = 18;
/// `gregs` index of the error code.
pub const REG_ERR: usize = 19;
/// `gregs` index of the trap number.
pub const REG_TRAPNO: usize = 20;
/// `gregs` index of the old mask.
pub const REG_OLDMASK: usize = 21;
/// `gregs` index of cr2.
pub const REG_CR2: usize = 22;

/// `uc_flags`: the FPU state is an XSAVE image (see [`FpxSwBytes`]).
pub const UC_FP_XSTATE: u64 = 0x1;
/// `uc_flags`: `ss` in the sigcontext is valid and restored.
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
/// `uc_flags`: restore `ss` strictly, even if it looks wrong.
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;

/// The kernel's x86_64 `struct ucontext` (304 bytes). The C library's
/// `ucontext_t` is larger, but its prefix matches this (its `uc_sigmask` is a
/// 128-byte `sigset_t` whose first 8 bytes are this `sigmask`).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct UContext {
    /// `UC_*` flags.
    pub flags: u64,
    /// Linked context (unused by the kernel, 0).
    pub link: u64,
    /// The alternate stack settings at delivery.
    pub stack: StackT,
    /// Saved registers.
    pub mcontext: SigContext,
    /// Signal mask to restore.
    pub sigmask: SigSet,
}

const _: () = assert!(core::mem::size_of::<UContext>() == 304);
const _: () = assert!(core::mem::offset_of!(UContext, stack) == 16);
const _: () = assert!(core::mem::offset_of!(UContext, mcontext) == 40);
const _: () = assert!(core::mem::offset_of!(UContext, sigmask) == 296);

/// `struct rt_sigframe` on x86_64 (440 bytes), at the handler's initial `rsp`.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RtSigFrame {
    /// Return address of the handler: the `sa_restorer` trampoline.
    pub pretcode: u64,
    /// Saved context.
    pub uc: UContext,
    /// Signal information.
    pub info: SigInfo,
}

const _: () = assert!(core::mem::size_of::<RtSigFrame>() == 440);
const _: () = assert!(core::mem::offset_of!(RtSigFrame, uc) == 8);
const _: () = assert!(core::mem::offset_of!(RtSigFrame, info) == 312);

/// Software-reserved bytes in the FXSAVE image's last 48 bytes, describing an XSAVE
/// image on the signal stack.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FpxSwBytes {
    /// [`FP_XSTATE_MAGIC1`] when an XSAVE image follows.
    pub magic1: u32,
    /// Total size of the FPU state on the stack including [`FP_XSTATE_MAGIC2`].
    pub extended_size: u32,
    /// XSAVE feature bits present in the image.
    pub xfeatures: u64,
    /// Size of the XSAVE image (without `MAGIC2`).
    pub xstate_size: u32,
    /// Reserved, zero.
    pub padding: [u32; 7],
}

const _: () = assert!(core::mem::size_of::<FpxSwBytes>() == 48);

/// The legacy 512-byte FXSAVE image (`struct _fpstate_64`), first part of any XSAVE
/// image.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FpState {
    /// x87 control word.
    pub cwd: u16,
    /// x87 status word.
    pub swd: u16,
    /// x87 abridged tag word.
    pub twd: u16,
    /// Last x87 opcode.
    pub fop: u16,
    /// Last x87 instruction pointer.
    pub rip: u64,
    /// Last x87 data pointer.
    pub rdp: u64,
    /// SSE control/status.
    pub mxcsr: u32,
    /// Valid MXCSR bits.
    pub mxcsr_mask: u32,
    /// ST0..ST7 (16 bytes each).
    pub st_space: [u32; 32],
    /// XMM0..XMM15 (16 bytes each).
    pub xmm_space: [u32; 64],
    /// Reserved.
    pub reserved2: [u32; 12],
    /// Software-reserved area.
    pub sw_reserved: FpxSwBytes,
}

impl Default for FpState {
    /// The initial state: all zero except `cwd = 0x37f` and `mxcsr = 0x1f80`.
    fn default() -> Self {
        FpState {
            cwd: FPU_INITIAL_CWD,
            swd: 0,
            twd: 0,
            fop: 0,
            rip: 0,
            rdp: 0,
            mxcsr: MXCSR_DEFAULT,
            mxcsr_mask: 0,
            st_space: [0; 32],
            xmm_space: [0; 64],
            reserved2: [0; 12],
            sw_reserved: FpxSwBytes::default(),
        }
    }
}

const _: () = assert!(core::mem::size_of::<FpState>() == FXSAVE_SIZE);
const _: () = assert!(core::mem::offset_of!(FpState, mxcsr) == 24);
const _: () = assert!(core::mem::offset_of!(FpState, st_space) == 32);
const _: () = assert!(core::mem::offset_of!(FpState, xmm_space) == 160);
const _: () = assert!(core::mem::offset_of!(FpState, sw_reserved) == FP_SW_BYTES_OFFSET);

/// Size of the FXSAVE image.
pub const FXSAVE_SIZE: usize = 512;
/// Offset of [`FpxSwBytes`] in the FXSAVE image.
pub const FP_SW_BYTES_OFFSET: usize = 464;
/// Size of the XSAVE header that follows the FXSAVE image.
pub const XSAVE_HEADER_SIZE: usize = 64;
/// Alignment XSAVE needs.
pub const XSAVE_ALIGN: usize = 64;
/// `FpxSwBytes::magic1` value ("FPXS").
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// Value stored right after an XSAVE image on the signal stack ("FPXE").
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Size of [`FP_XSTATE_MAGIC2`].
pub const FP_XSTATE_MAGIC2_SIZE: usize = 4;
/// x87 control word after `fninit`.
pub const FPU_INITIAL_CWD: u16 = 0x037f;
/// MXCSR after reset (all exceptions masked).
pub const MXCSR_DEFAULT: u32 = 0x1f80;

/// Bytes the signal frame may not touch below the interrupted `rsp` (the System V
/// red zone).
pub const RED_ZONE: u64 = 128;
