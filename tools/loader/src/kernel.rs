//! Loading the kernel ELF and talking to its requests.

use crate::mbinfo::BootFile;
use crate::phys;
use crate::serial::Bytes;
use crate::{Alloc, fatal};
use weft_bootproto::elf::{self, Executable};
use weft_bootproto::limine::{MemType, request};
use weft_bootproto::paging::PAGE_SIZE;

/// The kernel as loaded.
pub struct Kernel {
    /// Physical base of the contiguous image.
    pub phys: u64,
    /// Virtual base (lowest PT_LOAD address, page-aligned).
    pub virt: u64,
    /// Image size in bytes (page multiple).
    pub size: u64,
    pub exe: Executable,
}

/// Parses the kernel ELF and copies its PT_LOAD segments into a physically contiguous
/// block placed as high as possible below 4 GiB, as real Limine does. Bytes past each
/// segment's file size (.bss) are zero.
pub fn load(file: &BootFile, alloc: &mut Alloc) -> Kernel {
    // SAFETY: the file is a Multiboot module, memory nothing else uses.
    let bytes = unsafe { phys::bytes(file.start, file.size) };
    let exe = elf::parse(bytes)
        .unwrap_or_else(|e| fatal!("kernel {}: {}", Bytes(file.given_path), e.reason()));
    let (virt, size) = exe.span();
    let phys = alloc
        .alloc(
            size,
            PAGE_SIZE,
            phys::IDENTITY_LIMIT,
            MemType::ExecutableAndModules,
        )
        .unwrap_or_else(|e| fatal!("no room for the {size:#x}-byte kernel image: {e:?}"));
    // SAFETY: freshly allocated block owned by the loader.
    let image = unsafe { phys::bytes_mut(phys, size) };
    image.fill(0);
    for s in exe.segments() {
        let dst = (s.vaddr - virt) as usize;
        let src = s.offset as usize;
        image[dst..dst + s.filesz as usize].copy_from_slice(&bytes[src..src + s.filesz as usize]);
    }
    Kernel {
        phys,
        virt,
        size,
        exe,
    }
}

impl Kernel {
    /// The loaded image.
    pub fn image(&self) -> &'static [u8] {
        // SAFETY: the image block belongs to the loader until hand-off; the kernel
        // does not run yet.
        unsafe { phys::bytes(self.phys, self.size) }
    }

    /// Reads the u64 at byte `off` of the loaded image.
    pub fn read(&self, off: usize) -> u64 {
        if off as u64 + 8 > self.size {
            fatal!("request field at image offset {off:#x} is outside the image");
        }
        // SAFETY: inside the image (checked); requests are 8-byte aligned.
        unsafe { phys::read_u64(self.phys + off as u64) }
    }

    /// Writes the u64 at byte `off` of the loaded image.
    pub fn write(&self, off: usize, value: u64) {
        if off as u64 + 8 > self.size {
            fatal!("request field at image offset {off:#x} is outside the image");
        }
        // SAFETY: as in `read`.
        unsafe { phys::write_u64(self.phys + off as u64, value) }
    }

    /// Stores the HHDM pointer of a response (physical address `resp`) in the request
    /// at image offset `req`.
    pub fn respond(&self, req: usize, resp: u64) {
        self.write(req + request::RESPONSE, phys::hhdm(resp));
    }

    /// Image offset of a kernel virtual address, if it lies inside the image.
    pub fn offset_of(&self, virt: u64) -> Option<usize> {
        let off = virt.checked_sub(self.virt)?;
        (off < self.size).then_some(off as usize)
    }
}
