//! Stochastic exponential Euler for semilinear systems (Itô), the twin of
//! `shaders/methods/setd1.wgsl`: X+ = e^(hA) X + h phi1(hA) N(X) + g sqrt(h phi1(2hA)) z,
//! with N = drift − A x.

use super::exponential::{add_noise, etd1};
use super::fixed::Sde;
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    let (_, z, mut u) = etd1(s, t, x);
    add_noise(s, t, x, &z, &mut u, w);
    x.copy_from_slice(&u);
}
