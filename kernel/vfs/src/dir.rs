//! Directory contents: names -> inodes, with stable `getdents64` cookies.
//!
//! Every entry gets a cookie when it is inserted, from a per-directory counter
//! that starts at 2 (0 is ".", 1 is ".."). A directory file's offset is the cookie
//! of the next entry to return, so entries added or removed while a reader walks
//! the directory never make it skip or repeat the others.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::{Mutex, RwLock};

use crate::inode::Inode;

/// Cookie of the first real entry.
pub(crate) const FIRST_COOKIE: u64 = 2;

pub(crate) struct Entries {
    by_name: BTreeMap<Vec<u8>, (u64, Arc<Inode>)>,
    by_cookie: BTreeMap<u64, Vec<u8>>,
    next_cookie: u64,
    /// Set by rmdir (and by a rename that replaces this directory): nothing may be
    /// created in it any more, and `getdents64` gives `ENOENT`.
    pub(crate) dead: bool,
}

impl Entries {
    fn new() -> Entries {
        Entries {
            by_name: BTreeMap::new(),
            by_cookie: BTreeMap::new(),
            next_cookie: FIRST_COOKIE,
            dead: false,
        }
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<&Arc<Inode>> {
        self.by_name.get(name).map(|(_, i)| i)
    }

    /// Adds `name`; the caller has checked that it is absent.
    pub(crate) fn insert(&mut self, name: Vec<u8>, inode: Arc<Inode>) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        self.by_cookie.insert(cookie, name.clone());
        let old = self.by_name.insert(name, (cookie, inode));
        debug_assert!(old.is_none());
    }

    pub(crate) fn remove(&mut self, name: &[u8]) -> Option<Arc<Inode>> {
        let (cookie, inode) = self.by_name.remove(name)?;
        self.by_cookie.remove(&cookie);
        Some(inode)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Entries with a cookie >= `cookie`, in cookie order.
    pub(crate) fn starting_at(
        &self,
        cookie: u64,
    ) -> impl Iterator<Item = (u64, &[u8], &Arc<Inode>)> + '_ {
        self.by_cookie
            .range(cookie..)
            .filter_map(move |(&c, name)| {
                self.by_name
                    .get(name)
                    .map(|(_, inode)| (c, name.as_slice(), inode))
            })
    }

    /// The name under which `inode` is linked here (linear scan).
    pub(crate) fn name_of(&self, inode: &Arc<Inode>) -> Option<&[u8]> {
        self.by_name
            .iter()
            .find(|(_, (_, i))| Arc::ptr_eq(i, inode))
            .map(|(n, _)| n.as_slice())
    }
}

/// The directory part of an inode.
pub(crate) struct Dir {
    pub(crate) entries: RwLock<Entries>,
    /// The parent directory (`..`); `None` for the root, whose `..` is itself. A
    /// weak pointer, so that the tree has no cycles; it only dangles for a
    /// removed directory whose parent is gone too.
    parent: Mutex<Option<Weak<Inode>>>,
}

impl Dir {
    pub(crate) fn new(parent: Option<&Arc<Inode>>) -> Dir {
        Dir {
            entries: RwLock::new(Entries::new()),
            parent: Mutex::new(parent.map(Arc::downgrade)),
        }
    }

    /// `Ok(None)` for the root, `Ok(Some(parent))`, or `Err(())` when the parent
    /// is gone.
    pub(crate) fn parent(&self) -> Result<Option<Arc<Inode>>, ()> {
        match &*self.parent.lock() {
            None => Ok(None),
            Some(w) => w.upgrade().map(Some).ok_or(()),
        }
    }

    pub(crate) fn set_parent(&self, parent: &Arc<Inode>) {
        *self.parent.lock() = Some(Arc::downgrade(parent));
    }
}
