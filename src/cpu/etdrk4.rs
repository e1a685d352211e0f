//! ETDRK4 (Cox–Matthews 2002) for the deterministic part, the noise as in SETD1: the twin of
//! `shaders/methods/etdrk4.wgsl`. Stages at t + h/2 (twice) and t + h with e^(hA/2) and
//! (h/2) phi1(hA/2); weights phi1 − 3 phi2 + 4 phi3, 2 phi2 − 4 phi3 (twice), 4 phi3 − phi2.

use super::exponential::{add_noise, linear_part, start};
use super::fixed::Sde;
use super::systems::drift;
use super::Real;

/// One step from time `t`; `w` holds the step's normals, one per channel.
pub fn step<T: Real>(s: &mut Sde<T>, t: T, x: &mut [T], w: &[T]) {
    start(s, t, x);
    let (a, z) = linear_part(s, t);
    let mut u = deterministic(s, t, x, &a, &z);
    add_noise(s, t, x, &z, &mut u, w);
    x.copy_from_slice(&u);
}

fn deterministic<T: Real>(s: &Sde<T>, t: T, x: &[T], a: &[T], z: &[T]) -> Vec<T> {
    let (sys, p, c, dim, f) = (s.sys, &s.p, &s.c, s.dim, &s.f);
    let half = T::of(0.5);
    let eh: Vec<T> = z.iter().map(|&z| (half * z).exp()).collect();
    let ph: Vec<T> = z.iter().map(|&z| c.half_dt * (half * z).phi1()).collect();
    let n0: Vec<T> = (0..dim).map(|k| f[k] - a[k] * x[k]).collect();
    let ua: Vec<T> = (0..dim).map(|k| eh[k] * x[k] + ph[k] * n0[k]).collect();
    let mut fa = vec![T::default(); dim];
    drift(sys, t + c.half_dt, &ua, p, &mut fa);
    let na: Vec<T> = (0..dim).map(|k| fa[k] - a[k] * ua[k]).collect();
    let ub: Vec<T> = (0..dim).map(|k| eh[k] * x[k] + ph[k] * na[k]).collect();
    let mut fb = vec![T::default(); dim];
    drift(sys, t + c.half_dt, &ub, p, &mut fb);
    let nb: Vec<T> = (0..dim).map(|k| fb[k] - a[k] * ub[k]).collect();
    let uc: Vec<T> = (0..dim)
        .map(|k| eh[k] * ua[k] + ph[k] * (T::of(2.0) * nb[k] - n0[k]))
        .collect();
    let mut fc = vec![T::default(); dim];
    drift(sys, t + c.dt, &uc, p, &mut fc);
    let (two, three, four) = (T::of(2.0), T::of(3.0), T::of(4.0));
    (0..dim)
        .map(|k| {
            let nc = fc[k] - a[k] * uc[k];
            let (p1, p2, p3) = (z[k].phi1(), z[k].phi2(), z[k].phi3());
            z[k].exp() * x[k]
                + c.dt
                    * ((p1 - three * p2 + four * p3) * n0[k]
                        + (two * p2 - four * p3) * (na[k] + nb[k])
                        + (four * p3 - p2) * nc)
        })
        .collect()
}
