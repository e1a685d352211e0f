//! What the exponential integrators (setd1, etdrk2, etdrk4) share, the twin of
//! `shaders/exponential.wgsl`: A = diag(linear(t, p)) at the start of each step, N = drift − A x,
//! and the noise term g sqrt(h phi1(2hA)) z.

use super::fixed::Sde;
use super::systems::{diffusion, drift, linear};
use super::Real;

/// The drift at (t, x) into `s.f` must come first: A = diag(linear(t, p)) and z = h A.
pub fn linear_part<T: Real>(s: &mut Sde<T>, t: T) -> (Vec<T>, Vec<T>) {
    let mut a = vec![T::default(); s.dim];
    linear(s.sys, t, &s.p, &mut a);
    let z = (0..s.dim).map(|k| a[k] * s.c.dt).collect();
    (a, z)
}

/// g sqrt(h phi1(2hA)) z: the exact variance of the stochastic convolution.
pub fn add_noise<T: Real>(s: &mut Sde<T>, t: T, x: &[T], z: &[T], u: &mut [T], w: &[T]) {
    if s.m == 0 {
        return;
    }
    let two = T::of(2.0);
    diffusion(s.sys, t, x, &s.p, &mut s.d);
    for k in 0..s.dim {
        u[k] = u[k] + s.d[k] * ((s.c.dt * (two * z[k]).phi1()).sqrt() * w[k]);
    }
}

/// Evaluates the drift at (t, x) into `s.f`, the first stage of every exponential method.
pub fn start<T: Real>(s: &mut Sde<T>, t: T, x: &[T]) {
    drift(s.sys, t, x, &s.p, &mut s.f);
}

/// The drift at (t, x), A and z = h A, and the SETD1 drift step
/// e^(hA) x + h phi1(hA) N(x) (`etd1` in the shader).
pub fn etd1<T: Real>(s: &mut Sde<T>, t: T, x: &[T]) -> (Vec<T>, Vec<T>, Vec<T>) {
    start(s, t, x);
    let (a, z) = linear_part(s, t);
    let dt = s.c.dt;
    let u = (0..s.dim)
        .map(|k| z[k].exp() * x[k] + dt * z[k].phi1() * (s.f[k] - a[k] * x[k]))
        .collect();
    (a, z, u)
}
