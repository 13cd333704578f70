//! Futex keys and their hash.

/// What a futex word *is*, independent of which virtual address names it.
///
/// The kernel resolves a user address to a key before calling the table (this crate
/// never looks at page tables):
/// - [`FutexKey::Private`] when the op has `FUTEX_PRIVATE_FLAG`, or the address lies
///   in a private mapping (anonymous or `MAP_PRIVATE`): the word can only be reached
///   through this address space, so (address space, address) identifies it.
/// - [`FutexKey::Shared`] for a `MAP_SHARED` mapping without the private flag: the
///   word is identified by the physical frame that holds it and its offset in that
///   frame, so two processes that map it at different addresses meet on one key.
///   The kernel must keep the frame from being freed or reused while a waiter is
///   queued on it (e.g. hold a reference to the mapping's object while waiting).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// A word private to one address space.
    Private {
        /// Address-space id (unique while the address space lives).
        mm: u64,
        /// User virtual address of the word (4-byte aligned).
        addr: u64,
    },
    /// A word in shared memory.
    Shared {
        /// Physical frame number (or physical page address) of the page.
        frame: u64,
        /// Byte offset of the word within the page (4-byte aligned).
        offset: u32,
    },
}

/// One round of a 64-bit finalising mixer (xor-shift / multiply, the splitmix64
/// finaliser): every input bit affects every output bit.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl FutexKey {
    /// A private key.
    pub const fn private(mm: u64, addr: u64) -> FutexKey {
        FutexKey::Private { mm, addr }
    }

    /// A shared key.
    pub const fn shared(frame: u64, offset: u32) -> FutexKey {
        FutexKey::Shared { frame, offset }
    }

    /// A well-mixed 64-bit hash; the table takes its low bits as the bucket index.
    pub const fn hash64(&self) -> u64 {
        match *self {
            FutexKey::Private { mm, addr } => mix(mix(mm ^ 0x5052_4956_4154_4521) ^ addr),
            FutexKey::Shared { frame, offset } => {
                mix(mix(frame ^ 0x5348_4152_4544_2121) ^ offset as u64)
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn equality_and_kinds() {
        assert_eq!(FutexKey::private(1, 0x1000), FutexKey::private(1, 0x1000));
        assert_ne!(FutexKey::private(1, 0x1000), FutexKey::private(2, 0x1000));
        assert_ne!(FutexKey::private(1, 0x1000), FutexKey::shared(1, 0x1000));
        assert_ne!(
            FutexKey::private(1, 0x1000).hash64(),
            FutexKey::shared(1, 0x1000).hash64()
        );
    }

    #[test]
    fn neighbouring_words_spread() {
        // 4096 consecutive words of one address space over 256 buckets: every
        // bucket should get some, none a crowd.
        let mut hist = [0u32; 256];
        for i in 0..4096u64 {
            let h = FutexKey::private(7, 0x7fff_0000 + 4 * i).hash64();
            hist[(h & 255) as usize] += 1;
        }
        let max = *hist.iter().max().unwrap();
        let min = *hist.iter().min().unwrap();
        assert!(min >= 4 && max <= 32, "min {min} max {max}");
    }
}
