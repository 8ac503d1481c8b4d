//! 64-bit SimHash over weighted words, with a stable hash so values can be stored and compared
//! across versions and machines.

/// FNV-1a followed by a SplitMix64 finaliser: stable, fast and well mixed across all 64 bits.
pub fn hash64(s: &str) -> u64 {
    hash64_bytes(s.as_bytes())
}

/// [`hash64`] of raw bytes.
pub fn hash64_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// ±1 for each bit of a byte, lowest bit first: lets the accumulation run eight lanes at a time.
const fn sign_table() -> [[f32; 8]; 256] {
    let mut t = [[0f32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            t[b][j] = if (b >> j) & 1 == 1 { 1.0 } else { -1.0 };
            j += 1;
        }
        b += 1;
    }
    t
}

static SIGNS: [[f32; 8]; 256] = sign_table();

/// SimHash of weighted features; an empty input gives 0.
pub fn simhash<'a>(features: impl IntoIterator<Item = (&'a str, f32)>) -> u64 {
    let mut v = [0f32; 64];
    for (word, weight) in features {
        let h = hash64(word).to_le_bytes();
        for (k, byte) in h.iter().enumerate() {
            let signs = &SIGNS[usize::from(*byte)];
            for (acc, s) in v[k * 8..k * 8 + 8].iter_mut().zip(signs) {
                *acc += weight * s;
            }
        }
    }
    v.iter().enumerate().fold(0u64, |out, (bit, &acc)| if acc > 0.0 { out | 1 << bit } else { out })
}

/// Number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_texts_are_close_and_different_ones_far() {
        let a = simhash(["小区", "停水", "三天", "物业", "不管", "居民", "生活"].map(|w| (w, 1.0)));
        let b = simhash(["小区", "停水", "三天", "物业", "不管", "居民", "生活", "转发"].map(|w| (w, 1.0)));
        let c = simhash(["景区", "门票", "涨价", "游客", "不满", "那拉提", "草原"].map(|w| (w, 1.0)));
        assert!(hamming(a, b) < hamming(a, c), "{} vs {}", hamming(a, b), hamming(a, c));
        assert_eq!(simhash(std::iter::empty()), 0);
    }
}
