//! ETD-RK2 (Cox–Matthews) for the deterministic part, the noise as in SETD1: the twin of
//! `shaders/methods/etdrk2.wgsl`.

use super::exponential::{add_noise, linear_part, start};
use super::fixed::Sde;
use super::systems::drift;
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    start(s, t, x);
    let (a, z) = linear_part(s, t);
    let c = s.c;
    let mut u: Vec<T> = (0..s.dim)
        .map(|k| z[k].exp() * x[k] + c.dt * z[k].phi1() * (s.f[k] - a[k] * x[k]))
        .collect();
    drift(s.sys, t + c.dt, &u, &s.p, &mut s.fb);
    for k in 0..s.dim {
        u[k] = u[k] + c.dt * z[k].phi2() * ((s.fb[k] - a[k] * u[k]) - (s.f[k] - a[k] * x[k]));
    }
    add_noise(s, t, x, &z, &mut u, w);
    x.copy_from_slice(&u);
}
