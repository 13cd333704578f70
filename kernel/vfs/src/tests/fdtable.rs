use std::sync::Arc;

use weft_abi::fcntl::*;

use super::*;

fn some_file(vfs: &Vfs, name: &str) -> Arc<File> {
    let root = vfs.root();
    vfs.open(
        &root,
        format!("/{name}").as_bytes(),
        O_RDWR | O_CREAT,
        0o644,
    )
    .unwrap()
}

#[test]
fn lowest_free_allocation() {
    let vfs = Vfs::new();
    let t = FdTable::new();
    let f = some_file(&vfs, "f");
    for want in 0..5 {
        assert_eq!(t.alloc(f.clone(), false).unwrap(), want);
    }
    t.close(1).unwrap();
    t.close(3).unwrap();
    assert_eq!(t.fds(), [0, 2, 4]);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 1);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 3);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 5);
    assert_eq!(t.count(), 6);
    assert_eq!(t.close(9).unwrap_err(), Errno::EBADF);
    assert_eq!(t.close(-1).unwrap_err(), Errno::EBADF);
    assert_eq!(t.close(1).unwrap(), ());
    assert_eq!(t.close(1).unwrap_err(), Errno::EBADF);
    assert_eq!(t.get(1).unwrap_err(), Errno::EBADF);
    assert_eq!(t.get(-5).unwrap_err(), Errno::EBADF);
    assert!(Arc::ptr_eq(&t.get(0).unwrap(), &f));
    assert_eq!(t.alloc_from(10, f.clone(), false).unwrap(), 10);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 1);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 6);
    assert_eq!(t.close_all(), 8);
    assert_eq!(t.count(), 0);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 0);
    drop(t);
    assert_eq!(
        Arc::strong_count(&f),
        1,
        "the table let go of every reference"
    );
}

#[test]
fn dup_family() {
    let vfs = Vfs::new();
    let t = FdTable::new();
    let a = some_file(&vfs, "a");
    let b = some_file(&vfs, "b");
    let fa = t.alloc(a.clone(), true).unwrap();
    let fb = t.alloc(b.clone(), false).unwrap();
    // dup: lowest free, shares the description, cloexec clear.
    let d = t.dup(fa).unwrap();
    assert_eq!(d, 2);
    assert!(Arc::ptr_eq(&t.get(d).unwrap(), &a));
    assert!(t.cloexec(fa).unwrap());
    assert!(!t.cloexec(d).unwrap());
    assert_eq!(t.dup(42).unwrap_err(), Errno::EBADF);
    // Shared offset through the two descriptors.
    t.get(fa).unwrap().write(b"abcdef").unwrap();
    assert_eq!(t.get(d).unwrap().offset(), 6);
    t.get(d).unwrap().lseek(2, SEEK_SET).unwrap();
    let mut buf = [0u8; 2];
    t.get(fa).unwrap().read(&mut buf).unwrap();
    assert_eq!(&buf, b"cd");
    // dup2 replaces (and releases) the target.
    assert_eq!(t.dup2(fa, fb).unwrap(), fb);
    assert!(Arc::ptr_eq(&t.get(fb).unwrap(), &a));
    assert_eq!(Arc::strong_count(&b), 1);
    assert_eq!(t.dup2(fa, fa).unwrap(), fa);
    assert_eq!(t.dup2(7, 7).unwrap_err(), Errno::EBADF);
    assert_eq!(t.dup2(fa, 100).unwrap(), 100);
    assert_eq!(t.dup2(fa, -1).unwrap_err(), Errno::EBADF);
    assert_eq!(t.dup2(fa, DEFAULT_NOFILE as i32).unwrap_err(), Errno::EBADF);
    assert_eq!(t.dup2(99, 3).unwrap_err(), Errno::EBADF);
    // dup3.
    assert_eq!(t.dup3(fa, fa, 0).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.dup3(fa, 5, O_NONBLOCK).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.dup3(fa, 5, O_CLOEXEC).unwrap(), 5);
    assert!(t.cloexec(5).unwrap());
    assert_eq!(t.dup3(fa, 5, 0).unwrap(), 5);
    assert!(!t.cloexec(5).unwrap());
    // The gap left below 100 is still handed out lowest first.
    assert_eq!(t.dup(fa).unwrap(), 3);
}

#[test]
fn fcntl_commands() {
    let vfs = Vfs::new();
    let t = FdTable::with_limit(16);
    let f = some_file(&vfs, "f");
    let fd = t.alloc(f.clone(), false).unwrap();
    assert_eq!(t.fcntl(fd, F_DUPFD, 5).unwrap(), 5);
    assert_eq!(t.fcntl(fd, F_DUPFD, 5).unwrap(), 6);
    assert_eq!(t.fcntl(fd, F_DUPFD, 0).unwrap(), 1);
    let c = t.fcntl(fd, F_DUPFD_CLOEXEC, 3).unwrap() as i32;
    assert_eq!(c, 3);
    assert_eq!(t.fcntl(c, F_GETFD, 0).unwrap(), FD_CLOEXEC as u64);
    assert_eq!(t.fcntl(fd, F_GETFD, 0).unwrap(), 0);
    t.fcntl(fd, F_SETFD, FD_CLOEXEC as u64).unwrap();
    assert!(t.cloexec(fd).unwrap());
    t.fcntl(fd, F_SETFD, 0).unwrap();
    assert!(!t.cloexec(fd).unwrap());
    assert_eq!(t.fcntl(fd, F_DUPFD, 16).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.fcntl(fd, F_DUPFD, u64::MAX).unwrap_err(), Errno::EINVAL);
    assert_eq!(
        t.fcntl(fd, F_DUPFD, (-1i64) as u64).unwrap_err(),
        Errno::EINVAL
    );
    // Status flags are per description: visible through every dup.
    let fl = t.fcntl(5, F_GETFL, 0).unwrap() as u32;
    assert_eq!(fl & O_ACCMODE, O_RDWR);
    t.fcntl(fd, F_SETFL, u64::from(O_APPEND | O_NONBLOCK))
        .unwrap();
    let fl = t.fcntl(6, F_GETFL, 0).unwrap() as u32;
    assert_eq!(fl & (O_APPEND | O_NONBLOCK), O_APPEND | O_NONBLOCK);
    assert_eq!(t.fcntl(fd, F_GETPIPE_SZ, 0).unwrap_err(), Errno::EBADF);
    assert_eq!(t.fcntl(fd, 9999, 0).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.fcntl(12, F_GETFD, 0).unwrap_err(), Errno::EBADF);
    assert_eq!(t.fcntl(12, F_GETFL, 0).unwrap_err(), Errno::EBADF);
    assert_eq!(t.fcntl(12, F_DUPFD, 0).unwrap_err(), Errno::EBADF);
}

#[test]
fn limits() {
    let vfs = Vfs::new();
    let t = FdTable::with_limit(4);
    let f = some_file(&vfs, "f");
    for _ in 0..4 {
        t.alloc(f.clone(), false).unwrap();
    }
    assert_eq!(t.alloc(f.clone(), false).unwrap_err(), Errno::EMFILE);
    assert_eq!(t.dup(0).unwrap_err(), Errno::EMFILE);
    assert_eq!(t.fcntl(0, F_DUPFD, 0).unwrap_err(), Errno::EMFILE);
    assert_eq!(t.dup2(0, 4).unwrap_err(), Errno::EBADF);
    t.set_limit(8).unwrap();
    assert_eq!(t.dup2(0, 7).unwrap(), 7);
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 4);
    // Lowering the limit keeps what is open but stops new descriptors above it.
    t.set_limit(2).unwrap();
    assert_eq!(t.limit(), 2);
    assert!(t.get(7).is_ok());
    assert_eq!(t.alloc(f.clone(), false).unwrap_err(), Errno::EMFILE);
    t.close(1).unwrap();
    assert_eq!(t.alloc(f.clone(), false).unwrap(), 1);
    assert_eq!(t.set_limit(NR_OPEN + 1).unwrap_err(), Errno::EPERM);
    // alloc_pair: both or neither.
    let t = FdTable::with_limit(3);
    t.alloc(f.clone(), false).unwrap();
    t.alloc(f.clone(), false).unwrap();
    let before = Arc::strong_count(&f);
    assert_eq!(
        t.alloc_pair(f.clone(), f.clone(), false).unwrap_err(),
        Errno::EMFILE
    );
    assert_eq!(Arc::strong_count(&f), before);
    assert_eq!(t.fds(), [0, 1]);
    t.close(0).unwrap();
    assert_eq!(t.alloc_pair(f.clone(), f.clone(), true).unwrap(), (0, 2));
    assert!(t.cloexec(2).unwrap());
}

#[test]
fn close_on_exec_and_fork() {
    let vfs = Vfs::new();
    let t = FdTable::new();
    let f = some_file(&vfs, "f");
    let g = some_file(&vfs, "g");
    t.alloc(f.clone(), false).unwrap(); // 0
    t.alloc(g.clone(), true).unwrap(); // 1
    t.alloc(f.clone(), true).unwrap(); // 2
    t.alloc(g.clone(), false).unwrap(); // 3
    let child = t.fork();
    assert_eq!(child.fds(), [0, 1, 2, 3]);
    assert!(child.cloexec(1).unwrap());
    assert_eq!(child.limit(), t.limit());
    // The child shares the open files (and so their offsets) ...
    child.get(0).unwrap().write(b"xyz").unwrap();
    assert_eq!(t.get(0).unwrap().offset(), 3);
    // ... but not the table.
    child.close(3).unwrap();
    assert!(t.get(3).is_ok());
    assert_eq!(child.alloc(f.clone(), false).unwrap(), 3);
    assert!(Arc::ptr_eq(&t.get(3).unwrap(), &g));
    assert_eq!(child.close_on_exec(), 2);
    assert_eq!(child.fds(), [0, 3]);
    assert_eq!(t.fds(), [0, 1, 2, 3]);
    assert_eq!(child.alloc(g.clone(), false).unwrap(), 1);
    // CLONE_FILES: threads share one table through an Arc.
    let shared = Arc::new(t);
    let other_thread = shared.clone();
    other_thread.close(2).unwrap();
    assert_eq!(shared.get(2).unwrap_err(), Errno::EBADF);
}

#[test]
fn dup2_over_a_pipe_end_releases_it() {
    let vfs = Vfs::new();
    let t = FdTable::new();
    let (r, w) = pipe(HostWait::new(), 0).unwrap();
    let (rfd, wfd) = t.alloc_pair(r, w, false).unwrap();
    let f = some_file(&vfs, "f");
    let ffd = t.alloc(f, false).unwrap();
    t.get(wfd).unwrap().write(b"last words").unwrap();
    // Replacing the only write end: the reader sees the data, then EOF.
    t.dup2(ffd, wfd).unwrap();
    let rf = t.get(rfd).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(rf.read(&mut buf).unwrap(), 10);
    assert_eq!(rf.read(&mut buf).unwrap(), 0);
}
