//! Philox4x32-10 (Salmon et al., SC11), the CPU twin of `shaders/philox.wgsl`.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: 4 output words for a 128-bit counter and a 64-bit key.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Adds `n` to a 128-bit counter whose word 0 is least significant, carrying across words.
pub fn counter_add(counter: [u32; 4], n: u64) -> [u32; 4] {
    let lo = (counter[0] as u128) | ((counter[1] as u128) << 32);
    let hi = (counter[2] as u128) | ((counter[3] as u128) << 32);
    let v = ((hi << 64) | lo).wrapping_add(n as u128);
    [
        v as u32,
        (v >> 32) as u32,
        (v >> 64) as u32,
        (v >> 96) as u32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_add_carries_across_words() {
        assert_eq!(counter_add([u32::MAX, 0, 0, 0], 1), [0, 1, 0, 0]);
        assert_eq!(
            counter_add([u32::MAX, u32::MAX, u32::MAX, 0], 1),
            [0, 0, 0, 1]
        );
        assert_eq!(counter_add([u32::MAX; 4], 1), [0; 4]);
        assert_eq!(counter_add([5, 0, 0, 0], 7), [12, 0, 0, 0]);
    }
}
