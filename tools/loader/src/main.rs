//! weft-loader: a direct-boot loader that lets QEMU start a Limine-protocol kernel.
//!
//! QEMU loads this file with `-kernel` as a Multiboot1 image (a.out kludge); the kernel
//! ELF and the other files come as `-initrd "<kernel> <cmdline>,<module> <cmdline>"`.
//! The loader implements Limine protocol base revision 3 for the requests listed in
//! [`answer_requests`] and reproduces the hand-off state of real Limine 10.x: kernel
//! loaded high, an HHDM covering only RAM-like memory map entries, no identity map,
//! Limine GDT, PAT, CR0/CR4/EFER, parked APs spinning on `goto_address`.
//!
//! Order of work: copy everything out of the Multiboot information, build a first
//! memory map, load the kernel, scan its requests, allocate stacks, trampoline and page
//! tables (all bootloader-reclaimable, top-down below 4 GiB), switch to the new tables,
//! start the APs, build the final memory map and responses, and jump.
#![no_std]
#![no_main]

mod acpi;
mod arch;
mod boot;
mod handoff;
mod kernel;
mod mbinfo;
mod paging;
mod phys;
mod responses;
mod rtc;
mod serial;
mod smp;
mod strings;
mod timer;

use core::panic::PanicInfo;
use kernel::Kernel;
use mbinfo::{BootFile, BootInfo};
use phys::{Global, addr_of, hhdm};
use responses::{MAX_MAP, MemmapEntry, Responses};
use serial::Bytes;
use smp::{ApTarget, Lapic, MpInfo};
use weft_bootproto::acpi::{MAX_CPUS, Madt};
use weft_bootproto::alloc::TopDown;
use weft_bootproto::elf::{PF_W, PF_X};
use weft_bootproto::limine::{
    BASE_REVISION, DEFAULT_STACK_SIZE, FIRMWARE_X86_BIOS, HHDM_OFFSET, INTERNAL_MODULE_REQUIRED,
    MP_REQUEST_X2APIC, MP_RESPONSE_X2APIC, MemType, PAGING_MODE_4LVL, RequestKind, request,
};
use weft_bootproto::memmap::{Builder, MemoryMap};
use weft_bootproto::multiboot::{BOOTLOADER_MAGIC, e820_type};
use weft_bootproto::paging::{Chunks, PAGE_SIZE, align_down, align_up, pte};
use weft_bootproto::scan::{ScanResult, scan};

/// The physical allocator: up to 64 usable ranges, 96 separate allocations.
pub type Alloc = TopDown<64, 96>;
type MapBuilder = Builder<{ mbinfo::MAX_RAW }, 160>;

const VERSION: &str = env!("CARGO_PKG_VERSION");
static NAME_Z: &[u8] = b"weft-loader\0";
static VERSION_Z: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

static MAP: Global<MemoryMap<MAX_MAP>> = Global::new(MemoryMap::new());
static HHDM_RANGES: Global<[(u64, u64); MAX_MAP]> = Global::new([(0, 0); MAX_MAP]);
static FINAL_HHDM_RANGES: Global<[(u64, u64); MAX_MAP]> = Global::new([(0, 0); MAX_MAP]);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    fatal!("panic: {info}")
}

/// Rust entry, called by the 64-bit part of `boot.rs` on the loader stack.
#[unsafe(no_mangle)]
extern "C" fn loader_main(magic: u32, info_addr: u32) -> ! {
    serial::init();
    log!("weft-loader {VERSION}, Limine protocol base revision {BASE_REVISION}");
    if magic != BOOTLOADER_MAGIC {
        fatal!("not started by a Multiboot1 loader (eax = {magic:#x})");
    }
    let nx = arch::has_nx();
    let bi = mbinfo::read(info_addr);
    let Some(kfile) = bi.files().first().copied() else {
        fatal!("no kernel: pass it as the first -initrd file");
    };

    // SAFETY: BSP-only statics, each borrowed exactly once here.
    let (map, resp) = unsafe { (MAP.get(), responses::RESPONSES.get()) };
    let mut builder = first_memory_map(&bi, map);
    let mut alloc =
        Alloc::from_map(map).unwrap_or_else(|e| fatal!("memory map too fragmented: {e:?}"));
    // SAFETY: BSP-only static, borrowed once.
    let hhdm_ranges = unsafe { HHDM_RANGES.get() };
    let nhhdm = map
        .hhdm_ranges(hhdm_ranges)
        .unwrap_or_else(|| fatal!("too many HHDM ranges"));
    let hhdm_ranges = &hhdm_ranges[..nhhdm];

    let kernel = kernel::load(&kfile, &mut alloc);
    log!(
        "kernel {} ({} bytes): {:#x} bytes at phys {:#x}, virt {:#x}, entry {:#x}",
        Bytes(kfile.given_path),
        kfile.size,
        kernel.size,
        kernel.phys,
        kernel.virt,
        kernel.exe.entry
    );
    let reqs = scan(kernel.image()).unwrap_or_else(|e| fatal!("kernel requests: {e:?}"));
    check_base_revision(&kernel, &reqs);
    log_requests(&reqs);

    let stack_size = reqs
        .get(RequestKind::StackSize)
        .map(|r| align_up(kernel.read(r.offset + request::FIELDS).max(1), PAGE_SIZE))
        .unwrap_or(DEFAULT_STACK_SIZE);
    let rsdp = acpi::find();
    let madt = rsdp.and_then(acpi::madt);
    if rsdp.is_none() {
        log!("warning: no RSDP found");
    }
    let mut mp = reqs.get(RequestKind::Mp).map(|r| {
        plan_mp(
            &kernel,
            r.offset,
            madt.as_ref(),
            resp,
            stack_size,
            &mut alloc,
        )
    });
    let bsp_stack = alloc
        .alloc(
            stack_size,
            PAGE_SIZE,
            phys::IDENTITY_LIMIT,
            MemType::BootloaderReclaimable,
        )
        .unwrap_or_else(|e| fatal!("no room for the kernel stack: {e:?}"));

    let pml4 = build_page_tables(&kernel, hhdm_ranges, nx, &mut alloc);
    handoff::prepare_gdtr();
    // SAFETY: the new tables keep the identity map of the low 4 GiB (PML4[0]), so the
    // loader's code, stack and data stay mapped.
    unsafe { arch::write_cr3(pml4) };
    smp::program_pat();

    if let Some(plan) = mp.as_mut() {
        start_mp(plan, pml4, nx, resp);
    }

    answer_requests(&kernel, &reqs, &kfile, &bi, resp, rsdp);
    final_memory_map(&mut builder, &alloc, map, hhdm_ranges);
    publish_memory_map(&kernel, &reqs, map, resp);

    handoff::mask_pic();
    if let Some(m) = madt.as_ref() {
        handoff::mask_ioapics(m.ioapics());
    }
    let entry = reqs
        .get(RequestKind::EntryPoint)
        .map(|r| kernel.read(r.offset + request::FIELDS))
        .unwrap_or(kernel.exe.entry);
    log!("jumping to kernel entry {entry:#x}");
    handoff::enter_kernel(entry, hhdm(bsp_stack + stack_size))
}

/// Firmware map plus what exists before any allocation: page 0 reserved, the loader
/// image bootloader-reclaimable, each `-initrd` file executable-and-modules.
fn first_memory_map(bi: &BootInfo, map: &mut MemoryMap<MAX_MAP>) -> MapBuilder {
    let mut b = MapBuilder::new();
    for e in bi.raw_map() {
        b.add_raw(e.base, e.length, e820_type(e.kind))
            .unwrap_or_else(|e| fatal!("memory map: {e:?}"));
    }
    let (img_start, img_end) = boot::image_range();
    let carves = [
        (0, PAGE_SIZE, MemType::Reserved),
        (
            img_start,
            img_end - img_start,
            MemType::BootloaderReclaimable,
        ),
    ];
    for (base, len, kind) in carves {
        b.carve(base, len, kind)
            .unwrap_or_else(|e| fatal!("memory map: {e:?}"));
    }
    for f in bi.files() {
        b.carve(
            f.start,
            align_up(f.size, PAGE_SIZE),
            MemType::ExecutableAndModules,
        )
        .unwrap_or_else(|e| fatal!("memory map: {e:?}"));
    }
    b.build(map).unwrap_or_else(|e| fatal!("memory map: {e:?}"));
    for f in bi.files().iter().filter(|f| f.size > 0) {
        if map
            .find(f.start)
            .is_none_or(|r| r.kind != MemType::ExecutableAndModules)
        {
            fatal!(
                "file {} at {:#x} is not in usable RAM",
                Bytes(f.given_path),
                f.start
            );
        }
    }
    b
}

/// Base revision tag: this loader implements revision 3 only. A kernel asking for a
/// newer revision boots with 3 and sees word 2 untouched; older revisions are refused,
/// as the protocol demands of a loader that dropped them.
fn check_base_revision(kernel: &Kernel, reqs: &ScanResult) {
    let Some(tag) = reqs.base_revision else {
        fatal!("kernel has no base revision tag (revision 0 is not supported)");
    };
    if tag.requested < BASE_REVISION {
        fatal!(
            "kernel requests base revision {}, only {BASE_REVISION} is supported",
            tag.requested
        );
    }
    if tag.requested == BASE_REVISION {
        kernel.write(tag.offset + 16, 0);
    } else {
        log!(
            "kernel requests base revision {}, using {BASE_REVISION}",
            tag.requested
        );
    }
    kernel.write(tag.offset + 8, BASE_REVISION);
}

fn log_requests(reqs: &ScanResult) {
    print!("loader: requests:");
    for r in reqs.iter() {
        print!(" {}", r.kind.name());
    }
    print!("\n");
    if let Some([a, b]) = reqs.first_unknown {
        log!(
            "ignoring {} unknown request(s), first id {a:#018x} {b:#018x}",
            reqs.unknown
        );
    }
}

/// What the MP request needs between allocation and AP start-up.
struct MpPlan {
    lapic: Lapic,
    bsp_index: usize,
    /// `(index into responses.cpus, stack top)` of every AP, in MADT order.
    aps: [(usize, u64); MAX_CPUS],
    naps: usize,
    ninfos: usize,
    trampoline: u64,
}

/// Reads the CPU list, switches the BSP to x2APIC if asked and possible, fills the
/// `limine_mp_info` array and allocates AP stacks and the trampoline page.
fn plan_mp(
    kernel: &Kernel,
    req: usize,
    madt: Option<&Madt>,
    resp: &mut Responses,
    stack_size: u64,
    alloc: &mut Alloc,
) -> MpPlan {
    let flags = kernel.read(req + request::FIELDS);
    let lapic = Lapic::init(flags & MP_REQUEST_X2APIC != 0);
    let bsp_id = lapic.id();
    let mut plan = MpPlan {
        lapic,
        bsp_index: 0,
        aps: [(0, 0); MAX_CPUS],
        naps: 0,
        ninfos: 0,
        trampoline: 0,
    };
    let mut add = |uid: u32, apic_id: u32| -> Option<usize> {
        let i = plan.ninfos;
        *resp.cpus.get_mut(i)? = MpInfo {
            processor_id: uid,
            lapic_id: apic_id,
            reserved: 0,
            goto_address: 0,
            extra_argument: 0,
        };
        plan.ninfos += 1;
        Some(i)
    };
    let cpus = madt.map(|m| m.cpus()).unwrap_or(&[]);
    if !cpus.iter().any(|c| c.apic_id == bsp_id) {
        // No MADT (or the BSP is missing from it): the BSP alone.
        plan.bsp_index = add(0, bsp_id).unwrap_or(0);
    }
    for c in cpus {
        if !plan.lapic.x2apic() && c.apic_id > 0xff {
            log!("skipping CPU with APIC id {} (needs x2APIC)", c.apic_id);
            continue;
        }
        let Some(i) = add(c.uid, c.apic_id) else {
            break;
        };
        if c.apic_id == bsp_id {
            plan.bsp_index = i;
            continue;
        }
        let stack = alloc
            .alloc(
                stack_size,
                PAGE_SIZE,
                phys::IDENTITY_LIMIT,
                MemType::BootloaderReclaimable,
            )
            .unwrap_or_else(|e| fatal!("no room for AP stacks: {e:?}"));
        plan.aps[plan.naps] = (i, hhdm(stack + stack_size));
        plan.naps += 1;
    }
    if plan.naps > 0 {
        plan.trampoline = alloc
            .alloc(
                PAGE_SIZE,
                PAGE_SIZE,
                0x10_0000,
                MemType::BootloaderReclaimable,
            )
            .unwrap_or_else(|e| fatal!("no page below 1 MiB for the AP trampoline: {e:?}"));
    }
    plan
}

/// Starts the APs and fills the MP response with the BSP and every AP that reported in.
fn start_mp(plan: &mut MpPlan, pml4: u64, nx: bool, resp: &mut Responses) {
    let mut started = [false; MAX_CPUS];
    if plan.naps > 0 {
        let tramp = smp::Trampoline::install(plan.trampoline, pml4, nx, plan.lapic.x2apic());
        let mut targets = [const {
            ApTarget {
                apic_id: 0,
                stack_top: 0,
                info: 0,
            }
        }; MAX_CPUS];
        for (t, &(i, stack_top)) in targets.iter_mut().zip(&plan.aps[..plan.naps]) {
            *t = ApTarget {
                apic_id: resp.cpus[i].lapic_id,
                stack_top,
                info: hhdm(addr_of(&resp.cpus[i])),
            };
        }
        smp::start_aps(&plan.lapic, &tramp, &targets[..plan.naps], &mut started);
    }
    let mut n = 0;
    for i in 0..plan.ninfos {
        let ap = plan.aps[..plan.naps].iter().position(|&(j, _)| j == i);
        let ok = match ap {
            Some(k) => started[k],
            None => i == plan.bsp_index,
        };
        if ok {
            resp.cpu_ptrs[n] = hhdm(addr_of(&resp.cpus[i]));
            n += 1;
        } else if ap.is_some() {
            log!(
                "warning: CPU with APIC id {} did not start",
                resp.cpus[i].lapic_id
            );
        }
    }
    resp.mp = responses::Mp {
        revision: 0,
        flags: if plan.lapic.x2apic() {
            MP_RESPONSE_X2APIC
        } else {
            0
        },
        bsp_lapic_id: resp.cpus[plan.bsp_index].lapic_id,
        cpu_count: n as u64,
        cpus: hhdm(addr_of(&resp.cpu_ptrs)),
    };
    log!(
        "{n} CPU(s) up (BSP APIC id {}, {})",
        resp.mp.bsp_lapic_id,
        if plan.lapic.x2apic() {
            "x2APIC"
        } else {
            "xAPIC"
        }
    );
}

/// Page tables for the kernel: each PT_LOAD with 4 KiB pages (W only for PF_W, NX for
/// non-PF_X), the HHDM over `hhdm_ranges` (2 MiB pages where a whole one fits), and a
/// temporary identity map of the low 4 GiB in PML4[0] that `weft_handoff` removes.
fn build_page_tables(
    kernel: &Kernel,
    hhdm_ranges: &[(u64, u64)],
    nx: bool,
    alloc: &mut Alloc,
) -> u64 {
    let mut m = paging::Mapper::new(alloc);
    for s in kernel.exe.segments() {
        let mut flags = 0;
        if s.flags & PF_W != 0 {
            flags |= pte::WRITABLE;
        }
        if s.flags & PF_X == 0 && nx {
            flags |= pte::NO_EXECUTE;
        }
        let mut virt = align_down(s.vaddr, PAGE_SIZE);
        while virt < s.vaddr + s.memsz {
            m.map_4k(virt, kernel.phys + (virt - kernel.virt), flags);
            virt += PAGE_SIZE;
        }
    }
    for &(start, end) in hhdm_ranges {
        for (addr, size) in Chunks::new(start, end) {
            m.map_chunk(HHDM_OFFSET, addr, size, pte::WRITABLE);
        }
    }
    m.set_pml4_entry(0, boot::identity_pdpt() | pte::PRESENT | pte::WRITABLE);
    log!(
        "page tables: PML4 at {:#x}, {} table pages",
        m.pml4(),
        m.tables
    );
    m.pml4()
}

fn file_struct(f: &BootFile) -> responses::File {
    responses::File {
        revision: 0,
        address: hhdm(f.start),
        size: f.size,
        path: strings::hhdm_ptr(f.limine_path),
        string: strings::hhdm_ptr(f.args),
        media_type: 0,
        unused: 0,
        tftp_ip: 0,
        tftp_port: 0,
        partition_index: 0,
        mbr_disk_id: 0,
        gpt_disk_uuid: [0; 16],
        gpt_part_uuid: [0; 16],
        part_uuid: [0; 16],
    }
}

/// Fills and links every supported response except the memory map (which must wait
/// for the last allocation). The MP response was filled by [`start_mp`].
fn answer_requests(
    kernel: &Kernel,
    reqs: &ScanResult,
    kfile: &BootFile,
    bi: &BootInfo,
    r: &mut Responses,
    rsdp: Option<u64>,
) {
    for f in reqs.iter() {
        let at = f.offset;
        match f.kind {
            RequestKind::BootloaderInfo => {
                r.bootloader_info = responses::BootloaderInfo {
                    revision: 0,
                    name: hhdm(NAME_Z.as_ptr() as u64),
                    version: hhdm(VERSION_Z.as_ptr() as u64),
                };
                kernel.respond(at, addr_of(&r.bootloader_info));
            }
            RequestKind::FirmwareType => {
                r.firmware_type.value = FIRMWARE_X86_BIOS;
                kernel.respond(at, addr_of(&r.firmware_type));
            }
            RequestKind::StackSize => kernel.respond(at, addr_of(&r.stack_size)),
            RequestKind::Hhdm => {
                r.hhdm.value = HHDM_OFFSET;
                kernel.respond(at, addr_of(&r.hhdm));
            }
            RequestKind::PagingMode => {
                // Revision 1 adds max_mode and min_mode; 4-level is always within
                // range unless the kernel insists on 5-level.
                if f.revision >= 1 && kernel.read(at + request::FIELDS + 16) > PAGING_MODE_4LVL {
                    fatal!("kernel requires 5-level paging, which this loader does not set up");
                }
                r.paging_mode.value = PAGING_MODE_4LVL;
                kernel.respond(at, addr_of(&r.paging_mode));
            }
            RequestKind::Mp => kernel.respond(at, addr_of(&r.mp)),
            RequestKind::EntryPoint => kernel.respond(at, addr_of(&r.entry_point)),
            RequestKind::ExecutableFile => {
                r.files[0] = file_struct(kfile);
                r.executable_file.value = hhdm(addr_of(&r.files[0]));
                kernel.respond(at, addr_of(&r.executable_file));
            }
            RequestKind::Module => {
                check_internal_modules(kernel, at, f.revision);
                let modules = &bi.files()[1..];
                for (i, m) in modules.iter().enumerate() {
                    r.files[i + 1] = file_struct(m);
                    r.file_ptrs[i + 1] = hhdm(addr_of(&r.files[i + 1]));
                }
                // Revision 0: internal modules are not honoured (see above).
                r.modules = responses::List {
                    revision: 0,
                    count: modules.len() as u64,
                    items: hhdm(addr_of(&r.file_ptrs[1])),
                };
                kernel.respond(at, addr_of(&r.modules));
            }
            RequestKind::Rsdp => match rsdp {
                Some(addr) => {
                    // Base revision 3: the physical address.
                    r.rsdp.value = addr;
                    kernel.respond(at, addr_of(&r.rsdp));
                }
                None => log!("no RSDP: rsdp request left unanswered"),
            },
            RequestKind::DateAtBoot => {
                r.date_at_boot.value = rtc::unix_seconds() as u64;
                kernel.respond(at, addr_of(&r.date_at_boot));
            }
            RequestKind::ExecutableAddress => {
                r.executable_address = responses::ExecutableAddress {
                    revision: 0,
                    physical_base: kernel.phys,
                    virtual_base: kernel.virt,
                };
                kernel.respond(at, addr_of(&r.executable_address));
            }
            RequestKind::ExecutableCmdline => {
                r.executable_cmdline.value = strings::hhdm_ptr(kfile.args);
                kernel.respond(at, addr_of(&r.executable_cmdline));
            }
            // Filled after the final memory map is known.
            RequestKind::MemoryMap => {}
            RequestKind::Framebuffer
            | RequestKind::Smbios
            | RequestKind::EfiSystemTable
            | RequestKind::EfiMemoryMap
            | RequestKind::Dtb => log!("{} request not supported: no response", f.kind.name()),
        }
    }
}

/// Internal modules (module request revision 1) would be loaded from the boot volume,
/// which a direct boot does not have. Optional ones are skipped (the revision-0 response
/// tells the kernel so); a required one is fatal, as it is for real Limine when the
/// file is missing.
fn check_internal_modules(kernel: &Kernel, at: usize, revision: u64) {
    if revision < 1 {
        return;
    }
    let count = kernel.read(at + request::FIELDS);
    let list = kernel.read(at + request::FIELDS + 8);
    for i in 0..count.min(64) {
        let required = kernel
            .offset_of(list + i * 8)
            .map(|o| kernel.read(o))
            .and_then(|m| kernel.offset_of(m + 16))
            .map(|o| kernel.read(o) & INTERNAL_MODULE_REQUIRED != 0)
            .unwrap_or(false);
        if required {
            fatal!("kernel requires internal module {i}; internal modules are not supported");
        }
    }
    if count > 0 {
        log!("warning: {count} internal module(s) requested; not supported, skipped");
    }
}

/// Adds the allocator's blocks to the first map, rebuilds it, and checks that the HHDM
/// built earlier still covers exactly the RAM-like entries.
fn final_memory_map(
    b: &mut MapBuilder,
    alloc: &Alloc,
    map: &mut MemoryMap<MAX_MAP>,
    hhdm_ranges: &[(u64, u64)],
) {
    for c in alloc.carves() {
        b.carve(c.base, c.length, c.kind)
            .unwrap_or_else(|e| fatal!("memory map: {e:?}"));
    }
    b.build(map).unwrap_or_else(|e| fatal!("memory map: {e:?}"));
    // SAFETY: BSP-only static, borrowed once.
    let after = unsafe { FINAL_HHDM_RANGES.get() };
    let n = map.hhdm_ranges(after).unwrap_or(0);
    if !map.is_well_formed() || &after[..n] != hhdm_ranges {
        fatal!("internal error: final memory map does not match the HHDM");
    }
    for e in map.entries() {
        log!("  [{:#018x}, {:#018x}) {}", e.base, e.end(), e.kind.name());
    }
}

fn publish_memory_map(
    kernel: &Kernel,
    reqs: &ScanResult,
    map: &MemoryMap<MAX_MAP>,
    r: &mut Responses,
) {
    let entries = map.entries();
    for (i, e) in entries.iter().enumerate() {
        r.memmap_entries[i] = MemmapEntry {
            base: e.base,
            length: e.length,
            kind: e.kind as u64,
        };
        r.memmap_ptrs[i] = hhdm(addr_of(&r.memmap_entries[i]));
    }
    r.memmap = responses::List {
        revision: 0,
        count: entries.len() as u64,
        items: hhdm(addr_of(&r.memmap_ptrs)),
    };
    if let Some(f) = reqs.get(RequestKind::MemoryMap) {
        kernel.respond(f.offset, addr_of(&r.memmap));
    }
}
