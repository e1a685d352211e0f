//! Classic RK4, the CPU twin of `shaders/rk4.wgsl`, generic so that f64 serves as reference.
//! The state is a fixed-size array so the compiler can unroll and drop bounds checks.

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

fn axpy<T: Real, const D: usize>(y: &[T; D], a: T, x: &[T; D]) -> [T; D] {
    std::array::from_fn(|c| y[c] + a * x[c])
}

pub fn rk4_step<T: Real, const D: usize>(
    sys: Builtin,
    x: &mut [T; D],
    p: &[T],
    t: T,
    h: &Steps<T>,
) {
    let f = |t: T, y: &[T; D]| {
        let mut k = [T::default(); D];
        drift(sys, t, y, p, &mut k);
        k
    };
    let k1 = f(t, x);
    let k2 = f(t + h.half_dt, &axpy(x, h.half_dt, &k1));
    let k3 = f(t + h.half_dt, &axpy(x, h.half_dt, &k2));
    let k4 = f(t + h.dt, &axpy(x, h.dt, &k3));
    let two = T::of(2.0);
    *x = std::array::from_fn(|c| x[c] + h.sixth_dt * (k1[c] + two * (k2[c] + k3[c]) + k4[c]));
}

fn solve_fixed<T: Real, const D: usize>(
    sys: Builtin,
    x: &mut [T],
    p: &[T],
    h: &Steps<T>,
    step0: u64,
) {
    let mut s: [T; D] = x.try_into().expect("state dimension");
    for n in step0..step0 + h.steps {
        let t = h.t0 + T::of(n as f64) * h.dt;
        rk4_step(sys, &mut s, p, t, h);
    }
    x.copy_from_slice(&s);
}

/// Integrates one trajectory from `x` with parameters `p`.
pub fn rk4_solve<T: Real>(sys: Builtin, x: &mut [T], p: &[T], h: &Steps<T>) {
    rk4_advance(sys, x, p, h, 0)
}

/// Steps step0 .. step0 + h.steps from `x` (the state after step0 steps), at the grid times
/// t0 + n dt as the kernel computes them.
pub fn rk4_advance<T: Real>(sys: Builtin, x: &mut [T], p: &[T], h: &Steps<T>, step0: u64) {
    match x.len() {
        1 => solve_fixed::<T, 1>(sys, x, p, h, step0),
        2 => solve_fixed::<T, 2>(sys, x, p, h, step0),
        3 => solve_fixed::<T, 3>(sys, x, p, h, step0),
        4 => solve_fixed::<T, 4>(sys, x, p, h, step0),
        n => panic!("no CPU RK4 twin for dimension {n}"),
    }
}

impl<T: Real> Steps<T> {
    /// A job's step sizes in precision `T`, for `steps` steps.
    pub fn of(job: &Job, steps: u64) -> Steps<T> {
        let c = T::consts(job);
        Steps {
            t0: c.t0,
            dt: c.dt,
            half_dt: c.half_dt,
            sixth_dt: c.sixth_dt,
            steps,
        }
    }
}
