//! The IDT, interrupt/exception entry stubs and the dispatcher.
//!
//! One entry stub per vector (256, generated in assembly, 16 bytes apart) pushes a
//! dummy error code where the CPU does not, then the vector number, and jumps to a
//! common path that saves every general-purpose register into a [`TrapFrame`] and
//! calls [`weft_trap_dispatch`]. Entries from user mode `swapgs`; NMI, double fault
//! and machine check use the "paranoid" path, which decides from the GS base MSR
//! because they can arrive at any instruction, and run on their own IST stacks.

use core::fmt::Write;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::gdt;
use crate::vectors;

/// Pushes the fifteen general-purpose registers in [`TrapFrame`] order (rax first,
/// so r15 ends up lowest). Shared by the trap and system call entry paths.
#[macro_export]
#[doc(hidden)]
macro_rules! push_gprs {
    () => {
        "push rax\npush rbx\npush rcx\npush rdx\npush rsi\npush rdi\npush rbp\npush r8\npush r9\npush r10\npush r11\npush r12\npush r13\npush r14\npush r15\n"
    };
}

/// Pops what [`push_gprs`] pushed.
#[macro_export]
#[doc(hidden)]
macro_rules! pop_gprs {
    () => {
        "pop r15\npop r14\npop r13\npop r12\npop r11\npop r10\npop r9\npop r8\npop rbp\npop rdi\npop rsi\npop rdx\npop rcx\npop rbx\npop rax\n"
    };
}

/// Registers saved on entry, in the order the stubs push them (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Whether the trap interrupted user mode.
    pub fn from_user(&self) -> bool {
        self.cs & 3 != 0
    }
}

core::arch::global_asm!(concat!(
    r#"
    .section .text.weft_trap, "ax"
    .global weft_trap_stubs
    .p2align 4
weft_trap_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    push 0
    .endif
    push vec
    .if (vec == 2) || (vec == 8) || (vec == 18)
    jmp weft_trap_paranoid
    .else
    jmp weft_trap_common
    .endif
    .set vec, vec + 1
    .endr

    .p2align 4
weft_trap_common:
    test byte ptr [rsp + 24], 3
    jz 1f
    swapgs
1:
"#,
    crate::push_gprs!(),
    r#"    mov rdi, rsp
    cld
    call weft_trap_dispatch
    .global weft_trap_return
weft_trap_return:
"#,
    crate::pop_gprs!(),
    r#"    add rsp, 16
    test byte ptr [rsp + 8], 3
    jz 2f
    swapgs
2:
    iretq

    .p2align 4
weft_trap_paranoid:
"#,
    crate::push_gprs!(),
    r#"    xor ebx, ebx
    mov ecx, 0xc0000101
    rdmsr
    test edx, edx
    js 3f
    swapgs
    mov ebx, 1
3:
    mov rdi, rsp
    cld
    call weft_trap_dispatch
    test ebx, ebx
    jz 4f
    swapgs
4:
"#,
    crate::pop_gprs!(),
    r#"    add rsp, 16
    iretq
"#
));

unsafe extern "C" {
    fn weft_trap_stubs();
    fn weft_trap_return();
}

/// Address of the common trap-return path: a thread whose kernel stack holds a
/// [`TrapFrame`] can start by returning through it (used to enter user mode).
pub fn trap_return_addr() -> u64 {
    weft_trap_return as *const () as u64
}

#[repr(C, align(16))]
struct Idt([u64; 512]);

static mut IDT: Idt = Idt([0; 512]);

/// Handler for one vector.
pub type Handler = fn(&mut TrapFrame);

static HANDLERS: [AtomicPtr<()>; 256] = [const { AtomicPtr::new(core::ptr::null_mut()) }; 256];
static RETURN_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static SPURIOUS_COUNT: AtomicU64 = AtomicU64::new(0);

fn encode_gate(handler: u64, ist: u8, dpl: u8) -> (u64, u64) {
    let low = (handler & 0xffff)
        | ((gdt::KERNEL_CS as u64) << 16)
        | ((ist as u64 & 7) << 32)
        | ((0x8e | ((dpl as u64 & 3) << 5)) << 40) // present, interrupt gate
        | (((handler >> 16) & 0xffff) << 48);
    (low, handler >> 32)
}

/// Fills the shared IDT (once, on the boot CPU) and loads it.
pub fn init_idt() {
    let base = weft_trap_stubs as *const () as u64;
    for v in 0..256u64 {
        let ist = match v as u8 {
            8 => gdt::IST_DOUBLE_FAULT,
            2 => gdt::IST_NMI,
            18 => gdt::IST_MACHINE_CHECK,
            _ => 0,
        };
        // Breakpoint and overflow may be raised from user mode with int3/into.
        let dpl = if v == 3 || v == 4 { 3 } else { 0 };
        let (lo, hi) = encode_gate(base + 16 * v, ist, dpl);
        // SAFETY: runs once on the boot CPU before any other CPU loads the IDT and
        // before interrupts are enabled, so nothing reads IDT concurrently.
        unsafe {
            let idt = &raw mut IDT;
            (*idt).0[2 * v as usize] = lo;
            (*idt).0[2 * v as usize + 1] = hi;
        }
    }
    set_handler(vectors::STOP, |_| crate::cpu::halt_forever());
    load_idt();
}

/// Loads the shared IDT on the calling CPU.
pub fn load_idt() {
    let ptr = x86_64::structures::DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: x86_64::VirtAddr::new(&raw const IDT as u64),
    };
    // SAFETY: IDT is a static, fully initialised by `init_idt` before any CPU calls this.
    unsafe { x86_64::instructions::tables::lidt(&ptr) };
}

/// Installs the handler for `vector`. Exceptions without a handler are fatal.
pub fn set_handler(vector: u8, h: Handler) {
    HANDLERS[vector as usize].store(h as *mut (), Ordering::Release);
}

/// Installs a function called at the end of every trap (with the frame about to be
/// resumed); the scheduler uses it for preemption and user-return work.
pub fn set_return_hook(h: Handler) {
    RETURN_HOOK.store(h as *mut (), Ordering::Release);
}

fn load_handler(slot: &AtomicPtr<()>) -> Option<Handler> {
    let p = slot.load(Ordering::Acquire);
    if p.is_null() {
        None
    } else {
        // SAFETY: only `set_handler`/`set_return_hook` store into these slots, always `Handler` values.
        Some(unsafe { core::mem::transmute::<*mut (), Handler>(p) })
    }
}

/// Number of spurious interrupts seen.
pub fn spurious_count() -> u64 {
    SPURIOUS_COUNT.load(Ordering::Relaxed)
}

#[unsafe(no_mangle)]
extern "C" fn weft_trap_dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as usize;
    if vector < 32 {
        match load_handler(&HANDLERS[vector]) {
            Some(h) => h(frame),
            None => fatal(frame, None),
        }
        if vector == 2 {
            // An NMI can land anywhere, even inside the scheduler or with a spin
            // lock held: it never preempts or delivers signals on its way out.
            return;
        }
    } else if vector == vectors::SPURIOUS as usize {
        SPURIOUS_COUNT.fetch_add(1, Ordering::Relaxed);
    } else {
        crate::apic::eoi();
        if let Some(h) = load_handler(&HANDLERS[vector]) {
            h(frame);
        }
    }
    run_return_hook(frame);
}

/// Runs the return hook (preemption, signal delivery) for `frame`.
pub fn run_return_hook(frame: &mut TrapFrame) {
    if let Some(hook) = load_handler(&RETURN_HOOK) {
        hook(frame);
    }
}

/// Human-readable exception names.
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        2 => "non-maskable interrupt (NMI)",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range exceeded (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        8 => "double fault (#DF)",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack-segment fault (#SS)",
        13 => "general protection fault (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 floating-point exception (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD floating-point exception (#XM)",
        20 => "virtualization exception (#VE)",
        21 => "control protection exception (#CP)",
        _ => "reserved exception",
    }
}

/// Writes the full report for `frame` (used for fatal exceptions).
pub fn write_report(w: &mut dyn Write, frame: &TrapFrame, note: Option<&str>) {
    let cpu = crate::percpu::cpu_id();
    let _ = writeln!(
        w,
        "EXCEPTION: {} (vector {}) on cpu{} in {} mode, error code {:#x}",
        exception_name(frame.vector),
        frame.vector,
        cpu,
        if frame.from_user() { "user" } else { "kernel" },
        frame.error_code
    );
    if let Some(n) = note {
        let _ = writeln!(w, "  {n}");
    }
    if frame.vector == 14 {
        let e = frame.error_code;
        let _ = writeln!(
            w,
            "  cr2 {:#018x} ({}, {}, {}{})",
            crate::cpu::cr2(),
            if e & 1 != 0 {
                "protection violation"
            } else {
                "not present"
            },
            if e & 2 != 0 { "write" } else { "read" },
            if e & 4 != 0 { "user" } else { "supervisor" },
            if e & 16 != 0 {
                ", instruction fetch"
            } else {
                ""
            }
        );
    }
    write_regs(w, frame);
}

/// Writes the registers of `frame` and, for kernel mode, a symbolised backtrace
/// of the interrupted code.
pub fn write_regs(w: &mut dyn Write, frame: &TrapFrame) {
    let _ = write!(w, "  rip ");
    crate::backtrace::write_addr(w, frame.rip);
    let _ = writeln!(w);
    let (cr0, cr4) = crate::cpu::cr0_cr4();
    let _ = writeln!(
        w,
        "  cs {:#x} ss {:#x} rflags {:#x} rsp {:#018x} cr0 {:#x} cr3 {:#x} cr4 {:#x}",
        frame.cs,
        frame.ss,
        frame.rflags,
        frame.rsp,
        cr0,
        crate::cpu::cr3(),
        cr4
    );
    let regs = [
        ("rax", frame.rax),
        ("rbx", frame.rbx),
        ("rcx", frame.rcx),
        ("rdx", frame.rdx),
        ("rsi", frame.rsi),
        ("rdi", frame.rdi),
        ("rbp", frame.rbp),
        ("r8", frame.r8),
        ("r9", frame.r9),
        ("r10", frame.r10),
        ("r11", frame.r11),
        ("r12", frame.r12),
        ("r13", frame.r13),
        ("r14", frame.r14),
        ("r15", frame.r15),
    ];
    for chunk in regs.chunks(4) {
        let _ = write!(w, " ");
        for (name, v) in chunk {
            let _ = write!(w, " {name:>3} {v:#018x}");
        }
        let _ = writeln!(w);
    }
    if !frame.from_user() {
        crate::backtrace::print_from(w, frame.rbp, 32);
    }
    if let Some(hook) = report_hook() {
        hook(w);
    }
}

/// Writes what the kernel knows about the running thread into a crash report.
pub type ReportHook = fn(&mut dyn Write);

static REPORT_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs the function that ends every exception report with the running
/// thread (the kernel: its tid and the system call it is in).
pub fn set_report_hook(h: ReportHook) {
    REPORT_HOOK.store(h as *mut (), Ordering::Release);
}

/// The installed report hook, if any.
pub fn report_hook() -> Option<ReportHook> {
    let p = REPORT_HOOK.load(Ordering::Acquire);
    if p.is_null() {
        None
    } else {
        // SAFETY: only `set_report_hook` stores into REPORT_HOOK, always a `ReportHook`.
        Some(unsafe { core::mem::transmute::<*mut (), ReportHook>(p) })
    }
}

/// Stops every other CPU (used on panic and fatal exceptions).
pub fn stop_other_cpus() {
    if crate::apic::is_initialised() {
        crate::apic::send_ipi_all_others(vectors::STOP);
    }
}

/// Reports an unrecoverable exception and stops the machine.
pub fn fatal(frame: &TrapFrame, note: Option<&str>) -> ! {
    if !crate::log::begin_panic() {
        // Another CPU is already reporting; just stop.
        crate::cpu::halt_forever();
    }
    stop_other_cpus();
    crate::log::with_console(|w| write_report(w, frame, note));
    crate::qemu::exit(crate::qemu::EXIT_FAILURE);
    crate::cpu::halt_forever()
}
