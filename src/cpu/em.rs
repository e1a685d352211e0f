//! Euler–Maruyama, the CPU twin of `shaders/em.wgsl`: same step grouping, same noise.

use super::normal::noise_block;
use super::systems::{diffusion, drift};
use crate::ensemble::Job;

pub fn em_trajectory(job: &Job, i: u64) -> Vec<f32> {
    let sys = job.system.twin.expect("checked by cpu::solve");
    let dim = job.system.dim();
    let m = job.system.noise_channels();
    let c = job.consts;
    let key = job.key();
    let (mut x, p) = job.inputs_at(i);
    let mut f = vec![0.0f32; dim];
    let mut d = vec![0.0f32; dim];
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
            if m > 0 {
                diffusion(sys, t, &x, &p, &mut d);
                for k in 0..dim {
                    x[k] = x[k] + f[k] * c.dt + d[k] * (c.sqrt_dt * z[s as usize * m + k]);
                }
            } else {
                for k in 0..dim {
                    x[k] += f[k] * c.dt;
                }
            }
        }
    }
    x
}
