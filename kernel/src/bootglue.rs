//! The few lines of boot glue that must use `unsafe` outside arch/mm: turning
//! bootloader-provided pointers into slices, and stack switching at boot.

use limine::file::File;

/// The bytes of a file the bootloader loaded (kernel ELF or module).
pub fn file_bytes(f: &File) -> &'static [u8] {
    let len = f.size() as usize;
    if len == 0 {
        return &[];
    }
    // SAFETY: the Limine protocol guarantees `addr` points (through the HHDM) to
    // `size` bytes of executable-and-modules memory, which the kernel never frees
    // or writes, so a shared 'static slice is valid.
    unsafe { core::slice::from_raw_parts(f.addr(), len) }
}

/// Leaves the bootloader's stack: runs `f(arg)` on the stack whose top is `top`,
/// never to come back.
pub fn run_on_stack(top: u64, f: extern "C" fn(usize, usize) -> !, arg: usize) -> ! {
    let mut discard: u64 = 0;
    // SAFETY: `top` is the top of a freshly allocated, mapped kernel stack that
    // nothing else uses; the current context is abandoned (never resumed), so the
    // saved stack pointer in `discard` is never used.
    unsafe {
        let rsp = weft_arch::switch::init_stack(top, f, arg, 0);
        weft_arch::switch::switch_stacks(&mut discard, rsp);
    }
    unreachable!("abandoned boot context resumed")
}

/// Hands the memory map to the memory manager (boot CPU, once, interrupts off).
pub fn init_memory(hhdm: u64, regions: &[weft_mm::Region], log: fn(core::fmt::Arguments)) {
    // SAFETY: called once on the boot CPU with interrupts disabled, while the
    // bootloader's page tables and memory map are still valid, as `init` requires.
    unsafe { weft_mm::init(hhdm, regions, log) };
}

/// Returns bootloader-reclaimable memory to the frame allocator. Called once every
/// CPU runs on kernel stacks and all boot information has been copied.
pub fn reclaim_bootloader_memory(regions: &[weft_mm::Region]) -> u64 {
    // SAFETY: no CPU runs on a bootloader stack any more (each switched to a kernel
    // stack before reporting online), boot responses were copied into `BootInfo`,
    // and the memory manager keeps any page-table frames it still uses.
    unsafe { weft_mm::reclaim_bootloader_memory(regions) }
}

/// Switches an AP from the bootloader's page tables to the kernel's.
pub fn load_kernel_page_table() {
    // SAFETY: `weft_mm::init` ran on the boot CPU before any AP was started; this AP
    // has EFER.NXE set (`cpu::enable_features`) and runs on upper-half code and an
    // HHDM stack, which the kernel page table maps exactly as the bootloader's did.
    unsafe { weft_mm::load_kernel_page_table() };
}
