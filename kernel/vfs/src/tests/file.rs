use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use weft_abi::fcntl::*;
use weft_abi::poll::*;

use super::*;

fn tree() -> (Vfs, Arc<Inode>) {
    let vfs = Vfs::new();
    let root = vfs.root();
    vfs.mkdir(&root, b"/d", 0o755).unwrap();
    (vfs, root)
}

#[test]
fn read_write_offsets() {
    let (vfs, root) = tree();
    let f = vfs.open(&root, b"/d/f", O_RDWR | O_CREAT, 0o644).unwrap();
    assert_eq!(f.write(b"hello ").unwrap(), 6);
    assert_eq!(f.write(b"world").unwrap(), 5);
    assert_eq!(f.offset(), 11);
    let mut buf = [0u8; 64];
    assert_eq!(f.read(&mut buf).unwrap(), 0, "at end");
    assert_eq!(f.lseek(0, SEEK_SET).unwrap(), 0);
    assert_eq!(f.read(&mut buf[..5]).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(f.read(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b" world");
    // pread/pwrite leave the offset alone.
    assert_eq!(f.pread(&mut buf[..3], 6).unwrap(), 3);
    assert_eq!(&buf[..3], b"wor");
    assert_eq!(f.pwrite(b"W", 6).unwrap(), 1);
    assert_eq!(f.offset(), 11);
    assert_eq!(f.pread(&mut buf, 100).unwrap(), 0);
    assert_eq!(f.pread(&mut buf, -1).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.pwrite(b"x", -1).unwrap_err(), Errno::EINVAL);
    // Writing past the end leaves a zero-filled gap.
    assert_eq!(f.lseek(4, SEEK_END).unwrap(), 15);
    f.write(b"!").unwrap();
    assert_eq!(f.stat().st_size, 16);
    assert_eq!(f.pread(&mut buf, 0).unwrap(), 16);
    assert_eq!(&buf[..16], b"hello World\0\0\0\0!");
    assert_eq!(f.stat().st_blocks, 1);
    assert_eq!(f.inode().unwrap().contents().unwrap().len(), 16);
}

#[test]
fn lseek_rules() {
    let (vfs, root) = tree();
    let f = vfs.open(&root, b"/d/f", O_RDWR | O_CREAT, 0o644).unwrap();
    f.write(&[1u8; 100]).unwrap();
    assert_eq!(f.lseek(-10, SEEK_CUR).unwrap(), 90);
    assert_eq!(f.lseek(-100, SEEK_END).unwrap(), 0);
    assert_eq!(f.lseek(-1, SEEK_SET).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.lseek(-101, SEEK_END).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.lseek(0, 5).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.lseek(i64::MAX, SEEK_SET).unwrap(), i64::MAX as u64);
    assert_eq!(f.lseek(1, SEEK_CUR).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.offset(), i64::MAX as u64, "failed seek keeps the offset");
    assert_eq!(f.lseek(10, SEEK_DATA).unwrap(), 10);
    assert_eq!(f.lseek(10, SEEK_HOLE).unwrap(), 100);
    assert_eq!(f.lseek(100, SEEK_DATA).unwrap_err(), Errno::ENXIO);
    assert_eq!(f.lseek(100, SEEK_HOLE).unwrap_err(), Errno::ENXIO);
    // Huge writes fail cleanly.
    assert_eq!(f.pwrite(b"x", i64::MAX).unwrap_err(), Errno::EFBIG);
    assert_eq!(f.pwrite(b"x", 1 << 60).unwrap_err(), Errno::EFBIG);
    assert_eq!(f.pwrite(b"x", 0x7fff_ffff_f000).unwrap_err(), Errno::EFBIG);
    assert_eq!(f.stat().st_size, 100);
    // Directories: SEEK_SET/CUR only.
    let d = vfs.open(&root, b"/d", O_RDONLY, 0).unwrap();
    assert_eq!(d.lseek(0, SEEK_END).unwrap_err(), Errno::EINVAL);
    assert_eq!(d.lseek(3, SEEK_SET).unwrap(), 3);
    assert_eq!(d.lseek(1, SEEK_CUR).unwrap(), 4);
}

#[test]
fn append_mode() {
    let (vfs, root) = tree();
    let w = vfs
        .open(&root, b"/d/log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        .unwrap();
    let other = vfs.open(&root, b"/d/log", O_WRONLY, 0).unwrap();
    w.write(b"one,").unwrap();
    other.write(b"XX").unwrap(); // overwrites at 0
    w.lseek(0, SEEK_SET).unwrap();
    w.write(b"two").unwrap();
    assert_eq!(w.offset(), 7);
    assert_eq!(
        w.pwrite(b"!", 0).unwrap(),
        1,
        "pwrite appends under O_APPEND"
    );
    let r = vfs.open(&root, b"/d/log", O_RDONLY, 0).unwrap();
    let mut buf = [0u8; 32];
    let n = r.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"XXe,two!");
    // F_SETFL toggles O_APPEND and O_NONBLOCK, nothing else.
    let fl = w.status_flags();
    assert_eq!(fl & O_ACCMODE, O_WRONLY);
    assert_ne!(fl & O_APPEND, 0);
    assert_ne!(fl & O_LARGEFILE, 0);
    w.set_status_flags(O_NONBLOCK | O_RDWR | O_TRUNC);
    let fl = w.status_flags();
    assert_eq!(fl & O_ACCMODE, O_WRONLY);
    assert_eq!(fl & O_APPEND, 0);
    assert_ne!(fl & O_NONBLOCK, 0);
    assert_eq!(fl & O_TRUNC, 0);
}

#[test]
fn open_flags() {
    let (vfs, root) = tree();
    let f = vfs
        .open(&root, b"/d/f", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        .unwrap();
    f.write(b"data").unwrap();
    assert_eq!(f.stat().st_mode, S_IFREG | 0o600);
    assert_eq!(
        vfs.open(&root, b"/d/f", O_RDONLY | O_CREAT | O_EXCL, 0)
            .unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        vfs.open(&root, b"/d/nope", O_RDONLY, 0).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.open(&root, b"/d/x/y", O_RDONLY | O_CREAT, 0)
            .unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.open(&root, b"/d/f", O_RDONLY | O_DIRECTORY, 0)
            .unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(
        vfs.open(&root, b"/d/f/", O_RDONLY, 0).unwrap_err(),
        Errno::ENOTDIR
    );
    // Directories: read-only, no O_CREAT/O_TRUNC.
    assert_eq!(
        vfs.open(&root, b"/d", O_WRONLY, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        vfs.open(&root, b"/d", O_RDWR, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        vfs.open(&root, b"/d", O_RDONLY | O_CREAT, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        vfs.open(&root, b"/", O_RDONLY | O_CREAT, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        vfs.open(&root, b"/d/new/", O_RDONLY | O_CREAT, 0)
            .unwrap_err(),
        Errno::EISDIR
    );
    let d = vfs.open(&root, b"/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(d.read(&mut buf).unwrap_err(), Errno::EISDIR);
    assert_eq!(d.write(b"x").unwrap_err(), Errno::EBADF);
    assert_eq!(d.file_type(), FileType::Directory);
    // O_TRUNC.
    let t = vfs.open(&root, b"/d/f", O_RDWR | O_TRUNC, 0).unwrap();
    assert_eq!(t.stat().st_size, 0);
    // Symlinks: followed, ELOOP with O_NOFOLLOW, O_PATH|O_NOFOLLOW gives the link.
    vfs.symlink(b"f", &root, b"/d/l").unwrap();
    vfs.symlink(b"missing", &root, b"/d/dl").unwrap();
    let via = vfs.open(&root, b"/d/l", O_RDONLY, 0).unwrap();
    assert_eq!(via.inode().unwrap().ino(), f.inode().unwrap().ino());
    assert_eq!(
        vfs.open(&root, b"/d/l", O_RDONLY | O_NOFOLLOW, 0)
            .unwrap_err(),
        Errno::ELOOP
    );
    assert_eq!(
        vfs.open(&root, b"/d/l", O_RDONLY | O_CREAT | O_NOFOLLOW, 0)
            .unwrap_err(),
        Errno::ELOOP
    );
    assert_eq!(
        vfs.open(&root, b"/d/l", O_RDONLY | O_CREAT, 0)
            .unwrap()
            .inode()
            .unwrap()
            .ino(),
        f.inode().unwrap().ino()
    );
    assert_eq!(
        vfs.open(&root, b"/d/l", O_RDONLY | O_CREAT | O_EXCL, 0)
            .unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        vfs.open(&root, b"/d/dl", O_RDONLY | O_CREAT, 0)
            .unwrap_err(),
        Errno::ENOENT
    );
    let p = vfs.open(&root, b"/d/l", O_PATH | O_NOFOLLOW, 0).unwrap();
    assert_eq!(p.file_type(), FileType::Symlink);
    assert_eq!(p.stat().st_mode & S_IFMT, S_IFLNK);
    // O_PATH: no I/O.
    let p = vfs.open(&root, b"/d/f", O_PATH | O_RDWR, 0).unwrap();
    assert!(!p.readable() && !p.writable());
    assert_eq!(p.read(&mut buf).unwrap_err(), Errno::EBADF);
    assert_eq!(p.write(b"x").unwrap_err(), Errno::EBADF);
    assert_eq!(p.lseek(0, SEEK_SET).unwrap_err(), Errno::EBADF);
    assert_eq!(p.truncate(0).unwrap_err(), Errno::EBADF);
    assert_eq!(p.getdents64(&mut [0; 64]).unwrap_err(), Errno::EBADF);
    assert_eq!(p.poll(), POLLNVAL);
    assert_eq!(p.status_flags() & O_PATH, O_PATH);
    let pd = vfs.open(&root, b"/d", O_PATH | O_DIRECTORY, 0).unwrap();
    assert!(pd.inode().unwrap().is_dir());
    // Access modes.
    let ro = vfs.open(&root, b"/d/f", O_RDONLY, 0).unwrap();
    assert_eq!(ro.write(b"x").unwrap_err(), Errno::EBADF);
    assert_eq!(ro.pwrite(b"x", 0).unwrap_err(), Errno::EBADF);
    assert_eq!(ro.truncate(0).unwrap_err(), Errno::EINVAL);
    let wo = vfs.open(&root, b"/d/f", O_WRONLY, 0).unwrap();
    assert_eq!(wo.read(&mut buf).unwrap_err(), Errno::EBADF);
    assert_eq!(wo.pread(&mut buf, 0).unwrap_err(), Errno::EBADF);
    assert_eq!(wo.getdents64(&mut [0; 64]).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(
        wo.ioctl(weft_abi::ioctl::TCGETS, 0).unwrap_err(),
        Errno::ENOTTY
    );
    assert_eq!(wo.poll(), POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
    // Relative to a base, as openat(dirfd) does.
    let dir = vfs.lookup(&root, b"/d", true).unwrap();
    assert_eq!(
        vfs.open(&dir, b"f", O_RDONLY, 0)
            .unwrap()
            .inode()
            .unwrap()
            .ino(),
        f.inode().unwrap().ino()
    );
}

#[test]
fn truncate() {
    let (vfs, root) = tree();
    let f = vfs.open(&root, b"/d/f", O_RDWR | O_CREAT, 0o644).unwrap();
    f.write(b"0123456789").unwrap();
    f.truncate(4).unwrap();
    assert_eq!(f.stat().st_size, 4);
    f.truncate(8).unwrap();
    let mut buf = [9u8; 16];
    assert_eq!(f.pread(&mut buf, 0).unwrap(), 8);
    assert_eq!(&buf[..8], b"0123\0\0\0\0");
    assert_eq!(f.truncate(-1).unwrap_err(), Errno::EINVAL);
    let d = vfs.open(&root, b"/d", O_RDONLY, 0).unwrap();
    assert_eq!(d.truncate(0).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        f.inode().unwrap().truncate(u64::MAX).unwrap_err(),
        Errno::EFBIG
    );
    assert_eq!(vfs.root().truncate(0).unwrap_err(), Errno::EISDIR);
}

#[test]
fn stat_layout() {
    let (vfs, root) = tree();
    let f = vfs.open(&root, b"/d/f", O_RDWR | O_CREAT, 0o640).unwrap();
    f.write(&[7u8; 1000]).unwrap();
    let st = f.stat();
    let b = stat_bytes(&st);
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(u64_at(0), vfs.dev());
    assert_eq!(u64_at(8), f.inode().unwrap().ino());
    assert_eq!(u64_at(16), 1);
    assert_eq!(u32_at(24), S_IFREG | 0o640);
    assert_eq!(u64_at(48), 1000);
    assert_eq!(u64_at(56), 4096);
    assert_eq!(u64_at(64), 2);
    assert_eq!(u64_at(88) as i64, st.st_mtime);
    assert!(b[120..].iter().all(|&x| x == 0));
    // Every field lands at its offset: compare with a field-by-field build.
    let st = weft_abi::stat::Stat {
        st_dev: 1,
        st_ino: 2,
        st_nlink: 3,
        st_mode: 4,
        st_uid: 5,
        st_gid: 6,
        __pad0: 0,
        st_rdev: 7,
        st_size: 8,
        st_blksize: 9,
        st_blocks: 10,
        st_atime: 11,
        st_atime_nsec: 12,
        st_mtime: 13,
        st_mtime_nsec: 14,
        st_ctime: 15,
        st_ctime_nsec: 16,
        __unused: [0; 3],
    };
    let b = stat_bytes(&st);
    let want: [(usize, u64); 16] = [
        (0, 1),
        (8, 2),
        (16, 3),
        (40, 7),
        (48, 8),
        (56, 9),
        (64, 10),
        (72, 11),
        (80, 12),
        (88, 13),
        (96, 14),
        (104, 15),
        (112, 16),
        (24, 4 | (5 << 32)),
        (32, 6),
        (120, 0),
    ];
    for (off, v) in want {
        assert_eq!(
            u64::from_le_bytes(b[off..off + 8].try_into().unwrap()),
            v,
            "offset {off}"
        );
    }
}

#[test]
fn getdents_basic() {
    let (vfs, root) = tree();
    let d = vfs.lookup(&root, b"/d", true).unwrap();
    vfs.create(&root, b"/d/file", 0o644).unwrap();
    vfs.mkdir(&root, b"/d/sub", 0o755).unwrap();
    vfs.symlink(b"x", &root, b"/d/link").unwrap();
    let f = vfs.open(&root, b"/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let list = read_dir(&f, 4096);
    assert_eq!(list.len(), 5);
    assert_eq!(
        (list[0].name.as_slice(), list[0].ino, list[0].dtype),
        (&b"."[..], d.ino(), DT_DIR)
    );
    assert_eq!(
        (list[1].name.as_slice(), list[1].ino, list[1].dtype),
        (&b".."[..], root.ino(), DT_DIR)
    );
    let by_name = |n: &[u8]| list.iter().find(|e| e.name == n).unwrap().clone();
    assert_eq!(by_name(b"file").dtype, DT_REG);
    assert_eq!(by_name(b"sub").dtype, DT_DIR);
    assert_eq!(by_name(b"link").dtype, DT_LNK);
    assert_eq!(
        by_name(b"sub").ino,
        vfs.lookup(&root, b"/d/sub", true).unwrap().ino()
    );
    // d_off resumes after each record: seeking to it continues from there.
    for (i, e) in list.iter().enumerate() {
        f.lseek(e.off, SEEK_SET).unwrap();
        let rest = read_dir(&f, 4096);
        assert_eq!(rest, list[i + 1..].to_vec());
    }
    // Rewind; the end gives 0; a too small buffer gives EINVAL.
    f.lseek(0, SEEK_SET).unwrap();
    assert_eq!(read_dir(&f, 24), list, "one record at a time");
    let mut buf = [0u8; 4096];
    assert_eq!(f.getdents64(&mut buf).unwrap(), 0);
    f.lseek(0, SEEK_SET).unwrap();
    assert_eq!(f.getdents64(&mut buf[..23]).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.offset(), 0);
    // Root's ".." is itself.
    let r = read_dir(&vfs.open(&root, b"/", O_RDONLY, 0).unwrap(), 100);
    assert_eq!(r[1].ino, root.ino());
    // Long names take bigger records.
    let long = vec![b'q'; 255];
    vfs.create(&d, &long, 0o644).unwrap();
    f.lseek(0, SEEK_SET).unwrap();
    let list = read_dir(&f, 300);
    assert!(list.iter().any(|e| e.name == long));
    assert_eq!(f.getdents64(&mut buf[..200]).unwrap(), 0);
    f.lseek(0, SEEK_SET).unwrap();
    let mut small = vec![0u8; 200];
    let mut seen = 0;
    let r = loop {
        match f.getdents64(&mut small) {
            Ok(0) => break Ok(()),
            Ok(n) => seen += parse_dirents(&small[..n]).len(),
            Err(e) => break Err(e),
        }
    };
    assert_eq!(
        r,
        Err(Errno::EINVAL),
        "the 255-byte name never fits in 200 bytes"
    );
    assert!(seen >= 2);
}

#[test]
fn getdents_stable_under_changes() {
    let (vfs, root) = tree();
    let d = vfs.lookup(&root, b"/d", true).unwrap();
    for i in 0..50 {
        vfs.create(&d, format!("f{i:02}").as_bytes(), 0o644)
            .unwrap();
    }
    let f = vfs.open(&root, b"/d", O_RDONLY, 0).unwrap();
    let mut buf = vec![0u8; 24 * 10];
    let n = f.getdents64(&mut buf).unwrap();
    let first = parse_dirents(&buf[..n]);
    assert_eq!(first.len(), 10);
    // Remove some seen and some unseen entries, add new ones.
    for i in [0, 5, 20, 30] {
        vfs.unlink(&d, format!("f{i:02}").as_bytes()).unwrap();
    }
    vfs.create(&d, b"new1", 0o644).unwrap();
    vfs.rename(&d, b"f40", &d, b"moved40").unwrap();
    let mut rest = Vec::new();
    loop {
        let n = f.getdents64(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        rest.extend(parse_dirents(&buf[..n]));
    }
    let seen: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .map(|e| String::from_utf8(e.name.clone()).unwrap())
        .collect();
    // Every entry that existed throughout shows up exactly once.
    for i in 0..50 {
        let name = format!("f{i:02}");
        let c = seen.iter().filter(|s| **s == name).count();
        match i {
            0 | 5 => assert_eq!(c, 1, "{name} was read before its removal"),
            20 | 30 | 40 => assert_eq!(c, 0, "{name} was gone before it was reached"),
            _ => assert_eq!(c, 1, "{name}"),
        }
    }
    assert!(seen.contains(&"new1".to_string()));
    assert!(seen.contains(&"moved40".to_string()));
}

#[test]
fn null_zero_console() {
    let (vfs, con) = vfs_with_dev();
    let root = vfs.root();
    let null = vfs.open(&root, b"/dev/null", O_RDWR, 0).unwrap();
    let mut buf = [5u8; 16];
    assert_eq!(null.read(&mut buf).unwrap(), 0);
    assert_eq!(null.write(b"gone").unwrap(), 4);
    assert_eq!(null.lseek(100, SEEK_SET).unwrap(), 0);
    assert_eq!(null.pread(&mut buf, 10).unwrap(), 0);
    assert_eq!(null.stat().st_rdev, makedev(1, 3));
    let zero = vfs.open(&root, b"/dev/zero", O_RDONLY, 0).unwrap();
    assert_eq!(zero.read(&mut buf).unwrap(), 16);
    assert_eq!(buf, [0; 16]);
    // Console: opened (hook), output collected, ESPIPE, ioctl passed on.
    let c = vfs.open(&root, b"/dev/console", O_RDWR, 0).unwrap();
    assert_eq!(con.opens.load(Ordering::SeqCst), 1);
    assert_eq!(c.write(b"hi\n").unwrap(), 3);
    assert_eq!(con.output.lock().unwrap().as_slice(), b"hi\n");
    assert_eq!(c.lseek(0, SEEK_SET).unwrap_err(), Errno::ESPIPE);
    assert_eq!(c.pread(&mut buf, 0).unwrap_err(), Errno::ESPIPE);
    assert_eq!(c.ioctl(weft_abi::ioctl::TCGETS, 41).unwrap(), 42);
    assert_eq!(c.ioctl(0x1234, 0).unwrap_err(), Errno::ENOTTY);
    assert_eq!(c.poll() & POLLIN, 0);
    assert!(c.wait_queue().is_some());
    // Non-blocking read: EAGAIN; blocking read: waits for input.
    c.set_status_flags(O_NONBLOCK);
    assert_eq!(c.read(&mut buf).unwrap_err(), WOULD_BLOCK);
    c.set_status_flags(0);
    let con2 = con.clone();
    let feeder = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        con2.feed(b"typed");
    });
    let n = c.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"typed");
    feeder.join().unwrap();
    assert!(con.wq.sleeps.load(Ordering::Relaxed) >= 1);
    // An interrupted wait returns the wait's error.
    con.wq.interrupt.store(true, Ordering::SeqCst);
    assert_eq!(c.read(&mut buf).unwrap_err(), Errno::EINTR);
    con.wq.interrupt.store(false, Ordering::SeqCst);
    // A device file without an inode.
    let anon = File::from_device(con.clone(), O_WRONLY);
    assert_eq!(anon.write(b"!").unwrap(), 1);
    assert_eq!(anon.stat().st_mode, S_IFCHR | 0o600);
    assert!(anon.inode().is_none());
    assert_eq!(con.output.lock().unwrap().as_slice(), b"hi\n!");
}

#[test]
fn file_size_limit() {
    let (vfs, root) = tree();
    let f = vfs.open(&root, b"/d/f", O_RDWR | O_CREAT, 0o644).unwrap();
    let max = MAX_FILE_SIZE as i64;
    // At the limit: EFBIG; crossing it: cut short there.
    assert_eq!(f.pwrite(b"x", max).unwrap_err(), Errno::EFBIG);
    assert_eq!(f.stat().st_size, 0);
    assert_eq!(f.pwrite(b"abcd", max - 2).unwrap(), 2);
    assert_eq!(f.stat().st_size, max);
    assert_eq!(f.lseek(0, SEEK_END).unwrap(), max as u64);
    assert_eq!(f.write(b"y").unwrap_err(), Errno::EFBIG);
    // Seeking further is fine (reads give 0), writing there is not.
    assert_eq!(f.lseek(1 << 40, SEEK_SET).unwrap(), 1 << 40);
    assert_eq!(f.read(&mut [0u8; 4]).unwrap(), 0);
    assert_eq!(f.write(b"y").unwrap_err(), Errno::EFBIG);
    assert_eq!(f.truncate(max + 1).unwrap_err(), Errno::EFBIG);
    f.truncate(10).unwrap();
    assert_eq!(f.stat().st_size, 10);
}

#[test]
fn failed_copy_out_undoes_reads() {
    let (vfs, root) = tree();
    let f = vfs.open(&root, b"/d/f", O_RDWR | O_CREAT, 0o644).unwrap();
    f.write(b"0123456789").unwrap();
    f.lseek(2, SEEK_SET).unwrap();
    let mut buf = [0u8; 4];
    let fail = &mut |_: &[u8]| Err(Errno::EFAULT);
    assert_eq!(f.read_with(&mut buf, fail).unwrap_err(), Errno::EFAULT);
    assert_eq!(f.offset(), 2);
    let mut got = Vec::new();
    let n = f
        .read_with(&mut buf, &mut |b: &[u8]| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
    assert_eq!((n, &got[..]), (4, &b"2345"[..]));
    assert_eq!(f.offset(), 6);
    // Directories: the entries come again.
    for n in [b"/d/a", b"/d/b"] {
        vfs.open(&root, n, O_RDWR | O_CREAT, 0o644).unwrap();
    }
    let d = vfs.open(&root, b"/d", O_RDONLY, 0).unwrap();
    let mut big = [0u8; 4096];
    let all = d.getdents64(&mut big).unwrap();
    d.lseek(0, SEEK_SET).unwrap();
    assert_eq!(
        d.getdents64_with(&mut big, fail).unwrap_err(),
        Errno::EFAULT
    );
    assert_eq!(d.offset(), 0);
    assert_eq!(d.getdents64(&mut big).unwrap(), all);
}
