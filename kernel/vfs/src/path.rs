//! Path resolution (Linux semantics, iterative: symbolic links never recurse).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use weft_abi::Errno;

use crate::inode::Inode;

/// Longest path accepted, NUL included (`ENAMETOOLONG` from this length on).
pub const PATH_MAX: usize = 4096;

/// Longest file name (one path component).
pub const NAME_MAX: usize = 255;

/// Most symbolic links followed in one resolution (`ELOOP` past it).
pub const MAX_SYMLINKS: u32 = 40;

/// The last component of a path whose parent was resolved.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Last<'a> {
    /// The path was "/" (or only slashes).
    Root,
    /// ".".
    Dot,
    /// "..".
    DotDot,
    /// A real name (1..=NAME_MAX bytes, no slash).
    Name(&'a [u8]),
}

/// A resolved parent directory and the last component.
pub(crate) struct Parent<'a> {
    pub(crate) dir: Arc<Inode>,
    pub(crate) last: Last<'a>,
    /// The path ended with one or more slashes.
    pub(crate) trailing: bool,
}

pub(crate) fn check_path(path: &[u8]) -> Result<(), Errno> {
    if path.is_empty() {
        Err(Errno::ENOENT)
    } else if path.len() >= PATH_MAX {
        Err(Errno::ENAMETOOLONG)
    } else {
        Ok(())
    }
}

/// `..` of a directory: its parent, itself for the root, `ENOENT` for a removed
/// directory whose parent is gone, `ENOTDIR` for a non-directory.
pub(crate) fn parent_of(dir: &Arc<Inode>) -> Result<Arc<Inode>, Errno> {
    match dir.dir().ok_or(Errno::ENOTDIR)?.parent() {
        Ok(None) => Ok(dir.clone()),
        Ok(Some(p)) => Ok(p),
        Err(()) => Err(Errno::ENOENT),
    }
}

/// Looks `name` up in directory `dir`.
pub(crate) fn lookup_child(dir: &Arc<Inode>, name: &[u8]) -> Result<Arc<Inode>, Errno> {
    let d = dir.dir().ok_or(Errno::ENOTDIR)?;
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    d.entries.read().get(name).cloned().ok_or(Errno::ENOENT)
}

/// Bytes still to walk: the caller's path or a symbolic link's target.
struct Frame<'a> {
    /// The original path (`None`: the target of `link`).
    path: Option<&'a [u8]>,
    link: Option<Arc<Inode>>,
    pos: usize,
    /// Frames below this one still have components.
    more_below: bool,
}

impl Frame<'_> {
    fn bytes(&self) -> &[u8] {
        match (&self.path, &self.link) {
            (Some(p), _) => p,
            (None, Some(l)) => l.read_link().unwrap_or(b""),
            (None, None) => b"",
        }
    }
}

/// One component taken from the frames.
struct Comp {
    buf: [u8; NAME_MAX],
    len: usize,
    /// No component follows (in any frame).
    last: bool,
    /// A slash followed it in its frame.
    trailing: bool,
}

impl Comp {
    fn name(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn next_component(frames: &mut Vec<Frame<'_>>) -> Result<Option<Comp>, Errno> {
    loop {
        let Some(f) = frames.last_mut() else {
            return Ok(None);
        };
        let more_below = f.more_below;
        let pos = f.pos;
        let b = f.bytes();
        let mut start = pos;
        while start < b.len() && b[start] == b'/' {
            start += 1;
        }
        if start == b.len() {
            frames.pop();
            continue;
        }
        let mut end = start;
        while end < b.len() && b[end] != b'/' {
            end += 1;
        }
        if end - start > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut comp = Comp {
            buf: [0; NAME_MAX],
            len: end - start,
            last: false,
            trailing: end < b.len(),
        };
        comp.buf[..comp.len].copy_from_slice(&b[start..end]);
        let mut next = end;
        while next < b.len() && b[next] == b'/' {
            next += 1;
        }
        comp.last = next == b.len() && !more_below;
        f.pos = next;
        return Ok(Some(comp));
    }
}

/// Resolves `path` from `base` (relative) or `root` (absolute). Intermediate
/// symbolic links are always followed, the final one only if `follow_last` (or
/// if the path ends with a slash). A trailing slash requires a directory.
pub(crate) fn walk(
    root: &Arc<Inode>,
    base: &Arc<Inode>,
    path: &[u8],
    follow_last: bool,
) -> Result<Arc<Inode>, Errno> {
    check_path(path)?;
    let mut cur = if path[0] == b'/' {
        root.clone()
    } else {
        base.clone()
    };
    let mut frames = vec![Frame {
        path: Some(path),
        link: None,
        pos: 0,
        more_below: false,
    }];
    let mut links = 0;
    let mut must_dir = false;
    while let Some(c) = next_component(&mut frames)? {
        if !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if c.last && c.trailing {
            must_dir = true;
        }
        match c.name() {
            b"." => {}
            b".." => cur = parent_of(&cur)?,
            name => {
                let child = lookup_child(&cur, name)?;
                let follow = !c.last || follow_last || c.trailing;
                match child.read_link() {
                    Some(target) if follow => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(Errno::ELOOP);
                        }
                        if target.is_empty() {
                            return Err(Errno::ENOENT);
                        }
                        if target[0] == b'/' {
                            cur = root.clone();
                        }
                        frames.push(Frame {
                            path: None,
                            link: Some(child.clone()),
                            pos: 0,
                            more_below: !c.last,
                        });
                    }
                    _ => cur = child,
                }
            }
        }
    }
    if must_dir && !cur.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(cur)
}

/// Resolves everything but the last component of `path` (following links) and
/// returns that directory with the last component, which is not looked up.
pub(crate) fn walk_parent<'p>(
    root: &Arc<Inode>,
    base: &Arc<Inode>,
    path: &'p [u8],
) -> Result<Parent<'p>, Errno> {
    check_path(path)?;
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    let trailing = end < path.len();
    if end == 0 {
        return Ok(Parent {
            dir: root.clone(),
            last: Last::Root,
            trailing,
        });
    }
    let trimmed = &path[..end];
    let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (walk(root, base, &path[..=i], true)?, &trimmed[i + 1..]),
        None => (base.clone(), trimmed),
    };
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let last = match name {
        b"." => Last::Dot,
        b".." => Last::DotDot,
        n if n.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
        n => Last::Name(n),
    };
    Ok(Parent {
        dir,
        last,
        trailing,
    })
}
