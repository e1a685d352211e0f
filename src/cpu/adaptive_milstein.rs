//! Derivative-free Milstein with an error estimate for the Euler–Maruyama step inside it
//! (the Milstein term and the drift's trapezoidal correction), the twin of
//! `shaders/methods/adaptive_milstein.wgsl` (driven by `sde_controller.rs`).

use super::sde_controller::{tolerance, Trial};
use super::systems::{diffusion, drift};
use super::Real;
use crate::system::Builtin;

/// One trial step of size h from (t, x) with Brownian increments `dw` (diagonal noise: one
/// per component; the twin systems have no scalar noise).
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
    let zero = || vec![T::default(); dim];
    let (mut f, mut g, mut gb, mut fe) = (zero(), zero(), zero(), zero());
    drift(sys, t, x, p, &mut f);
    diffusion(sys, t, x, p, &mut g);
    let sh = h.sqrt();
    let xb: Vec<T> = (0..dim).map(|c| x[c] + f[c] * h + g[c] * sh).collect();
    diffusion(sys, t, &xb, p, &mut gb);
    let m: Vec<T> = (0..dim)
        .map(|c| (gb[c] - g[c]) * ((dw[c] * dw[c] - h) / (T::of(2.0) * sh)))
        .collect();
    let out: Vec<T> = (0..dim)
        .map(|c| x[c] + f[c] * h + g[c] * dw[c] + m[c])
        .collect();
    drift(sys, t + h, &out, p, &mut fe);
    let mut err2 = T::default();
    for c in 0..dim {
        let e = m[c] + T::of(0.5) * (fe[c] - f[c]) * h;
        let sc = tolerance(x[c], out[c], tol);
        err2 = err2 + (e / sc) * (e / sc);
    }
    Trial {
        x: out,
        err2: err2 / T::of(dim as f64),
    }
}
