//! Rust twins of the catalog systems gbm, ou, lorenz and linear (`systems/*.toml`).

use super::Real;
use crate::system::Builtin;

#[inline(always)]
pub fn drift<T: Real>(sys: Builtin, _t: T, x: &[T], p: &[T], out: &mut [T]) {
    match sys {
        Builtin::Gbm => out[0] = p[0] * x[0],
        Builtin::Ou => out[0] = p[0] * (p[1] - x[0]),
        Builtin::Lorenz => {
            out[0] = p[0] * (x[1] - x[0]);
            out[1] = x[0] * (p[1] - x[2]) - x[1];
            out[2] = x[0] * x[1] - p[2] * x[2];
        }
        Builtin::Linear => out[0] = p[0] * x[0],
    }
}

/// The diagonal of A in drift = A x + N(t, x), for the exponential integrators.
#[inline(always)]
pub fn linear<T: Real>(sys: Builtin, _t: T, p: &[T], out: &mut [T]) {
    match sys {
        Builtin::Gbm => out[0] = p[0],
        Builtin::Ou => out[0] = -p[0],
        Builtin::Lorenz => {
            out[0] = -p[0];
            out[1] = T::of(-1.0);
            out[2] = -p[2];
        }
        Builtin::Linear => out[0] = p[0],
    }
}

/// Diagonal diffusion g_i(t, x); zero for ODEs.
#[inline(always)]
pub fn diffusion<T: Real>(sys: Builtin, _t: T, x: &[T], p: &[T], out: &mut [T]) {
    match sys {
        Builtin::Gbm => out[0] = p[1] * x[0],
        Builtin::Ou => out[0] = p[2],
        Builtin::Lorenz | Builtin::Linear => out.iter_mut().for_each(|o| *o = T::default()),
    }
}
