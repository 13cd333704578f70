use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use weft_abi::fcntl::*;
use weft_abi::time::Timespec;

use super::*;

fn setup() -> (Vfs, Arc<Inode>) {
    let vfs = Vfs::new();
    let root = vfs.root();
    vfs.mkdir(&root, b"/a", 0o755).unwrap();
    vfs.mkdir(&root, b"/a/b", 0o750).unwrap();
    vfs.create(&root, b"/a/b/f", 0o644).unwrap();
    vfs.create(&root, b"/top", 0o600).unwrap();
    (vfs, root)
}

fn ino(vfs: &Vfs, base: &Arc<Inode>, p: &[u8]) -> u64 {
    vfs.lookup(base, p, true).unwrap().ino()
}

#[test]
fn absolute_relative_dots_and_slashes() {
    let (vfs, root) = setup();
    let f = ino(&vfs, &root, b"/a/b/f");
    let b = vfs.lookup(&root, b"/a/b", true).unwrap();
    for p in [
        &b"/a/b/f"[..],
        b"a/b/f",
        b"//a///b//f",
        b"/./a/./b/./f",
        b"/a/b/../b/f",
        b"/../../a/b/f",
        b"/a/../a/b/../../a/b/f",
    ] {
        assert_eq!(ino(&vfs, &root, p), f, "{}", String::from_utf8_lossy(p));
    }
    // Relative to a base directory.
    assert_eq!(ino(&vfs, &b, b"f"), f);
    assert_eq!(ino(&vfs, &b, b"./f"), f);
    assert_eq!(ino(&vfs, &b, b"../b/f"), f);
    assert_eq!(ino(&vfs, &b, b"../../top"), ino(&vfs, &root, b"/top"));
    assert_eq!(ino(&vfs, &b, b"/top"), ino(&vfs, &root, b"/top"));
    assert_eq!(ino(&vfs, &b, b"."), b.ino());
    assert_eq!(ino(&vfs, &b, b".."), ino(&vfs, &root, b"/a"));
    // ".." of the root is the root.
    assert_eq!(ino(&vfs, &root, b".."), root.ino());
    assert_eq!(ino(&vfs, &root, b"/.."), root.ino());
    assert_eq!(ino(&vfs, &root, b"/"), root.ino());
    assert_eq!(ino(&vfs, &root, b"///"), root.ino());
    // Trailing slash on a directory is fine.
    assert_eq!(ino(&vfs, &root, b"/a/b/"), b.ino());
    assert_eq!(ino(&vfs, &root, b"/a/b//."), b.ino());
}

#[test]
fn resolution_errors() {
    let (vfs, root) = setup();
    let f = vfs.lookup(&root, b"/a/b/f", true).unwrap();
    let e = |p: &[u8]| vfs.lookup(&root, p, true).unwrap_err();
    assert_eq!(e(b""), Errno::ENOENT);
    assert_eq!(e(b"/nope"), Errno::ENOENT);
    assert_eq!(e(b"/a/nope/f"), Errno::ENOENT);
    assert_eq!(e(b"/top/x"), Errno::ENOTDIR);
    assert_eq!(e(b"/top/"), Errno::ENOTDIR);
    assert_eq!(e(b"/top/."), Errno::ENOTDIR);
    assert_eq!(e(b"/top/.."), Errno::ENOTDIR);
    assert_eq!(e(b"/a/b/f/"), Errno::ENOTDIR);
    // A file as the base of a relative path.
    assert_eq!(vfs.lookup(&f, b"x", true).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(
        vfs.lookup(&f, b"/top", true).unwrap().ino(),
        ino(&vfs, &root, b"/top")
    );
    // Name and path length limits.
    let long_name = vec![b'n'; NAME_MAX + 1];
    assert_eq!(e(&long_name), Errno::ENAMETOOLONG);
    let mut p = b"/a/".to_vec();
    p.extend_from_slice(&long_name);
    assert_eq!(e(&p), Errno::ENAMETOOLONG);
    let ok_name = vec![b'n'; NAME_MAX];
    assert_eq!(e(&ok_name), Errno::ENOENT);
    assert!(vfs.create(&root, &ok_name, 0o644).is_ok());
    let long_path: Vec<u8> = b"/a"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'/', PATH_MAX))
        .collect();
    assert_eq!(e(&long_path), Errno::ENAMETOOLONG);
    let just_fits: Vec<u8> = b"/a"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'/', PATH_MAX - 3))
        .collect();
    assert_eq!(just_fits.len(), PATH_MAX - 1);
    assert!(vfs.lookup(&root, &just_fits, true).is_ok());
    assert_eq!(
        vfs.mkdir(&root, &long_name, 0o755).unwrap_err(),
        Errno::ENAMETOOLONG
    );
    assert_eq!(
        vfs.create(&root, &p, 0o644).unwrap_err(),
        Errno::ENAMETOOLONG
    );
}

#[test]
fn symlinks() {
    let (vfs, root) = setup();
    let f = ino(&vfs, &root, b"/a/b/f");
    let b = ino(&vfs, &root, b"/a/b");
    vfs.symlink(b"b/f", &root, b"/a/rel").unwrap();
    vfs.symlink(b"/a/b", &root, b"/abs").unwrap();
    vfs.symlink(b"../top", &root, b"/a/up").unwrap();
    vfs.symlink(b"/nowhere", &root, b"/dangling").unwrap();
    vfs.symlink(b"/abs/", &root, b"/slashy").unwrap();
    vfs.symlink(b"/top", &root, b"/tolink").unwrap();

    assert_eq!(ino(&vfs, &root, b"/a/rel"), f);
    assert_eq!(ino(&vfs, &root, b"/abs/f"), f);
    assert_eq!(ino(&vfs, &root, b"/abs"), b);
    assert_eq!(ino(&vfs, &root, b"/abs/"), b);
    assert_eq!(ino(&vfs, &root, b"/abs/../b/f"), f); // ".." after the link: of /a/b
    assert_eq!(ino(&vfs, &root, b"/a/up"), ino(&vfs, &root, b"/top"));
    assert_eq!(ino(&vfs, &root, b"/slashy/f"), f);
    // Not following the final component gives the link itself.
    let l = vfs.lookup(&root, b"/abs", false).unwrap();
    assert_eq!(l.file_type(), FileType::Symlink);
    assert_eq!(l.read_link(), Some(&b"/a/b"[..]));
    assert_eq!(vfs.readlink(&root, b"/abs").unwrap(), b"/a/b");
    assert_eq!(vfs.readlink(&root, b"/top").unwrap_err(), Errno::EINVAL);
    // ... unless a trailing slash forces it.
    assert_eq!(vfs.lookup(&root, b"/abs/", false).unwrap().ino(), b);
    // Intermediate links are always followed.
    assert_eq!(vfs.lookup(&root, b"/abs/f", false).unwrap().ino(), f);
    // Dangling, and a link to a file used as a directory.
    assert_eq!(
        vfs.lookup(&root, b"/dangling", true).unwrap_err(),
        Errno::ENOENT
    );
    assert!(vfs.lookup(&root, b"/dangling", false).is_ok());
    assert_eq!(
        vfs.lookup(&root, b"/tolink/", true).unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(
        vfs.lookup(&root, b"/tolink/x", true).unwrap_err(),
        Errno::ENOTDIR
    );
    // Empty and too long targets.
    assert_eq!(vfs.symlink(b"", &root, b"/e").unwrap_err(), Errno::ENOENT);
    assert_eq!(
        vfs.symlink(&vec![b'x'; PATH_MAX], &root, b"/e")
            .unwrap_err(),
        Errno::ENAMETOOLONG
    );
    assert_eq!(
        vfs.symlink(b"x", &root, b"/abs").unwrap_err(),
        Errno::EEXIST
    );
    // lstat vs stat.
    assert_eq!(
        vfs.stat(&root, b"/abs", false).unwrap().st_mode,
        S_IFLNK | 0o777
    );
    assert_eq!(vfs.stat(&root, b"/abs", false).unwrap().st_size, 4);
    assert_eq!(
        vfs.stat(&root, b"/abs", true).unwrap().st_mode,
        S_IFDIR | 0o750
    );
}

#[test]
fn symlink_loops() {
    let vfs = Vfs::new();
    let root = vfs.root();
    vfs.symlink(b"self", &root, b"/self").unwrap();
    assert_eq!(vfs.lookup(&root, b"/self", true).unwrap_err(), Errno::ELOOP);
    assert_eq!(
        vfs.lookup(&root, b"/self/x", false).unwrap_err(),
        Errno::ELOOP
    );
    vfs.symlink(b"/p2", &root, b"/p1").unwrap();
    vfs.symlink(b"/p1", &root, b"/p2").unwrap();
    assert_eq!(vfs.lookup(&root, b"/p1", true).unwrap_err(), Errno::ELOOP);
    // A chain of exactly MAX_SYMLINKS links resolves; one more fails.
    vfs.create(&root, b"/target", 0o644).unwrap();
    let n = MAX_SYMLINKS as usize;
    for i in 0..=n {
        let target = if i == 0 {
            "/target".to_string()
        } else {
            format!("/l{}", i - 1)
        };
        vfs.symlink(target.as_bytes(), &root, format!("/l{i}").as_bytes())
            .unwrap();
    }
    let t = ino(&vfs, &root, b"/target");
    assert_eq!(ino(&vfs, &root, format!("/l{}", n - 1).as_bytes()), t);
    assert_eq!(
        vfs.lookup(&root, format!("/l{n}").as_bytes(), true)
            .unwrap_err(),
        Errno::ELOOP
    );
    // A deep chain of relative directory links ("d -> .") counts every hop.
    vfs.symlink(b".", &root, b"/d").unwrap();
    let mut p = String::new();
    for _ in 0..MAX_SYMLINKS {
        p.push_str("d/");
    }
    p.push_str("target");
    assert_eq!(ino(&vfs, &root, p.as_bytes()), t);
    let p = format!("d/{p}");
    assert_eq!(
        vfs.lookup(&root, p.as_bytes(), true).unwrap_err(),
        Errno::ELOOP
    );
}

#[test]
fn mkdir_create_and_nlink() {
    let vfs = Vfs::new();
    let root = vfs.root();
    assert_eq!(root.nlink(), 2);
    let a = vfs.mkdir(&root, b"/a", 0o755).unwrap();
    assert_eq!((root.nlink(), a.nlink()), (3, 2));
    vfs.mkdir(&root, b"/a/x/", 0o700).unwrap(); // trailing slash is fine for mkdir
    assert_eq!(a.nlink(), 3);
    assert_eq!(vfs.mkdir(&root, b"/a", 0o755).unwrap_err(), Errno::EEXIST);
    assert_eq!(vfs.mkdir(&root, b"/", 0o755).unwrap_err(), Errno::EEXIST);
    assert_eq!(vfs.mkdir(&root, b"/a/.", 0o755).unwrap_err(), Errno::EEXIST);
    assert_eq!(
        vfs.mkdir(&root, b"/a/..", 0o755).unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        vfs.mkdir(&root, b"/nope/x", 0o755).unwrap_err(),
        Errno::ENOENT
    );
    let f = vfs.create(&root, b"/a/f", 0o640).unwrap();
    assert_eq!(f.nlink(), 1);
    assert_eq!(a.nlink(), 3, "files do not count");
    assert_eq!(
        vfs.create(&root, b"/a/f", 0o640).unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        vfs.mkdir(&root, b"/a/f/y", 0o755).unwrap_err(),
        Errno::ENOTDIR
    );
    // Non-directories with a trailing slash: ENOENT if absent, EEXIST if present.
    assert_eq!(
        vfs.create(&root, b"/a/g/", 0o640).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.create(&root, b"/a/f/", 0o640).unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        vfs.symlink(b"x", &root, b"/a/s/").unwrap_err(),
        Errno::ENOENT
    );
    let st = f.stat();
    assert_eq!(st.st_mode, S_IFREG | 0o640);
    assert_eq!(st.st_nlink, 1);
    assert_eq!(st.st_dev, vfs.dev());
    assert_eq!(st.st_blksize, 4096);
    let st = vfs.stat(&root, b"/a/x", true).unwrap();
    assert_eq!(st.st_mode, S_IFDIR | 0o700);
    // Distinct inode numbers.
    let inos = [root.ino(), a.ino(), f.ino(), st.st_ino];
    let mut sorted = inos.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 4);
    // chmod/chown/utimes.
    f.set_mode(0o4755 | S_IFDIR);
    assert_eq!(f.mode(), S_IFREG | 0o4755);
    f.set_owner(Some(7), None);
    assert_eq!(f.owner(), (7, 0));
    f.set_times(
        None,
        Some(Timespec {
            tv_sec: 99,
            tv_nsec: 5,
        }),
    );
    assert_eq!((f.stat().st_mtime, f.stat().st_mtime_nsec), (99, 5));
}

#[test]
fn mkdir_all() {
    let vfs = Vfs::new();
    let root = vfs.root();
    let d = vfs.mkdir_all(&root, b"/x/y/z", 0o711).unwrap();
    assert_eq!(vfs.lookup(&root, b"/x/y/z", true).unwrap().ino(), d.ino());
    assert_eq!(
        vfs.stat(&root, b"/x/y", true).unwrap().st_mode,
        S_IFDIR | 0o711
    );
    // Existing parts, "..", links to directories.
    vfs.symlink(b"/x/y", &root, b"/ly").unwrap();
    let w = vfs.mkdir_all(&root, b"ly/../y/w/", 0o755).unwrap();
    assert_eq!(vfs.lookup(&root, b"/x/y/w", true).unwrap().ino(), w.ino());
    vfs.create(&root, b"/x/file", 0o644).unwrap();
    assert_eq!(
        vfs.mkdir_all(&root, b"/x/file/q", 0o755).unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(vfs.mkdir_all(&root, b"/", 0o755).unwrap().ino(), root.ino());
}

#[test]
fn unlink_and_rmdir() {
    let (vfs, root) = setup();
    let a = vfs.lookup(&root, b"/a", true).unwrap();
    let b = vfs.lookup(&root, b"/a/b", true).unwrap();
    // Open file survives its unlink.
    let file = vfs.open(&root, b"/a/b/f", O_RDWR, 0).unwrap();
    assert_eq!(file.write(b"still here").unwrap(), 10);
    assert_eq!(vfs.unlink(&root, b"/a/b").unwrap_err(), Errno::EISDIR);
    assert_eq!(vfs.unlink(&root, b"/a/b/f/").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(vfs.unlink(&root, b"/").unwrap_err(), Errno::EISDIR);
    assert_eq!(vfs.unlink(&root, b"/a/.").unwrap_err(), Errno::EISDIR);
    vfs.unlink(&root, b"/a/b/f").unwrap();
    assert_eq!(vfs.unlink(&root, b"/a/b/f").unwrap_err(), Errno::ENOENT);
    assert_eq!(file.inode().unwrap().nlink(), 0);
    let mut buf = [0u8; 32];
    assert_eq!(file.pread(&mut buf, 0).unwrap(), 10);
    assert_eq!(&buf[..10], b"still here");
    // Unlinking a symlink removes the link, not the target.
    vfs.symlink(b"/top", &root, b"/ln").unwrap();
    vfs.unlink(&root, b"/ln").unwrap();
    assert!(vfs.lookup(&root, b"/top", true).is_ok());

    assert_eq!(vfs.rmdir(&root, b"/a").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(vfs.rmdir(&root, b"/top").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(vfs.rmdir(&root, b"/a/b/.").unwrap_err(), Errno::EINVAL);
    assert_eq!(vfs.rmdir(&root, b"/a/b/..").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(vfs.rmdir(&root, b"/").unwrap_err(), Errno::EBUSY);
    assert_eq!(vfs.rmdir(&root, b"/zz").unwrap_err(), Errno::ENOENT);
    assert_eq!(a.nlink(), 3);
    vfs.rmdir(&root, b"/a/b/").unwrap();
    assert_eq!((a.nlink(), b.nlink()), (2, 0));
    // b is now a removed cwd: no creation inside, no getcwd, no getdents;
    // ".." still leads to the old parent while it exists.
    assert_eq!(vfs.create(&b, b"x", 0o644).unwrap_err(), Errno::ENOENT);
    assert_eq!(vfs.mkdir(&b, b"x", 0o755).unwrap_err(), Errno::ENOENT);
    assert_eq!(vfs.getcwd(&b).unwrap_err(), Errno::ENOENT);
    assert_eq!(vfs.lookup(&b, b"..", true).unwrap().ino(), a.ino());
    assert_eq!(vfs.lookup(&b, b"x", true).unwrap_err(), Errno::ENOENT);
    vfs.rmdir(&root, b"/a").unwrap();
    assert_eq!(root.nlink(), 2);
}

#[test]
fn dead_directory_file_and_orphans() {
    let vfs = Vfs::new();
    let root = vfs.root();
    vfs.mkdir(&root, b"/d", 0o755).unwrap();
    vfs.mkdir(&root, b"/d/e", 0o755).unwrap();
    let e = vfs.lookup(&root, b"/d/e", true).unwrap();
    let dirf = vfs.open(&root, b"/d/e", O_RDONLY | O_DIRECTORY, 0).unwrap();
    vfs.rmdir(&root, b"/d/e").unwrap();
    vfs.rmdir(&root, b"/d").unwrap();
    let mut buf = [0u8; 256];
    assert_eq!(dirf.getdents64(&mut buf).unwrap_err(), Errno::ENOENT);
    // /d is gone entirely (nothing holds it): ".." from e fails cleanly.
    assert_eq!(vfs.lookup(&e, b"..", true).unwrap_err(), Errno::ENOENT);
    assert!(dirf.stat().st_nlink == 0);
}

#[test]
fn rename_files() {
    let (vfs, root) = setup();
    let f = vfs.lookup(&root, b"/a/b/f", true).unwrap();
    vfs.rename(&root, b"/a/b/f", &root, b"/a/g").unwrap();
    assert_eq!(
        vfs.lookup(&root, b"/a/b/f", true).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(ino(&vfs, &root, b"/a/g"), f.ino());
    // Over an existing file: the old one loses its name.
    let top = vfs.lookup(&root, b"/top", true).unwrap();
    vfs.rename(&root, b"/a/g", &root, b"/top").unwrap();
    assert_eq!(ino(&vfs, &root, b"/top"), f.ino());
    assert_eq!(top.nlink(), 0);
    assert_eq!(f.nlink(), 1);
    // Same name, and two names of one inode: no-ops.
    vfs.rename(&root, b"/top", &root, b"/top").unwrap();
    vfs.link(&root, b"/top", &root, b"/hard", false).unwrap();
    assert_eq!(f.nlink(), 2);
    vfs.rename(&root, b"/top", &root, b"/hard").unwrap();
    assert_eq!(ino(&vfs, &root, b"/top"), f.ino());
    assert_eq!(ino(&vfs, &root, b"/hard"), f.ino());
    // Errors.
    assert_eq!(
        vfs.rename(&root, b"/missing", &root, b"/x").unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.rename(&root, b"/top", &root, b"/a").unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(
        vfs.rename(&root, b"/top", &root, b"/nodir/x").unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        vfs.rename(&root, b"/top/", &root, b"/x").unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(
        vfs.rename(&root, b"/top", &root, b"/x/").unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(
        vfs.rename(&root, b"/", &root, b"/x").unwrap_err(),
        Errno::EBUSY
    );
    assert_eq!(
        vfs.rename(&root, b"/a/.", &root, b"/x").unwrap_err(),
        Errno::EBUSY
    );
    assert_eq!(
        vfs.rename(&root, b"/top", &root, b"/a/..").unwrap_err(),
        Errno::EBUSY
    );
    // A symlink is renamed as itself.
    vfs.symlink(b"/a", &root, b"/la").unwrap();
    vfs.rename(&root, b"/la", &root, b"/a/lb").unwrap();
    assert_eq!(vfs.readlink(&root, b"/a/lb").unwrap(), b"/a");
}

#[test]
fn rename_directories() {
    let (vfs, root) = setup();
    let a = vfs.lookup(&root, b"/a", true).unwrap();
    let b = vfs.lookup(&root, b"/a/b", true).unwrap();
    vfs.mkdir(&root, b"/c", 0o755).unwrap();
    let c = vfs.lookup(&root, b"/c", true).unwrap();
    assert_eq!((root.nlink(), a.nlink(), c.nlink()), (4, 3, 2));
    // Into its own subtree.
    assert_eq!(
        vfs.rename(&root, b"/a", &root, b"/a/b/x").unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        vfs.rename(&root, b"/a", &root, b"/a/x").unwrap_err(),
        Errno::EINVAL
    );
    // Over a non-empty directory, over a file, over its own parent.
    assert_eq!(
        vfs.rename(&root, b"/c", &root, b"/a").unwrap_err(),
        Errno::ENOTEMPTY
    );
    assert_eq!(
        vfs.rename(&root, b"/c", &root, b"/top").unwrap_err(),
        Errno::ENOTDIR
    );
    assert_eq!(
        vfs.rename(&root, b"/a/b", &root, b"/a").unwrap_err(),
        Errno::ENOTEMPTY
    );
    // Move /a/b to /c/b: link counts and ".." follow.
    vfs.rename(&root, b"/a/b", &root, b"/c/b/").unwrap();
    assert_eq!((a.nlink(), c.nlink(), b.nlink()), (2, 3, 2));
    assert_eq!(ino(&vfs, &b, b".."), c.ino());
    assert_eq!(vfs.getcwd(&b).unwrap(), b"/c/b");
    assert_eq!(ino(&vfs, &root, b"/c/b/f"), ino(&vfs, &b, b"f"));
    // Over an empty directory: the victim dies.
    vfs.mkdir(&root, b"/a/empty", 0o755).unwrap();
    let empty = vfs.lookup(&root, b"/a/empty", true).unwrap();
    assert_eq!(a.nlink(), 3);
    vfs.rename(&root, b"/c/b", &root, b"/a/empty").unwrap();
    assert_eq!(empty.nlink(), 0);
    assert_eq!(vfs.create(&empty, b"x", 0o644).unwrap_err(), Errno::ENOENT);
    assert_eq!((a.nlink(), c.nlink()), (3, 2));
    assert_eq!(vfs.getcwd(&b).unwrap(), b"/a/empty");
    // A file over an empty dir is EISDIR; a dir renamed within one parent.
    assert_eq!(
        vfs.rename(&root, b"/top", &root, b"/c").unwrap_err(),
        Errno::EISDIR
    );
    vfs.rename(&root, b"/a/empty", &root, b"/a/full").unwrap();
    assert_eq!(a.nlink(), 3);
    assert_eq!(vfs.getcwd(&b).unwrap(), b"/a/full");
}

#[test]
fn hard_links() {
    let (vfs, root) = setup();
    let f = vfs.lookup(&root, b"/a/b/f", true).unwrap();
    vfs.link(&root, b"/a/b/f", &root, b"/f2", false).unwrap();
    assert_eq!(f.nlink(), 2);
    assert_eq!(ino(&vfs, &root, b"/f2"), f.ino());
    assert_eq!(
        vfs.link(&root, b"/a", &root, b"/a2", false).unwrap_err(),
        Errno::EPERM
    );
    assert_eq!(
        vfs.link(&root, b"/top", &root, b"/f2", false).unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(
        vfs.link(&root, b"/nope", &root, b"/n", false).unwrap_err(),
        Errno::ENOENT
    );
    // linkat without AT_SYMLINK_FOLLOW links the symlink itself.
    vfs.symlink(b"/top", &root, b"/sl").unwrap();
    vfs.link(&root, b"/sl", &root, b"/sl2", false).unwrap();
    assert_eq!(vfs.readlink(&root, b"/sl2").unwrap(), b"/top");
    vfs.link(&root, b"/sl", &root, b"/top2", true).unwrap();
    assert_eq!(ino(&vfs, &root, b"/top2"), ino(&vfs, &root, b"/top"));
    vfs.unlink(&root, b"/a/b/f").unwrap();
    assert_eq!(f.nlink(), 1);
    assert_eq!(vfs.lookup(&root, b"/f2", true).unwrap().nlink(), 1);
}

#[test]
fn getcwd() {
    let (vfs, root) = setup();
    assert_eq!(vfs.getcwd(&root).unwrap(), b"/");
    let b = vfs.lookup(&root, b"/a/b", true).unwrap();
    assert_eq!(vfs.getcwd(&b).unwrap(), b"/a/b");
    vfs.rename(&root, b"/a", &root, b"/renamed").unwrap();
    assert_eq!(vfs.getcwd(&b).unwrap(), b"/renamed/b");
    let f = vfs.lookup(&root, b"/top", true).unwrap();
    assert_eq!(vfs.getcwd(&f).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(vfs.lookup_dir(&root, b"/top").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(vfs.lookup_dir(&root, b"/renamed/b").unwrap().ino(), b.ino());
}

#[test]
fn dev_nodes() {
    let (vfs, con) = vfs_with_dev();
    let root = vfs.root();
    let st = vfs.stat(&root, b"/dev/null", true).unwrap();
    assert_eq!(st.st_mode, S_IFCHR | 0o666);
    assert_eq!((dev_major(st.st_rdev), dev_minor(st.st_rdev)), (1, 3));
    assert_eq!(st.st_rdev, 0x103);
    let st = vfs.stat(&root, b"/dev/zero", true).unwrap();
    assert_eq!((dev_major(st.st_rdev), dev_minor(st.st_rdev)), (1, 5));
    let st = vfs.stat(&root, b"/dev/console", true).unwrap();
    assert_eq!((st.st_mode, st.st_rdev), (S_IFCHR | 0o600, 0x501));
    assert_eq!(makedev(8, 1), 0x801);
    assert_eq!(makedev(0x1234, 0x56789), 0x0000_1000_5672_3489);
    for (ma, mi) in [
        (0u32, 0u32),
        (1, 3),
        (5, 1),
        (4095, 255),
        (4096, 256),
        (u32::MAX, u32::MAX),
    ] {
        let d = makedev(ma, mi);
        assert_eq!((dev_major(d), dev_minor(d)), (ma, mi));
    }
    // Populating again replaces the nodes.
    vfs.populate_dev(con.clone()).unwrap();
    let list = read_dir(&vfs.open(&root, b"/dev", O_RDONLY, 0).unwrap(), 4096);
    assert_eq!(names(&list), ["console", "null", "zero"]);
    for d in &list {
        if d.name != b"." && d.name != b".." {
            assert_eq!(d.dtype, DT_CHR);
        }
    }
}

static FAKE_NOW: AtomicI64 = AtomicI64::new(1_700_000_000);

fn fake_clock() -> Timespec {
    Timespec {
        tv_sec: FAKE_NOW.fetch_add(1, Ordering::SeqCst),
        tv_nsec: 0,
    }
}

#[test]
fn timestamps_follow_the_clock() {
    set_clock(fake_clock);
    let vfs = Vfs::new();
    let root = vfs.root();
    let f = vfs.create(&root, b"/t", 0o644).unwrap();
    let t0 = f.stat().st_mtime;
    assert!(t0 >= 1_700_000_000);
    let d0 = root.stat().st_mtime;
    f.write_at(0, b"x").unwrap();
    assert!(f.stat().st_mtime > t0);
    assert_eq!(f.stat().st_ctime, f.stat().st_mtime);
    vfs.create(&root, b"/u", 0o644).unwrap();
    assert!(root.stat().st_mtime > d0, "directory mtime moves on create");
}
