//! The adaptive SDE driver, the twin of `shaders/sde_controller.wgsl`: each trajectory
//! steps between the Brownian tree's points of depth `Job::leaf_depth` (a step is a whole
//! number of them), with B at the step's left end kept and the right end walked from the
//! tree (`rng::tree::brownian_at`; `area_at` for `adaptive_sra1.rs`), its method's trial
//! step (`adaptive_heun.rs`, `adaptive_milstein.rs`, `adaptive_sra1.rs`) accepted when its
//! error norm is at most 1 or it spans one point.

use super::controller::{clamp, exp2_ctl, log2_ctl, Limits, Rows};
use super::systems::{diffusion, drift};
use super::Real;
use crate::ensemble::Job;
use crate::method::Method;
use crate::rng::tree::{area_at, brownian_at};
use crate::system::Builtin;

/// A trial step: the method's solution and the mean over components of (err_c / tol_c)^2.
pub struct Trial<T> {
    pub x: Vec<T>,
    pub err2: T,
}

/// What a method's trial step needs besides (t, h, x) and the noise: the twin system, its
/// parameters and the tolerance (atol, rtol).
pub struct Sys<'a, T> {
    pub sys: Builtin,
    pub p: &'a [T],
    pub tol: (T, T),
}

impl<T: Real> Sys<'_, T> {
    /// The drift at (t, x).
    pub fn f(&self, t: T, x: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); x.len()];
        drift(self.sys, t, x, self.p, &mut out);
        out
    }

    /// The (diagonal) diffusion at (t, x).
    pub fn g(&self, t: T, x: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); x.len()];
        diffusion(self.sys, t, x, self.p, &mut out);
        out
    }

    /// The trial of solution `out` with error `e`: the mean over components of
    /// (e_c / max(atol, rtol max(|x_c|, |out_c|)))^2, the mixed tolerance.
    pub fn trial(&self, x: &[T], out: Vec<T>, e: &[T]) -> Trial<T> {
        let (atol, rtol) = self.tol;
        let mut err2 = T::default();
        for c in 0..x.len() {
            let big = if x[c].abs() > out[c].abs() {
                x[c].abs()
            } else {
                out[c].abs()
            };
            let r = rtol * big;
            let sc = if atol > r { atol } else { r };
            err2 = err2 + (e[c] / sc) * (e[c] / sc);
        }
        Trial {
            x: out,
            err2: err2 / T::of(x.len() as f64),
        }
    }
}

/// B at point `k` of depth `depth`, every channel, and (area tree) the area from 0 to
/// there (else zeros).
fn b_at(job: &Job, traj: u64, depth: u32, k: u64, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let key = job.key();
    if job.method.uses_area() {
        (0..channels)
            .map(|j| {
                let (w, a) = area_at(key, traj as u32, (j / 4) as u32, depth, k);
                (w[j % 4], a[j % 4])
            })
            .unzip()
    } else {
        let w = (0..channels)
            .map(|j| brownian_at(key, channels, traj as u32, (j / 4) as u32, depth, k)[j % 4])
            .collect();
        (w, vec![0.0; channels])
    }
}

/// Advances `row` (state, then the controller rows) from grid step `step0` to step0 + steps
/// (t1 for the last segment), as the kernel does. Returns whether the trajectory ran out of
/// steps (its state is then NaN).
pub fn segment<T: Real>(
    job: &Job,
    traj: u64,
    p: &[T],
    row: &mut [T],
    step0: u64,
    steps: u64,
) -> bool {
    let ctl = job.method.controller().expect("an adaptive method");
    let sys = job.system.twin.expect("checked by cpu::solve");
    let dim = job.system.dim();
    let channels = job.system.noise_channels().max(1);
    let k = |v: f64| T::of(v);
    let lim = Limits::<T>::of(job, &ctl);
    let sy = Sys {
        sys,
        p,
        tol: (lim.atol, lim.rtol),
    };
    let depth = job.leaf_depth();
    let per_step = 1u64 << (depth - job.tree_depth());
    let span = job.grid.t1() - job.grid.t0;
    let leaf_dt = k(span / (1u64 << depth) as f64);
    let sqrt_span = span.sqrt() as f32;
    let span_3_2 = span.powf(1.5) as f32;
    let leaf_frac = (0.5f64).powi(depth as i32) as f32;
    let err_exp = job.method.error_exponent();
    let end = step0 + steps;
    let ke = end * per_step;
    let mut kk = step0 * per_step;
    let mut wl = b_at(job, traj, depth, kk, channels);
    let mut x: Vec<T> = row[..dim].to_vec();
    let Rows {
        mut accepted,
        mut rejected,
        mut h,
        mut prev2,
        mut last_rejected,
    } = Rows::read(row, dim);
    let mut unfinished = false;
    while kk < ke {
        if accepted + rejected >= ctl.max_steps {
            x.iter_mut().for_each(|v| *v = k(f64::NAN));
            unfinished = true;
            break;
        }
        let n = ((h / leaf_dt).to_f64() as u64).clamp(1, ke - kk);
        let kn = kk + n;
        let wr = b_at(job, traj, depth, kn, channels);
        let dw: Vec<T> = (0..channels)
            .map(|j| T::of((sqrt_span * (wr.0[j] - wl.0[j])) as f64))
            .collect();
        let t = lim.t0 + T::of(kk as f64) * leaf_dt;
        let hs = T::of(n as f64) * leaf_dt;
        // The step's area in the tree's units (as the kernel forms it), then H = A / h.
        let (t0n, hn) = (kk as f32 * leaf_frac, n as f32 * leaf_frac);
        let hh: Vec<T> = (0..channels)
            .map(|j| {
                let dbn = wr.0[j] - wl.0[j];
                let da = wr.1[j] - wl.1[j] - 0.5 * (hn * wl.0[j] - t0n * dbn);
                T::of((span_3_2 * da) as f64) / hs
            })
            .collect();
        let trial = match job.method {
            Method::AdaptiveHeun(_) => super::adaptive_heun::step(&sy, t, hs, &x, &dw),
            Method::AdaptiveMilstein(_) => super::adaptive_milstein::step(&sy, t, hs, &x, &dw),
            Method::AdaptiveSra1(_) => super::adaptive_sra1::step(&sy, t, hs, &x, &dw, &hh),
            _ => unreachable!("an adaptive SDE method"),
        };
        let err2 = trial.err2;
        // A forced step that overflowed: blown up, stops unfinished (as the kernel).
        let finite = err2 <= k(1e30);
        if !finite && (n <= 1 || hs <= lim.dt_min) {
            x.iter_mut().for_each(|v| *v = k(f64::NAN));
            unfinished = true;
            break;
        }
        let ok = err2 <= k(1.0) || n <= 1 || hs <= lim.dt_min;
        let e = if err2 <= k(1e30) { err2 } else { k(1e30) };
        let big = if e > k(1e-12) { e } else { k(1e-12) };
        let q0 = (0.9f32 * exp2_ctl(-err_exp * log2_ctl(big.to_f64() as f32))).clamp(0.2, 2.0);
        // Rounded to 1/256, as the kernel does.
        let q = (q0 * 256.0 + 0.5).floor() / 256.0;
        let grown = hs * T::of(q as f64);
        let h_new;
        if ok {
            accepted += 1;
            x = trial.x;
            wl = wr;
            kk = kn;
            h_new = if last_rejected && grown > hs {
                hs
            } else {
                grown
            };
            prev2 = if e > k(1e-8) { e } else { k(1e-8) };
            last_rejected = false;
        } else {
            rejected += 1;
            h_new = grown;
            last_rejected = true;
        }
        h = clamp(h_new, lim.dt_min, lim.dt_max);
    }
    row[..dim].copy_from_slice(&x);
    Rows {
        accepted,
        rejected,
        h,
        prev2,
        last_rejected,
    }
    .write(row, dim);
    unfinished
}
