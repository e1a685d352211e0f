//! The CPU twin of `shaders/reduce.wgsl`: per-block f32 statistics by the same fixed tree.

use crate::kernel::{partial_words, BLOCK};

const BIG: f32 = f32::MAX;

/// Per-block partial words for `n` trajectories stored component-major (`values[c * n + j]`).
pub fn block_partials(values: &[f32], n: usize, dim: usize) -> Vec<u32> {
    let b = BLOCK as usize;
    let blocks = n.div_ceil(b);
    let mut out = vec![0u32; blocks * partial_words(dim)];
    for (k, words) in out.chunks_exact_mut(partial_words(dim)).enumerate() {
        let finite: Vec<bool> = (0..b)
            .map(|l| {
                let j = k * b + l;
                j < n && (0..dim).all(|c| values[c * n + j].is_finite())
            })
            .collect();
        words[1] = (0..b).filter(|&l| k * b + l < n && !finite[l]).count() as u32;
        for c in 0..dim {
            let mut wn = vec![0f32; b];
            let mut mean = vec![0f32; b];
            let mut m2 = vec![0f32; b];
            let mut mn = vec![BIG; b];
            let mut mx = vec![-BIG; b];
            for l in 0..b {
                if finite[l] {
                    let v = values[c * n + k * b + l];
                    wn[l] = 1.0;
                    mean[l] = v;
                    mn[l] = v;
                    mx[l] = v;
                }
            }
            let mut s = b / 2;
            while s > 0 {
                for a in 0..s {
                    let bb = a + s;
                    let (na, nb) = (wn[a], wn[bb]);
                    if nb > 0.0 {
                        let nt = na + nb;
                        let d = mean[bb] - mean[a];
                        let fb = nb / nt;
                        mean[a] += d * fb;
                        m2[a] = m2[a] + m2[bb] + d * d * na * fb;
                        wn[a] = nt;
                    }
                    mn[a] = mn[a].min(mn[bb]);
                    mx[a] = mx[a].max(mx[bb]);
                }
                s /= 2;
            }
            words[0] = wn[0] as u32;
            words[2 + 4 * c] = mean[0].to_bits();
            words[3 + 4 * c] = m2[0].to_bits();
            words[4 + 4 * c] = mn[0].to_bits();
            words[5 + 4 * c] = mx[0].to_bits();
        }
    }
    out
}
