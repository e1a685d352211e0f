//! The CPU twin of `shaders/reduce.wgsl` (and of the fused observers' reduction,
//! `shaders/fused.wgsl`): per-group statistics in the same fixed order, in f32 (values
//! scaled by exact powers of two, u32 words) or in f64 (unscaled, f64 words), as the two
//! kernel variants compute them.

use super::Real;
use crate::reduce::{partial_words, GROUP};

/// One group's statistics for one component, before encoding.
struct Moments<T> {
    mean: T,
    m2: T,
    lo: T,
    hi: T,
    inv: T,
}

/// One group: finite count, non-finite count, first non-finite index, per-component moments.
struct Block<T> {
    count: u64,
    bad: u64,
    first_bad: Option<u64>,
    comps: Vec<Moments<T>>,
}

/// The group's first trajectory and the trajectories `first..end` (of the chunk) each
/// partial covers, in order: whole groups, or with `replicas` each group's segments, one
/// per point it meets (empty ones included), as `shaders/reduce.wgsl` forms them.
fn segments(n: usize, first_index: u64, replicas: Option<u64>) -> Vec<(usize, usize, usize)> {
    let b = GROUP as usize;
    let mut out = Vec::new();
    for group in 0..n.div_ceil(b) {
        let (gfirst, gend) = (group * b, (group * b + b).min(n));
        let Some(r) = replicas else {
            out.push((gfirst, gfirst, gend));
            continue;
        };
        let g = first_index + gfirst as u64;
        let g_last = first_index + gend as u64 - 1;
        for k in 0..crate::reduce::segments_per_group(replicas) {
            let p = g / r + k;
            if p <= g_last / r {
                let first = ((p * r).max(g) - first_index) as usize;
                let end = if p < g_last / r {
                    ((p + 1) * r - first_index) as usize
                } else {
                    gend
                };
                out.push((gfirst, first, end));
            } else {
                out.push((gfirst, gend, gend));
            }
        }
    }
    out
}

/// The pairwise tree over GROUP values: a[i] = a[2i] + a[2i + 1], level by level.
fn tree<T: Real>(a: &mut [T; GROUP as usize]) -> T {
    let mut w = GROUP as usize / 2;
    while w > 0 {
        for i in 0..w {
            a[i] = a[2 * i] + a[2 * i + 1];
        }
        w /= 2;
    }
    a[0]
}

/// Per partial (indices numbered from `first_index`): the mean from values times `s0`
/// summed by the tree, then M2 of `v * scale(max |v|)` about the scaled mean.
fn blocks<T: Real>(
    values: &[T],
    n: usize,
    dim: usize,
    first_index: u64,
    replicas: Option<u64>,
    s0: T,
    scale: impl Fn(T) -> T,
) -> Vec<Block<T>> {
    let max = |a: T, b: T| if b > a { b } else { a };
    let min = |a: T, b: T| if b < a { b } else { a };
    segments(n, first_index, replicas)
        .into_iter()
        .map(|(gfirst, first, end)| {
            let mut live = [false; GROUP as usize];
            let (mut bad, mut first_bad) = (0u64, None);
            for j in first..end {
                if (0..dim).all(|c| values[c * n + j].to_f64().is_finite()) {
                    live[j - gfirst] = true;
                } else {
                    first_bad = first_bad.or(Some(first_index + j as u64));
                    bad += 1;
                }
            }
            let count = live.iter().filter(|l| **l).count() as u64;
            let comps = (0..dim)
                .map(|c| {
                    let v = |i: usize| values[c * n + gfirst + i];
                    let (mut lo, mut hi) = (T::max_finite(), -T::max_finite());
                    let mut a = [T::default(); GROUP as usize];
                    for i in 0..GROUP as usize {
                        if live[i] {
                            lo = min(lo, v(i));
                            hi = max(hi, v(i));
                            a[i] = v(i) * s0;
                        }
                    }
                    let inv = scale(max(lo.abs(), hi.abs()));
                    let sum = tree(&mut a);
                    let mean = if count == 0 {
                        T::default()
                    } else {
                        (sum / T::of(count as f64)) / s0
                    };
                    let ms = mean * inv;
                    let mut a = [T::default(); GROUP as usize];
                    for i in 0..GROUP as usize {
                        if live[i] {
                            let d = v(i) * inv - ms;
                            a[i] = d * d;
                        }
                    }
                    Moments {
                        mean: ms,
                        m2: tree(&mut a),
                        lo,
                        hi,
                        inv,
                    }
                })
                .collect();
            Block {
                count,
                bad,
                first_bad,
                comps,
            }
        })
        .collect()
}

/// An exact power of two bringing max |v| near 1, so squares cannot overflow in f32
/// (`scale_for` of shaders/partial.wgsl).
pub fn scale_for(big: f32) -> f32 {
    let e = ((big.to_bits() >> 23) & 0xFF) as i32;
    f32::from_bits(((254 - e).clamp(1, 254) as u32) << 23)
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
    let mut out = Vec::with_capacity(n.div_ceil(GROUP as usize) * partial_words(dim));
    for b in blocks(values, n, dim, first_index, replicas, 0.03125, scale_for) {
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
    let mut out = Vec::with_capacity(n.div_ceil(GROUP as usize) * partial_words(dim));
    for b in blocks(values, n, dim, first_index, replicas, 1.0, |_| 1.0) {
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
