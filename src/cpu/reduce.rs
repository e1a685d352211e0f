//! The CPU twin of `shaders/reduce.wgsl`: per-block f32 statistics in the same fixed order.

use crate::kernel::{partial_words, BLOCK};

const RUN: usize = 16;

/// Per-block partial words for `n` trajectories stored component-major (`values[c * n + j]`).
pub fn block_partials(values: &[f32], n: usize, dim: usize) -> Vec<u32> {
    block_partials_from(values, n, dim, 0)
}

/// The same for trajectories numbered from `first_index` (for the first-non-finite word).
pub fn block_partials_from(values: &[f32], n: usize, dim: usize, first_index: u64) -> Vec<u32> {
    let b = BLOCK as usize;
    let mut out = vec![0u32; n.div_ceil(b) * partial_words(dim)];
    for (block, words) in out.chunks_exact_mut(partial_words(dim)).enumerate() {
        let first = block * b;
        let end = (first + b).min(n);
        let finite: Vec<bool> = (first..end)
            .map(|j| (0..dim).all(|c| values[c * n + j].is_finite()))
            .collect();
        let mut count = 0.0f32;
        for c in 0..dim {
            let (mut lo, mut hi) = (f32::MAX, -f32::MAX);
            for (i, ok) in finite.iter().enumerate() {
                if *ok {
                    let v = values[c * n + first + i];
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            let e = ((lo.abs().max(hi.abs()).to_bits() >> 23) & 0xFF) as i32;
            let inv = f32::from_bits(((254 - e).clamp(1, 254) as u32) << 23);
            let (mut cn, mut mean, mut m2) = (0.0f32, 0.0f32, 0.0f32);
            for (r, flags) in finite.chunks(RUN).enumerate() {
                let (mut rn, mut rmean, mut rm2) = (0.0f32, 0.0f32, 0.0f32);
                for (k, ok) in flags.iter().enumerate() {
                    if *ok {
                        let v = values[c * n + first + r * RUN + k] * inv;
                        rn += 1.0;
                        let d = v - rmean;
                        rmean += d / rn;
                        rm2 += d * (v - rmean);
                    }
                }
                if rn > 0.0 {
                    let nt = cn + rn;
                    let d = rmean - mean;
                    let f = rn / nt;
                    mean += d * f;
                    m2 = m2 + rm2 + d * d * cn * f;
                    cn = nt;
                }
            }
            count = cn;
            let w = &mut words[3 + 5 * c..];
            w[0] = mean.to_bits();
            w[1] = m2.to_bits();
            w[2] = lo.to_bits();
            w[3] = hi.to_bits();
            w[4] = inv.to_bits();
        }
        words[0] = count as u32;
        words[1] = finite.iter().filter(|f| !**f).count() as u32;
        words[2] = finite
            .iter()
            .position(|f| !*f)
            .map_or(u32::MAX, |k| (first_index + (first + k) as u64) as u32);
    }
    out
}

/// The twin of the f64 kernel (flag F64): the same order, f64 throughout, no scaling; the
/// words are f64 values, counts included.
pub fn block_partials64(values: &[f64], n: usize, dim: usize) -> Vec<f64> {
    block_partials64_from(values, n, dim, 0)
}

/// The same for trajectories numbered from `first_index`.
pub fn block_partials64_from(values: &[f64], n: usize, dim: usize, first_index: u64) -> Vec<f64> {
    let b = BLOCK as usize;
    let mut out = vec![0f64; n.div_ceil(b) * partial_words(dim)];
    for (block, words) in out.chunks_exact_mut(partial_words(dim)).enumerate() {
        let first = block * b;
        let end = (first + b).min(n);
        let finite: Vec<bool> = (first..end)
            .map(|j| (0..dim).all(|c| values[c * n + j].is_finite()))
            .collect();
        let mut count = 0.0f64;
        for c in 0..dim {
            let (mut lo, mut hi) = (f64::MAX, -f64::MAX);
            for (i, ok) in finite.iter().enumerate() {
                if *ok {
                    let v = values[c * n + first + i];
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            let (mut cn, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for (r, flags) in finite.chunks(RUN).enumerate() {
                let (mut rn, mut rmean, mut rm2) = (0.0f64, 0.0f64, 0.0f64);
                for (k, ok) in flags.iter().enumerate() {
                    if *ok {
                        let v = values[c * n + first + r * RUN + k];
                        rn += 1.0;
                        let d = v - rmean;
                        rmean += d / rn;
                        rm2 += d * (v - rmean);
                    }
                }
                if rn > 0.0 {
                    let nt = cn + rn;
                    let d = rmean - mean;
                    let f = rn / nt;
                    mean += d * f;
                    m2 = m2 + rm2 + d * d * cn * f;
                    cn = nt;
                }
            }
            count = cn;
            let w = &mut words[3 + 5 * c..];
            w[0] = mean;
            w[1] = m2;
            w[2] = lo;
            w[3] = hi;
            w[4] = 1.0;
        }
        words[0] = count;
        words[1] = finite.iter().filter(|f| !**f).count() as f64;
        words[2] = finite
            .iter()
            .position(|f| !*f)
            .map_or(-1.0, |k| (first_index + (first + k) as u64) as f64);
    }
    out
}
