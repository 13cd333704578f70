use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use weft_abi::fcntl::*;

use super::*;

/// Builds ustar archives byte by byte.
#[derive(Default)]
struct Tar {
    buf: Vec<u8>,
}

fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    field[..w].copy_from_slice(s.as_bytes());
    field[w] = 0;
}

fn set_checksum(h: &mut [u8]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

#[derive(Clone)]
struct Hdr<'a> {
    name: &'a [u8],
    kind: u8,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    link: &'a [u8],
    prefix: &'a [u8],
}

const H: Hdr<'static> = Hdr {
    name: b"",
    kind: b'0',
    size: 0,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1_767_225_600,
    link: b"",
    prefix: b"",
};

fn header(h: &Hdr<'_>) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..h.name.len()].copy_from_slice(h.name);
    octal(&mut b[100..108], h.mode as u64);
    octal(&mut b[108..116], h.uid as u64);
    octal(&mut b[116..124], h.gid as u64);
    octal(&mut b[124..136], h.size);
    octal(&mut b[136..148], h.mtime);
    b[156] = h.kind;
    b[157..157 + h.link.len()].copy_from_slice(h.link);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    b[265..269].copy_from_slice(b"root");
    b[345..345 + h.prefix.len()].copy_from_slice(h.prefix);
    set_checksum(&mut b);
    b
}

impl Tar {
    fn raw(&mut self, hdr: &[u8; 512], data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(hdr);
        self.buf.extend_from_slice(data);
        let pad = data.len().div_ceil(512) * 512 - data.len();
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    fn entry(&mut self, h: Hdr<'_>, data: &[u8]) -> &mut Self {
        let h = Hdr {
            size: data.len() as u64,
            ..h
        };
        self.raw(&header(&h), data)
    }

    fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.entry(
            Hdr {
                name: name.as_bytes(),
                mode,
                ..H
            },
            data,
        )
    }

    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(
            Hdr {
                name: name.as_bytes(),
                kind: b'5',
                mode,
                ..H
            },
            b"",
        )
    }

    fn link(&mut self, kind: u8, name: &str, target: &str) -> &mut Self {
        self.entry(
            Hdr {
                name: name.as_bytes(),
                kind,
                mode: 0o777,
                link: target.as_bytes(),
                ..H
            },
            b"",
        )
    }

    fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            // "<len> k=v\n" where len counts itself.
            let body = format!(" {k}={v}\n");
            let mut len = body.len() + 1;
            while format!("{len}").len() + body.len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        self.entry(
            Hdr {
                name: b"PaxHeader",
                kind: b'x',
                ..H
            },
            &data,
        )
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut v = self.buf.clone();
        v.extend_from_slice(&[0u8; 1024]);
        v
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn read_file(vfs: &Vfs, path: &str) -> Vec<u8> {
    vfs.lookup(&vfs.root(), path.as_bytes(), true)
        .unwrap()
        .contents()
        .unwrap()
}

#[test]
fn unpack_everything() {
    let mut t = Tar::default();
    t.dir("bin/", 0o755)
        .file("bin/init", &data(5000), 0o755)
        .file("./etc/motd", b"welcome\n", 0o644) // parent created implicitly
        .file("/abs/empty", b"", 0o600)
        .file("sizes/511", &data(511), 0o644)
        .file("sizes/512", &data(512), 0o644)
        .file("sizes/513", &data(513), 0o644)
        .link(b'2', "bin/sh", "init")
        .link(b'2', "etc/dangling", "/nowhere")
        .link(b'1', "bin/init2", "bin/init")
        .link(b'3', "dev/tty", "") // device nodes are skipped
        .link(b'6', "fifo", "");
    // ustar prefix field.
    t.entry(
        Hdr {
            name: b"leaf.txt",
            prefix: b"deep/ly/nested",
            ..H
        },
        b"prefixed",
    );
    // GNU long name (typeflag L) for a 150-byte path.
    let long = format!("long/{}", "n".repeat(145));
    let mut ln = long.as_bytes().to_vec();
    ln.push(0);
    t.entry(
        Hdr {
            name: b"././@LongLink",
            kind: b'L',
            ..H
        },
        &ln,
    );
    t.file("truncated-name", b"long body", 0o640);
    // pax: path, mtime, uid; global headers are ignored.
    t.entry(
        Hdr {
            name: b"global",
            kind: b'g',
            ..H
        },
        b"20 comment=ignored!\n",
    );
    t.pax(&[
        ("path", "pax/renamed.bin"),
        ("mtime", "1234.5678"),
        ("uid", "1000"),
    ]);
    t.file("placeholder", b"pax data", 0o644);
    // Later entries replace earlier ones; a directory entry merges and sets the mode.
    t.file("etc/motd", b"replaced\n", 0o600);
    t.dir("etc", 0o700);
    // Old-style directory: regular type with a trailing slash.
    t.entry(
        Hdr {
            name: b"olddir/",
            kind: 0,
            mode: 0o711,
            ..H
        },
        b"",
    );
    // The root itself.
    t.dir("./", 0o755);
    let mut ar = t.finish();
    ar.extend_from_slice(b"trailing junk after the end marker is ignored");

    let vfs = Vfs::new();
    let stats = vfs.unpack_initramfs(&ar).unwrap();
    assert_eq!(
        stats,
        UnpackStats {
            files: 10,
            dirs: 4,
            symlinks: 2,
            hardlinks: 1,
            skipped: 2,
            bytes: 5000 + 8 + 511 + 512 + 513 + 8 + 9 + 8 + 9,
        }
    );
    let root = vfs.root();
    assert_eq!(read_file(&vfs, "/bin/init"), data(5000));
    assert_eq!(read_file(&vfs, "/sizes/511"), data(511));
    assert_eq!(read_file(&vfs, "/sizes/512"), data(512));
    assert_eq!(read_file(&vfs, "/sizes/513"), data(513));
    assert_eq!(read_file(&vfs, "/abs/empty"), b"");
    assert_eq!(read_file(&vfs, "/etc/motd"), b"replaced\n");
    assert_eq!(read_file(&vfs, "/bin/sh"), data(5000), "symlink followed");
    assert_eq!(vfs.readlink(&root, b"/bin/sh").unwrap(), b"init");
    assert_eq!(vfs.readlink(&root, b"/etc/dangling").unwrap(), b"/nowhere");
    assert_eq!(read_file(&vfs, "/deep/ly/nested/leaf.txt"), b"prefixed");
    assert_eq!(read_file(&vfs, &format!("/{long}")), b"long body");
    assert_eq!(
        vfs.lookup(&root, b"/truncated-name", true).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(read_file(&vfs, "/pax/renamed.bin"), b"pax data");
    assert_eq!(
        vfs.lookup(&root, b"/placeholder", true).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.lookup(&root, b"/dev/tty", true).unwrap_err(),
        Errno::ENOENT
    );
    // Metadata.
    let st = vfs.stat(&root, b"/bin/init", true).unwrap();
    assert_eq!(
        (st.st_mode, st.st_size, st.st_nlink, st.st_mtime),
        (S_IFREG | 0o755, 5000, 2, 1_767_225_600)
    );
    assert_eq!(
        vfs.stat(&root, b"/bin/init2", true).unwrap().st_ino,
        st.st_ino
    );
    let pst = vfs.stat(&root, b"/pax/renamed.bin", true).unwrap();
    assert_eq!((pst.st_mtime, pst.st_uid), (1234, 1000));
    assert_eq!(
        vfs.stat(&root, b"/etc", true).unwrap().st_mode,
        S_IFDIR | 0o700
    );
    assert_eq!(
        vfs.stat(&root, b"/etc/motd", true).unwrap().st_mode,
        S_IFREG | 0o600
    );
    assert_eq!(
        vfs.stat(&root, b"/olddir", true).unwrap().st_mode,
        S_IFDIR | 0o711
    );
    assert_eq!(
        vfs.stat(&root, b"/deep/ly", true).unwrap().st_mode,
        S_IFDIR | 0o755
    );
    assert_eq!(
        vfs.stat(&root, b"/bin/sh", false).unwrap().st_mode,
        S_IFLNK | 0o777
    );
    // Link counts of directories.
    assert_eq!(vfs.stat(&root, b"/", true).unwrap().st_nlink, 2 + 8);
    assert_eq!(vfs.stat(&root, b"/deep", true).unwrap().st_nlink, 3);
    // Executable content can be handed to exec without a copy.
    let n = vfs
        .lookup(&root, b"/bin/init", true)
        .unwrap()
        .with_contents(|b| b.len())
        .unwrap();
    assert_eq!(n, 5000);
}

#[test]
fn missing_end_marker_is_fine() {
    let mut t = Tar::default();
    t.file("a", b"x", 0o644);
    let vfs = Vfs::new();
    assert_eq!(vfs.unpack_initramfs(&t.buf).unwrap().files, 1);
    // Last entry's padding missing too.
    let mut t = Tar::default();
    t.file("b", &data(700), 0o644);
    let cut = 512 + 700;
    assert_eq!(vfs.unpack_initramfs(&t.buf[..cut]).unwrap().files, 1);
    assert_eq!(read_file(&vfs, "/b"), data(700));
    assert_eq!(vfs.unpack_initramfs(&[]).unwrap(), UnpackStats::default());
}

fn unpack_err(ar: &[u8]) -> InitramfsError {
    Vfs::new().unpack_initramfs(ar).unwrap_err()
}

#[test]
fn malformed_archives() {
    let good = {
        let mut t = Tar::default();
        t.file("first", b"1", 0o644)
            .file("second/file", &data(1000), 0o644);
        t.finish()
    };
    assert!(Vfs::new().unpack_initramfs(&good).is_ok());
    let second = 1024; // header offset of "second/file"

    // Bad checksum: names the entry and its offset; the first entry is in.
    let mut ar = good.clone();
    ar[second + 130] ^= 1;
    let vfs = Vfs::new();
    let e = vfs.unpack_initramfs(&ar).unwrap_err();
    assert_eq!(
        (e.entry.as_str(), e.offset, e.reason),
        ("second/file", second, "bad header checksum")
    );
    assert!(e.to_string().contains("second/file"));
    assert_eq!(e.summary(), "second/file: bad header checksum");
    assert_eq!(read_file(&vfs, "/first"), b"1");

    // Size past the end of the archive.
    let e = unpack_err(&good[..second + 512 + 500]);
    assert_eq!(
        (e.entry.as_str(), e.reason),
        ("second/file", "data past the end of the archive")
    );
    let mut t = Tar::default();
    t.raw(
        &header(&Hdr {
            name: b"huge",
            size: 0o77777777777,
            ..H
        }),
        b"",
    );
    let e = unpack_err(&t.finish());
    assert_eq!(
        (e.entry.as_str(), e.reason),
        ("huge", "data past the end of the archive")
    );

    // Truncated header.
    let e = unpack_err(&good[..second + 100]);
    assert_eq!(
        (e.entry.as_str(), e.offset, e.reason),
        ("<header at 1024>", second, "truncated header")
    );

    // Garbage in the size field.
    let mut h = header(&Hdr {
        name: b"badsize",
        ..H
    });
    h[124..136].copy_from_slice(b"12x4567\0\0\0\0\0");
    set_checksum(&mut h);
    let mut t = Tar::default();
    t.raw(&h, b"");
    let e = unpack_err(&t.finish());
    assert_eq!((e.entry.as_str(), e.reason), ("badsize", "bad size field"));
    // Negative base-256 size.
    let mut h = header(&Hdr { name: b"neg", ..H });
    h[124] = 0xff;
    set_checksum(&mut h);
    let mut t = Tar::default();
    t.raw(&h, b"");
    assert_eq!(unpack_err(&t.finish()).reason, "bad size field");

    // Malformed pax records.
    for bad in [
        &b"garbage"[..],
        b"99 path=x\n",
        b"8 path=x",
        b"6 =xx\n",
        b"11 size=1x\n",
    ] {
        let mut t = Tar::default();
        t.entry(
            Hdr {
                name: b"PaxHeader/f",
                kind: b'x',
                ..H
            },
            bad,
        );
        t.file("f", b"", 0o644);
        let e = unpack_err(&t.finish());
        assert_eq!(e.entry, "PaxHeader/f", "{}", String::from_utf8_lossy(bad));
        assert!(e.reason.contains("pax"), "{}", e.reason);
    }

    // Tree conflicts name the entry and carry the errno.
    let mut t = Tar::default();
    t.file("plain", b"x", 0o644)
        .file("plain/child", b"y", 0o644);
    let e = unpack_err(&t.finish());
    assert_eq!(
        (e.entry.as_str(), e.errno),
        ("plain/child", Some(Errno::ENOTDIR))
    );
    let mut t = Tar::default();
    t.dir("d", 0o755).file("d", b"y", 0o644);
    let e = unpack_err(&t.finish());
    assert_eq!((e.entry.as_str(), e.errno), ("d", Some(Errno::EISDIR)));
    let mut t = Tar::default();
    t.link(b'1', "hl", "missing");
    let e = unpack_err(&t.finish());
    assert_eq!((e.entry.as_str(), e.errno), ("hl", Some(Errno::ENOENT)));
    let mut t = Tar::default();
    t.file("x/..", b"y", 0o644);
    assert_eq!(unpack_err(&t.finish()).errno, Some(Errno::EINVAL));
    let mut t = Tar::default();
    t.link(b'2', "emptylink", "");
    assert_eq!(unpack_err(&t.finish()).errno, Some(Errno::ENOENT));
    // GNU long name longer than PATH_MAX.
    let mut t = Tar::default();
    t.entry(
        Hdr {
            name: b"././@LongLink",
            kind: b'L',
            ..H
        },
        &vec![b'a'; PATH_MAX + 10],
    );
    assert_eq!(unpack_err(&t.finish()).reason, "long name too long");
}

#[test]
fn signed_checksum_and_base256_size_accepted() {
    let body = data(600);
    let mut h = header(&Hdr {
        name: b"b256",
        size: 600,
        ..H
    });
    h[124..136].fill(0);
    h[124] = 0x80;
    h[134] = (600 >> 8) as u8;
    h[135] = (600 & 0xff) as u8;
    // A high byte in the name makes signed and unsigned sums differ.
    h[99] = 0xe9;
    h[148..156].fill(b' ');
    let signed: i64 = h.iter().map(|&b| b as i8 as i64).sum();
    h[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
    let mut t = Tar::default();
    t.raw(&h, &body);
    let vfs = Vfs::new();
    assert_eq!(vfs.unpack_initramfs(&t.finish()).unwrap().bytes, 600);
}

#[test]
fn random_corruption_never_panics() {
    let mut t = Tar::default();
    t.dir("bin", 0o755)
        .file("bin/a", &data(3000), 0o755)
        .link(b'2', "bin/b", "a")
        .link(b'1', "bin/c", "bin/a")
        .pax(&[("path", "p/q"), ("size", "5")]);
    t.raw(
        &header(&Hdr {
            name: b"pp",
            size: 5,
            ..H
        }),
        b"hello",
    );
    t.file("z", b"zz", 0o644);
    let good = t.finish();
    let mut seed = 0x9e37_79b9u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut ok = 0;
    for round in 0..4000 {
        let mut ar = good.clone();
        for _ in 0..1 + rnd() % 4 {
            let i = (rnd() % ar.len() as u64) as usize;
            ar[i] = rnd() as u8;
        }
        // Often repair the checksum of the mutated header, to get past it.
        if round % 2 == 0 {
            let mut off = 0;
            while off + 512 <= ar.len() {
                if ar[off..off + 512].iter().any(|&b| b != 0)
                    && (ar[off + 257..off + 262] == *b"ustar")
                {
                    let mut h: [u8; 512] = ar[off..off + 512].try_into().unwrap();
                    set_checksum(&mut h);
                    ar[off..off + 512].copy_from_slice(&h);
                }
                off += 512;
            }
        }
        if round % 3 == 0 {
            let cut = (rnd() % ar.len() as u64) as usize;
            ar.truncate(cut);
        }
        match Vfs::new().unpack_initramfs(&ar) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.entry.is_empty());
                assert!(e.offset <= ar.len());
            }
        }
    }
    assert!(ok > 0);
}

static TMP: AtomicUsize = AtomicUsize::new(0);

/// Archives written by the host's `tar` in its three formats (skipped if there
/// is no `tar`).
#[test]
fn real_tar_archives() {
    let base = std::env::temp_dir().join(format!(
        "weft-vfs-tar-{}-{}",
        std::process::id(),
        TMP.fetch_add(1, Ordering::SeqCst)
    ));
    let src = base.join("root");
    let long_dir = format!("dir/{}", "d".repeat(120));
    std::fs::create_dir_all(src.join(&long_dir)).unwrap();
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/prog"), data(70_000)).unwrap();
    std::fs::write(
        src.join(&long_dir).join(format!("{}.txt", "f".repeat(110))),
        b"long path",
    )
    .unwrap();
    std::os::unix::fs::symlink("prog", src.join("bin/link")).unwrap();
    std::fs::hard_link(src.join("bin/prog"), src.join("bin/hard")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("bin/prog"), std::fs::Permissions::from_mode(0o751)).unwrap();

    for format in ["ustar", "pax", "gnu"] {
        let out = base.join(format!("{format}.tar"));
        let status = Command::new("tar")
            .arg(format!("--format={format}"))
            .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .stderr(std::process::Stdio::null())
            .status();
        let Ok(status) = status else {
            eprintln!("no tar on this host: skipped");
            return;
        };
        if !status.success() {
            // ustar cannot hold a 110-byte file name in a long directory: fine.
            assert_eq!(format, "ustar");
            continue;
        }
        let ar = std::fs::read(&out).unwrap();
        let vfs = Vfs::new();
        let stats = vfs
            .unpack_initramfs(&ar)
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        let root = vfs.root();
        assert_eq!(read_file(&vfs, "/bin/prog"), data(70_000), "{format}");
        assert_eq!(read_file(&vfs, "/bin/link"), data(70_000));
        assert_eq!(
            vfs.lookup(&root, b"/bin/hard", true).unwrap().ino(),
            vfs.lookup(&root, b"/bin/prog", true).unwrap().ino()
        );
        assert_eq!(
            vfs.stat(&root, b"/bin/prog", true).unwrap().st_mode,
            S_IFREG | 0o751
        );
        let p = format!("/{long_dir}/{}.txt", "f".repeat(110));
        assert_eq!(read_file(&vfs, &p), b"long path", "{format}");
        assert_eq!(stats.symlinks, 1);
        assert_eq!(stats.hardlinks, 1);
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// The project's own initramfs, when it has been built.
#[test]
fn project_initramfs() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/initramfs.tar");
    let Ok(ar) = std::fs::read(path) else {
        return;
    };
    let vfs = Vfs::new();
    let stats = vfs.unpack_initramfs(&ar).unwrap_or_else(|e| panic!("{e}"));
    assert!(stats.dirs + stats.files > 0);
}
