//! Derivative-free Milstein (Rößler's Runge–Kutta form, Itô), the twin of
//! `shaders/methods/milstein.wgsl`.

use super::fixed::Sde;
use super::systems::{diffusion, drift};
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    let c = s.c;
    let (half, one) = (T::of(0.5), T::of(1.0));
    drift(s.sys, t, x, &s.p, &mut s.f);
    diffusion(s.sys, t, x, &s.p, &mut s.d);
    for k in 0..s.dim {
        s.xb[k] = x[k] + s.f[k] * c.dt + s.d[k] * c.sqrt_dt;
    }
    diffusion(s.sys, t, &s.xb, &s.p, &mut s.db);
    for k in 0..s.dim {
        x[k] = x[k]
            + s.f[k] * c.dt
            + s.d[k] * (c.sqrt_dt * w[k])
            + (s.db[k] - s.d[k]) * (c.sqrt_dt * half * (w[k] * w[k] - one));
    }
}
