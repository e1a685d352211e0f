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
    dopri5_segments(job, i, &[job.steps as u64]).pop().unwrap()
}

/// The same rows at the end of each segment: the run is cut at the grid times
/// t0 + e dt for e in `ends` (the last being the job's last step, which ends at t1), as the
/// kernel does between save times.
pub fn dopri5_segments<T: Real>(job: &Job, i: u64, ends: &[u64]) -> Vec<Vec<T>> {
    let (x, p) = job.inputs_at(i);
    let p: Vec<T> = p.into_iter().map(T::of).collect();
    let mut row = start_row(job, x.into_iter().map(T::of).collect());
    let mut start = 0u64;
    let mut out = Vec::new();
    for &end in ends {
        segment(job, &p, &mut row, start, end - start);
        out.push(row.clone());
        start = end;
    }
    out
}

/// A trajectory's rows before its first step: its state, no steps taken, the first step,
/// and an error memory of 1e-8 (`load_counts` in the kernel at step 0).
pub fn start_row<T: Real>(job: &Job, mut x0: Vec<T>) -> Vec<T> {
    x0.extend([T::default(), T::default(), T::of(job.grid.dt), T::of(1e-8)]);
    x0
}

/// Advances `row` (the state, then the controller rows) from the grid time of step `step0`
/// to that of step0 + steps (t1 for the last segment), cutting the last step there.
/// Returns whether the trajectory ran out of steps (its state is then NaN).
pub fn segment<T: Real>(job: &Job, p: &[T], row: &mut [T], step0: u64, steps: u64) -> bool {
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
    let mut accepted = row[dim].to_f64() as u32;
    let mut rejected = row[dim + 1].to_f64() as u32;
    let mut h = row[dim + 2];
    let prev_out = row[dim + 3];
    let mut prev2 = prev_out.abs();
    let mut last_rejected = prev_out < T::default();
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
    let mut t = t0;
    let mut k1 = f(t, &x);
    let mut unfinished = false;
    while t < te {
        if accepted + rejected >= ctl.max_steps {
            x.iter_mut().for_each(|v| *v = k(f64::NAN));
            unfinished = true;
            break;
        }
        let last = h >= te - t;
        let h_step = if last { te - t } else { h };
        let t_new = if last { te } else { t + h_step };
        let trial = dopri5::step(sys, p, t, h_step, t_new, &x, &k1, lim.atol, lim.rtol);
        let (x5, k7, err2) = (trial.x, trial.k, trial.err2);
        let pow = |v: T, e: f32| T::of((v.to_f64() as f32).powf(e) as f64);
        let h_new;
        if err2 <= k(1.0) || h_step <= lim.dt_min {
            accepted += 1;
            t = t_new;
            x = x5;
            k1 = k7;
            // Here the kernel applies a system's `project` (and then recomputes k1 if it
            // moved x); no twin system defines one, so there is nothing to apply.
            let fac = clamp(
                pow(err2, EXP_ERR2) / pow(prev2, EXP_PREV2) / k(0.9),
                k(0.1),
                k(5.0),
            );
            let grown = h_step / fac;
            h_new = if last_rejected && grown > h_step {
                h_step
            } else {
                grown
            };
            prev2 = if err2 > k(1e-8) { err2 } else { k(1e-8) };
            last_rejected = false;
        } else {
            rejected += 1;
            let fac = pow(err2, EXP_ERR2) / k(0.9);
            // A NaN norm (an overflowed trial) shortens by 5, as the kernel does.
            h_new = h_step / if fac < k(5.0) { fac } else { k(5.0) };
            last_rejected = true;
        }
        h = clamp(h_new, lim.dt_min, lim.dt_max);
    }
    row[..dim].copy_from_slice(&x);
    row[dim] = T::of(accepted as f64);
    row[dim + 1] = T::of(rejected as f64);
    row[dim + 2] = h;
    row[dim + 3] = if last_rejected { -prev2 } else { prev2 };
    unfinished
}

fn clamp<T: Real>(v: T, lo: T, hi: T) -> T {
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
