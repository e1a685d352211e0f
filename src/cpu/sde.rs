//! One-step SDE methods, the CPU twin of `shaders/sde.wgsl` (diagonal noise, the built-ins
//! with Rust twins): Euler–Maruyama, derivative-free Milstein and stochastic Heun, with the
//! same step grouping, the same noise and the same operation order.

use super::normal::noise_block;
use super::systems::{diffusion, drift};
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
    let mut z = vec![0.0f32; 4 * m];
    let steps = job.steps;
    for g in 0..steps.div_ceil(4) {
        let count = (steps - 4 * g).min(4);
        for j in 0..m {
            let n = noise_block(key, g * m as u32 + j as u32, i as u32);
            z[4 * j..4 * j + 4].copy_from_slice(&n);
        }
        for s in 0..count {
            let t = c.t0 + (4 * g + s) as f32 * c.dt;
            drift(sys, t, &x, &p, &mut f);
            if m == 0 {
                for k in 0..dim {
                    x[k] += f[k] * c.dt;
                }
                continue;
            }
            diffusion(sys, t, &x, &p, &mut d);
            let w = &z[s as usize * m..][..m];
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
