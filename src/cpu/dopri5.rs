//! Dormand–Prince 5(4), the twin of `shaders/methods/dopri5.wgsl`: one trial step of size h
//! from (t, x), its fifth-order solution, the next k1 and the error norm. The step sizes are
//! chosen by the controller (`controller.rs`, the twin of `shaders/controller.wgsl`).

use super::systems::drift;
use super::Real;
use crate::system::Builtin;

/// The Dormand–Prince tableau (Hairer, Nørsett, Wanner, Solving ODEs I, table 5.2).
pub mod tableau {
    pub const C: [f64; 6] = [0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
    pub const A21: f64 = 0.2;
    pub const A3: [f64; 2] = [3.0 / 40.0, 9.0 / 40.0];
    pub const A4: [f64; 3] = [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0];
    pub const A5: [f64; 4] = [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
    ];
    pub const A6: [f64; 5] = [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ];
    /// The 5th-order weights (b2 = 0), also row 7 of A (first same as last).
    pub const B: [f64; 6] = [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ];
    /// b - b*, the error weights of k1, k3, k4, k5, k6, k7.
    pub const E: [f64; 6] = [
        71.0 / 57600.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    /// The quartic coefficients of the continuous extension, of k1, k3, k4, k5, k6, k7
    /// (Hairer, Nørsett, Wanner, Solving ODEs I, sec. II.6; DOPRI5's contd5).
    pub const D: [f64; 6] = [
        -12715105075.0 / 11282082432.0,
        87487479700.0 / 32700410799.0,
        -10690763975.0 / 1880347072.0,
        701980252875.0 / 199316789632.0,
        -1453857185.0 / 822651844.0,
        69997945.0 / 29380423.0,
    ];
}

/// A trial step: the fifth-order solution at t_new, drift(t_new, x5) (the next k1 if the step
/// is accepted) and the mean over components of (err_c / (atol + rtol max(|x_c|, |x5_c|)))^2.
pub struct Trial<T> {
    pub x: Vec<T>,
    pub k: Vec<T>,
    pub err2: T,
    /// h (d1 k1 + d3 k3 + ... + d7 k7), the quartic term of the continuous extension.
    pub d: Vec<T>,
}

/// One trial step from (t, x) with k1 = drift(t, x); t_new is t + h, or exactly the segment's
/// end for its last step.
#[allow(clippy::too_many_arguments)]
pub fn step<T: Real>(
    sys: Builtin,
    p: &[T],
    t: T,
    h_step: T,
    t_new: T,
    x: &[T],
    k1: &[T],
    atol: T,
    rtol: T,
) -> Trial<T> {
    use tableau::*;
    let dim = x.len();
    let k = |v: f64| T::of(v);
    let f = |t: T, y: &[T]| {
        let mut out = vec![T::default(); dim];
        drift(sys, t, y, p, &mut out);
        out
    };
    let stage = |x: &[T], h: T, ks: &[&[T]], a: &[f64]| -> Vec<T> {
        (0..dim)
            .map(|c| {
                let mut s = k(a[0]) * ks[0][c];
                for j in 1..a.len() {
                    s = s + k(a[j]) * ks[j][c];
                }
                x[c] + h * s
            })
            .collect()
    };
    let k2 = f(t + k(C[0]) * h_step, &stage(x, h_step, &[k1], &[A21]));
    let k3 = f(t + k(C[1]) * h_step, &stage(x, h_step, &[k1, &k2], &A3));
    let k4 = f(
        t + k(C[2]) * h_step,
        &stage(x, h_step, &[k1, &k2, &k3], &A4),
    );
    let k5 = f(
        t + k(C[3]) * h_step,
        &stage(x, h_step, &[k1, &k2, &k3, &k4], &A5),
    );
    let k6 = f(
        t + h_step,
        &stage(x, h_step, &[k1, &k2, &k3, &k4, &k5], &A6),
    );
    let x5: Vec<T> = (0..dim)
        .map(|c| {
            x[c] + h_step
                * (k(B[0]) * k1[c]
                    + k(B[2]) * k3[c]
                    + k(B[3]) * k4[c]
                    + k(B[4]) * k5[c]
                    + k(B[5]) * k6[c])
        })
        .collect();
    let k7 = f(t_new, &x5);
    let mut err2 = T::default();
    for c in 0..dim {
        let e = h_step
            * (k(E[0]) * k1[c]
                + k(E[1]) * k3[c]
                + k(E[2]) * k4[c]
                + k(E[3]) * k5[c]
                + k(E[4]) * k6[c]
                + k(E[5]) * k7[c]);
        let big = if x[c].abs() > x5[c].abs() {
            x[c].abs()
        } else {
            x5[c].abs()
        };
        let sc = atol + rtol * big;
        err2 = err2 + (e / sc) * (e / sc);
    }
    let d = (0..dim)
        .map(|c| {
            h_step
                * (k(D[0]) * k1[c]
                    + k(D[1]) * k3[c]
                    + k(D[2]) * k4[c]
                    + k(D[3]) * k5[c]
                    + k(D[4]) * k6[c]
                    + k(D[5]) * k7[c])
        })
        .collect();
    Trial {
        x: x5,
        k: k7,
        err2: err2 * k(1.0 / dim as f64),
        d,
    }
}
