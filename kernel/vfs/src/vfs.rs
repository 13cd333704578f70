//! The tree: one ramfs root and the operations on paths.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::{Mutex, RwLockWriteGuard};
use weft_abi::Errno;
use weft_abi::fcntl::{O_CREAT, O_EXCL, O_NOFOLLOW, O_PATH};
use weft_abi::stat::Stat;

use crate::device::{CharDevice, NullDevice, ZeroDevice, makedev};
use crate::dir::{Dir, Entries};
use crate::file::File;
use crate::initramfs::{self, InitramfsError, UnpackStats};
use crate::inode::{Body, Inode};
use crate::path::{Last, PATH_MAX, check_path, lookup_child, parent_of, walk, walk_parent};

/// Source of distinct `st_dev` values for separate trees.
static NEXT_DEV: AtomicU64 = AtomicU64::new(1);

/// A ramfs tree with Linux path semantics.
///
/// Every path operation takes a `base` directory: the caller's cwd, or the
/// directory of the `dirfd` of an `*at` call; absolute paths ignore it. Paths are
/// bytes without the terminating NUL. Permissions are not checked yet (every
/// caller is root); `mode` arguments are taken as given (the kernel applies the
/// umask).
pub struct Vfs {
    root: Arc<Inode>,
    dev: u64,
    next_ino: AtomicU64,
    /// Serialises operations on two directories (rename, rmdir, link) and
    /// walks up the tree (getcwd, rename's loop check).
    tree: Mutex<()>,
}

impl Default for Vfs {
    fn default() -> Self {
        Vfs::new()
    }
}

impl core::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vfs").field("dev", &self.dev).finish()
    }
}

/// Either one or two directories' entry locks (a rename within one directory,
/// or across two).
enum DirGuards<'a> {
    One(RwLockWriteGuard<'a, Entries>),
    Two {
        old: RwLockWriteGuard<'a, Entries>,
        new: RwLockWriteGuard<'a, Entries>,
    },
}

impl DirGuards<'_> {
    fn old(&mut self) -> &mut Entries {
        match self {
            DirGuards::One(g) => g,
            DirGuards::Two { old, .. } => old,
        }
    }

    fn new_dir(&mut self) -> &mut Entries {
        match self {
            DirGuards::One(g) => g,
            DirGuards::Two { new, .. } => new,
        }
    }
}

impl Vfs {
    /// An empty tree: a root directory with mode 0755.
    pub fn new() -> Vfs {
        let dev = makedev(0, NEXT_DEV.fetch_add(1, Ordering::Relaxed) as u32);
        Vfs {
            root: Inode::new(1, dev, 0o755, Body::Dir(Dir::new(None))),
            dev,
            next_ino: AtomicU64::new(2),
            tree: Mutex::new(()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> Arc<Inode> {
        self.root.clone()
    }

    /// `st_dev` of every inode of this tree.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    fn new_inode(&self, perm: u32, body: Body) -> Arc<Inode> {
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        Inode::new(ino, self.dev, perm, body)
    }

    /// Resolves `path` (following a final symbolic link if `follow`).
    pub fn lookup(
        &self,
        base: &Arc<Inode>,
        path: &[u8],
        follow: bool,
    ) -> Result<Arc<Inode>, Errno> {
        walk(&self.root, base, path, follow)
    }

    /// Resolves a directory (`chdir`, `chroot`): `ENOTDIR` for anything else.
    pub fn lookup_dir(&self, base: &Arc<Inode>, path: &[u8]) -> Result<Arc<Inode>, Errno> {
        let d = walk(&self.root, base, path, true)?;
        if d.is_dir() {
            Ok(d)
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    /// `stat` (`follow`) or `lstat`.
    pub fn stat(&self, base: &Arc<Inode>, path: &[u8], follow: bool) -> Result<Stat, Errno> {
        Ok(walk(&self.root, base, path, follow)?.stat())
    }

    /// Target of a symbolic link (`EINVAL` if `path` is not one).
    pub fn readlink(&self, base: &Arc<Inode>, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let l = walk(&self.root, base, path, false)?;
        l.read_link().map(<[u8]>::to_vec).ok_or(Errno::EINVAL)
    }

    /// `openat`: resolves (and with `O_CREAT` creates a regular file with
    /// permission bits `mode`) and opens. Flags as Linux: `O_EXCL`, `O_TRUNC`,
    /// `O_DIRECTORY`, `O_NOFOLLOW`, `O_PATH`, `O_APPEND`, `O_NONBLOCK`;
    /// `O_CLOEXEC` is the caller's business (fd flag). Errors include `ENOENT`,
    /// `EEXIST`, `EISDIR` (a directory opened for writing or with `O_CREAT`),
    /// `ENOTDIR`, `ELOOP` (`O_NOFOLLOW` on a symbolic link), `ENAMETOOLONG`.
    pub fn open(
        &self,
        base: &Arc<Inode>,
        path: &[u8],
        flags: u32,
        mode: u32,
    ) -> Result<Arc<File>, Errno> {
        let inode = if flags & O_CREAT != 0 && flags & O_PATH == 0 {
            self.open_create(base, path, flags, mode)?
        } else {
            walk(&self.root, base, path, flags & O_NOFOLLOW == 0)?
        };
        File::open_inode(inode, flags)
    }

    fn open_create(
        &self,
        base: &Arc<Inode>,
        path: &[u8],
        flags: u32,
        mode: u32,
    ) -> Result<Arc<Inode>, Errno> {
        let p = walk_parent(&self.root, base, path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EISDIR);
        };
        if p.trailing {
            return Err(Errno::EISDIR);
        }
        let dir = p.dir.dir().ok_or(Errno::ENOTDIR)?;
        let mut e = dir.entries.write();
        if let Some(existing) = e.get(name) {
            if flags & O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            let existing = existing.clone();
            drop(e);
            if existing.read_link().is_some() {
                if flags & O_NOFOLLOW != 0 {
                    return Err(Errno::ELOOP);
                }
                // Follow it; a dangling link gives ENOENT (Linux would create the
                // target).
                return walk(&self.root, &p.dir, name, true);
            }
            return Ok(existing);
        }
        if e.dead {
            return Err(Errno::ENOENT);
        }
        let inode = self.new_inode(mode, Body::Regular(Default::default()));
        e.insert(name.to_vec(), inode.clone());
        drop(e);
        p.dir.touch();
        Ok(inode)
    }

    /// Creates a node named by the last component of `path`. `make` builds the
    /// body given the parent directory.
    fn create_node(
        &self,
        base: &Arc<Inode>,
        path: &[u8],
        perm: u32,
        is_dir: bool,
        make: impl FnOnce(&Arc<Inode>) -> Body,
    ) -> Result<Arc<Inode>, Errno> {
        let p = walk_parent(&self.root, base, path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EEXIST);
        };
        let dir = p.dir.dir().ok_or(Errno::ENOTDIR)?;
        let mut e = dir.entries.write();
        if e.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        if e.dead || (p.trailing && !is_dir) {
            return Err(Errno::ENOENT);
        }
        let inode = self.new_inode(perm, make(&p.dir));
        e.insert(name.to_vec(), inode.clone());
        if is_dir {
            p.dir.nlink_add(1);
        }
        drop(e);
        p.dir.touch();
        Ok(inode)
    }

    /// `mkdir`: `EEXIST` if the name exists (also for "/", "." and "..").
    pub fn mkdir(&self, base: &Arc<Inode>, path: &[u8], mode: u32) -> Result<Arc<Inode>, Errno> {
        self.create_node(base, path, mode, true, |parent| {
            Body::Dir(Dir::new(Some(parent)))
        })
    }

    /// `mkdir -p`: creates every missing directory of `path`; existing
    /// directories (or links to them) are fine, anything else gives `ENOTDIR`.
    pub fn mkdir_all(
        &self,
        base: &Arc<Inode>,
        path: &[u8],
        mode: u32,
    ) -> Result<Arc<Inode>, Errno> {
        check_path(path)?;
        let mut cur = if path[0] == b'/' {
            self.root.clone()
        } else {
            base.clone()
        };
        for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            cur = match comp {
                b"." => cur,
                b".." => parent_of(&cur)?,
                name => match walk(&self.root, &cur, name, true) {
                    Ok(d) if d.is_dir() => d,
                    Ok(_) => return Err(Errno::ENOTDIR),
                    Err(Errno::ENOENT) => match self.mkdir(&cur, name, mode) {
                        Ok(d) => d,
                        // Created concurrently: use that one.
                        Err(Errno::EEXIST) => self.lookup_dir(&cur, name)?,
                        Err(e) => return Err(e),
                    },
                    Err(e) => return Err(e),
                },
            };
        }
        if cur.is_dir() {
            Ok(cur)
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    /// Creates an empty regular file (`EEXIST` if the name exists).
    pub fn create(&self, base: &Arc<Inode>, path: &[u8], mode: u32) -> Result<Arc<Inode>, Errno> {
        self.create_node(base, path, mode, false, |_| {
            Body::Regular(Default::default())
        })
    }

    /// `mknod` of a character device node with device number `rdev`, served by
    /// `dev`.
    pub fn mknod_char(
        &self,
        base: &Arc<Inode>,
        path: &[u8],
        mode: u32,
        rdev: u64,
        dev: Arc<dyn CharDevice>,
    ) -> Result<Arc<Inode>, Errno> {
        self.create_node(base, path, mode, false, |_| Body::CharDevice { rdev, dev })
    }

    /// `symlink(target, path)`: `ENOENT` for an empty target, `ENAMETOOLONG` for
    /// one of `PATH_MAX` bytes or more.
    pub fn symlink(
        &self,
        target: &[u8],
        base: &Arc<Inode>,
        path: &[u8],
    ) -> Result<Arc<Inode>, Errno> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        self.create_node(base, path, 0o777, false, |_| Body::Symlink(target.to_vec()))
    }

    /// `linkat`: a new name for an existing non-directory (`EPERM` for a
    /// directory). `follow` follows a final symbolic link of `old_path`
    /// (`AT_SYMLINK_FOLLOW`).
    pub fn link(
        &self,
        old_base: &Arc<Inode>,
        old_path: &[u8],
        new_base: &Arc<Inode>,
        new_path: &[u8],
        follow: bool,
    ) -> Result<(), Errno> {
        let src = walk(&self.root, old_base, old_path, follow)?;
        if src.is_dir() {
            return Err(Errno::EPERM);
        }
        let p = walk_parent(&self.root, new_base, new_path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EEXIST);
        };
        let _tree = self.tree.lock();
        let dir = p.dir.dir().ok_or(Errno::ENOTDIR)?;
        let mut e = dir.entries.write();
        if e.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        if e.dead || p.trailing || src.nlink() == 0 {
            return Err(Errno::ENOENT);
        }
        e.insert(name.to_vec(), src.clone());
        src.nlink_add(1);
        drop(e);
        p.dir.touch();
        Ok(())
    }

    /// `unlink`: removes a non-directory name (`EISDIR` for a directory). Open
    /// files keep the inode alive.
    pub fn unlink(&self, base: &Arc<Inode>, path: &[u8]) -> Result<(), Errno> {
        let p = walk_parent(&self.root, base, path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EISDIR);
        };
        let dir = p.dir.dir().ok_or(Errno::ENOTDIR)?;
        let mut e = dir.entries.write();
        let child = e.get(name).ok_or(Errno::ENOENT)?;
        if child.is_dir() {
            return Err(Errno::EISDIR);
        }
        if p.trailing {
            return Err(Errno::ENOTDIR);
        }
        let child = e.remove(name).ok_or(Errno::ENOENT)?;
        drop(e);
        child.nlink_add(-1);
        p.dir.touch();
        Ok(())
    }

    /// `rmdir`: `ENOTEMPTY`, `ENOTDIR`, `EINVAL` for ".", `EBUSY` for "/".
    pub fn rmdir(&self, base: &Arc<Inode>, path: &[u8]) -> Result<(), Errno> {
        let p = walk_parent(&self.root, base, path)?;
        let name = match p.last {
            Last::Name(n) => n,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        let _tree = self.tree.lock();
        let dir = p.dir.dir().ok_or(Errno::ENOTDIR)?;
        let mut e = dir.entries.write();
        let child = e.get(name).ok_or(Errno::ENOENT)?.clone();
        let cdir = child.dir().ok_or(Errno::ENOTDIR)?;
        let mut ce = cdir.entries.write();
        if !ce.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        ce.dead = true;
        drop(ce);
        e.remove(name);
        drop(e);
        child.set_nlink(0);
        p.dir.nlink_add(-1);
        p.dir.touch();
        Ok(())
    }

    /// `renameat`: moves `old_path` to `new_path`, replacing a compatible target
    /// (a non-directory by a non-directory, an empty directory by a directory).
    /// Errors as Linux: `ENOENT`, `EISDIR`, `ENOTDIR`, `ENOTEMPTY`, `EINVAL`
    /// (a directory into itself), `EBUSY` ("/", ".", ".." as either name).
    pub fn rename(
        &self,
        old_base: &Arc<Inode>,
        old_path: &[u8],
        new_base: &Arc<Inode>,
        new_path: &[u8],
    ) -> Result<(), Errno> {
        let o = walk_parent(&self.root, old_base, old_path)?;
        let n = walk_parent(&self.root, new_base, new_path)?;
        let (Last::Name(oname), Last::Name(nname)) = (o.last, n.last) else {
            return Err(Errno::EBUSY);
        };
        let same = Arc::ptr_eq(&o.dir, &n.dir);
        let od = o.dir.dir().ok_or(Errno::ENOTDIR)?;
        let nd = n.dir.dir().ok_or(Errno::ENOTDIR)?;

        let _tree = self.tree.lock();
        let mut g = if same {
            DirGuards::One(od.entries.write())
        } else if o.dir.ino() < n.dir.ino() {
            let old = od.entries.write();
            let new = nd.entries.write();
            DirGuards::Two { old, new }
        } else {
            let new = nd.entries.write();
            let old = od.entries.write();
            DirGuards::Two { old, new }
        };
        let src = g.old().get(oname).ok_or(Errno::ENOENT)?.clone();
        if (o.trailing || n.trailing) && !src.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let dst = g.new_dir().get(nname).cloned();
        if let Some(d) = &dst
            && Arc::ptr_eq(d, &src)
        {
            // Same inode (same name, or two hard links): nothing to do.
            return Ok(());
        }
        if src.is_dir() {
            // The target directory must not be src or below it. Parent pointers
            // only change under `tree`, which we hold.
            let mut x = n.dir.clone();
            loop {
                if Arc::ptr_eq(&x, &src) {
                    return Err(Errno::EINVAL);
                }
                match x.dir().map(Dir::parent) {
                    Some(Ok(Some(p))) => x = p,
                    _ => break,
                }
            }
            if let Some(d) = &dst
                && !d.is_dir()
            {
                return Err(Errno::ENOTDIR);
            }
        } else if let Some(d) = &dst
            && d.is_dir()
        {
            return Err(Errno::EISDIR);
        }
        if g.new_dir().dead {
            return Err(Errno::ENOENT);
        }
        // A replaced directory must be empty; it dies with the rename. The old
        // parent itself as the target (`rename("a/x", "a")`) contains src, and
        // its lock is already held.
        if let Some(d) = &dst
            && Arc::ptr_eq(d, &o.dir)
        {
            return Err(Errno::ENOTEMPTY);
        }
        if let Some(d) = &dst
            && let Some(dd) = d.dir()
        {
            let mut de = dd.entries.write();
            if !de.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            de.dead = true;
        }
        g.old().remove(oname);
        let ne = g.new_dir();
        if dst.is_some() {
            ne.remove(nname);
        }
        ne.insert(nname.to_vec(), src.clone());
        if let Some(sd) = src.dir() {
            sd.set_parent(&n.dir);
        }
        drop(g);

        if let Some(d) = &dst {
            if d.is_dir() {
                d.set_nlink(0);
                n.dir.nlink_add(-1);
            } else {
                d.nlink_add(-1);
            }
        }
        if src.is_dir() && !same {
            o.dir.nlink_add(-1);
            n.dir.nlink_add(1);
        }
        src.nlink_add(0); // ctime
        o.dir.touch();
        if !same {
            n.dir.touch();
        }
        Ok(())
    }

    /// `getcwd`: the absolute path of directory `dir`; `ENOENT` if it has been
    /// removed.
    pub fn getcwd(&self, dir: &Arc<Inode>) -> Result<Vec<u8>, Errno> {
        let _tree = self.tree.lock();
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut cur = dir.clone();
        loop {
            let d = cur.dir().ok_or(Errno::ENOTDIR)?;
            if d.entries.read().dead {
                return Err(Errno::ENOENT);
            }
            match d.parent() {
                Ok(None) => break,
                Ok(Some(p)) => {
                    let name = p
                        .dir()
                        .and_then(|pd| pd.entries.read().name_of(&cur).map(<[u8]>::to_vec))
                        .ok_or(Errno::ENOENT)?;
                    names.push(name);
                    cur = p;
                }
                Err(()) => return Err(Errno::ENOENT),
            }
        }
        if names.is_empty() {
            return Ok(b"/".to_vec());
        }
        let mut out = Vec::new();
        for n in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(n);
        }
        Ok(out)
    }

    /// Creates `/dev` (if missing) with `null` (1:3), `zero` (1:5) and
    /// `console` (5:1, served by `console`), replacing existing non-directory
    /// entries of those names.
    pub fn populate_dev(&self, console: Arc<dyn CharDevice>) -> Result<(), Errno> {
        let root = self.root();
        let dev = self.mkdir_all(&root, b"/dev", 0o755)?;
        type Node = (&'static [u8], u32, u64, Arc<dyn CharDevice>);
        let nodes: [Node; 3] = [
            (b"null", 0o666, makedev(1, 3), Arc::new(NullDevice)),
            (b"zero", 0o666, makedev(1, 5), Arc::new(ZeroDevice)),
            (b"console", 0o600, makedev(5, 1), console),
        ];
        for (name, perm, rdev, d) in nodes {
            match self.unlink(&dev, name) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
            self.mknod_char(&dev, name, perm, rdev, d)?;
        }
        Ok(())
    }

    /// Unpacks a ustar archive (the initramfs module) into the tree; see
    /// [`InitramfsError`] for what is rejected.
    pub fn unpack_initramfs(&self, archive: &[u8]) -> Result<UnpackStats, InitramfsError> {
        initramfs::unpack(self, archive)
    }

    /// Looks `name` up directly in directory `dir` (no path parsing, no links).
    pub fn lookup_child(&self, dir: &Arc<Inode>, name: &[u8]) -> Result<Arc<Inode>, Errno> {
        lookup_child(dir, name)
    }
}
