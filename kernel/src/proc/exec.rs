//! Loading a program: ELF parsing (weft-exec), a fresh address space with the
//! segments and the initial stack (argv, envp, auxv) laid out as Linux does.

use alloc::sync::Arc;
use alloc::vec::Vec;

use weft_abi::Errno;
use weft_exec::{AuxvValues, InitialStack, PIE_BASE};
use weft_mm::user::{AddressSpace, STACK_TOP};

use super::Process;

/// Size of the main thread's stack mapping.
pub const STACK_SIZE: u64 = 8 << 20;

/// A program loaded into a new address space, not yet installed.
pub struct Loaded {
    pub aspace: Arc<AddressSpace>,
    pub entry: u64,
    pub rsp: u64,
}

/// Loads `path` with `argv`/`envp` into a new address space. Nothing of the caller
/// changes; errors (ENOENT, EACCES, ENOEXEC, E2BIG, ENOMEM...) leave it intact.
/// A relative `path` is resolved from `cwd`.
pub fn prepare<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    cwd: &alloc::sync::Arc<weft_vfs::Inode>,
    path: &[u8],
    argv: &[A],
    envp: &[E],
) -> Result<Loaded, Errno> {
    let inode = crate::fs::lookup_file_at(cwd, path)?;
    // Parse and copy straight from the file's bytes (no heap copy of the program).
    inode.with_contents(|file| load_image(file, path, argv, envp))?
}

fn load_image<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    file: &[u8],
    path: &[u8],
    argv: &[A],
    envp: &[E],
) -> Result<Loaded, Errno> {
    let img = weft_exec::parse(file)?;
    let img = if img.is_pie() {
        img.with_bias(PIE_BASE)?
    } else {
        img
    };
    let aspace = AddressSpace::new()?;
    for seg in img.segments() {
        let bytes = file.get(seg.file_range()).ok_or(Errno::ENOEXEC)?;
        aspace.map_bytes(seg.vaddr, seg.memsz, bytes, seg.prot.bits())?;
    }
    aspace.set_brk_base(img.brk_start());
    aspace.setup_stack(STACK_TOP, STACK_SIZE)?;
    let mut auxv = AuxvValues::for_image(&img);
    auxv.hwcap = hwcap();
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
    let envp: Vec<&[u8]> = envp.iter().map(|e| e.as_ref()).collect();
    let stack = InitialStack::new(STACK_TOP, auxv)
        .argv(&argv)
        .envp(&envp)
        .execfn(path)
        .random(crate::random::bytes16())
        .build()?;
    aspace.write_bytes(stack.rsp, &stack.bytes)?;
    Ok(Loaded {
        aspace,
        entry: img.entry(),
        rsp: stack.rsp,
    })
}

/// Loads a program for a process that has no threads yet (init).
pub fn load<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    p: &Arc<Process>,
    path: &str,
    argv: &[A],
    envp: &[E],
) -> Result<Loaded, Errno> {
    let l = prepare(&p.cwd(), path.as_bytes(), argv, envp)?;
    drop(p.set_aspace(Some(l.aspace.clone())));
    *p.name.lock() = basename(path.as_bytes());
    Ok(l)
}

/// The last path component, at most 15 bytes (the thread-name limit).
pub fn basename(path: &[u8]) -> alloc::string::String {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let name = &name[..name.len().min(weft_abi::thread::NAME_MAX)];
    alloc::string::String::from_utf8_lossy(name).into_owned()
}

/// CPUID.1:EDX, what Linux reports as AT_HWCAP on x86_64.
fn hwcap() -> u64 {
    core::arch::x86_64::__cpuid(1).edx as u64
}
