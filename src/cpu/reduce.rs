//! The CPU twin of `shaders/reduce.wgsl`: per-block statistics in the same fixed order, in
//! f32 (moments of values scaled by an exact power of two, u32 words) or in f64 (unscaled,
//! f64 words), as the two kernel variants compute them.

use super::Real;
use crate::reduce::{partial_words, BLOCK};

const RUN: usize = 16;

/// One block's statistics for one component, before encoding.
struct Moments<T> {
    mean: T,
    m2: T,
    lo: T,
    hi: T,
    inv: T,
}

/// One block: finite count, non-finite count, first non-finite index, per-component moments.
struct Block<T> {
    count: u64,
    bad: u64,
    first_bad: Option<u64>,
    comps: Vec<Moments<T>>,
}

/// The trajectories `first..end` (of the chunk) each partial covers, in order: whole
/// blocks, or with `replicas` each block's segments, one per point it meets (empty ones
/// included), as `shaders/reduce.wgsl` forms them.
fn segments(n: usize, first_index: u64, replicas: Option<u64>) -> Vec<(usize, usize)> {
    let b = BLOCK as usize;
    let mut out = Vec::new();
    for block in 0..n.div_ceil(b) {
        let (bfirst, bend) = (block * b, (block * b + b).min(n));
        let Some(r) = replicas else {
            out.push((bfirst, bend));
            continue;
        };
        let g = first_index + bfirst as u64;
        let g_last = first_index + bend as u64 - 1;
        for k in 0..crate::reduce::segments_per_block(replicas) {
            let p = g / r + k;
            if p <= g_last / r {
                let first = ((p * r).max(g) - first_index) as usize;
                let end = if p < g_last / r {
                    ((p + 1) * r - first_index) as usize
                } else {
                    bend
                };
                out.push((first, end));
            } else {
                out.push((bend, bend));
            }
        }
    }
    out
}

/// Per partial (indices numbered from `first_index`), the moments of `v * scale(max |v|)`.
fn blocks<T: Real>(
    values: &[T],
    n: usize,
    dim: usize,
    first_index: u64,
    replicas: Option<u64>,
    scale: impl Fn(T) -> T,
) -> Vec<Block<T>> {
    let max = |a: T, b: T| if b > a { b } else { a };
    let min = |a: T, b: T| if b < a { b } else { a };
    segments(n, first_index, replicas)
        .into_iter()
        .map(|(first, end)| {
            let finite: Vec<bool> = (first..end)
                .map(|j| (0..dim).all(|c| values[c * n + j].to_f64().is_finite()))
                .collect();
            let mut count = 0u64;
            let comps = (0..dim)
                .map(|c| {
                    let (mut lo, mut hi) = (T::max_finite(), -T::max_finite());
                    for (i, ok) in finite.iter().enumerate() {
                        if *ok {
                            let v = values[c * n + first + i];
                            lo = min(lo, v);
                            hi = max(hi, v);
                        }
                    }
                    let inv = scale(max(lo.abs(), hi.abs()));
                    let (mut cn, mut mean, mut m2) = (T::default(), T::default(), T::default());
                    for (r, flags) in finite.chunks(RUN).enumerate() {
                        let (mut rn, mut rmean, mut rm2) =
                            (T::default(), T::default(), T::default());
                        for (k, ok) in flags.iter().enumerate() {
                            if *ok {
                                let v = values[c * n + first + r * RUN + k] * inv;
                                rn = rn + T::of(1.0);
                                let d = v - rmean;
                                rmean = rmean + d / rn;
                                rm2 = rm2 + d * (v - rmean);
                            }
                        }
                        if rn > T::default() {
                            let nt = cn + rn;
                            let d = rmean - mean;
                            let f = rn / nt;
                            mean = mean + d * f;
                            m2 = m2 + rm2 + d * d * cn * f;
                            cn = nt;
                        }
                    }
                    count = cn.to_f64() as u64;
                    Moments {
                        mean,
                        m2,
                        lo,
                        hi,
                        inv,
                    }
                })
                .collect();
            let bad = finite.iter().filter(|f| !**f).count() as u64;
            let first_bad = finite
                .iter()
                .position(|f| !*f)
                .map(|k| first_index + (first + k) as u64);
            Block {
                count,
                bad,
                first_bad,
                comps,
            }
        })
        .collect()
}

/// Per-block partial words for `n` trajectories stored component-major (`values[c * n + j]`).
pub fn block_partials(values: &[f32], n: usize, dim: usize) -> Vec<u32> {
    block_partials_from(values, n, dim, 0, None)
}

/// The same for trajectories numbered from `first_index` (for the first-non-finite word),
/// per point segment with `replicas`.
pub fn block_partials_from(
    values: &[f32],
    n: usize,
    dim: usize,
    first_index: u64,
    replicas: Option<u64>,
) -> Vec<u32> {
    // An exact power of two bringing max |v| near 1, so squares cannot overflow.
    let scale = |big: f32| {
        let e = ((big.to_bits() >> 23) & 0xFF) as i32;
        f32::from_bits(((254 - e).clamp(1, 254) as u32) << 23)
    };
    let mut out = Vec::with_capacity(n.div_ceil(BLOCK as usize) * partial_words(dim));
    for b in blocks(values, n, dim, first_index, replicas, scale) {
        out.extend([
            b.count as u32,
            b.bad as u32,
            b.first_bad.map_or(u32::MAX, |i| i as u32),
        ]);
        for m in b.comps {
            out.extend([m.mean, m.m2, m.lo, m.hi, m.inv].map(f32::to_bits));
        }
    }
    out
}

/// The twin of the f64 kernel (flag F64): the same order, f64 throughout, no scaling; the
/// words are f64 values, counts included.
pub fn block_partials64(values: &[f64], n: usize, dim: usize) -> Vec<f64> {
    block_partials64_from(values, n, dim, 0, None)
}

/// The same for trajectories numbered from `first_index`, per point segment with `replicas`.
pub fn block_partials64_from(
    values: &[f64],
    n: usize,
    dim: usize,
    first_index: u64,
    replicas: Option<u64>,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(n.div_ceil(BLOCK as usize) * partial_words(dim));
    for b in blocks(values, n, dim, first_index, replicas, |_| 1.0) {
        out.extend([
            b.count as f64,
            b.bad as f64,
            b.first_bad.map_or(-1.0, |i| i as f64),
        ]);
        for m in b.comps {
            out.extend([m.mean, m.m2, m.lo, m.hi, m.inv]);
        }
    }
    out
}

/// One dispatch of the reduction: block partials of the chunk's rows (`states`, the chunk
/// buffer in the run's precision) into slot `u.save` of `partials`.
pub fn dispatch(
    plan: &crate::plan::Plan,
    u: &crate::kernel::ChunkUniform,
    states: &[u64],
    partials: &mut [u64],
) {
    let (n, rows, cap) = (u.count as usize, plan.rows, plan.capacity as usize);
    let at = u.save as usize * (u.blocks as u64 * plan.segs) as usize * partial_words(rows);
    // The chunk's rows, compacted to `n` trajectories each as the twins expect.
    fn compact<T: bytemuck::Pod>(states: &[u64], rows: usize, cap: usize, n: usize) -> Vec<T> {
        let v: &[T] = &bytemuck::cast_slice(states)[..rows * cap];
        (0..rows)
            .flat_map(|c| &v[c * cap..c * cap + n])
            .copied()
            .collect()
    }
    fn put<W: bytemuck::Pod>(partials: &mut [u64], at: usize, words: &[W]) {
        bytemuck::cast_slice_mut::<u64, W>(partials)[at..][..words.len()].copy_from_slice(words);
    }
    let first = u.first as u64;
    match plan.precision {
        crate::precision::Precision::F32 => {
            let v = compact::<f32>(states, rows, cap, n);
            put(
                partials,
                at,
                &block_partials_from(&v, n, rows, first, plan.replicas),
            );
        }
        crate::precision::Precision::F64 => {
            let v = compact::<f64>(states, rows, cap, n);
            put(
                partials,
                at,
                &block_partials64_from(&v, n, rows, first, plan.replicas),
            );
        }
    }
}
