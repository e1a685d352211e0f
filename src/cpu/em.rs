//! Euler–Maruyama (Itô; explicit Euler on ODEs), the twin of `shaders/methods/em.wgsl`.

use super::fixed::Sde;
use super::systems::{diffusion, drift};
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    let c = s.c;
    drift(s.sys, t, x, &s.p, &mut s.f);
    if s.m == 0 {
        for k in 0..s.dim {
            x[k] = x[k] + s.f[k] * c.dt;
        }
        return;
    }
    diffusion(s.sys, t, x, &s.p, &mut s.d);
    for k in 0..s.dim {
        x[k] = x[k] + s.f[k] * c.dt + s.d[k] * (c.sqrt_dt * w[k]);
    }
}
