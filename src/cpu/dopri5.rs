//! Dormand–Prince 5(4) with per-trajectory step control, the CPU twin of
//! `shaders/dopri5.wgsl`: same tableau, same error norm, same controller, same order of
//! operations.

use super::systems::drift;
use super::Real;
use crate::ensemble::Job;
use crate::method::{Controller, Method, EXP_ERR2, EXP_PREV2};

/// The Dormand–Prince tableau (Hairer, Nørsett, Wanner, Solving ODEs I, table 5.2).
pub mod tableau {
    pub const C: [f64; 6] = [0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
    pub const A21: f64 = 0.2;
    pub const A3: [f64; 2] = [3.0 / 40.0, 9.0 / 40.0];
    pub const A4: [f64; 3] = [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0];
    pub const A5: [f64; 4] = [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ];
    pub const A6: [f64; 5] = [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ];
    /// The 5th-order weights (b2 = 0), also row 7 of A (first same as last).
    pub const B: [f64; 6] = [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ];
    /// b - b*, the error weights of k1, k3, k4, k5, k6, k7.
    pub const E: [f64; 6] = [
        71.0 / 57600.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
}

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
    use tableau::*;
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
    let stage = |x: &[T], h: T, ks: &[&Vec<T>], a: &[f64]| -> Vec<T> {
        (0..dim)
            .map(|c| {
                let mut s = k(a[0]) * ks[0][c];
                for j in 1..a.len() {
                    s = s + k(a[j]) * ks[j][c];
                }
                x[c] + h * s
            })
            .collect()
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
        let k2 = f(t + k(C[0]) * h_step, &stage(&x, h_step, &[&k1], &[A21]));
        let k3 = f(t + k(C[1]) * h_step, &stage(&x, h_step, &[&k1, &k2], &A3));
        let k4 = f(
            t + k(C[2]) * h_step,
            &stage(&x, h_step, &[&k1, &k2, &k3], &A4),
        );
        let k5 = f(
            t + k(C[3]) * h_step,
            &stage(&x, h_step, &[&k1, &k2, &k3, &k4], &A5),
        );
        let k6 = f(
            t + h_step,
            &stage(&x, h_step, &[&k1, &k2, &k3, &k4, &k5], &A6),
        );
        let x5: Vec<T> = (0..dim)
            .map(|c| {
                x[c] + h_step
                    * (k(B[0]) * k1[c]
                        + k(B[2]) * k3[c]
                        + k(B[3]) * k4[c]
                        + k(B[4]) * k5[c]
                        + k(B[5]) * k6[c])
            })
            .collect();
        let t_new = if last { te } else { t + h_step };
        let k7 = f(t_new, &x5);
        let mut err2 = T::default();
        for c in 0..dim {
            let e = h_step
                * (k(E[0]) * k1[c]
                    + k(E[1]) * k3[c]
                    + k(E[2]) * k4[c]
                    + k(E[3]) * k5[c]
                    + k(E[4]) * k6[c]
                    + k(E[5]) * k7[c]);
            let big = if x[c].abs() > x5[c].abs() {
                x[c].abs()
            } else {
                x5[c].abs()
            };
            let sc = lim.atol + lim.rtol * big;
            err2 = err2 + (e / sc) * (e / sc);
        }
        err2 = err2 / k(dim as f64);
        let pow = |v: T, e: f32| T::of((v.to_f64() as f32).powf(e) as f64);
        let h_new;
        if err2 <= k(1.0) || h_step <= lim.dt_min {
            accepted += 1;
            t = t_new;
            x = x5;
            k1 = k7;
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
