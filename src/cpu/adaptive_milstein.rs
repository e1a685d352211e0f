//! Derivative-free Milstein with an error estimate for the Euler–Maruyama step inside it,
//! from the state alone (the Milstein term at its mean size, the drift's trapezoidal
//! correction at the noiseless predictor), the twin of
//! `shaders/methods/adaptive_milstein.wgsl` (driven by `sde_controller.rs`).

use super::sde_controller::{Sys, Trial};
use super::Real;

/// One trial step of size h from (t, x) with Brownian increments `dw` (diagonal noise: one
/// per component; the twin systems have no scalar noise).
pub fn step<T: Real>(s: &Sys<T>, t: T, h: T, x: &[T], dw: &[T]) -> Trial<T> {
    let dim = x.len();
    let (f, g) = (s.f(t, x), s.g(t, x));
    let sh = h.sqrt();
    let xb: Vec<T> = (0..dim).map(|c| x[c] + f[c] * h + g[c] * sh).collect();
    let gb = s.g(t, &xb);
    let m: Vec<T> = (0..dim)
        .map(|c| (gb[c] - g[c]) * ((dw[c] * dw[c] - h) / (T::of(2.0) * sh)))
        .collect();
    let out: Vec<T> = (0..dim)
        .map(|c| x[c] + f[c] * h + g[c] * dw[c] + m[c])
        .collect();
    let xd: Vec<T> = (0..dim).map(|c| x[c] + f[c] * h).collect();
    let fe = s.f(t + h, &xd);
    let e: Vec<T> = (0..dim)
        .map(|c| (gb[c] - g[c]) * (T::of(0.48394145) * sh) + T::of(0.5) * (fe[c] - f[c]) * h)
        .collect();
    s.trial(x, out, &e)
}
