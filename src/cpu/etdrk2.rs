//! ETD-RK2 (Cox–Matthews) for the deterministic part, the noise as in SETD1: the twin of
//! `shaders/methods/etdrk2.wgsl`.

use super::exponential::{add_noise, etd1};
use super::fixed::Sde;
use super::systems::drift;
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    let (a, z, mut u) = etd1(s, t, x);
    let c = s.c;
    drift(s.sys, t + c.dt, &u, &s.p, &mut s.fb);
    for k in 0..s.dim {
        u[k] = u[k] + c.dt * z[k].phi2() * ((s.fb[k] - a[k] * u[k]) - (s.f[k] - a[k] * x[k]));
    }
    add_noise(s, t, x, &z, &mut u, w);
    x.copy_from_slice(&u);
}
