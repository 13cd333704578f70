use std::collections::BTreeMap;

use crate::*;
use weft_abi::auxv::*;

const TOP: u64 = 0x7fff_ffff_e000;

/// The stack as the program sees it, decoded from the image alone.
#[derive(Debug)]
struct Decoded {
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    auxv: Vec<(u64, u64)>,
    /// Address one past the AT_NULL pair.
    words_end: u64,
}

fn word(st: &StackImage, top: u64, addr: u64) -> u64 {
    assert!(
        addr >= st.rsp && addr + 8 <= top,
        "word {addr:#x} outside the image"
    );
    let off = (addr - st.rsp) as usize;
    u64::from_le_bytes(st.bytes[off..off + 8].try_into().unwrap())
}

fn cstr(st: &StackImage, top: u64, addr: u64) -> Vec<u8> {
    assert!(
        addr >= st.rsp && addr < top,
        "string {addr:#x} outside the image"
    );
    let off = (addr - st.rsp) as usize;
    let len = st.bytes[off..].iter().position(|&b| b == 0).expect("NUL");
    st.bytes[off..off + len].to_vec()
}

fn decode(st: &StackImage, top: u64) -> Decoded {
    assert_eq!(st.rsp % 16, 0, "rsp not 16-byte aligned");
    assert_eq!(st.bytes.len() as u64, top - st.rsp);
    let mut a = st.rsp;
    let argc = word(st, top, a);
    a += 8;
    let mut argv = Vec::new();
    for _ in 0..argc {
        argv.push(cstr(st, top, word(st, top, a)));
        a += 8;
    }
    assert_eq!(word(st, top, a), 0, "argv not NULL-terminated");
    a += 8;
    let mut envp = Vec::new();
    loop {
        let p = word(st, top, a);
        a += 8;
        if p == 0 {
            break;
        }
        envp.push(cstr(st, top, p));
    }
    let mut auxv = Vec::new();
    loop {
        let t = word(st, top, a);
        let v = word(st, top, a + 8);
        a += 16;
        auxv.push((t, v));
        if t == AT_NULL {
            break;
        }
    }
    Decoded {
        argv,
        envp,
        auxv,
        words_end: a,
    }
}

fn aux_values() -> AuxvValues {
    AuxvValues {
        phdr: 0x400040,
        phnum: 9,
        entry: 0x401234,
        uid: 1000,
        euid: 1001,
        gid: 100,
        egid: 101,
        hwcap: 0x178b_fbff,
        hwcap2: 2,
        minsigstksz: 3632,
        ..AuxvValues::default()
    }
}

const RANDOM: [u8; 16] = *b"0123456789abcdef";

#[test]
fn full_layout() {
    let argv = ["/bin/prog", "-x", "hello world", ""];
    let envp = ["HOME=/", "PATH=/bin:/usr/bin", "TERM=vt100"];
    let st = InitialStack::new(TOP, aux_values())
        .argv(&argv)
        .envp(&envp)
        .execfn(b"/bin/prog")
        .random(RANDOM)
        .build()
        .unwrap();
    let d = decode(&st, TOP);
    assert_eq!(d.argv, argv.map(|s| s.as_bytes().to_vec()));
    assert_eq!(d.envp, envp.map(|s| s.as_bytes().to_vec()));
    assert_eq!(st.argc, 4);
    assert_eq!(st.argv, st.rsp + 8);
    assert_eq!(st.envp, st.argv + 5 * 8);
    assert_eq!(st.auxv, st.envp + 4 * 8);

    // Every expected entry, once, in Linux's order, AT_NULL last.
    let types: Vec<u64> = d.auxv.iter().map(|p| p.0).collect();
    assert_eq!(
        types,
        [
            AT_MINSIGSTKSZ,
            AT_HWCAP,
            AT_PAGESZ,
            AT_CLKTCK,
            AT_PHDR,
            AT_PHENT,
            AT_PHNUM,
            AT_BASE,
            AT_FLAGS,
            AT_ENTRY,
            AT_UID,
            AT_EUID,
            AT_GID,
            AT_EGID,
            AT_SECURE,
            AT_RANDOM,
            AT_HWCAP2,
            AT_EXECFN,
            AT_PLATFORM,
            AT_NULL
        ]
    );
    let m: BTreeMap<u64, u64> = d.auxv.iter().copied().collect();
    assert_eq!(m[&AT_PHDR], 0x400040);
    assert_eq!(m[&AT_PHENT], 56);
    assert_eq!(m[&AT_PHNUM], 9);
    assert_eq!(m[&AT_PAGESZ], 4096);
    assert_eq!(m[&AT_BASE], 0);
    assert_eq!(m[&AT_FLAGS], 0);
    assert_eq!(m[&AT_ENTRY], 0x401234);
    assert_eq!(m[&AT_UID], 1000);
    assert_eq!(m[&AT_EUID], 1001);
    assert_eq!(m[&AT_GID], 100);
    assert_eq!(m[&AT_EGID], 101);
    assert_eq!(m[&AT_SECURE], 0);
    assert_eq!(m[&AT_HWCAP], 0x178b_fbff);
    assert_eq!(m[&AT_HWCAP2], 2);
    assert_eq!(m[&AT_CLKTCK], 100);
    assert_eq!(m[&AT_MINSIGSTKSZ], 3632);
    assert_eq!(m[&AT_NULL], 0);
    assert_eq!(m[&AT_RANDOM], st.random);
    assert_eq!(m[&AT_EXECFN], st.execfn);
    assert_eq!(m[&AT_PLATFORM], st.platform);
    assert_eq!(cstr(&st, TOP, st.execfn), b"/bin/prog");
    assert_eq!(cstr(&st, TOP, st.platform), b"x86_64");
    let r = (st.random - st.rsp) as usize;
    assert_eq!(st.bytes[r..r + 16], RANDOM);

    // Strings at the top in order argv, envp, execfn, then the 8-byte zero end
    // marker; platform and random bytes right below argv[0].
    let argv0 = word(&st, TOP, st.argv);
    assert_eq!(st.platform + 7, argv0);
    assert_eq!(st.random + 16, st.platform);
    let mut expect = Vec::new();
    for s in argv.iter().chain(envp.iter()) {
        expect.extend_from_slice(s.as_bytes());
        expect.push(0);
    }
    expect.extend_from_slice(b"/bin/prog\0");
    expect.extend_from_slice(&[0; 8]);
    let off = (argv0 - st.rsp) as usize;
    assert_eq!(&st.bytes[off..], &expect[..]);
    // The pointer area ends below the random bytes, with less than 32 bytes of
    // alignment padding between them.
    assert!(d.words_end <= st.random);
    assert!(st.random - d.words_end < 32);
    assert!(
        st.bytes[(d.words_end - st.rsp) as usize..r]
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn alignment_over_many_shapes() {
    for nargs in 0..6usize {
        for nenv in 0..6usize {
            for extra in 0..17usize {
                let argv: Vec<String> = (0..nargs).map(|i| "a".repeat(i + extra)).collect();
                let envp: Vec<String> = (0..nenv)
                    .map(|i| format!("V{i}={}", "x".repeat(extra)))
                    .collect();
                let top = TOP - 16 * extra as u64;
                let st = InitialStack::new(top, AuxvValues::default())
                    .argv(&argv)
                    .envp(&envp)
                    .execfn(&b"/a/b/c"[..extra % 6])
                    .build()
                    .unwrap();
                let d = decode(&st, top);
                if nargs == 0 {
                    // Linux gives argv[0] = "" rather than argc = 0.
                    assert_eq!(d.argv, vec![Vec::<u8>::new()]);
                } else {
                    let want: Vec<Vec<u8>> = argv.iter().map(|s| s.clone().into_bytes()).collect();
                    assert_eq!(d.argv, want);
                }
                let want: Vec<Vec<u8>> = envp.iter().map(|s| s.clone().into_bytes()).collect();
                assert_eq!(d.envp, want);
                assert!(d.words_end <= st.random && st.random - d.words_end < 32);
                assert_eq!(&st.bytes[st.bytes.len() - 8..], &[0; 8]);
            }
        }
    }
}

#[test]
fn vdso_entry_and_custom_platform() {
    let aux = AuxvValues {
        sysinfo_ehdr: Some(0x7fff_f7ff_0000),
        ..AuxvValues::default()
    };
    let st = InitialStack::new(TOP, aux)
        .argv(&["x"])
        .platform(b"i686")
        .build()
        .unwrap();
    let d = decode(&st, TOP);
    assert_eq!(d.auxv[0], (AT_SYSINFO_EHDR, 0x7fff_f7ff_0000));
    assert_eq!(cstr(&st, TOP, st.platform), b"i686");
    assert_eq!(cstr(&st, TOP, st.execfn), b"");
}

#[test]
fn limits() {
    let small = StackLimits {
        max_bytes: 100,
        max_strings: 4,
        max_string_len: 20,
    };
    let ok = ["0123456789"; 4]; // 4 * (11 + 8) = 76 bytes
    assert!(
        InitialStack::new(TOP, AuxvValues::default())
            .argv(&ok)
            .limits(small)
            .build()
            .is_ok()
    );
    let five = ["a"; 5];
    let e = InitialStack::new(TOP, AuxvValues::default())
        .argv(&five[..3])
        .envp(&five[..2])
        .limits(small)
        .build();
    assert_eq!(e, Err(Errno::E2BIG));
    let long = ["x".repeat(20)];
    let e = InitialStack::new(TOP, AuxvValues::default())
        .argv(&long)
        .limits(small)
        .build();
    assert_eq!(e, Err(Errno::E2BIG));
    let big = ["0123456789abcdef"; 4]; // 4 * 25 = 100: exactly the limit
    assert!(
        InitialStack::new(TOP, AuxvValues::default())
            .argv(&big)
            .limits(small)
            .build()
            .is_ok()
    );
    let e = InitialStack::new(TOP, AuxvValues::default())
        .argv(&big)
        .envp(&[""])
        .limits(small)
        .build();
    assert_eq!(e, Err(Errno::E2BIG));

    // Default limits: ARG_MAX total.
    let huge = ["y".repeat(ARG_MAX / 2)];
    let two = [huge[0].clone(), huge[0].clone()];
    assert!(
        InitialStack::new(TOP, AuxvValues::default())
            .argv(&huge)
            .build()
            .is_ok()
    );
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .argv(&two)
            .build(),
        Err(Errno::E2BIG)
    );
    let many: Vec<&str> = vec!["z"; MAX_ARG_STRINGS + 1];
    let lim = StackLimits {
        max_bytes: usize::MAX,
        ..StackLimits::default()
    };
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .argv(&many)
            .limits(lim)
            .build(),
        Err(Errno::E2BIG)
    );
}

#[test]
fn arg_budget() {
    let mut b = ArgBudget::new(StackLimits {
        max_bytes: 40,
        max_strings: 3,
        max_string_len: 10,
    });
    b.charge(9).unwrap(); // 18
    assert_eq!(b.charge(10), Err(Errno::E2BIG)); // 11 > max_string_len
    b.charge(3).unwrap(); // 30
    assert_eq!(b.charge(3), Err(Errno::E2BIG)); // 42 > 40, nothing charged
    assert_eq!((b.bytes(), b.strings()), (30, 2));
    b.charge(1).unwrap(); // 40
    assert_eq!(b.charge(0), Err(Errno::E2BIG)); // fourth string
    assert_eq!(b.charge(usize::MAX), Err(Errno::E2BIG));
}

#[test]
fn bad_input() {
    let nul = ["a\0b"];
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .argv(&nul)
            .build(),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .envp(&nul)
            .build(),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .execfn(b"/x\0")
            .build(),
        Err(Errno::EINVAL)
    );
    let long = vec![b'p'; 4096];
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .execfn(&long)
            .build(),
        Err(Errno::ENAMETOOLONG)
    );
    assert_eq!(
        InitialStack::new(TOP, AuxvValues::default())
            .platform(&[b'q'; 65])
            .build(),
        Err(Errno::EINVAL)
    );
    // Stack top too low or above the user half.
    for top in [0, 64, 0x1000, 0x1100] {
        assert_eq!(
            InitialStack::new(top, AuxvValues::default()).build(),
            Err(Errno::EINVAL),
            "{top:#x}"
        );
    }
    assert_eq!(
        InitialStack::new(USER_END + 0x1000, AuxvValues::default()).build(),
        Err(Errno::EINVAL)
    );
    // Unaligned tops still give an aligned rsp.
    for top in [TOP - 1, TOP - 3, TOP - 8, TOP - 13] {
        let st = InitialStack::new(top, AuxvValues::default())
            .argv(&["p"])
            .build()
            .unwrap();
        let d = decode(&st, top);
        assert_eq!(d.argv, vec![b"p".to_vec()]);
    }
}

#[test]
fn end_to_end_with_parsed_image() {
    // Feed a parsed, biased PIE's values through the builder.
    let img = {
        // Smallest valid static PIE: one RX segment holding the headers too.
        let mut e = vec![0u8; 0x200];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[6] = 1;
        e[16..18].copy_from_slice(&3u16.to_le_bytes());
        e[18..20].copy_from_slice(&62u16.to_le_bytes());
        e[20..24].copy_from_slice(&1u32.to_le_bytes());
        e[24..32].copy_from_slice(&0x100u64.to_le_bytes());
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        e[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        e[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes()); // R X
        e[ph + 32..ph + 40].copy_from_slice(&0x200u64.to_le_bytes());
        e[ph + 40..ph + 48].copy_from_slice(&0x200u64.to_le_bytes());
        e[ph + 48..ph + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        parse(&e).unwrap().with_bias(PIE_BASE).unwrap()
    };
    assert_eq!(img.phdr(), Some(PIE_BASE + 64));
    let aux = AuxvValues {
        hwcap: 1,
        ..AuxvValues::for_image(&img)
    };
    let st = InitialStack::new(TOP, aux).argv(&["init"]).build().unwrap();
    let m: BTreeMap<u64, u64> = decode(&st, TOP).auxv.into_iter().collect();
    assert_eq!(m[&AT_PHDR], PIE_BASE + 64);
    assert_eq!(m[&AT_PHNUM], 1);
    assert_eq!(m[&AT_ENTRY], PIE_BASE + 0x100);
    assert_eq!(m[&AT_HWCAP], 1);
}
