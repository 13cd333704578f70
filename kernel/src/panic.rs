//! The panic handler: report with a backtrace, stop every CPU, end the run.

use core::fmt::Write;
use core::panic::PanicInfo;
use weft_arch::{backtrace, cpu, log, percpu, qemu, trap};

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cpu::disable_interrupts();
    if !log::begin_panic() {
        // Another CPU is already reporting; stop here.
        cpu::halt_forever();
    }
    trap::stop_other_cpus();
    let rbp = cpu::frame_pointer();
    log::with_console(|w| {
        let _ = writeln!(
            w,
            "KERNEL PANIC on cpu{}: {}",
            percpu::cpu_id(),
            info.message()
        );
        if let Some(loc) = info.location() {
            let _ = writeln!(w, "  at {}:{}:{}", loc.file(), loc.line(), loc.column());
        }
        backtrace::print_from(w, rbp, 32);
        crate::irq::report_thread(w);
    });
    qemu::exit(qemu::EXIT_FAILURE);
    cpu::halt_forever()
}
