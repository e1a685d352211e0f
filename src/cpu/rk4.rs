//! Classic RK4, the CPU twin of `shaders/rk4.wgsl`, generic so that f64 serves as reference.

use super::systems::drift;
use super::Real;
use crate::ensemble::Job;
use crate::system::Builtin;

/// Step sizes as the kernel uses them (dt, dt / 2, dt / 6, each rounded once).
#[derive(Clone, Copy)]
pub struct Steps<T> {
    pub t0: T,
    pub dt: T,
    pub half_dt: T,
    pub sixth_dt: T,
    pub steps: u64,
}

pub fn rk4_step<T: Real>(sys: Builtin, x: &mut [T], p: &[T], t: T, h: &Steps<T>) {
    let n = x.len();
    let mut k1 = vec![T::default(); n];
    let mut k2 = vec![T::default(); n];
    let mut k3 = vec![T::default(); n];
    let mut k4 = vec![T::default(); n];
    let mut y = vec![T::default(); n];
    drift(sys, t, x, p, &mut k1);
    for c in 0..n {
        y[c] = x[c] + h.half_dt * k1[c];
    }
    drift(sys, t + h.half_dt, &y, p, &mut k2);
    for c in 0..n {
        y[c] = x[c] + h.half_dt * k2[c];
    }
    drift(sys, t + h.half_dt, &y, p, &mut k3);
    for c in 0..n {
        y[c] = x[c] + h.dt * k3[c];
    }
    drift(sys, t + h.dt, &y, p, &mut k4);
    let two = T::of(2.0);
    for c in 0..n {
        x[c] = x[c] + h.sixth_dt * (k1[c] + two * (k2[c] + k3[c]) + k4[c]);
    }
}

/// Integrates one trajectory from `x` with parameters `p`.
pub fn rk4_solve<T: Real>(sys: Builtin, x: &mut [T], p: &[T], h: &Steps<T>) {
    for n in 0..h.steps {
        let t = h.t0 + T::of(n as f64) * h.dt;
        rk4_step(sys, x, p, t, h);
    }
}

/// Terminal state of trajectory `i` of an RK4 job, in f32 as the kernel computes it.
pub fn rk4_trajectory(job: &Job, i: u64) -> Vec<f32> {
    let c = job.consts;
    let (mut x, p) = job.inputs_at(i);
    let h = Steps {
        t0: c.t0,
        dt: c.dt,
        half_dt: c.half_dt,
        sixth_dt: c.sixth_dt,
        steps: job.steps as u64,
    };
    rk4_solve(job.system.builtin, &mut x, &p, &h);
    x
}
