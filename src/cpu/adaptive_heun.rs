//! Stochastic Heun with an embedded Euler–Maruyama error estimate, the twin of
//! `shaders/methods/adaptive_heun.wgsl` (driven by `sde_controller.rs`).

use super::sde_controller::{Sys, Trial};
use super::Real;

/// One trial step of size h from (t, x) with Brownian increments `dw`.
pub fn step<T: Real>(s: &Sys<T>, t: T, h: T, x: &[T], dw: &[T]) -> Trial<T> {
    let half = T::of(0.5);
    let (f, g) = (s.f(t, x), s.g(t, x));
    let xe: Vec<T> = (0..x.len())
        .map(|c| x[c] + f[c] * h + g[c] * dw[c])
        .collect();
    let (fe, ge) = (s.f(t + h, &xe), s.g(t + h, &xe));
    let out: Vec<T> = (0..x.len())
        .map(|c| x[c] + half * ((f[c] + fe[c]) * h + (g[c] + ge[c]) * dw[c]))
        .collect();
    // x' − xe from the differences, as the kernel forms it.
    let e: Vec<T> = (0..x.len())
        .map(|c| half * ((fe[c] - f[c]) * h + (ge[c] - g[c]) * dw[c]))
        .collect();
    s.trial(x, out, &e)
}
