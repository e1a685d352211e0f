//! Stochastic Heun (Stratonovich), the twin of `shaders/methods/heun.wgsl`.

use super::fixed::Sde;
use super::systems::{diffusion, drift};
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    let c = s.c;
    let half = T::of(0.5);
    drift(s.sys, t, x, &s.p, &mut s.f);
    diffusion(s.sys, t, x, &s.p, &mut s.d);
    let dx: Vec<T> = (0..s.dim).map(|k| s.d[k] * (c.sqrt_dt * w[k])).collect();
    for k in 0..s.dim {
        s.xb[k] = x[k] + s.f[k] * c.dt + dx[k];
    }
    drift(s.sys, t + c.dt, &s.xb, &s.p, &mut s.fb);
    diffusion(s.sys, t + c.dt, &s.xb, &s.p, &mut s.db);
    for k in 0..s.dim {
        x[k] = x[k] + half * ((s.f[k] + s.fb[k]) * c.dt + dx[k] + s.db[k] * (c.sqrt_dt * w[k]));
    }
}
