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

/// ln u for normal u > 0, as `ln_positive` in normal.wgsl.
pub fn ln_positive(u: f32) -> f32 {
    let t = u.to_bits().wrapping_add(0x004A_FB0D);
    let e = ((t >> 23) as i32 - 127) as f32;
    let m = f32::from_bits((t & 0x007F_FFFF) + 0x3F35_04F3);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = s2 * (0.6666667 + s2 * (0.4 + s2 * (0.2857143 + s2 * 0.22222222)));
    e * std::f32::consts::LN_2 + (2.0 * s + s * p)
}

/// (sin, cos) of 2 pi u for u in [0, 1), as `sincos_turns` in normal.wgsl.
pub fn sincos_turns(u: f32) -> [f32; 2] {
    let q = (4.0 * u + 0.5).floor();
    let f = u - 0.25 * q;
    let f2 = f * f;
    let s = f
        * (std::f32::consts::TAU
            + f2 * (-41.3417 + f2 * (81.60525 + f2 * (-76.70586 + f2 * 42.058693))));
    let c = 1.0
        + f2 * (-19.739208
            + f2 * (64.93939 + f2 * (-85.45682 + f2 * (60.24464 + f2 * -26.426256))));
    let qi = q as u32 & 3;
    let (a, b) = if qi & 1 == 1 { (c, s) } else { (s, c) };
    [
        if qi >= 2 { -a } else { a },
        if (qi + 1) & 2 != 0 { -b } else { b },
    ]
}

pub fn box_muller(a: u32, b: u32) -> [f32; 2] {
    let r = (-2.0 * ln_positive(open_unit(a))).sqrt();
    let sc = sincos_turns(half_open_unit(b));
    [r * sc[1], r * sc[0]]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_positive_is_accurate_over_the_open_unit_interval() {
        for k in (0..(1u32 << 23)).step_by(997).chain([0, (1 << 23) - 1]) {
            let u = (k as f32 + 0.5) * 1.192_092_9e-7;
            let want = (u as f64).ln();
            let got = ln_positive(u) as f64;
            assert!(
                (got - want).abs() <= 2.5e-7 * want.abs().max(1e-7),
                "u {u}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn sincos_turns_is_accurate_in_every_quadrant() {
        for k in (0..(1u32 << 24))
            .step_by(1009)
            .chain([0, (1 << 24) - 1, 1 << 22, 3 << 22])
        {
            let u = k as f32 * 5.960_464_5e-8;
            let th = std::f64::consts::TAU * u as f64;
            let [s, c] = sincos_turns(u);
            assert!((s as f64 - th.sin()).abs() < 3e-7, "sin at u {u}");
            assert!((c as f64 - th.cos()).abs() < 3e-7, "cos at u {u}");
        }
    }
}
