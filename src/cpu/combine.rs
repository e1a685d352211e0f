//! The CPU twin of `shaders/combine.wgsl`: block partials from the group partials of every
//! slot, in the same order and precision.

use super::Real;
use crate::reduce::{partial_words, BLOCK, GROUP};

const PER: usize = (BLOCK / GROUP) as usize;

#[derive(Clone, Copy)]
struct Part<T> {
    n: T,
    mean: T,
    m2: T,
}

fn chan<T: Real>(a: Part<T>, b: Part<T>) -> Part<T> {
    if b.n == T::default() {
        return a;
    }
    if a.n == T::default() {
        return b;
    }
    let n = a.n + b.n;
    let f = b.n / n;
    let d = b.mean - a.mean;
    Part {
        n,
        mean: a.mean + d * f,
        m2: a.m2 + b.m2 + d * d * (a.n * f),
    }
}

/// How a partial's words read in one precision: values, counts, the first non-finite index.
pub trait Words: Copy {
    type T: Real;
    fn value(self) -> Self::T;
    fn count(self) -> u32;
    fn index(self) -> u32;
    fn of_value(v: Self::T) -> Self;
    fn of_count(n: u32) -> Self;
    fn of_index(i: u32) -> Self;
    /// `scale_for` of the reduction kernels.
    fn scale(big: Self::T) -> Self::T;
}

impl Words for u32 {
    type T = f32;
    fn value(self) -> f32 {
        f32::from_bits(self)
    }
    fn count(self) -> u32 {
        self
    }
    fn index(self) -> u32 {
        self
    }
    fn of_value(v: f32) -> u32 {
        v.to_bits()
    }
    fn of_count(n: u32) -> u32 {
        n
    }
    fn of_index(i: u32) -> u32 {
        i
    }
    fn scale(big: f32) -> f32 {
        super::reduce::scale_for(big)
    }
}

impl Words for f64 {
    type T = f64;
    fn value(self) -> f64 {
        self
    }
    fn count(self) -> u32 {
        self as u32
    }
    fn index(self) -> u32 {
        if self < 0.0 {
            u32::MAX
        } else {
            self as u32
        }
    }
    fn of_value(v: f64) -> f64 {
        v
    }
    fn of_count(n: u32) -> f64 {
        n as f64
    }
    fn of_index(i: u32) -> f64 {
        if i == u32::MAX {
            -1.0
        } else {
            i as f64
        }
    }
    fn scale(_: f64) -> f64 {
        1.0
    }
}

/// One dispatch: for every slot of `groups` (`slots` of them, `nblocks * PER` groups each)
/// and every block holding some of the chunk's `count` trajectories, its block partial.
pub fn dispatch<W: Words>(
    groups: &[W],
    blocks: &mut [W],
    dim: usize,
    slots: usize,
    ngroups: usize,
    count: usize,
) {
    let w = partial_words(dim);
    let nblocks = ngroups / PER;
    let g = GROUP as usize;
    for slot in 0..slots {
        for block in 0..nblocks {
            if block * PER * g >= count {
                break;
            }
            let live = PER.min((count - block * PER * g).div_ceil(g));
            let g0 = (slot * ngroups + block * PER) * w;
            let at = |k: usize, i: usize| groups[g0 + k * w + i];
            let out = (slot * nblocks + block) * w;
            let (mut n, mut bad, mut first_bad) = (0u32, 0u32, u32::MAX);
            for k in 0..live {
                n += at(k, 0).count();
                bad += at(k, 1).count();
                first_bad = first_bad.min(at(k, 2).index());
            }
            for c in 0..dim {
                let big = W::T::max_finite();
                let (mut lo, mut hi) = (big, -big);
                for k in 0..live {
                    if at(k, 0).count() > 0 {
                        let (l, h) = (at(k, 5 + 5 * c).value(), at(k, 6 + 5 * c).value());
                        lo = if l < lo { l } else { lo };
                        hi = if hi < h { h } else { hi };
                    }
                }
                let inv = W::scale(if lo.abs() < hi.abs() {
                    hi.abs()
                } else {
                    lo.abs()
                });
                let zero = W::T::default();
                let mut p = [Part {
                    n: zero,
                    mean: zero,
                    m2: zero,
                }; PER];
                for (k, part) in p.iter_mut().enumerate().take(live) {
                    if at(k, 0).count() > 0 {
                        let r = inv / at(k, 7 + 5 * c).value();
                        *part = Part {
                            n: W::T::of(at(k, 0).count() as f64),
                            mean: at(k, 3 + 5 * c).value() * r,
                            m2: at(k, 4 + 5 * c).value() * r * r,
                        };
                    }
                }
                for k in 0..PER / 2 {
                    p[k] = chan(p[2 * k], p[2 * k + 1]);
                }
                p[0] = chan(p[0], p[1]);
                p[1] = chan(p[2], p[3]);
                p[0] = chan(p[0], p[1]);
                blocks[out + 3 + 5 * c] = W::of_value(p[0].mean);
                blocks[out + 4 + 5 * c] = W::of_value(p[0].m2);
                blocks[out + 5 + 5 * c] = W::of_value(lo);
                blocks[out + 6 + 5 * c] = W::of_value(hi);
                blocks[out + 7 + 5 * c] = W::of_value(inv);
            }
            blocks[out] = W::of_count(n);
            blocks[out + 1] = W::of_count(bad);
            blocks[out + 2] = W::of_index(first_bad);
        }
    }
}
