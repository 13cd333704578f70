//! Kernel random numbers: a ChaCha-style mixer is overkill here; a 128-bit xorshift
//! generator per call site, seeded from RDRAND when the CPU has it and from the TSC
//! otherwise, is enough for AT_RANDOM and getrandom in a test kernel. Not for
//! cryptography (documented in docs/syscalls.md).

use core::sync::atomic::{AtomicU64, Ordering};

static STATE: AtomicU64 = AtomicU64::new(0);

fn seed() -> u64 {
    let mut s = weft_arch::cpu::rdtsc() ^ 0x9e37_79b9_7f4a_7c15;
    if let Some(r) = weft_arch::cpu::rdrand() {
        s ^= r;
    }
    s | 1
}

/// The next 64 random bits.
pub fn next_u64() -> u64 {
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = seed();
    }
    loop {
        // splitmix64 step: a bijective mixer over a Weyl sequence.
        let next = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        if STATE
            .compare_exchange_weak(x, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let mut z = next ^ weft_arch::cpu::rdtsc().rotate_left(29);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            return z ^ (z >> 31);
        }
        x = STATE.load(Ordering::Relaxed);
    }
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let v = next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// 16 random bytes (AT_RANDOM).
pub fn bytes16() -> [u8; 16] {
    let mut b = [0; 16];
    fill(&mut b);
    b
}
