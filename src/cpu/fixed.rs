//! The fixed-step driver, the twin of `shaders/fixed.wgsl`: what the one-step methods share:
//! a trajectory's system, parameters, step constants and scratch space, and the loop over
//! groups of 4 steps whose normals come from one set of Philox blocks, cut anywhere so a
//! segment may start and end inside a group. Each method's step is in its own file.

use super::normal::noise_block;
use super::Real;
use crate::ensemble::{Job, StepConsts};
use crate::method::Method;
use crate::system::Builtin;

/// One trajectory of a one-step method, with scratch space for its stages.
pub struct Sde<T> {
    pub sys: Builtin,
    pub p: Vec<T>,
    pub c: StepConsts<T>,
    pub dim: usize,
    /// Noise channels.
    pub m: usize,
    pub f: Vec<T>,
    pub d: Vec<T>,
    pub fb: Vec<T>,
    pub db: Vec<T>,
    pub xb: Vec<T>,
}

impl<T: Real> Sde<T> {
    pub fn new(job: &Job, p: Vec<T>) -> Sde<T> {
        let dim = job.system.dim();
        let zero = vec![T::default(); dim];
        Sde {
            sys: job.system.twin.expect("checked by cpu::solve"),
            p,
            c: T::consts(job),
            dim,
            m: job.system.noise_channels(),
            f: zero.clone(),
            d: zero.clone(),
            fb: zero.clone(),
            db: zero.clone(),
            xb: zero,
        }
    }
}

/// Steps step0 .. step0 + steps of trajectory `traj` from `x`, as `advance` in the kernels:
/// a partial group of 4 at either end, whole groups between.
pub fn advance<T: Real>(job: &Job, traj: u64, s: &mut Sde<T>, x: &mut [T], step0: u64, steps: u64) {
    let step = match job.method {
        Method::EulerMaruyama => super::em::step::<T>,
        Method::Milstein => super::milstein::step::<T>,
        Method::Heun => super::heun::step::<T>,
        Method::Setd1 => super::setd1::step::<T>,
        Method::Etdrk2 => super::etdrk2::step::<T>,
        Method::Etdrk4 => super::etdrk4::step::<T>,
        Method::Rk4
        | Method::Dopri5(_)
        | Method::AdaptiveHeun(_)
        | Method::AdaptiveMilstein(_)
        | Method::AdaptiveSra1(_)
        | Method::Iterate => {
            unreachable!("not a one-step SDE method")
        }
    };
    let key = job.key();
    let m = s.m;
    let mut zs = vec![T::default(); 4 * m];
    let end = step0 + steps;
    let mut n = step0;
    while n < end {
        let g = n / 4;
        let hi = (end - 4 * g).min(4);
        if job.brownian == crate::noise::Brownian::Tree {
            // Normal (step s, channel j) is word j % 4 of block j / 4's step s.
            let depth = job.tree_depth();
            for b in 0..m.div_ceil(4) {
                let zb = crate::rng::tree::group_normals(key, m, traj as u32, b as u32, depth, g);
                for (s, four) in zb.iter().enumerate() {
                    for (c, z) in four.iter().enumerate() {
                        if 4 * b + c < m {
                            zs[s * m + 4 * b + c] = T::of(*z as f64);
                        }
                    }
                }
            }
        } else {
            for j in 0..m {
                let block = noise_block(key, (g * m as u64) as u32 + j as u32, traj as u32);
                for (k, z) in block.into_iter().enumerate() {
                    zs[4 * j + k] = T::of(z as f64);
                }
            }
        }
        for k in n - 4 * g..hi {
            let t = s.c.t0 + T::of((4 * g + k) as f64) * s.c.dt;
            step(s, t, x, &zs[k as usize * m..][..m]);
        }
        n = 4 * g + hi;
    }
}
