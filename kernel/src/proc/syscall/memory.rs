//! mmap and friends, on the process's address space (weft-mm).

use weft_abi::Errno;
use weft_abi::mman::MAP_ANONYMOUS;

use super::SysResult;
use crate::proc::uthread::me;

fn aspace() -> Result<alloc::sync::Arc<weft_mm::user::AddressSpace>, Errno> {
    me().1.aspace().ok_or(Errno::EFAULT)
}

pub fn mmap(addr: u64, len: u64, prot: u64, flags: u64, _fd: u64, off: u64) -> SysResult {
    let flags = flags as u32;
    if flags & MAP_ANONYMOUS == 0 {
        // File-backed mappings need the page cache; not implemented yet (docs/syscalls.md).
        return Err(Errno::ENODEV);
    }
    if !off.is_multiple_of(4096) {
        return Err(Errno::EINVAL);
    }
    aspace()?.mmap(addr, len, prot as u32, flags)
}

pub fn munmap(addr: u64, len: u64) -> SysResult {
    aspace()?.munmap(addr, len).map(|_| 0)
}

pub fn mprotect(addr: u64, len: u64, prot: u64) -> SysResult {
    aspace()?.mprotect(addr, len, prot as u32).map(|_| 0)
}

pub fn brk(new: u64) -> SysResult {
    Ok(aspace()?.brk(new))
}

pub fn madvise(addr: u64, len: u64, advice: u64) -> SysResult {
    aspace()?.madvise(addr, len, advice as u32).map(|_| 0)
}
