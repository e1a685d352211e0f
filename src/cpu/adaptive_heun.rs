//! Stochastic Heun with an embedded Euler–Maruyama error estimate, the twin of
//! `shaders/methods/adaptive_heun.wgsl` (driven by `sde_controller.rs`).

use super::sde_controller::{tolerance, Trial};
use super::systems::{diffusion, drift};
use super::Real;
use crate::system::Builtin;

/// One trial step of size h from (t, x) with Brownian increments `dw`.
pub fn step<T: Real>(
    sys: Builtin,
    p: &[T],
    t: T,
    h: T,
    x: &[T],
    dw: &[T],
    tol: (T, T),
) -> Trial<T> {
    let dim = x.len();
    let half = T::of(0.5);
    let (mut f, mut g, mut fe, mut ge) = (
        vec![T::default(); dim],
        vec![T::default(); dim],
        vec![T::default(); dim],
        vec![T::default(); dim],
    );
    drift(sys, t, x, p, &mut f);
    diffusion(sys, t, x, p, &mut g);
    let xe: Vec<T> = (0..dim).map(|c| x[c] + f[c] * h + g[c] * dw[c]).collect();
    drift(sys, t + h, &xe, p, &mut fe);
    diffusion(sys, t + h, &xe, p, &mut ge);
    let mut err2 = T::default();
    let out: Vec<T> = (0..dim)
        .map(|c| {
            let o = x[c] + half * ((f[c] + fe[c]) * h + (g[c] + ge[c]) * dw[c]);
            // x' − xe from the differences, as the kernel forms it.
            let e = half * ((fe[c] - f[c]) * h + (ge[c] - g[c]) * dw[c]);
            let sc = tolerance(x[c], o, tol);
            err2 = err2 + (e / sc) * (e / sc);
            o
        })
        .collect();
    Trial {
        x: out,
        err2: err2 / T::of(dim as f64),
    }
}
