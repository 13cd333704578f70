//! The Weft kernel: boot, bring-up of every CPU, and the in-guest test and
//! benchmark entry points. Hardware details live in `weft-arch`, memory
//! management in `weft-mm`.
#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod bootglue;
mod fs;
mod futex;
mod irq;
mod ktest;
mod panic;
mod proc;
mod random;
mod smp;
mod symbols;
mod task;
mod time;
mod tlb;
mod watchdog;

use spin::Once;
use weft_arch::{apic, cpu, kprintln, percpu, trap};
use weft_mm::{Region, RegionKind};

/// Boot information, copied out of bootloader memory.
pub static BOOT_INFO: Once<boot::BootInfo> = Once::new();

/// The boot information (after early boot).
pub fn boot_info() -> &'static boot::BootInfo {
    BOOT_INFO
        .get()
        .expect("boot info used before it was collected")
}

/// Kernel stack size for the boot CPU and the APs' first threads.
pub const KSTACK_PAGES: usize = 16;
/// Stack size of the double-fault / NMI / machine-check stacks.
pub const IST_PAGES: usize = 4;

fn mm_log(args: core::fmt::Arguments) {
    kprintln!("{}", args);
}

/// Entry point from the bootloader (boot CPU, on the bootloader's stack).
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    percpu::install(0, 0);
    weft_arch::serial::init();
    cpu::enable_features();
    trap::init_idt();
    kprintln!("weft {}: booting", env!("CARGO_PKG_VERSION"));

    let mut regions = [Region {
        base: 0,
        len: 0,
        kind: RegionKind::Reserved,
    }; 256];
    let (hhdm, n) = boot::early_memory(&mut regions);
    weft_arch::backtrace::set_hhdm_offset(hhdm);
    bootglue::init_memory(hhdm, &regions[..n], mm_log);

    let info = boot::collect(hhdm, &regions[..n]);
    BOOT_INFO.call_once(|| info);

    // Leave the bootloader's stack (it is reclaimed once every CPU is up).
    let stack = weft_mm::alloc_kernel_stack(KSTACK_PAGES)
        .expect("no memory for the boot CPU's kernel stack");
    let top = stack.top();
    core::mem::forget(stack);
    bootglue::run_on_stack(top, kmain_on_kernel_stack, 0)
}

extern "C" fn kmain_on_kernel_stack(_: usize, _: usize) -> ! {
    let info = boot_info();
    kprintln!(
        "boot: {} ({}), hhdm {:#x}, kernel at {:#x} (phys {:#x}), cmdline {:?}",
        info.bootloader,
        info.firmware,
        info.hhdm_offset,
        info.kernel_virt,
        info.kernel_phys,
        info.cmdline
    );
    smp::init_cpu_tables(0);

    let hz = weft_arch::time::calibrate();
    kprintln!(
        "time: TSC {}.{:03} MHz (calibrated against the PIT)",
        hz / 1_000_000,
        (hz / 1000) % 1000
    );
    let nsyms = symbols::init(info.kernel_file);
    kprintln!("symbols: {nsyms} functions");

    let madt = weft_arch::acpi::parse_madt(info.rsdp_phys, weft_mm::map_firmware)
        .unwrap_or_else(|e| panic!("acpi: {e}"));
    kprintln!(
        "acpi: {} processors, {} I/O APICs, {} overrides, LAPIC at {:#x}",
        madt.processors.len(),
        madt.ioapics.len(),
        madt.overrides.len(),
        madt.lapic_phys
    );
    irq::init();
    watchdog::init(info.cmdline.as_str());
    smp::init_local_apic(&madt);
    let tpm = apic::calibrate_timer();
    kprintln!(
        "apic: {} mode, timer {} ticks/ms (div 16), tsc-deadline {}",
        if apic::is_x2apic() { "x2APIC" } else { "xAPIC" },
        tpm,
        if apic::deadline_mode() { "yes" } else { "no" }
    );
    for io in &madt.ioapics {
        let virt = weft_mm::map_mmio(io.phys, 0x20) as u64;
        let n = weft_arch::ioapic::init(virt, io.gsi_base);
        kprintln!(
            "ioapic: id {} at {:#x}, GSI {}..{}",
            io.id,
            io.phys,
            io.gsi_base,
            io.gsi_base + n
        );
    }
    ACPI.call_once(|| madt);

    task::init(boot::mp_response().cpus().len().max(1));
    weft_mm::set_tlb_flush_hook(tlb::kernel_range_flushed);
    weft_mm::user::set_shootdown_hook(tlb::shootdown);
    // A thread spinning on an address-space lock whose holder was preempted gives
    // the CPU away instead of burning its time slice.
    weft_mm::sync::set_parker(&task::MmParker);
    weft_arch::syscall::set_handler(proc::syscall::handle);
    weft_arch::syscall::init_cpu();
    irq::init_console_input(ACPI.get());
    let online = smp::start_aps();
    kprintln!("smp: {} cpus online", online);
    cpu::enable_interrupts();

    let reclaimed = bootglue::reclaim_bootloader_memory(&info.regions);
    let st = weft_mm::stats();
    kprintln!(
        "mm: reclaimed {} KiB of bootloader memory; {} of {} frames free, heap {} KiB used of {} KiB",
        reclaimed * 4,
        st.free_frames,
        st.total_frames,
        st.heap_used / 1024,
        st.heap_capacity / 1024
    );

    task::kthread::spawn("kmain", kmain_thread).detach();
    task::enter_idle()
}

/// Whether the kernel's own tests passed (combined with init's exit status).
static KTESTS_OK: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// The first kernel thread: runs what the command line asks for, then starts init.
fn kmain_thread() -> u64 {
    let info = boot_info();
    let cmd = info.cmdline.as_str();
    let initramfs = info
        .modules
        .iter()
        .find(|m| m.path.ends_with("initramfs.tar"))
        .map(|m| m.data);
    fs::init(initramfs);
    task::kthread::spawn("kdebug", debug_dump_thread).detach();
    let init_path = init_path(cmd);
    let mut init_args: alloc::vec::Vec<alloc::string::String> =
        alloc::vec![alloc::string::String::from(init_path)];
    if let Some(filter) = ktest::requested(cmd) {
        let ok = ktest::run(filter, cmd);
        KTESTS_OK.store(ok, core::sync::atomic::Ordering::Release);
        init_args.push("--test".into());
        if !filter.is_empty() {
            init_args.push(filter.into());
        }
    } else if ktest::bench_requested(cmd) {
        ktest::bench::run();
        // Then the user-space benchmarks, if the initramfs has them.
        if fs::lookup_file(b"/bin/ubench").is_err() {
            shutdown(true);
        }
        init_args.extend(["--run", "/bin/ubench"].map(alloc::string::String::from));
    } else if let Some(run) = cmd.find("RUN=") {
        init_args.push("--run".into());
        init_args.extend(
            cmd[run + 4..]
                .split_whitespace()
                .map(alloc::string::String::from),
        );
    }
    let argv: alloc::vec::Vec<&str> = init_args.iter().map(|s| s.as_str()).collect();
    match proc::start_init(init_path, &argv) {
        Ok(p) => kprintln!("init: started {} as pid {} ({:?})", init_path, p.pid, argv),
        Err(e) => {
            // Nothing can run without init: say why and end the run as a failure.
            kprintln!(
                "init: cannot start {}: {} ({})",
                init_path,
                e.name().unwrap_or("?"),
                e.as_neg()
            );
            shutdown(false);
        }
    }
    0
}

/// The program to run as init: `init=PATH` on the command line (a word before any
/// `RUN=`, which takes the rest of the line), else `/bin/init`.
fn init_path(cmd: &str) -> &str {
    let before_run = cmd.find("RUN=").map_or(cmd, |i| &cmd[..i]);
    before_run
        .split_whitespace()
        .find_map(|w| w.strip_prefix("init="))
        .filter(|p| !p.is_empty())
        .unwrap_or("/bin/init")
}

/// init (pid 1) has exited: the run is over. With `RUN=` the host sees the
/// program's exit status (through init, which passes it on).
pub fn init_exited(wstatus: i32) {
    let ok = wstatus == 0 && KTESTS_OK.load(core::sync::atomic::Ordering::Acquire);
    let code = if wstatus & 0x7f == 0 {
        kprintln!("init: exited with status {}", (wstatus >> 8) & 0xff);
        (wstatus >> 8) & 0xff
    } else {
        kprintln!("init: killed by signal {}", wstatus & 0x7f);
        128 + (wstatus & 0x7f)
    };
    if boot_info().cmdline.contains("RUN=") {
        task::print_stats();
        cpu::disable_interrupts();
        kprintln!("weft: shutting down (exit status {})", code);
        weft_arch::qemu::exit_with_status(code as u32);
        cpu::halt_forever();
    }
    shutdown(ok)
}

/// The parsed MADT.
pub static ACPI: Once<weft_arch::acpi::MadtInfo> = Once::new();

static DUMP_REQUESTS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static DUMPS_DONE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static DUMP_WQ: weft_sched::WaitQueue<task::Thread, task::KernelPlatform> =
    weft_sched::WaitQueue::new();

/// Asks the `kdebug` thread for a [`debug_dump`]; safe from interrupt context
/// (takes no lock but the wait queue's and the scheduler's, which disable
/// interrupts).
pub fn request_debug_dump() {
    DUMP_REQUESTS.fetch_add(1, core::sync::atomic::Ordering::AcqRel);
    task::wake_all(&DUMP_WQ);
}

/// Number of dumps the `kdebug` thread has finished.
pub fn debug_dumps_done() -> u64 {
    DUMPS_DONE.load(core::sync::atomic::Ordering::Acquire)
}

/// The `kdebug` thread: runs [`debug_dump`] in thread context when asked.
fn debug_dump_thread() -> u64 {
    use core::sync::atomic::Ordering;
    let mut served = 0;
    loop {
        task::wait_event(
            Some(&DUMP_WQ),
            None,
            || DUMP_REQUESTS.load(Ordering::Acquire) != served,
            || false,
        );
        served = DUMP_REQUESTS.load(Ordering::Acquire);
        debug_dump();
        DUMPS_DONE.fetch_add(1, Ordering::AcqRel);
    }
}

/// The debug command (Ctrl-P on the console): scheduler and memory statistics.
/// Thread context only (see [`request_debug_dump`]).
pub fn debug_dump() {
    task::print_stats();
    let st = weft_mm::stats();
    kprintln!(
        "mm: {} of {} frames free, heap {} KiB used of {} KiB, {} processes, {} threads",
        st.free_frames,
        st.total_frames,
        st.heap_used / 1024,
        st.heap_capacity / 1024,
        proc::process_count(),
        task::live_threads()
    );
    kprintln!("trap: {} spurious interrupts", trap::spurious_count());
}

/// Ends the run: reports, then asks QEMU to exit (success or failure).
pub fn shutdown(success: bool) -> ! {
    task::print_stats();
    kprintln!("tlb: {} shootdown IPIs sent", tlb::sent());
    cpu::disable_interrupts();
    kprintln!(
        "weft: shutting down ({})",
        if success { "success" } else { "failure" }
    );
    weft_arch::qemu::exit(if success {
        weft_arch::qemu::EXIT_SUCCESS
    } else {
        weft_arch::qemu::EXIT_FAILURE
    });
    cpu::halt_forever()
}
