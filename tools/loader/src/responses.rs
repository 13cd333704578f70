//! Limine response structures, kept in loader .bss (bootloader-reclaimable memory) and
//! handed to the kernel through HHDM pointers.

use crate::mbinfo::MAX_FILES;
use crate::phys::Global;
use crate::smp::MpInfo;
use weft_bootproto::acpi::MAX_CPUS;
use weft_bootproto::limine::layout;

/// Most memory map entries reported.
pub const MAX_MAP: usize = 256;

#[repr(C)]
pub struct BootloaderInfo {
    pub revision: u64,
    pub name: u64,
    pub version: u64,
}

/// Responses that are just `{revision, value}`: firmware type, HHDM, paging mode,
/// RSDP, date at boot, executable cmdline, executable file.
#[repr(C)]
pub struct Value {
    pub revision: u64,
    pub value: u64,
}

/// Responses with only a revision: stack size, entry point.
#[repr(C)]
pub struct Empty {
    pub revision: u64,
}

#[repr(C)]
pub struct ExecutableAddress {
    pub revision: u64,
    pub physical_base: u64,
    pub virtual_base: u64,
}

/// `{revision, count, pointer to array of pointers}`: memory map and modules.
#[repr(C)]
pub struct List {
    pub revision: u64,
    pub count: u64,
    pub items: u64,
}

#[repr(C)]
pub struct Mp {
    pub revision: u64,
    pub flags: u32,
    pub bsp_lapic_id: u32,
    pub cpu_count: u64,
    pub cpus: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct MemmapEntry {
    pub base: u64,
    pub length: u64,
    pub kind: u64,
}

/// `limine_file`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct File {
    pub revision: u64,
    pub address: u64,
    pub size: u64,
    pub path: u64,
    pub string: u64,
    pub media_type: u32,
    pub unused: u32,
    pub tftp_ip: u32,
    pub tftp_port: u32,
    pub partition_index: u32,
    pub mbr_disk_id: u32,
    pub gpt_disk_uuid: [u8; 16],
    pub gpt_part_uuid: [u8; 16],
    pub part_uuid: [u8; 16],
}

const _: () = {
    assert!(core::mem::size_of::<File>() == layout::FILE_SIZE);
    assert!(core::mem::size_of::<MemmapEntry>() == layout::MEMMAP_ENTRY_SIZE);
    assert!(core::mem::size_of::<Mp>() == layout::MP_RESPONSE_SIZE);
};

/// Every response object plus the arrays they point to.
#[repr(C)]
pub struct Responses {
    pub bootloader_info: BootloaderInfo,
    pub firmware_type: Value,
    pub stack_size: Empty,
    pub hhdm: Value,
    pub paging_mode: Value,
    pub mp: Mp,
    pub memmap: List,
    pub entry_point: Empty,
    pub executable_file: Value,
    pub modules: List,
    pub rsdp: Value,
    pub date_at_boot: Value,
    pub executable_address: ExecutableAddress,
    pub executable_cmdline: Value,
    pub files: [File; MAX_FILES],
    pub file_ptrs: [u64; MAX_FILES],
    pub memmap_entries: [MemmapEntry; MAX_MAP],
    pub memmap_ptrs: [u64; MAX_MAP],
    pub cpus: [MpInfo; MAX_CPUS],
    pub cpu_ptrs: [u64; MAX_CPUS],
}

/// The response storage.
// SAFETY: every field is an integer or an array of integers, for which all-zero bytes
// are a valid value.
pub static RESPONSES: Global<Responses> = Global::new(unsafe { core::mem::zeroed() });
