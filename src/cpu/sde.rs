//! One-step SDE methods, the CPU twin of `shaders/sde.wgsl` (diagonal noise, the built-ins
//! with Rust twins): Euler–Maruyama, derivative-free Milstein, stochastic Heun, SETD1 and
//! ETD-RK2, with the
//! same step grouping, the same noise and the same operation order.

use super::normal::noise_block;
use super::systems::{diffusion, drift, linear};
use super::Real;
use crate::ensemble::Job;
use crate::method::Method;

/// Terminal state of trajectory `i` in precision `T` (the noise is f32 in both, widened).
pub fn sde_trajectory<T: Real>(job: &Job, i: u64) -> Vec<T> {
    let sys = job.system.twin.expect("checked by cpu::solve");
    let dim = job.system.dim();
    let m = job.system.noise_channels();
    let c = T::consts(job);
    let key = job.key();
    let (x, p) = job.inputs_at(i);
    let mut x: Vec<T> = x.into_iter().map(T::of).collect();
    let p: Vec<T> = p.into_iter().map(T::of).collect();
    let zero = T::default();
    let (half, one, two) = (T::of(0.5), T::of(1.0), T::of(2.0));
    let (mut f, mut d) = (vec![zero; dim], vec![zero; dim]);
    let (mut fb, mut db, mut xb) = (vec![zero; dim], vec![zero; dim], vec![zero; dim]);
    let mut zs = vec![zero; 4 * m];
    let steps = job.steps;
    for g in 0..steps.div_ceil(4) {
        let count = (steps - 4 * g).min(4);
        for j in 0..m {
            let n = noise_block(key, g * m as u32 + j as u32, i as u32);
            for (k, z) in n.into_iter().enumerate() {
                zs[4 * j + k] = T::of(z as f64);
            }
        }
        for s in 0..count {
            let t = c.t0 + T::of((4 * g + s) as f64) * c.dt;
            drift(sys, t, &x, &p, &mut f);
            if matches!(job.method, Method::Setd1 | Method::Etdrk2 | Method::Etdrk4) {
                let mut a = vec![zero; dim];
                linear(sys, t, &p, &mut a);
                let z: Vec<T> = (0..dim).map(|k| a[k] * c.dt).collect();
                let mut u: Vec<T> = if job.method == Method::Etdrk4 {
                    etdrk4_step(sys, t, &x, &f, &a, &z, &p, &c)
                } else {
                    (0..dim)
                        .map(|k| z[k].exp() * x[k] + c.dt * z[k].phi1() * (f[k] - a[k] * x[k]))
                        .collect()
                };
                if job.method == Method::Etdrk2 {
                    drift(sys, t + c.dt, &u, &p, &mut fb);
                    for k in 0..dim {
                        u[k] = u[k]
                            + c.dt * z[k].phi2() * ((fb[k] - a[k] * u[k]) - (f[k] - a[k] * x[k]));
                    }
                }
                if m > 0 {
                    diffusion(sys, t, &x, &p, &mut d);
                    for k in 0..dim {
                        u[k] = u[k]
                            + d[k] * ((c.dt * (two * z[k]).phi1()).sqrt() * zs[s as usize * m + k]);
                    }
                }
                x = u;
                continue;
            }
            if m == 0 {
                for k in 0..dim {
                    x[k] = x[k] + f[k] * c.dt;
                }
                continue;
            }
            diffusion(sys, t, &x, &p, &mut d);
            let w = &zs[s as usize * m..][..m];
            match job.method {
                Method::Milstein => {
                    for k in 0..dim {
                        xb[k] = x[k] + f[k] * c.dt + d[k] * c.sqrt_dt;
                    }
                    diffusion(sys, t, &xb, &p, &mut db);
                    for k in 0..dim {
                        x[k] = x[k]
                            + f[k] * c.dt
                            + d[k] * (c.sqrt_dt * w[k])
                            + (db[k] - d[k]) * (c.sqrt_dt * half * (w[k] * w[k] - one));
                    }
                }
                Method::Heun => {
                    let dx: Vec<T> = (0..dim).map(|k| d[k] * (c.sqrt_dt * w[k])).collect();
                    for k in 0..dim {
                        xb[k] = x[k] + f[k] * c.dt + dx[k];
                    }
                    drift(sys, t + c.dt, &xb, &p, &mut fb);
                    diffusion(sys, t + c.dt, &xb, &p, &mut db);
                    for k in 0..dim {
                        x[k] = x[k]
                            + half * ((f[k] + fb[k]) * c.dt + dx[k] + db[k] * (c.sqrt_dt * w[k]));
                    }
                }
                _ => {
                    for k in 0..dim {
                        x[k] = x[k] + f[k] * c.dt + d[k] * (c.sqrt_dt * w[k]);
                    }
                }
            }
        }
    }
    x
}

/// The deterministic part of one ETDRK4 step (Cox–Matthews), as `shaders/sde.wgsl` has it.
#[allow(clippy::too_many_arguments)]
fn etdrk4_step<T: Real>(
    sys: crate::system::Builtin,
    t: T,
    x: &[T],
    f: &[T],
    a: &[T],
    z: &[T],
    p: &[T],
    c: &crate::ensemble::StepConsts<T>,
) -> Vec<T> {
    let dim = x.len();
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
