//! The x86_64 signal frame (`rt_sigframe`), built and parsed as bytes.
//!
//! Layout (libs/abi/src/ucontext.rs has the structures): below the interrupted
//! stack pointer's red zone (or at the top of the alternate stack) comes the FPU
//! image, 64-byte aligned, then the 440-byte `rt_sigframe` so that the handler
//! starts with `rsp % 16 == 8`. `rt_sigreturn` reads the frame back at `rsp - 8`;
//! the registers it restores are limited to what user mode may set (segment
//! selectors and privileged RFLAGS bits never come from the frame), so a forged
//! frame cannot raise privilege. The FPU image is checked ([`sanitize_fpu_image`])
//! before the CPU loads it, so it cannot fault in the kernel either.

use alloc::vec;
use alloc::vec::Vec;

use weft_abi::signal::{SA_ONSTACK, SigAction, SigInfo, SigSet, StackT};
use weft_abi::ucontext::{
    FP_SW_BYTES_OFFSET, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2, FXSAVE_SIZE, RED_ZONE, UC_FP_XSTATE,
    UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, XSAVE_HEADER_SIZE,
};

use crate::AltStack;

/// Size of `struct rt_sigframe`.
pub const FRAME_SIZE: usize = 440;
const UC: usize = 8;
const MCONTEXT: usize = UC + 40;
const SIGMASK: usize = UC + 296;
const INFO: usize = 312;
const STACK: usize = UC + 16;

/// User selectors as the frame reports them (Linux's __USER_CS / __USER_DS).
pub const USER_CS: u16 = 0x33;
pub const USER_SS: u16 = 0x2b;

/// RFLAGS bits a frame may change: CF PF AF ZF SF TF DF OF NT RF AC.
pub const FRAME_RFLAGS: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4000 | 0x1_0000 | 0x4_0000;
const RFLAGS_TF: u64 = 0x100;
const RFLAGS_DF: u64 = 0x400;
const RFLAGS_RF: u64 = 0x1_0000;

/// The user registers a frame saves and restores.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
}

impl Regs {
    fn gprs(&self) -> [u64; 18] {
        [
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rdi,
            self.rsi,
            self.rbp,
            self.rbx,
            self.rdx,
            self.rax,
            self.rcx,
            self.rsp,
            self.rip,
            self.rflags,
        ]
    }

    fn from_gprs(g: &[u64; 18]) -> Regs {
        Regs {
            r8: g[0],
            r9: g[1],
            r10: g[2],
            r11: g[3],
            r12: g[4],
            r13: g[5],
            r14: g[6],
            r15: g[7],
            rdi: g[8],
            rsi: g[9],
            rbp: g[10],
            rbx: g[11],
            rdx: g[12],
            rax: g[13],
            rcx: g[14],
            rsp: g[15],
            rip: g[16],
            rflags: g[17],
        }
    }
}

/// The CPU's FPU save format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FpuFormat {
    /// XSAVE (standard format) rather than FXSAVE.
    pub xsave: bool,
    /// Bytes of the save image (512 for FXSAVE).
    pub size: usize,
    /// Enabled state components (XCR0).
    pub xfeatures: u64,
    /// MXCSR bits the CPU accepts (from FXSAVE's MXCSR_MASK; 0xffbf if it says 0).
    pub mxcsr_mask: u32,
}

/// Everything a delivery needs.
pub struct Delivery<'a> {
    pub regs: Regs,
    pub sig: u32,
    pub info: SigInfo,
    pub action: SigAction,
    /// The thread's mask before the handler (restored by rt_sigreturn).
    pub old_mask: SigSet,
    pub altstack: AltStack,
    /// The thread's current FPU image (`fpu.size` bytes).
    pub fpu_image: &'a [u8],
    pub fpu: FpuFormat,
    /// Exception details for faults (0 otherwise).
    pub trapno: u64,
    pub err: u64,
    pub cr2: u64,
}

/// A frame ready to be written at `base`.
#[derive(Debug)]
pub struct Built {
    /// Lowest address of the bytes (= the handler's rsp).
    pub base: u64,
    pub bytes: Vec<u8>,
    /// Registers the handler starts with.
    pub regs: Regs,
    /// The handler runs on the alternate stack and it has SS_AUTODISARM: disable it.
    pub disarm_altstack: bool,
}

/// The frame would not fit (the alternate stack overflows, or the address wraps):
/// the thread gets SIGSEGV instead.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NoRoom;

fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn get64(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}
fn get32(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

fn put_stack(b: &mut [u8], off: usize, s: &StackT) {
    put64(b, off, s.sp);
    put32(b, off + 8, s.flags as u32);
    put64(b, off + 16, s.size);
}

/// Bytes the FPU part of a frame takes (the image, plus MAGIC2 after an XSAVE one).
pub fn fpu_frame_size(f: &FpuFormat) -> usize {
    if f.xsave { f.size + 4 } else { FXSAVE_SIZE }
}

/// Builds the frame for `d`.
pub fn build(d: &Delivery<'_>) -> Result<Built, NoRoom> {
    let rsp = d.regs.rsp;
    let use_alt =
        d.action.flags & SA_ONSTACK != 0 && d.altstack.is_enabled() && !d.altstack.on_stack(rsp);
    let top = if use_alt {
        d.altstack.sp.checked_add(d.altstack.size).ok_or(NoRoom)?
    } else {
        rsp.checked_sub(RED_ZONE).ok_or(NoRoom)?
    };
    let fp_len = fpu_frame_size(&d.fpu);
    let fp_addr = top.checked_sub(fp_len as u64).ok_or(NoRoom)? & !63;
    let base = (fp_addr.checked_sub(FRAME_SIZE as u64).ok_or(NoRoom)? & !15)
        .checked_sub(8)
        .ok_or(NoRoom)?;
    if use_alt && base < d.altstack.sp {
        return Err(NoRoom);
    }
    let total = (fp_addr - base) as usize + fp_len;
    let mut b = vec![0u8; total];
    put64(&mut b, 0, d.action.restorer);
    let mut flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
    if d.fpu.xsave {
        flags |= UC_FP_XSTATE;
    }
    put64(&mut b, UC, flags);
    put_stack(&mut b, STACK, &d.altstack.report(rsp));
    for (i, v) in d.regs.gprs().iter().enumerate() {
        put64(&mut b, MCONTEXT + 8 * i, *v);
    }
    put16(&mut b, MCONTEXT + 144, USER_CS);
    put16(&mut b, MCONTEXT + 150, USER_SS);
    put64(&mut b, MCONTEXT + 152, d.err);
    put64(&mut b, MCONTEXT + 160, d.trapno);
    put64(&mut b, MCONTEXT + 168, d.old_mask);
    put64(&mut b, MCONTEXT + 176, d.cr2);
    put64(&mut b, MCONTEXT + 184, fp_addr);
    put64(&mut b, SIGMASK, d.old_mask);
    b[INFO..INFO + 128].copy_from_slice(&d.info.to_bytes());
    let fp = (fp_addr - base) as usize;
    let n = d.fpu_image.len().min(d.fpu.size);
    b[fp..fp + n].copy_from_slice(&d.fpu_image[..n]);
    if d.fpu.xsave {
        let sw = fp + FP_SW_BYTES_OFFSET;
        put32(&mut b, sw, FP_XSTATE_MAGIC1);
        put32(&mut b, sw + 4, (d.fpu.size + 4) as u32);
        put64(&mut b, sw + 8, d.fpu.xfeatures);
        put32(&mut b, sw + 16, d.fpu.size as u32);
        put32(&mut b, fp + d.fpu.size, FP_XSTATE_MAGIC2);
    }
    let regs = Regs {
        rip: d.action.handler,
        rsp: base,
        rdi: d.sig as u64,
        rsi: base + INFO as u64,
        rdx: base + UC as u64,
        rax: 0,
        rflags: d.regs.rflags & !(RFLAGS_TF | RFLAGS_DF | RFLAGS_RF),
        ..d.regs
    };
    Ok(Built {
        base,
        bytes: b,
        regs,
        disarm_altstack: use_alt && d.altstack.flags & weft_abi::signal::SS_AUTODISARM != 0,
    })
}

/// What `rt_sigreturn` restores from a frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// Registers; `rflags` already merged with the current one (only
    /// [`FRAME_RFLAGS`] bits come from the frame).
    pub regs: Regs,
    pub mask: SigSet,
    /// The alternate stack the frame names (applied like sigaltstack, errors ignored).
    pub stack: StackT,
    /// Address of the FPU image (0: reset the FPU to its initial state).
    pub fpstate: u64,
}

/// Parses the 440 frame bytes found at `rsp - 8`. `cur_rflags`: the flags the
/// thread has now (privileged bits are kept from it).
pub fn parse(frame: &[u8; FRAME_SIZE], cur_rflags: u64) -> Restored {
    let mut g = [0u64; 18];
    for (i, v) in g.iter_mut().enumerate() {
        *v = get64(frame, MCONTEXT + 8 * i);
    }
    let mut regs = Regs::from_gprs(&g);
    regs.rflags = (cur_rflags & !FRAME_RFLAGS) | (regs.rflags & FRAME_RFLAGS);
    Restored {
        regs,
        mask: crate::sanitize_mask(get64(frame, SIGMASK)),
        stack: StackT {
            sp: get64(frame, STACK),
            flags: get32(frame, STACK + 8) as i32,
            _pad: 0,
            size: get64(frame, STACK + 16),
        },
        fpstate: get64(frame, MCONTEXT + 184),
    }
}

/// How many bytes to read at a frame's `fpstate` (the XSAVE image plus MAGIC2, or
/// the FXSAVE image).
pub fn fpu_read_size(f: &FpuFormat) -> usize {
    fpu_frame_size(f)
}

/// Turns the bytes found at `fpstate` into an image the CPU can load without
/// faulting: an XSAVE image is used whole only when its software bytes and MAGIC2
/// say so (else only its legacy FXSAVE part, as for an old-style frame); reserved
/// MXCSR bits, unknown XSTATE_BV bits, XCOMP_BV and the reserved header bytes are
/// cleared. Returns `f.size` bytes.
pub fn sanitize_fpu_image(user: &[u8], f: &FpuFormat) -> Vec<u8> {
    let mut img = vec![0u8; f.size.max(FXSAVE_SIZE)];
    let legacy = FXSAVE_SIZE.min(user.len());
    img[..legacy].copy_from_slice(&user[..legacy]);
    // The software bytes are not part of the hardware image.
    img[FP_SW_BYTES_OFFSET..FXSAVE_SIZE].fill(0);
    let mx = get32(&img, 24) & f.mxcsr_mask;
    put32(&mut img, 24, mx);
    put32(&mut img, 28, 0);
    if f.xsave {
        let sw = FP_SW_BYTES_OFFSET;
        let full = user.len() >= f.size + 4
            && get32(user, sw) == FP_XSTATE_MAGIC1
            && get32(user, sw + 16) as usize == f.size
            && get32(user, f.size) == FP_XSTATE_MAGIC2;
        if full {
            img[FXSAVE_SIZE..f.size].copy_from_slice(&user[FXSAVE_SIZE..f.size]);
            let bv = get64(&img, FXSAVE_SIZE) & f.xfeatures & get64(user, sw + 8);
            img[FXSAVE_SIZE..FXSAVE_SIZE + XSAVE_HEADER_SIZE].fill(0);
            put64(&mut img, FXSAVE_SIZE, bv);
        } else {
            img[FXSAVE_SIZE..].fill(0);
            // x87 and SSE from the legacy area; everything else in its initial state.
            put64(&mut img, FXSAVE_SIZE, 0x3 & f.xfeatures);
        }
    }
    img.truncate(f.size.max(FXSAVE_SIZE));
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_abi::signal::*;

    const XS: FpuFormat = FpuFormat {
        xsave: true,
        size: 832,
        xfeatures: 0x7,
        mxcsr_mask: 0xffbf,
    };
    const FX: FpuFormat = FpuFormat {
        xsave: false,
        size: 512,
        xfeatures: 0x3,
        mxcsr_mask: 0xffff,
    };

    fn delivery<'a>(img: &'a [u8], fpu: FpuFormat, flags: u64, alt: AltStack) -> Delivery<'a> {
        Delivery {
            regs: Regs {
                rsp: 0x7fff_0000_1234,
                rip: 0x40_1000,
                rax: 7,
                rflags: 0x246 | RFLAGS_DF,
                rbx: 99,
                ..Regs::default()
            },
            sig: SIGUSR1,
            info: SigInfo::kill(SIGUSR1, SI_USER, 5, 0),
            action: SigAction {
                handler: 0x40_2000,
                flags: flags | SA_RESTORER | SA_SIGINFO,
                restorer: 0x40_3000,
                mask: 0,
            },
            old_mask: sigmask(SIGUSR2),
            altstack: alt,
            fpu_image: img,
            fpu,
            trapno: 0,
            err: 0,
            cr2: 0,
        }
    }

    #[test]
    fn frame_layout_alignment_and_entry_regs() {
        let img = vec![0xabu8; 832];
        let d = delivery(&img, XS, 0, AltStack::default());
        let b = build(&d).unwrap();
        assert_eq!(b.base % 16, 8, "handler starts as after a call");
        assert!(
            b.base + b.bytes.len() as u64 <= d.regs.rsp - RED_ZONE,
            "red zone kept"
        );
        assert_eq!(b.regs.rip, 0x40_2000);
        assert_eq!(b.regs.rsp, b.base);
        assert_eq!(
            (b.regs.rdi, b.regs.rsi, b.regs.rdx),
            (SIGUSR1 as u64, b.base + 312, b.base + 8)
        );
        assert_eq!(b.regs.rflags & RFLAGS_DF, 0);
        assert_eq!(get64(&b.bytes, 0), 0x40_3000, "pretcode = restorer");
        let fp = get64(&b.bytes, MCONTEXT + 184);
        assert_eq!(fp % 64, 0);
        let off = (fp - b.base) as usize;
        assert_eq!(get32(&b.bytes, off + FP_SW_BYTES_OFFSET), FP_XSTATE_MAGIC1);
        assert_eq!(get32(&b.bytes, off + 832), FP_XSTATE_MAGIC2);
        assert_eq!(get64(&b.bytes, UC) & UC_FP_XSTATE, UC_FP_XSTATE);
        assert_eq!(&b.bytes[INFO..INFO + 4], &(SIGUSR1 as i32).to_le_bytes());
    }

    #[test]
    fn roundtrip_restores_registers_and_mask() {
        let img = vec![0u8; 512];
        let d = delivery(&img, FX, 0, AltStack::default());
        let b = build(&d).unwrap();
        let mut f = [0u8; FRAME_SIZE];
        f.copy_from_slice(&b.bytes[..FRAME_SIZE]);
        let r = parse(&f, 0x202);
        assert_eq!(r.regs.rip, 0x40_1000);
        assert_eq!(r.regs.rsp, 0x7fff_0000_1234);
        assert_eq!((r.regs.rax, r.regs.rbx), (7, 99));
        assert_eq!(r.regs.rflags, 0x202 | 0x46 | RFLAGS_DF);
        assert_eq!(r.mask, sigmask(SIGUSR2));
        assert_eq!(r.fpstate, get64(&b.bytes, MCONTEXT + 184));
    }

    #[test]
    fn forged_frame_cannot_set_privileged_flags_or_unblockable_mask() {
        let mut f = [0u8; FRAME_SIZE];
        put64(&mut f, MCONTEXT + 8 * 17, u64::MAX); // IOPL, IF, VM, ... all set
        put64(&mut f, SIGMASK, u64::MAX);
        let r = parse(&f, 0x202);
        assert_eq!(r.regs.rflags & !FRAME_RFLAGS, 0x202);
        assert_eq!(r.regs.rflags & 0x3000, 0, "no IOPL");
        assert_eq!(r.mask & UNBLOCKABLE, 0);
    }

    #[test]
    fn altstack_used_and_overflow_detected() {
        let img = vec![0u8; 832];
        let alt = AltStack {
            sp: 0x1000_0000,
            size: 0x4000,
            flags: 0,
        };
        let d = delivery(&img, XS, SA_ONSTACK, alt);
        let b = build(&d).unwrap();
        assert!(b.base >= alt.sp && b.base < alt.sp + alt.size);
        // Without SA_ONSTACK the normal stack is used.
        let d2 = delivery(&img, XS, 0, alt);
        assert!(build(&d2).unwrap().base > 0x7fff_0000_0000);
        // Already on the alternate stack: nest below the current rsp.
        let mut d3 = delivery(&img, XS, SA_ONSTACK, alt);
        d3.regs.rsp = alt.sp + 0x3000;
        let b3 = build(&d3).unwrap();
        assert!(b3.base < alt.sp + 0x3000 - RED_ZONE);
        // Too small to hold the frame.
        let tiny = AltStack {
            sp: 0x1000_0000,
            size: 512,
            flags: 0,
        };
        assert_eq!(
            build(&delivery(&img, XS, SA_ONSTACK, tiny)).unwrap_err(),
            NoRoom
        );
        let mut d4 = delivery(&img, XS, 0, alt);
        d4.regs.rsp = 0x500;
        assert_eq!(build(&d4).unwrap_err(), NoRoom, "wrap below zero");
    }

    #[test]
    fn sanitize_fpu_images() {
        // A full XSAVE image with bad bits everywhere.
        let mut u = vec![0xffu8; 836];
        put32(&mut u, FP_SW_BYTES_OFFSET, FP_XSTATE_MAGIC1);
        put32(&mut u, FP_SW_BYTES_OFFSET + 16, 832);
        put64(&mut u, FP_SW_BYTES_OFFSET + 8, 0x7);
        put32(&mut u, 832, FP_XSTATE_MAGIC2);
        let img = sanitize_fpu_image(&u, &XS);
        assert_eq!(img.len(), 832);
        assert_eq!(get32(&img, 24), 0xffbf, "reserved MXCSR bits cleared");
        assert_eq!(get64(&img, 512), 0x7, "XSTATE_BV limited to XCR0");
        assert_eq!(get64(&img, 520), 0, "XCOMP_BV zero");
        assert!(img[528..576].iter().all(|&b| b == 0));
        assert_eq!(img[600], 0xff, "AVX state kept");
        // Without the magic only the legacy part counts.
        let mut v = u.clone();
        put32(&mut v, 832, 0);
        let img = sanitize_fpu_image(&v, &XS);
        assert_eq!(get64(&img, 512), 0x3);
        assert!(img[576..].iter().all(|&b| b == 0));
        // FXSAVE.
        let img = sanitize_fpu_image(&u[..512], &FX);
        assert_eq!(img.len(), 512);
        assert_eq!(get32(&img, 24), 0xffff);
        assert!(img[FP_SW_BYTES_OFFSET..].iter().all(|&b| b == 0));
    }
}
