//! Limine requests and the boot information the kernel keeps from them.
//!
//! Every response is optional in the protocol; a missing one that Weft needs ends
//! the boot with a panic that names it. Everything kept past early boot is copied
//! into kernel memory, because the bootloader's own memory is reclaimed later.

use alloc::string::String;
use alloc::vec::Vec;

use limine::BaseRevision;
use limine::memory_map::EntryType;
use limine::request::{
    BootloaderInfoRequest, DateAtBootRequest, ExecutableAddressRequest, ExecutableCmdlineRequest,
    ExecutableFileRequest, FirmwareTypeRequest, HhdmRequest, MemoryMapRequest, ModuleRequest,
    MpRequest, PagingModeRequest, RequestsEndMarker, RequestsStartMarker, RsdpRequest,
    StackSizeRequest,
};
use weft_mm::{Region, RegionKind};

/// Stack size asked of the bootloader for the boot CPU and every AP.
pub const BOOT_STACK_SIZE: u64 = 64 * 1024;

#[used]
#[unsafe(link_section = ".requests_start_marker")]
static START_MARKER: RequestsStartMarker = RequestsStartMarker::new();

#[used]
#[unsafe(link_section = ".requests")]
pub static BASE_REVISION: BaseRevision = BaseRevision::new();
#[used]
#[unsafe(link_section = ".requests")]
static BOOTLOADER_INFO: BootloaderInfoRequest = BootloaderInfoRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static FIRMWARE_TYPE: FirmwareTypeRequest = FirmwareTypeRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static HHDM: HhdmRequest = HhdmRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static MEMORY_MAP: MemoryMapRequest = MemoryMapRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static EXEC_ADDRESS: ExecutableAddressRequest = ExecutableAddressRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static EXEC_FILE: ExecutableFileRequest = ExecutableFileRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static EXEC_CMDLINE: ExecutableCmdlineRequest = ExecutableCmdlineRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static RSDP: RsdpRequest = RsdpRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
pub static MP: MpRequest = MpRequest::new().with_flags(limine::mp::RequestFlags::X2APIC);
#[used]
#[unsafe(link_section = ".requests")]
static MODULES: ModuleRequest = ModuleRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static STACK_SIZE: StackSizeRequest = StackSizeRequest::new().with_size(BOOT_STACK_SIZE);
#[used]
#[unsafe(link_section = ".requests")]
static PAGING_MODE: PagingModeRequest = PagingModeRequest::new();
#[used]
#[unsafe(link_section = ".requests")]
static DATE_AT_BOOT: DateAtBootRequest = DateAtBootRequest::new();

#[used]
#[unsafe(link_section = ".requests_end_marker")]
static END_MARKER: RequestsEndMarker = RequestsEndMarker::new();

/// A boot module (initramfs and friends). Its bytes stay where the bootloader put
/// them (executable-and-modules memory is never reclaimed).
#[derive(Clone, Debug)]
pub struct Module {
    pub path: String,
    pub cmdline: String,
    pub data: &'static [u8],
}

/// What the kernel keeps from the bootloader.
#[derive(Debug)]
pub struct BootInfo {
    pub bootloader: String,
    pub firmware: &'static str,
    pub hhdm_offset: u64,
    pub regions: Vec<Region>,
    pub kernel_phys: u64,
    pub kernel_virt: u64,
    pub kernel_file: &'static [u8],
    pub cmdline: String,
    pub rsdp_phys: u64,
    pub modules: Vec<Module>,
    pub paging_mode_4level: bool,
    pub boot_unix_time: u64,
    pub stack_size_acked: bool,
    pub revision_supported: bool,
    /// CPUs in the MP response (the response itself is in bootloader memory,
    /// which is reclaimed once every CPU is up).
    pub mp_cpus: usize,
}

fn kind(t: EntryType) -> RegionKind {
    match t {
        EntryType::USABLE => RegionKind::Usable,
        EntryType::ACPI_RECLAIMABLE => RegionKind::AcpiReclaimable,
        EntryType::ACPI_NVS => RegionKind::AcpiNvs,
        EntryType::BAD_MEMORY => RegionKind::BadMemory,
        EntryType::BOOTLOADER_RECLAIMABLE => RegionKind::BootloaderReclaimable,
        EntryType::EXECUTABLE_AND_MODULES => RegionKind::ExecutableAndModules,
        EntryType::FRAMEBUFFER => RegionKind::Framebuffer,
        _ => RegionKind::Reserved,
    }
}

/// The HHDM offset and memory map, needed before the heap exists. Copied into a
/// fixed array because nothing can be allocated yet.
pub fn early_memory(out: &mut [Region]) -> (u64, usize) {
    if !BASE_REVISION.is_supported() {
        panic!("boot: the bootloader does not support Limine base revision 3");
    }
    let hhdm = HHDM
        .get_response()
        .expect("boot: no HHDM response from the bootloader")
        .offset();
    let map = MEMORY_MAP
        .get_response()
        .expect("boot: no memory map response from the bootloader");
    let mut n = 0;
    for e in map.entries() {
        if n == out.len() {
            panic!("boot: memory map has more than {} entries", out.len());
        }
        out[n] = Region {
            base: e.base,
            len: e.length,
            kind: kind(e.entry_type),
        };
        n += 1;
    }
    (hhdm, n)
}

fn cstr(s: &core::ffi::CStr) -> String {
    String::from(s.to_str().unwrap_or("<invalid utf-8>"))
}

/// Collects and checks the rest of the responses (heap available).
pub fn collect(hhdm_offset: u64, regions: &[Region]) -> BootInfo {
    let exec_addr = EXEC_ADDRESS
        .get_response()
        .expect("boot: no executable address response");
    let exec_file = EXEC_FILE
        .get_response()
        .expect("boot: no executable file response")
        .file();
    let rsdp = RSDP
        .get_response()
        .expect("boot: no RSDP response (no ACPI?)");
    let kernel_file = crate::bootglue::file_bytes(exec_file);
    let modules = MODULES
        .get_response()
        .map(|m| {
            m.modules()
                .iter()
                .map(|f| Module {
                    path: cstr(f.path()),
                    cmdline: cstr(f.string()),
                    data: crate::bootglue::file_bytes(f),
                })
                .collect()
        })
        .unwrap_or_default();
    let cmdline = EXEC_CMDLINE
        .get_response()
        .map(|c| cstr(c.cmdline()))
        .unwrap_or_default();
    let bootloader = BOOTLOADER_INFO
        .get_response()
        .map(|b| alloc::format!("{} {}", b.name(), b.version()))
        .unwrap_or_else(|| String::from("unknown"));
    BootInfo {
        bootloader,
        firmware: match FIRMWARE_TYPE.get_response().map(|f| f.firmware_type()) {
            Some(limine::firmware_type::FirmwareType::X86_BIOS) => "x86 BIOS",
            Some(limine::firmware_type::FirmwareType::UEFI_32) => "UEFI (32-bit)",
            Some(limine::firmware_type::FirmwareType::UEFI_64) => "UEFI (64-bit)",
            Some(_) => "other",
            None => "not reported",
        },
        hhdm_offset,
        regions: regions.to_vec(),
        kernel_phys: exec_addr.physical_base(),
        kernel_virt: exec_addr.virtual_base(),
        kernel_file,
        cmdline,
        rsdp_phys: rsdp.address() as u64,
        modules,
        paging_mode_4level: PAGING_MODE
            .get_response()
            .map(|p| p.mode() == limine::paging::Mode::FOUR_LEVEL)
            .unwrap_or(false),
        boot_unix_time: DATE_AT_BOOT
            .get_response()
            .map(|d| d.timestamp().as_secs())
            .unwrap_or(0),
        stack_size_acked: STACK_SIZE.get_response().is_some(),
        revision_supported: BASE_REVISION.is_supported(),
        mp_cpus: MP.get_response().map_or(0, |r| r.cpus().len()),
    }
}

/// The MP response. Valid only until `reclaim_bootloader_memory` (SMP bring-up);
/// later code reads `BootInfo::mp_cpus`.
pub fn mp_response() -> &'static limine::response::MpResponse {
    MP.get_response()
        .expect("boot: no MP (multiprocessor) response from the bootloader")
}
