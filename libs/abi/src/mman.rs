//! mmap / mprotect / madvise / mremap / msync / mlock flags.

/// Page cannot be accessed.
pub const PROT_NONE: u32 = 0x0;
/// Page can be read.
pub const PROT_READ: u32 = 0x1;
/// Page can be written.
pub const PROT_WRITE: u32 = 0x2;
/// Page can be executed.
pub const PROT_EXEC: u32 = 0x4;
/// `mprotect`: extend the change down to the start of a grows-down mapping.
pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
/// `mprotect`: extend the change up to the end of a grows-up mapping.
pub const PROT_GROWSUP: u32 = 0x0200_0000;

/// Share changes with other mappings of the same object.
pub const MAP_SHARED: u32 = 0x01;
/// Private copy-on-write mapping.
pub const MAP_PRIVATE: u32 = 0x02;
/// [`MAP_SHARED`], failing on unknown flags.
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
/// Mask of the mapping type.
pub const MAP_TYPE: u32 = 0x0f;
/// Place the mapping exactly at `addr`, replacing what is there.
pub const MAP_FIXED: u32 = 0x10;
/// Not backed by a file; zero-filled.
pub const MAP_ANONYMOUS: u32 = 0x20;
/// Alias of [`MAP_ANONYMOUS`].
pub const MAP_ANON: u32 = MAP_ANONYMOUS;
/// Place the mapping in the low 2 GiB.
pub const MAP_32BIT: u32 = 0x40;
/// Stack-like mapping that grows down.
pub const MAP_GROWSDOWN: u32 = 0x100;
/// Ignored.
pub const MAP_DENYWRITE: u32 = 0x800;
/// Ignored.
pub const MAP_EXECUTABLE: u32 = 0x1000;
/// Lock the pages in memory.
pub const MAP_LOCKED: u32 = 0x2000;
/// Do not reserve swap space.
pub const MAP_NORESERVE: u32 = 0x4000;
/// Pre-fault the pages.
pub const MAP_POPULATE: u32 = 0x8000;
/// With `MAP_POPULATE`: do not block on I/O.
pub const MAP_NONBLOCK: u32 = 0x1_0000;
/// The mapping is a thread stack.
pub const MAP_STACK: u32 = 0x2_0000;
/// Use huge pages.
pub const MAP_HUGETLB: u32 = 0x4_0000;
/// Synchronous page faults (DAX).
pub const MAP_SYNC: u32 = 0x8_0000;
/// Like [`MAP_FIXED`] but fail with `EEXIST` instead of replacing.
pub const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;
/// Do not clear anonymous pages (embedded only).
pub const MAP_UNINITIALIZED: u32 = 0x400_0000;
/// The value `mmap` returns on failure in C (`(void *)-1`).
pub const MAP_FAILED: u64 = u64::MAX;

/// `mremap`: the mapping may move.
pub const MREMAP_MAYMOVE: u32 = 1;
/// `mremap`: move to the given new address.
pub const MREMAP_FIXED: u32 = 2;
/// `mremap`: keep the old mapping (empty) after the move.
pub const MREMAP_DONTUNMAP: u32 = 4;

/// `msync`: schedule the write-back.
pub const MS_ASYNC: u32 = 1;
/// `msync`: invalidate other mappings.
pub const MS_INVALIDATE: u32 = 2;
/// `msync`: write back and wait.
pub const MS_SYNC: u32 = 4;

/// `mlockall`: lock current pages.
pub const MCL_CURRENT: u32 = 1;
/// `mlockall`: lock future pages.
pub const MCL_FUTURE: u32 = 2;
/// `mlockall`: lock pages when they fault in.
pub const MCL_ONFAULT: u32 = 4;

/// No special treatment.
pub const MADV_NORMAL: u32 = 0;
/// Expect random access.
pub const MADV_RANDOM: u32 = 1;
/// Expect sequential access.
pub const MADV_SEQUENTIAL: u32 = 2;
/// Will need these pages.
pub const MADV_WILLNEED: u32 = 3;
/// Drop these pages (anonymous memory reads back as zero).
pub const MADV_DONTNEED: u32 = 4;
/// Pages may be freed lazily.
pub const MADV_FREE: u32 = 8;
/// Free the pages and their backing store.
pub const MADV_REMOVE: u32 = 9;
/// Do not inherit across fork.
pub const MADV_DONTFORK: u32 = 10;
/// Undo [`MADV_DONTFORK`].
pub const MADV_DOFORK: u32 = 11;
/// KSM may merge.
pub const MADV_MERGEABLE: u32 = 12;
/// Undo [`MADV_MERGEABLE`].
pub const MADV_UNMERGEABLE: u32 = 13;
/// Prefer transparent huge pages.
pub const MADV_HUGEPAGE: u32 = 14;
/// Avoid transparent huge pages.
pub const MADV_NOHUGEPAGE: u32 = 15;
/// Leave out of core dumps.
pub const MADV_DONTDUMP: u32 = 16;
/// Undo [`MADV_DONTDUMP`].
pub const MADV_DODUMP: u32 = 17;
/// Zero the pages in the child after fork.
pub const MADV_WIPEONFORK: u32 = 18;
/// Undo [`MADV_WIPEONFORK`].
pub const MADV_KEEPONFORK: u32 = 19;
/// Deactivate the pages.
pub const MADV_COLD: u32 = 20;
/// Reclaim the pages.
pub const MADV_PAGEOUT: u32 = 21;
/// Populate (prefault) readable.
pub const MADV_POPULATE_READ: u32 = 22;
/// Populate (prefault) writable.
pub const MADV_POPULATE_WRITE: u32 = 23;
/// Like [`MADV_DONTNEED`], also for locked pages.
pub const MADV_DONTNEED_LOCKED: u32 = 24;
/// Collapse into transparent huge pages.
pub const MADV_COLLAPSE: u32 = 25;
/// Poison a page (testing).
pub const MADV_HWPOISON: u32 = 100;
/// Soft-offline a page (testing).
pub const MADV_SOFT_OFFLINE: u32 = 101;

/// Page size on x86_64.
pub const PAGE_SIZE: u64 = 4096;
