//! Box–Muller normals from Philox words, the CPU twin of `shaders/normal.wgsl`, and the noise
//! stream of `shaders/noise.wgsl`.

use super::philox::philox4x32_10;

/// Counter word 3 of the path noise.
pub const STREAM_PATH: u32 = 0;

/// (k + 0.5) * 2^-23 for the top 23 bits k of `w`: in (0, 1), exact.
pub fn open_unit(w: u32) -> f32 {
    ((w >> 9) as f32 + 0.5) * 1.192_092_9e-7
}

/// k * 2^-24 for the top 24 bits k of `w`: in [0, 1), exact.
pub fn half_open_unit(w: u32) -> f32 {
    (w >> 8) as f32 * 5.960_464_5e-8
}

pub fn box_muller(a: u32, b: u32) -> [f32; 2] {
    let r = (-2.0 * open_unit(a).ln()).sqrt();
    let theta = 6.283_185_5_f32 * half_open_unit(b);
    [r * theta.cos(), r * theta.sin()]
}

pub fn normals4(w: [u32; 4]) -> [f32; 4] {
    let p = box_muller(w[0], w[1]);
    let q = box_muller(w[2], w[3]);
    [p[0], p[1], q[0], q[1]]
}

/// The four normals of noise block `block` of trajectory `traj`.
pub fn noise_block(key: [u32; 2], block: u32, traj: u32) -> [f32; 4] {
    normals4(philox4x32_10([block, 0, traj, STREAM_PATH], key))
}

/// The standard normal driving (trajectory, step, channel) of a run whose system has
/// `channels` Wiener processes: normal k = step * channels + channel is word k % 4 of
/// block k / 4. The Wiener increment is sqrt(dt) times this.
pub fn noise(key: [u32; 2], traj: u32, step: u64, channel: u32, channels: u32) -> f32 {
    let k = step * channels as u64 + channel as u64;
    noise_block(key, (k / 4) as u32, traj)[(k % 4) as usize]
}
