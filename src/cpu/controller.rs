//! The adaptive driver, the twin of `shaders/controller.wgsl`: each trajectory has its own
//! t, step h and controller memory, carried in rows after the state across segments, and
//! takes trial steps of its method (`dopri5.rs`) until it reaches the segment's end. A step
//! is accepted when its error norm is at most 1; PI control as in Hairer's DOPRI5. The
//! kernel's call of `project` after an accepted step has no twin: the twin systems (gbm, ou,
//! lorenz, linear) define none, and user WGSL runs on a device only.

use super::dopri5;
use super::systems::drift;
use super::Real;
use crate::ensemble::Job;
use crate::method::{Controller, Method, EXP_ERR2, EXP_PREV2};

/// Terminal state, then the controller rows (accepted and rejected step counts, the next
/// step, the last error norm, negative after a rejection), of trajectory `i`.
pub fn dopri5_trajectory<T: Real>(job: &Job, i: u64) -> Vec<T> {
    dopri5_segments(job, i, &[job.steps as u64], false)
        .pop()
        .unwrap()
}

/// The same rows at the end of each segment: the run is saved at the grid times
/// t0 + e dt for e in `ends` (the last being the job's last step, which ends at t1), as the
/// kernel does between save times: by cutting steps there, or with `dense`, by the continuous
/// extension (each row then ends with the dense-output rows).
pub fn dopri5_segments<T: Real>(job: &Job, i: u64, ends: &[u64], dense: bool) -> Vec<Vec<T>> {
    let (x, p) = job.inputs_at(i);
    let p: Vec<T> = p.into_iter().map(T::of).collect();
    let mut row = start_row(job, x.into_iter().map(T::of).collect(), dense);
    let mut start = 0u64;
    let mut out = Vec::new();
    for &end in ends {
        segment(job, &p, &mut row, start, end - start, dense);
        out.push(row.clone());
        start = end;
    }
    out
}

/// A trajectory's rows before its first step: its state, no steps taken, the first step,
/// and an error memory of 1e-8 (`load_counts` in the kernel at step 0); with `dense`, the
/// dense-output rows after them (`kernel::dense_rows`, unread before the first step).
pub fn start_row<T: Real>(job: &Job, mut x0: Vec<T>, dense: bool) -> Vec<T> {
    x0.extend([T::default(), T::default(), T::of(job.grid.dt), T::of(1e-8)]);
    if dense {
        x0.resize(
            job.rows() + crate::kernel::dense_rows(job.system.dim()),
            T::default(),
        );
    }
    x0
}

/// Advances `row` (the state, then the controller rows) from the grid time of step `step0`
/// to that of step0 + steps (t1 for the last segment), cutting the last step there; with
/// `dense` only the run's last step is cut, and the state rows get the continuous extension
/// at the segment's end (the kernel's `DENSE`, Hairer's contd5) while the true state goes on
/// in the dense rows. Returns whether the trajectory ran out of steps (its state is then NaN).
pub fn segment<T: Real>(
    job: &Job,
    p: &[T],
    row: &mut [T],
    step0: u64,
    steps: u64,
    dense: bool,
) -> bool {
    let Method::Dopri5(ctl) = job.method else {
        unreachable!("a dopri5 job")
    };
    let sys = job.system.twin.expect("checked by cpu::solve");
    let dim = job.system.dim();
    let k = |v: f64| T::of(v);
    let lim = Limits::<T>::of(job, &ctl);
    let f = |t: T, y: &[T]| {
        let mut out = vec![T::default(); dim];
        drift(sys, t, y, p, &mut out);
        out
    };
    let mut x: Vec<T> = row[..dim].to_vec();
    let Rows {
        mut accepted,
        mut rejected,
        mut h,
        mut prev2,
        mut last_rejected,
    } = Rows::read(row, dim);
    // err^a / prev^b from one log2 and one exp2 per step, log2(prev) kept (as the kernel).
    let l8 = log2_ctl(1e-8f64 as f32);
    let mut lprev = if prev2 <= k(1e-8) {
        l8
    } else {
        log2_ctl(prev2.to_f64() as f32)
    };
    let end = step0 + steps;
    let t0 = if step0 == 0 {
        lim.t0
    } else {
        lim.t0 + T::of(step0 as f64) * lim.h0
    };
    let te = if end >= job.steps as u64 {
        lim.t1
    } else {
        lim.t0 + T::of(end as f64) * lim.h0
    };
    let final_segment = end >= job.steps as u64;
    let base = job.rows();
    let mut t = t0;
    if dense && step0 > 0 {
        // A later segment goes on from the true state, which may lie past its start.
        t = row[base];
        x = row[base + 2..][..dim].to_vec();
    }
    let mut k1 = f(t, &x);
    // The last accepted step: its start time, state, first stage and h Σ d_i k_i.
    let (mut t_last, mut x_last, mut k_last, mut d_last) =
        (t, x.clone(), k1.clone(), vec![T::default(); dim]);
    if dense && step0 > 0 {
        let r = |i: usize| row[base + 2 + i * dim..][..dim].to_vec();
        (t_last, x_last, k_last, d_last) = (row[base + 1], r(1), r(2), r(3));
    }
    let mut unfinished = false;
    while t < te {
        // With dense output only the run's end cuts a step; save times are interpolated.
        let last = (!dense || final_segment) && h >= te - t;
        let h_step = if last { te - t } else { h };
        let t_new = if last { te } else { t + h_step };
        // A step too short to move t (or NaN) would be taken forever (as the kernel).
        let moves = t_new > t;
        if accepted + rejected >= ctl.max_steps || !moves {
            x.iter_mut().for_each(|v| *v = k(f64::NAN));
            unfinished = true;
            break;
        }
        let trial = dopri5::step(sys, p, t, h_step, t_new, &x, &k1, lim.atol, lim.rtol);
        let (x5, k7, err2, d) = (trial.x, trial.k, trial.err2, trial.d);
        // A forced step of dt_min that overflowed (NaN norm included): blown up (as the
        // kernel).
        let finite = err2 <= k(1e30);
        if !finite && h_step <= lim.dt_min {
            x.iter_mut().for_each(|v| *v = k(f64::NAN));
            unfinished = true;
            break;
        }
        // A NaN norm (an overflowed trial) counts as a huge one: the step shrinks.
        let e = if err2 <= k(1e30) { err2 } else { k(1e30) };
        let l = log2_ctl((if e > k(1e-12) { e } else { k(1e-12) }).to_f64() as f32);
        let floor8 = e >= k(1e-8);
        let h_new;
        if err2 <= k(1.0) || h_step <= lim.dt_min {
            accepted += 1;
            (t_last, x_last, k_last, d_last) = (t, x.clone(), k1.clone(), d);
            t = t_new;
            x = x5;
            k1 = k7;
            // Here the kernel applies a system's `project` (and then recomputes k1 if it
            // moved x); no twin system defines one, so there is nothing to apply.
            let r = 0.9 * exp2_ctl(EXP_PREV2 * lprev - EXP_ERR2 * l);
            let grown = h_step * T::of(r.clamp(0.2, 10.0) as f64);
            h_new = if last_rejected && grown > h_step {
                h_step
            } else {
                grown
            };
            prev2 = if floor8 { e } else { k(1e-8) };
            lprev = if floor8 { l } else { l8 };
            last_rejected = false;
        } else {
            rejected += 1;
            let r = 0.9 * exp2_ctl(0.0 - EXP_ERR2 * l);
            h_new = h_step * T::of(r.max(0.2) as f64);
            last_rejected = true;
        }
        h = clamp(h_new, lim.dt_min, lim.dt_max);
    }
    if dense {
        row[base] = t;
        row[base + 1] = t_last;
        for (i, v) in [&x, &x_last, &k_last, &d_last].into_iter().enumerate() {
            row[base + 2 + i * dim..][..dim].copy_from_slice(v);
        }
    }
    if dense && t > te {
        // The continuous extension of the step that passed te, as in the kernel.
        let hl = t - t_last;
        let th = (te - t_last) / hl;
        let th1 = k(1.0) - th;
        for c in 0..dim {
            let dx = x[c] - x_last[c];
            let r3 = hl * k_last[c] - dx;
            let r4 = dx - hl * k1[c] - r3;
            row[c] = x_last[c] + th * (dx + th1 * (r3 + th * (r4 + th1 * d_last[c])));
        }
    } else {
        row[..dim].copy_from_slice(&x);
    }
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

/// The controller's rows after a trajectory's state (the kernel's `load_counts` and
/// `store_counts`): accepted and rejected step counts, the next step, and the last accepted
/// error norm, stored negative after a rejection.
pub struct Rows<T> {
    pub accepted: u32,
    pub rejected: u32,
    pub h: T,
    pub prev2: T,
    pub last_rejected: bool,
}

impl<T: Real> Rows<T> {
    pub fn read(row: &[T], dim: usize) -> Rows<T> {
        let prev_out = row[dim + 3];
        Rows {
            accepted: row[dim].to_f64() as u32,
            rejected: row[dim + 1].to_f64() as u32,
            h: row[dim + 2],
            prev2: prev_out.abs(),
            last_rejected: prev_out < T::default(),
        }
    }

    pub fn write(&self, row: &mut [T], dim: usize) {
        row[dim] = T::of(self.accepted as f64);
        row[dim + 1] = T::of(self.rejected as f64);
        row[dim + 2] = self.h;
        row[dim + 3] = if self.last_rejected {
            -self.prev2
        } else {
            self.prev2
        };
    }
}

/// log2 of a positive normal f32 as the kernels' controllers take it (shaders/math.wgsl,
/// `log2_ctl`): the exponent plus a cubic in the mantissa, within 2e-4.
pub(super) fn log2_ctl(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) as i32 - 127) as f32;
    let t = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000) - 1.0;
    e + t * (1.438_547_8 + t * (-0.678_089_44 + t * (0.323_646_3 + t * -0.084_294_654)))
}

/// 2^y for |y| < 126 as the kernels' controllers take it (`exp2_ctl`): a cubic times a
/// power of two built from its bits, within 1e-5 relative.
pub(super) fn exp2_ctl(y: f32) -> f32 {
    let n = y.floor();
    let f = y - n;
    let p = 1.0 + f * (0.693_018_7 + f * (0.241_404_38 + f * (0.052_074_708 + f * 0.013_493_011)));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

pub(super) fn clamp<T: Real>(v: T, lo: T, hi: T) -> T {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

/// The controller's numbers in the run's precision (the kernel's constants).
pub struct Limits<T> {
    pub t0: T,
    pub t1: T,
    pub h0: T,
    pub rtol: T,
    pub atol: T,
    pub dt_min: T,
    pub dt_max: T,
}

impl<T: Real> Limits<T> {
    pub fn of(job: &Job, ctl: &Controller) -> Limits<T> {
        let span = job.grid.t1() - job.grid.t0;
        Limits {
            t0: T::of(job.grid.t0),
            t1: T::of(job.grid.t1()),
            h0: T::of(job.grid.dt),
            rtol: T::of(ctl.rtol),
            atol: T::of(ctl.atol),
            dt_min: T::of(ctl.dt_min),
            dt_max: T::of(if ctl.dt_max > 0.0 { ctl.dt_max } else { span }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{exp2_ctl, log2_ctl};

    /// The controllers' log2 and exp2 keep their stated accuracy over the ranges the
    /// controllers use (norms 1e-12 .. 1e30, exponents -10 .. 4).
    #[test]
    fn controller_powers_are_within_their_bounds() {
        for i in 0..=20000 {
            let x = 10f64.powf(-12.0 + 42.0 * i as f64 / 20000.0) as f32;
            let err = (log2_ctl(x) as f64 - (x as f64).log2()).abs();
            assert!(err < 2e-4, "log2 {x}: {err}");
            let y = -10.0 + 14.0 * i as f32 / 20000.0;
            let rel = (exp2_ctl(y) as f64 / (y as f64).exp2() - 1.0).abs();
            assert!(rel < 1.2e-5, "exp2 {y}: {rel}");
        }
    }
}
