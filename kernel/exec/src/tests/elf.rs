use super::Rng;
use crate::*;
use goblin::elf::program_header::{
    PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_NOTE, PT_PHDR, PT_TLS,
};

/// One program header to write.
#[derive(Copy, Clone, Debug)]
struct Ph {
    ty: u32,
    flags: u32,
    off: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

fn load(flags: u32, off: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        ty: PT_LOAD,
        flags,
        off,
        vaddr,
        filesz,
        memsz,
        align: 0x1000,
    }
}

/// ELF header fields the tests vary.
#[derive(Copy, Clone, Debug)]
struct Hdr {
    class: u8,
    data: u8,
    ident_version: u8,
    e_type: u16,
    machine: u16,
    version: u32,
    entry: u64,
    phoff: u64,
    phentsize: u16,
    phnum: Option<u16>,
}

const HDR: Hdr = Hdr {
    class: 2,
    data: 1,
    ident_version: 1,
    e_type: 2,
    machine: 62,
    version: 1,
    entry: 0x401000,
    phoff: 64,
    phentsize: 56,
    phnum: None,
};

/// Writes an ELF64 image of `len` bytes: header, program headers at `h.phoff`,
/// the rest filled with a recognisable pattern.
fn build(h: Hdr, phs: &[Ph], len: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    let mut w = |off: usize, data: &[u8]| {
        if off.checked_add(data.len()).is_some_and(|e| e <= b.len()) {
            b[off..off + data.len()].copy_from_slice(data);
        }
    };
    w(0, b"\x7fELF");
    w(
        4,
        &[h.class, h.data, h.ident_version, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    w(16, &h.e_type.to_le_bytes());
    w(18, &h.machine.to_le_bytes());
    w(20, &h.version.to_le_bytes());
    w(24, &h.entry.to_le_bytes());
    w(32, &h.phoff.to_le_bytes());
    w(40, &0u64.to_le_bytes()); // e_shoff
    w(48, &0u32.to_le_bytes()); // e_flags
    w(52, &64u16.to_le_bytes()); // e_ehsize
    w(54, &h.phentsize.to_le_bytes());
    w(56, &h.phnum.unwrap_or(phs.len() as u16).to_le_bytes());
    w(58, &64u16.to_le_bytes()); // e_shentsize
    w(60, &0u16.to_le_bytes()); // e_shnum
    w(62, &0u16.to_le_bytes()); // e_shstrndx
    for (i, p) in phs.iter().enumerate() {
        let o = (h.phoff as usize).saturating_add(i * 56);
        w(o, &p.ty.to_le_bytes());
        w(o.saturating_add(4), &p.flags.to_le_bytes());
        w(o.saturating_add(8), &p.off.to_le_bytes());
        w(o.saturating_add(16), &p.vaddr.to_le_bytes());
        w(o.saturating_add(24), &p.vaddr.to_le_bytes()); // p_paddr
        w(o.saturating_add(32), &p.filesz.to_le_bytes());
        w(o.saturating_add(40), &p.memsz.to_le_bytes());
        w(o.saturating_add(48), &p.align.to_le_bytes());
    }
    b
}

const FILE_LEN: usize = 0x2050;

/// A static non-PIE program shaped like what GNU ld / lld emit for musl.
fn exec_phdrs() -> Vec<Ph> {
    vec![
        Ph {
            ty: PT_PHDR,
            flags: PF_R,
            off: 64,
            vaddr: 0x400040,
            filesz: 6 * 56,
            memsz: 6 * 56,
            align: 8,
        },
        load(PF_R, 0, 0x400000, 0x200, 0x200),
        load(PF_R | PF_X, 0x1000, 0x401000, 0x100, 0x100),
        load(PF_R | PF_W, 0x2010, 0x403010, 0x40, 0x1000),
        Ph {
            ty: PT_TLS,
            flags: PF_R,
            off: 0x2010,
            vaddr: 0x403010,
            filesz: 0x8,
            memsz: 0x10,
            align: 8,
        },
        Ph {
            ty: PT_GNU_STACK,
            flags: PF_R | PF_W,
            off: 0,
            vaddr: 0,
            filesz: 0,
            memsz: 0,
            align: 16,
        },
    ]
}

fn exec_elf() -> Vec<u8> {
    build(HDR, &exec_phdrs(), FILE_LEN)
}

/// The same program as a static PIE based at 0.
fn pie_elf() -> Vec<u8> {
    let phs: Vec<Ph> = exec_phdrs()
        .into_iter()
        .map(|mut p| {
            if p.vaddr >= 0x400000 {
                p.vaddr -= 0x400000;
            }
            p
        })
        .collect();
    build(
        Hdr {
            e_type: 3,
            entry: 0x1000,
            ..HDR
        },
        &phs,
        FILE_LEN,
    )
}

/// Checks every documented invariant of a successful parse.
fn check_invariants(elf: &[u8], img: &ExecImage) {
    let segs = img.segments();
    assert!(!segs.is_empty());
    for (i, s) in segs.iter().enumerate() {
        assert!(s.memsz > 0 && s.filesz <= s.memsz, "{s:?}");
        assert!(s.end() <= USER_END && s.vaddr < s.end());
        let r = s.file_range();
        assert!(r.start <= r.end && r.end <= elf.len());
        assert!(s.align <= 1 || s.align.is_power_of_two());
        if s.filesz > 0 {
            assert_eq!(s.vaddr % PAGE_SIZE, s.offset % PAGE_SIZE);
        }
        if i > 0 {
            assert!(segs[i - 1].end() <= s.vaddr, "overlap {segs:?}");
        }
    }
    assert!(
        segs.iter()
            .any(|s| (s.vaddr..s.end()).contains(&img.entry()))
    );
    if let Some(p) = img.phdr() {
        let end = p + u64::from(img.phnum()) * 56;
        assert!(
            segs.iter()
                .any(|s| p >= s.vaddr && end <= s.vaddr + s.filesz)
        );
    }
    assert!(img.phnum() >= 1 && usize::from(img.phnum()) <= MAX_PHNUM);
    assert_eq!(img.phentsize(), 56);
    assert!(img.brk_start() >= img.end() && img.brk_start().is_multiple_of(PAGE_SIZE));
    if !img.is_pie() {
        assert!(img.start() >= PAGE_SIZE);
    }
}

fn noexec(elf: &[u8]) {
    assert_eq!(parse(elf), Err(Errno::ENOEXEC));
}

#[test]
fn parses_static_exec() {
    let elf = exec_elf();
    let img = parse(&elf).unwrap();
    check_invariants(&elf, &img);
    assert!(!img.is_pie());
    assert_eq!(img.entry(), 0x401000);
    assert_eq!(img.phdr(), Some(0x400040));
    assert_eq!(img.phnum(), 6);
    assert_eq!(img.phentsize(), 56);
    assert_eq!(img.bias(), 0);
    assert!(!img.exec_stack());
    let s = img.segments();
    assert_eq!(s.len(), 3);
    assert_eq!(
        s[0],
        Segment {
            vaddr: 0x400000,
            memsz: 0x200,
            filesz: 0x200,
            offset: 0,
            prot: Prot::READ,
            align: 0x1000
        }
    );
    assert_eq!(s[1].prot, Prot::READ.union(Prot::EXEC));
    assert!(s[1].prot.exec() && s[1].prot.read() && !s[1].prot.write());
    assert_eq!(s[2].prot.bits(), 3);
    assert_eq!(
        (s[2].vaddr, s[2].filesz, s[2].memsz, s[2].offset),
        (0x403010, 0x40, 0x1000, 0x2010)
    );
    assert_eq!(s[2].file_range(), 0x2010..0x2050);
    assert_eq!((s[2].page_start(), s[2].page_end()), (0x403000, 0x405000));
    assert_eq!(img.start(), 0x400000);
    assert_eq!(img.end(), 0x404010);
    assert_eq!(img.brk_start(), 0x405000);
    assert_eq!(img.span(), 0x5000);
    // A non-PIE takes no bias other than 0.
    assert_eq!(img.with_bias(0).unwrap(), img);
    assert_eq!(img.with_bias(0x1000), Err(Errno::EINVAL));
}

#[test]
fn phdr_computed_without_pt_phdr() {
    let phs: Vec<Ph> = exec_phdrs()
        .into_iter()
        .filter(|p| p.ty != PT_PHDR)
        .collect();
    let elf = build(HDR, &phs, FILE_LEN);
    let img = parse(&elf).unwrap();
    check_invariants(&elf, &img);
    assert_eq!(img.phdr(), Some(0x400040));
    assert_eq!(img.phnum(), 5);

    // Headers not inside any segment's file bytes: no AT_PHDR, but loadable.
    let phs2: Vec<Ph> = phs
        .iter()
        .map(|p| {
            let mut p = *p;
            if p.ty == PT_LOAD && p.off == 0 {
                p.off = 0x1000 - 0x100;
                p.vaddr = 0x400f00;
                p.filesz = 0x100;
                p.memsz = 0x100;
            }
            p
        })
        .collect();
    let elf = build(HDR, &phs2, FILE_LEN);
    let img = parse(&elf).unwrap();
    assert_eq!(img.phdr(), None);
    assert_eq!(AuxvValues::for_image(&img).phdr, 0);
}

#[test]
fn static_pie_and_bias() {
    let elf = pie_elf();
    let img = parse(&elf).unwrap();
    check_invariants(&elf, &img);
    assert!(img.is_pie());
    assert_eq!(img.start(), 0);
    assert_eq!(img.entry(), 0x1000);
    assert_eq!(img.phdr(), Some(0x40));
    // Page 0 would be mapped: a bias is required.
    assert_eq!(img.with_bias(0), Err(Errno::EINVAL));
    assert_eq!(img.with_bias(PIE_BASE + 1), Err(Errno::EINVAL));
    assert_eq!(img.with_bias(USER_END), Err(Errno::EINVAL));
    assert_eq!(img.with_bias(!0xfff), Err(Errno::EINVAL));
    let b = img.with_bias(PIE_BASE).unwrap();
    check_invariants(&elf, &b);
    assert_eq!(b.bias(), PIE_BASE);
    assert_eq!(b.entry(), PIE_BASE + 0x1000);
    assert_eq!(b.phdr(), Some(PIE_BASE + 0x40));
    assert_eq!(b.start(), PIE_BASE);
    assert_eq!(b.brk_start(), PIE_BASE + 0x5000);
    for (x, y) in img.segments().iter().zip(b.segments()) {
        assert_eq!(x.vaddr + PIE_BASE, y.vaddr);
        assert_eq!(
            (x.memsz, x.filesz, x.offset, x.prot),
            (y.memsz, y.filesz, y.offset, y.prot)
        );
    }
    let aux = AuxvValues::for_image(&b);
    assert_eq!(
        (aux.phdr, aux.phent, aux.phnum, aux.entry),
        (PIE_BASE + 0x40, 56, 6, PIE_BASE + 0x1000)
    );
    // Biases add up.
    let c = img.with_bias(0x10000).unwrap().with_bias(0x20000).unwrap();
    assert_eq!(c.bias(), 0x30000);
    assert_eq!(c.entry(), 0x31000);
    // The highest bias that still fits.
    let top = USER_END - img.span();
    assert!(img.with_bias(top).is_ok());
    assert_eq!(img.with_bias(top + 0x1000), Err(Errno::EINVAL));
}

#[test]
fn exec_stack_flag() {
    let phs: Vec<Ph> = exec_phdrs()
        .into_iter()
        .map(|mut p| {
            if p.ty == PT_GNU_STACK {
                p.flags |= PF_X;
            }
            p
        })
        .collect();
    assert!(parse(&build(HDR, &phs, FILE_LEN)).unwrap().exec_stack());
}

#[test]
fn rejects_bad_identification() {
    noexec(&[]);
    noexec(b"\x7fELF");
    let good = exec_elf();
    let mut e = good.clone();
    e[0] = 0x7e;
    noexec(&e);
    noexec(&build(Hdr { class: 1, ..HDR }, &exec_phdrs(), FILE_LEN));
    noexec(&build(Hdr { class: 3, ..HDR }, &exec_phdrs(), FILE_LEN));
    noexec(&build(Hdr { data: 2, ..HDR }, &exec_phdrs(), FILE_LEN));
    noexec(&build(Hdr { data: 0, ..HDR }, &exec_phdrs(), FILE_LEN));
    noexec(&build(
        Hdr {
            ident_version: 0,
            ..HDR
        },
        &exec_phdrs(),
        FILE_LEN,
    ));
    noexec(&build(Hdr { version: 2, ..HDR }, &exec_phdrs(), FILE_LEN));
    noexec(&build(Hdr { machine: 3, ..HDR }, &exec_phdrs(), FILE_LEN)); // i386
    noexec(&build(
        Hdr {
            machine: 183,
            ..HDR
        },
        &exec_phdrs(),
        FILE_LEN,
    )); // aarch64
    for t in [0u16, 1, 4, 0xfe00, 0xffff] {
        noexec(&build(Hdr { e_type: t, ..HDR }, &exec_phdrs(), FILE_LEN));
    }
}

#[test]
fn rejects_bad_header_table() {
    let phs = exec_phdrs();
    noexec(&build(
        Hdr {
            phentsize: 32,
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    noexec(&build(
        Hdr {
            phentsize: 64,
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    noexec(&build(
        Hdr {
            phnum: Some(0),
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    noexec(&build(
        Hdr {
            phnum: Some(0xffff),
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    noexec(&build(
        Hdr {
            phnum: Some(MAX_PHNUM as u16 + 1),
            ..HDR
        },
        &phs,
        0x10000,
    ));
    // Table past the end of the file, or at an offset that wraps.
    noexec(&build(
        Hdr {
            phoff: FILE_LEN as u64 - 100,
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    noexec(&build(
        Hdr {
            phoff: u64::MAX - 10,
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    noexec(&build(
        Hdr {
            phoff: 1 << 40,
            ..HDR
        },
        &phs,
        FILE_LEN,
    ));
    // Header table fine but file shorter than the header.
    noexec(&exec_elf()[..63]);
}

#[test]
fn accepts_max_phnum() {
    // The table (256 * 56 bytes) does not fit in the first segment's 0x200 bytes,
    // so there is no PT_PHDR and no AT_PHDR.
    let mut phs: Vec<Ph> = exec_phdrs()
        .into_iter()
        .filter(|p| p.ty != PT_PHDR)
        .collect();
    let note = Ph {
        ty: PT_NOTE,
        flags: 0,
        off: 0,
        vaddr: 0,
        filesz: 0,
        memsz: 0,
        align: 4,
    };
    phs.resize(MAX_PHNUM, note);
    let h = Hdr {
        phoff: 0x4000,
        ..HDR
    };
    let elf = build(h, &phs, 0x4000 + MAX_PHNUM * 56);
    let img = parse(&elf).unwrap();
    check_invariants(&elf, &img);
    assert_eq!(usize::from(img.phnum()), MAX_PHNUM);
    assert_eq!(img.phdr(), None);
}

/// Replaces program header `i` of the standard program and expects ENOEXEC.
fn noexec_with(i: usize, f: impl FnOnce(&mut Ph)) {
    let mut phs = exec_phdrs();
    f(&mut phs[i]);
    let elf = build(HDR, &phs, FILE_LEN);
    assert_eq!(parse(&elf), Err(Errno::ENOEXEC), "{:?}", phs[i]);
}

#[test]
fn rejects_bad_segments() {
    // Index 1..=3 are the loads, 0 PT_PHDR, 4 PT_TLS.
    noexec_with(3, |p| p.filesz = p.memsz + 1);
    noexec_with(3, |p| p.off = FILE_LEN as u64 - 0x10); // file bytes past the end
    noexec_with(3, |p| p.filesz = u64::MAX - 0x2000); // offset + filesz wraps
    noexec_with(3, |p| p.off = u64::MAX - 0x10);
    noexec_with(3, |p| p.vaddr = USER_END - 0x10); // past the user half
    noexec_with(3, |p| {
        p.vaddr = 0xffff_8000_0000_0010; // kernel half
    });
    noexec_with(3, |p| {
        p.vaddr = u64::MAX - 0xfef; // wraps
        p.off = 0x2010;
    });
    noexec_with(3, |p| p.memsz = u64::MAX);
    noexec_with(3, |p| p.vaddr = 0x401010); // overlaps the text segment
    noexec_with(2, |p| {
        p.vaddr = 0x400100; // overlaps the first segment
        p.off = 0x100;
    });
    noexec_with(3, |p| p.align = 0x1800); // not a power of two
    noexec_with(3, |p| p.vaddr = 0x403020); // vaddr != offset mod page size
    noexec_with(2, |p| p.vaddr = 0x3ff000); // misordered (below the first)
    // Page 0 in a non-PIE (everything else consistent).
    let mut phs: Vec<Ph> = exec_phdrs()
        .into_iter()
        .filter(|p| p.ty != PT_PHDR)
        .collect();
    phs[0].vaddr = 0;
    noexec(&build(HDR, &phs, FILE_LEN));
    phs[0].vaddr = 0x1000;
    assert!(parse(&build(HDR, &phs, FILE_LEN)).is_ok());
    noexec_with(0, |p| p.vaddr = 0x404000); // PT_PHDR not in file bytes
    noexec_with(0, |p| p.vaddr = u64::MAX - 8); // PT_PHDR wraps
    noexec_with(0, |p| p.ty = PT_INTERP); // dynamically linked
    noexec_with(4, |p| p.filesz = 0x20); // TLS filesz > memsz
    noexec_with(4, |p| p.off = u64::MAX); // TLS past the end
    noexec_with(4, |p| p.align = 3);
}

#[test]
fn rejects_interp_and_empty() {
    let mut phs = exec_phdrs();
    phs.push(Ph {
        ty: PT_INTERP,
        flags: PF_R,
        off: 0x200,
        vaddr: 0x400200,
        filesz: 28,
        memsz: 28,
        align: 1,
    });
    noexec(&build(HDR, &phs, FILE_LEN));
    noexec(&build(Hdr { e_type: 3, ..HDR }, &phs, FILE_LEN));
    // No PT_LOAD at all, or only empty ones.
    let only_stack: Vec<Ph> = exec_phdrs()
        .into_iter()
        .filter(|p| p.ty == PT_GNU_STACK)
        .collect();
    noexec(&build(HDR, &only_stack, FILE_LEN));
    let empty_load = vec![load(PF_R | PF_X, 0, 0x400000, 0, 0)];
    noexec(&build(HDR, &empty_load, FILE_LEN));
    // Two PT_PHDRs.
    let mut two = exec_phdrs();
    two.insert(0, two[0]);
    noexec(&build(HDR, &two, FILE_LEN));
}

#[test]
fn empty_load_segments_are_skipped() {
    let mut phs = exec_phdrs();
    phs.insert(2, load(PF_R, 0, 0x7000_0000, 0, 0));
    let elf = build(HDR, &phs, FILE_LEN);
    let img = parse(&elf).unwrap();
    assert_eq!(img.segments().len(), 3);
    check_invariants(&elf, &img);
}

#[test]
fn rejects_entry_outside() {
    for entry in [0, 0x3fffff, 0x404010, 0x404fff, u64::MAX] {
        noexec(&build(Hdr { entry, ..HDR }, &exec_phdrs(), FILE_LEN));
    }
    // Inside the bss part of the data segment is accepted (odd, but mapped).
    assert!(
        parse(&build(
            Hdr {
                entry: 0x404000,
                ..HDR
            },
            &exec_phdrs(),
            FILE_LEN
        ))
        .is_ok()
    );
}

#[test]
fn every_truncation_fails_cleanly() {
    for elf in [exec_elf(), pie_elf()] {
        for len in 0..elf.len() {
            assert_eq!(parse(&elf[..len]), Err(Errno::ENOEXEC), "len {len}");
        }
        assert!(parse(&elf).is_ok());
    }
}

#[test]
fn random_byte_mutations_never_panic() {
    let mut rng = Rng::new(0x5eed_0001);
    let mut ok = 0;
    for base in [exec_elf(), pie_elf()] {
        for _ in 0..20_000 {
            let mut e = base.clone();
            let flips = 1 + rng.below(6);
            for _ in 0..flips {
                // Mostly the header and program headers, sometimes anywhere.
                let pos = if rng.below(4) == 0 {
                    rng.below(e.len() as u64)
                } else {
                    rng.below(64 + 6 * 56)
                } as usize;
                e[pos] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => e[pos] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            if rng.below(8) == 0 {
                let cut = rng.below(e.len() as u64 + 1) as usize;
                e.truncate(cut);
            }
            match parse(&e) {
                Ok(img) => {
                    ok += 1;
                    check_invariants(&e, &img);
                    if img.is_pie()
                        && let Ok(b) = img.with_bias(PIE_BASE)
                    {
                        check_invariants(&e, &b);
                    }
                }
                Err(err) => assert_eq!(err, Errno::ENOEXEC),
            }
        }
    }
    // Many mutations hit harmless bytes, so some must still parse.
    assert!(ok > 100, "only {ok} mutants parsed");
}

#[test]
fn random_program_headers_never_panic() {
    let mut rng = Rng::new(0xfeed_beef);
    let interesting = [
        0u64,
        1,
        8,
        0xfff,
        0x1000,
        0x2010,
        0x400000,
        0x401000,
        USER_END - 0x1000,
        USER_END,
        1 << 47,
        u64::MAX,
        u64::MAX - 0xfff,
        FILE_LEN as u64,
    ];
    for _ in 0..30_000 {
        let mut phs = exec_phdrs();
        let n = 1 + rng.below(3);
        for _ in 0..n {
            let i = rng.below(phs.len() as u64) as usize;
            let pick = |rng: &mut Rng| {
                if rng.below(2) == 0 {
                    interesting[rng.below(interesting.len() as u64) as usize]
                } else {
                    rng.next() >> rng.below(64)
                }
            };
            let p = &mut phs[i];
            match rng.below(8) {
                0 => {
                    p.ty = [
                        PT_LOAD,
                        PT_PHDR,
                        PT_TLS,
                        PT_INTERP,
                        PT_GNU_STACK,
                        0x6474e552,
                    ][rng.below(6) as usize]
                }
                1 => p.off = pick(&mut rng),
                2 => p.vaddr = pick(&mut rng),
                3 => p.filesz = pick(&mut rng),
                4 => p.memsz = pick(&mut rng),
                5 => p.align = pick(&mut rng),
                6 => p.flags = rng.next() as u32,
                _ => phs.swap(i, rng.below(6) as usize),
            }
        }
        let h = Hdr {
            entry: if rng.below(8) == 0 {
                rng.next()
            } else {
                HDR.entry
            },
            e_type: if rng.below(2) == 0 { 2 } else { 3 },
            ..HDR
        };
        let elf = build(h, &phs, FILE_LEN);
        match parse(&elf) {
            Ok(img) => {
                check_invariants(&elf, &img);
                let _ = img.with_bias(rng.next() & !0xfff);
            }
            Err(e) => assert_eq!(e, Errno::ENOEXEC),
        }
    }
}

/// The host test binary itself: a real, large ELF (normally a dynamically linked
/// PIE, hence ENOEXEC). Whatever it is, parsing it and its truncations and
/// mutations must not panic.
#[test]
fn host_executable_never_panics() {
    let Ok(path) = std::env::current_exe() else {
        return;
    };
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    match parse(&bytes) {
        Ok(img) => check_invariants(&bytes, &img),
        Err(e) => assert_eq!(e, Errno::ENOEXEC),
    }
    let mut rng = Rng::new(42);
    let head = bytes.len().min(4096);
    for _ in 0..2000 {
        let cut = rng.below(head as u64 + 1) as usize;
        let mut e = bytes[..cut.max(rng.below(bytes.len() as u64 + 1) as usize)].to_vec();
        if !e.is_empty() {
            let pos = rng.below(e.len().min(head) as u64) as usize;
            e[pos] = rng.next() as u8;
        }
        if let Ok(img) = parse(&e) {
            check_invariants(&e, &img);
        }
    }
}
