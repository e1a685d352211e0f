//! Rößler's SRA1 with the space-time Lévy area, the twin of
//! `shaders/methods/adaptive_sra1.wgsl` (driven by `sde_controller.rs` on the area tree).

use super::sde_controller::{tolerance, Trial};
use super::systems::{diffusion, drift};
use super::Real;
use crate::system::Builtin;

/// One trial step of size h from (t, x) with increments `dw` and areas H = A/h `hh`.
#[allow(clippy::too_many_arguments)]
pub fn step<T: Real>(
    sys: Builtin,
    p: &[T],
    t: T,
    h: T,
    x: &[T],
    dw: &[T],
    hh: &[T],
    tol: (T, T),
) -> Trial<T> {
    let dim = x.len();
    let k = |v: f64| T::of(v);
    let (mut f, mut g, mut f2) = (
        vec![T::default(); dim],
        vec![T::default(); dim],
        vec![T::default(); dim],
    );
    drift(sys, t, x, p, &mut f);
    diffusion(sys, t, x, p, &mut g);
    let y: Vec<T> = (0..dim)
        .map(|c| x[c] + k(0.75) * h * f[c] + g[c] * (k(0.75) * dw[c] + k(1.5) * hh[c]))
        .collect();
    drift(sys, t + k(0.75) * h, &y, p, &mut f2);
    let mut err2 = T::default();
    let out: Vec<T> = (0..dim)
        .map(|c| {
            let o = x[c] + h * (f[c] + k(2.0) * f2[c]) / k(3.0) + g[c] * dw[c];
            let e = k(2.0 / 3.0) * h * (f2[c] - f[c]);
            let sc = tolerance(x[c], o, tol);
            err2 = err2 + (e / sc) * (e / sc);
            o
        })
        .collect();
    Trial {
        x: out,
        err2: err2 / k(dim as f64),
    }
}
