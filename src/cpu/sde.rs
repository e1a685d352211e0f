//! One-step SDE methods, the CPU twin of `shaders/sde.wgsl` (diagonal noise, the built-ins
//! with Rust twins): Euler–Maruyama, derivative-free Milstein, stochastic Heun, SETD1 and
//! ETD-RK2, with the
//! same step grouping, the same noise and the same operation order.

use super::normal::noise_block;
use super::phi::{phi1, phi2};
use super::systems::{diffusion, drift, linear};
use crate::ensemble::Job;
use crate::method::Method;

pub fn sde_trajectory(job: &Job, i: u64) -> Vec<f32> {
    let sys = job.system.twin.expect("checked by cpu::solve");
    let dim = job.system.dim();
    let m = job.system.noise_channels();
    let c = job.consts;
    let key = job.key();
    let (mut x, p) = job.inputs_at(i);
    let (mut f, mut d) = (vec![0.0f32; dim], vec![0.0f32; dim]);
    let (mut fb, mut db, mut xb) = (vec![0.0f32; dim], vec![0.0f32; dim], vec![0.0f32; dim]);
    let mut zs = vec![0.0f32; 4 * m];
    let steps = job.steps;
    for g in 0..steps.div_ceil(4) {
        let count = (steps - 4 * g).min(4);
        for j in 0..m {
            let n = noise_block(key, g * m as u32 + j as u32, i as u32);
            zs[4 * j..4 * j + 4].copy_from_slice(&n);
        }
        for s in 0..count {
            let t = c.t0 + (4 * g + s) as f32 * c.dt;
            drift(sys, t, &x, &p, &mut f);
            if matches!(job.method, Method::Setd1 | Method::Etdrk2) {
                let mut a = vec![0.0f32; dim];
                linear(sys, t, &p, &mut a);
                let z: Vec<f32> = (0..dim).map(|k| a[k] * c.dt).collect();
                let mut u: Vec<f32> = (0..dim)
                    .map(|k| z[k].exp() * x[k] + c.dt * phi1(z[k]) * (f[k] - a[k] * x[k]))
                    .collect();
                if job.method == Method::Etdrk2 {
                    drift(sys, t + c.dt, &u, &p, &mut fb);
                    for k in 0..dim {
                        u[k] += c.dt * phi2(z[k]) * ((fb[k] - a[k] * u[k]) - (f[k] - a[k] * x[k]));
                    }
                }
                if m > 0 {
                    diffusion(sys, t, &x, &p, &mut d);
                    for k in 0..dim {
                        u[k] += d[k] * ((c.dt * phi1(2.0 * z[k])).sqrt() * zs[s as usize * m + k]);
                    }
                }
                x = u;
                continue;
            }
            if m == 0 {
                for k in 0..dim {
                    x[k] += f[k] * c.dt;
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
                            + (db[k] - d[k]) * (c.sqrt_dt * 0.5 * (w[k] * w[k] - 1.0));
                    }
                }
                Method::Heun => {
                    let dx: Vec<f32> = (0..dim).map(|k| d[k] * (c.sqrt_dt * w[k])).collect();
                    for k in 0..dim {
                        xb[k] = x[k] + f[k] * c.dt + dx[k];
                    }
                    drift(sys, t + c.dt, &xb, &p, &mut fb);
                    diffusion(sys, t + c.dt, &xb, &p, &mut db);
                    for k in 0..dim {
                        x[k] += 0.5 * ((f[k] + fb[k]) * c.dt + dx[k] + db[k] * (c.sqrt_dt * w[k]));
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
