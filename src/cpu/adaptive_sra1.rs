//! Rößler's SRA1 with the space-time Lévy area, the twin of
//! `shaders/methods/adaptive_sra1.wgsl` (driven by `sde_controller.rs` on the area tree).

use super::sde_controller::{Sys, Trial};
use super::Real;

/// One trial step of size h from (t, x) with increments `dw` and areas H = A/h `hh`.
pub fn step<T: Real>(s: &Sys<T>, t: T, h: T, x: &[T], dw: &[T], hh: &[T]) -> Trial<T> {
    let dim = x.len();
    let k = |v: f64| T::of(v);
    let (f, g) = (s.f(t, x), s.g(t, x));
    let y: Vec<T> = (0..dim)
        .map(|c| x[c] + k(0.75) * h * f[c] + g[c] * (k(0.75) * dw[c] + k(1.5) * hh[c]))
        .collect();
    let f2 = s.f(t + k(0.75) * h, &y);
    let out: Vec<T> = (0..dim)
        .map(|c| x[c] + h * (f[c] + k(2.0) * f2[c]) / k(3.0) + g[c] * dw[c])
        .collect();
    let e: Vec<T> = (0..dim)
        .map(|c| k(2.0 / 3.0) * h * (f2[c] - f[c]))
        .collect();
    s.trial(x, out, &e)
}
