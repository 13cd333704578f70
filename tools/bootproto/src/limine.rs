//! Limine boot protocol constants and structure layouts (base revision 3).
//!
//! Values are facts from the protocol specification and the `limine` crate 0.5.0. The
//! loader writes the response structures; their layouts are documented here as byte
//! sizes and field offsets so that tests can pin them.

/// First two words of every request id.
pub const COMMON_MAGIC: [u64; 2] = [0xc7b1_dd30_df4c_8b88, 0x0a82_e883_a194_f07b];

/// First two words of the base revision tag `[magic0, magic1, requested revision]`.
///
/// The tag has no common magic. On success the loader writes 0 to word 2 ("supported")
/// and the revision it used to word 1, which is how limine 0.5's `loaded_revision()` and
/// `is_valid()` read it (word 1 still equal to `magic1` means "untouched").
pub const BASE_REVISION_MAGIC: [u64; 2] = [0xf956_2b2d_5c95_a6c8, 0x6a7b_3849_4453_6bdc];

/// Requests start marker: requests count only after the last one of these.
pub const REQUESTS_START_MARKER: [u64; 4] = [
    0xf6b8_f4b3_9de7_d1ae,
    0xfab9_1a69_40fc_b9cf,
    0x785c_6ed0_15d3_e316,
    0x181e_920a_7852_b9d9,
];

/// Requests end marker: requests count only before the first one of these.
pub const REQUESTS_END_MARKER: [u64; 2] = [0xadc0_e053_1bb1_0d03, 0x9572_709f_3176_4c62];

/// The only base revision this loader implements.
pub const BASE_REVISION: u64 = 3;

/// Offset of the HHDM in every address space the loader builds.
pub const HHDM_OFFSET: u64 = 0xffff_8000_0000_0000;

/// Executables must be linked at or above this address.
pub const MIN_KERNEL_VADDR: u64 = 0xffff_ffff_8000_0000;

/// Stack size given to the BSP and each AP when there is no stack size request.
pub const DEFAULT_STACK_SIZE: u64 = 64 * 1024;

/// Byte offsets inside every request structure.
pub mod request {
    /// `revision: u64` requested by the executable.
    pub const REVISION: usize = 32;
    /// `response: *mut Response`, written by the loader (HHDM pointer).
    pub const RESPONSE: usize = 40;
    /// First request-specific field (e.g. MP flags, stack size).
    pub const FIELDS: usize = 48;
    /// Size of the common part (id, revision, response).
    pub const COMMON_SIZE: usize = 48;
}

/// Limine memory map entry types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u64)]
pub enum MemType {
    Usable = 0,
    Reserved = 1,
    AcpiReclaimable = 2,
    AcpiNvs = 3,
    BadMemory = 4,
    BootloaderReclaimable = 5,
    ExecutableAndModules = 6,
    Framebuffer = 7,
}

impl MemType {
    /// Which type wins when two entries claim the same byte. Firmware "not RAM" types
    /// beat everything the loader carves out of usable RAM, and anything beats usable.
    pub const fn priority(self) -> u8 {
        match self {
            MemType::Usable => 0,
            MemType::BootloaderReclaimable => 1,
            MemType::ExecutableAndModules => 2,
            MemType::Framebuffer => 3,
            MemType::AcpiReclaimable => 4,
            MemType::AcpiNvs => 5,
            MemType::Reserved => 6,
            MemType::BadMemory => 7,
        }
    }

    /// Limine guarantees 4 KiB alignment (base and length) only for these types.
    pub const fn page_aligned(self) -> bool {
        matches!(self, MemType::Usable | MemType::BootloaderReclaimable)
    }

    /// Whether real Limine (base revision 3) includes this type in the HHDM.
    pub const fn in_hhdm(self) -> bool {
        matches!(
            self,
            MemType::Usable
                | MemType::BootloaderReclaimable
                | MemType::ExecutableAndModules
                | MemType::Framebuffer
        )
    }

    /// Short name for log output.
    pub const fn name(self) -> &'static str {
        match self {
            MemType::Usable => "usable",
            MemType::Reserved => "reserved",
            MemType::AcpiReclaimable => "acpi-reclaimable",
            MemType::AcpiNvs => "acpi-nvs",
            MemType::BadMemory => "bad",
            MemType::BootloaderReclaimable => "bootloader-reclaimable",
            MemType::ExecutableAndModules => "executable-and-modules",
            MemType::Framebuffer => "framebuffer",
        }
    }
}

/// Firmware type response value for legacy BIOS boots.
pub const FIRMWARE_X86_BIOS: u64 = 0;

/// Paging mode values (x86-64).
pub const PAGING_MODE_4LVL: u64 = 0;
/// 5-level paging (never enabled by this loader).
pub const PAGING_MODE_5LVL: u64 = 1;

/// MP request flag bit 0: enable x2APIC if possible.
pub const MP_REQUEST_X2APIC: u64 = 1;
/// MP response flag bit 0: x2APIC has been enabled.
pub const MP_RESPONSE_X2APIC: u32 = 1;

/// Internal module flag: the executable insists on the module.
pub const INTERNAL_MODULE_REQUIRED: u64 = 1;

/// Layout facts of the structures the loader writes (x86-64, all fields little endian).
pub mod layout {
    /// `limine_memmap_entry { base, length, type }`.
    pub const MEMMAP_ENTRY_SIZE: usize = 24;
    /// `limine_mp_info { processor_id u32, lapic_id u32, reserved u64, goto_address u64,
    /// extra_argument u64 }`.
    pub const MP_INFO_SIZE: usize = 32;
    /// Offset of `goto_address` in `limine_mp_info`.
    pub const MP_INFO_GOTO: usize = 16;
    /// Offset of `extra_argument` in `limine_mp_info`.
    pub const MP_INFO_EXTRA: usize = 24;
    /// `limine_file`: revision, address, size, path, string, media_type u32, unused u32,
    /// tftp_ip u32, tftp_port u32, partition_index u32, mbr_disk_id u32, three 16-byte
    /// UUIDs.
    pub const FILE_SIZE: usize = 112;
    /// `limine_mp_response { revision, flags u32, bsp_lapic_id u32, cpu_count, cpus }`.
    pub const MP_RESPONSE_SIZE: usize = 32;
}

/// Every request this loader recognises (answered or deliberately ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    BootloaderInfo,
    FirmwareType,
    StackSize,
    Hhdm,
    Framebuffer,
    PagingMode,
    Mp,
    MemoryMap,
    EntryPoint,
    ExecutableFile,
    Module,
    Rsdp,
    Smbios,
    EfiSystemTable,
    EfiMemoryMap,
    DateAtBoot,
    ExecutableAddress,
    ExecutableCmdline,
    Dtb,
}

impl RequestKind {
    /// Number of kinds (size of per-kind tables).
    pub const COUNT: usize = 19;

    /// All kinds, in [`RequestKind::index`] order.
    pub const ALL: [RequestKind; RequestKind::COUNT] = [
        RequestKind::BootloaderInfo,
        RequestKind::FirmwareType,
        RequestKind::StackSize,
        RequestKind::Hhdm,
        RequestKind::Framebuffer,
        RequestKind::PagingMode,
        RequestKind::Mp,
        RequestKind::MemoryMap,
        RequestKind::EntryPoint,
        RequestKind::ExecutableFile,
        RequestKind::Module,
        RequestKind::Rsdp,
        RequestKind::Smbios,
        RequestKind::EfiSystemTable,
        RequestKind::EfiMemoryMap,
        RequestKind::DateAtBoot,
        RequestKind::ExecutableAddress,
        RequestKind::ExecutableCmdline,
        RequestKind::Dtb,
    ];

    /// Words 2 and 3 of the request id (words 0 and 1 are [`COMMON_MAGIC`]).
    pub const fn id(self) -> [u64; 2] {
        match self {
            RequestKind::BootloaderInfo => [0xf550_38d8_e2a1_202f, 0x2794_26fc_f5f5_9740],
            RequestKind::FirmwareType => [0x8c2f_75d9_0bef_28a8, 0x7045_a468_8eac_00c3],
            RequestKind::StackSize => [0x224e_f046_0a8e_8926, 0xe1cb_0fc2_5f46_ea3d],
            RequestKind::Hhdm => [0x48dc_f1cb_8ad2_b852, 0x6398_4e95_9a98_244b],
            RequestKind::Framebuffer => [0x9d58_27dc_d881_dd75, 0xa314_8604_f6fa_b11b],
            RequestKind::PagingMode => [0x95c1_a0ed_ab09_44cb, 0xa4e5_cb38_42f7_488a],
            RequestKind::Mp => [0x95a6_7b81_9a1b_857e, 0xa0b6_1b72_3b6a_73e0],
            RequestKind::MemoryMap => [0x67cf_3d9d_378a_806f, 0xe304_acdf_c50c_3c62],
            RequestKind::EntryPoint => [0x13d8_6c03_5a1c_d3e1, 0x2b0c_aa89_d8f3_026a],
            RequestKind::ExecutableFile => [0xad97_e90e_83f1_ed67, 0x31eb_5d1c_5ff2_3b69],
            RequestKind::Module => [0x3e7e_2797_02be_32af, 0xca1c_4f3b_d128_0cee],
            RequestKind::Rsdp => [0xc5e7_7b6b_397e_7b43, 0x2763_7845_accd_cf3c],
            RequestKind::Smbios => [0x9e90_46f1_1e09_5391, 0xaa4a_520f_efbd_e5ee],
            RequestKind::EfiSystemTable => [0x5ceb_a516_3eaa_f6d6, 0x0a69_8161_0cf6_5fcc],
            RequestKind::EfiMemoryMap => [0x7df6_2a43_1d68_72d5, 0xa4fc_dfb3_e573_06c8],
            RequestKind::DateAtBoot => [0x5027_46e1_84c0_88aa, 0xfbc5_ec83_e632_7893],
            RequestKind::ExecutableAddress => [0x71ba_7686_3cc5_5f63, 0xb264_4a48_c516_a487],
            RequestKind::ExecutableCmdline => [0x4b16_1536_e598_651e, 0xb390_ad4a_2f1f_303a],
            RequestKind::Dtb => [0xb40d_db48_fb54_bac7, 0x5450_8149_3f81_ffb7],
        }
    }

    /// Position in [`RequestKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Looks up a kind from id words 2 and 3.
    pub fn from_id(id2: u64, id3: u64) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.id() == [id2, id3])
    }

    /// Short name for log output.
    pub const fn name(self) -> &'static str {
        match self {
            RequestKind::BootloaderInfo => "bootloader-info",
            RequestKind::FirmwareType => "firmware-type",
            RequestKind::StackSize => "stack-size",
            RequestKind::Hhdm => "hhdm",
            RequestKind::Framebuffer => "framebuffer",
            RequestKind::PagingMode => "paging-mode",
            RequestKind::Mp => "mp",
            RequestKind::MemoryMap => "memmap",
            RequestKind::EntryPoint => "entry-point",
            RequestKind::ExecutableFile => "executable-file",
            RequestKind::Module => "module",
            RequestKind::Rsdp => "rsdp",
            RequestKind::Smbios => "smbios",
            RequestKind::EfiSystemTable => "efi-system-table",
            RequestKind::EfiMemoryMap => "efi-memmap",
            RequestKind::DateAtBoot => "date-at-boot",
            RequestKind::ExecutableAddress => "executable-address",
            RequestKind::ExecutableCmdline => "executable-cmdline",
            RequestKind::Dtb => "dtb",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_in_index_order_with_unique_ids() {
        for (i, k) in RequestKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(RequestKind::from_id(k.id()[0], k.id()[1]), Some(*k));
            for other in &RequestKind::ALL[i + 1..] {
                assert_ne!(k.id(), other.id());
            }
        }
        assert_eq!(RequestKind::from_id(1, 2), None);
    }

    #[test]
    fn memory_type_values_match_the_protocol() {
        assert_eq!(MemType::Usable as u64, 0);
        assert_eq!(MemType::BootloaderReclaimable as u64, 5);
        assert_eq!(MemType::ExecutableAndModules as u64, 6);
        assert_eq!(MemType::Framebuffer as u64, 7);
        assert!(MemType::Reserved.priority() > MemType::Usable.priority());
        assert!(MemType::AcpiNvs.priority() > MemType::ExecutableAndModules.priority());
        assert!(!MemType::Reserved.in_hhdm());
        assert!(!MemType::AcpiReclaimable.in_hhdm());
        assert!(MemType::BootloaderReclaimable.in_hhdm());
    }
}
