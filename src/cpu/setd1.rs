//! Stochastic exponential Euler for semilinear systems (Itô), the twin of
//! `shaders/methods/setd1.wgsl`: X+ = e^(hA) X + h phi1(hA) N(X) + g sqrt(h phi1(2hA)) z,
//! with N = drift − A x. ETD-RK2 and ETDRK4 share its noise term.

use super::sde::Sde;
use super::systems::{diffusion, drift, linear};
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    start(s, t, x);
    let (a, z) = linear_part(s, t);
    let c = s.c;
    let mut u: Vec<T> = (0..s.dim)
        .map(|k| z[k].exp() * x[k] + c.dt * z[k].phi1() * (s.f[k] - a[k] * x[k]))
        .collect();
    add_noise(s, t, x, &z, &mut u, w);
    x.copy_from_slice(&u);
}

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
