//! The CPU twin of `shaders/observe.wgsl` and of the pilot that sets quantile ranges:
//! histogram bins computed in the run's precision with the same formula, kept paths.

use crate::kernel::ChunkUniform;
use crate::plan::Plan;
use crate::precision::Precision;

/// Bin index of `v` (0: below, bins + 1: at or above the top), None if not finite, as the
/// kernel computes it in the run's precision.
pub fn bin(v: f64, lo: f64, scale: f64, bins: u32, precision: Precision) -> Option<usize> {
    if !v.is_finite() {
        return None;
    }
    let x = match precision {
        Precision::F32 => ((v as f32 - lo as f32) * scale as f32) as f64,
        Precision::F64 => (v - lo) * scale,
    };
    Some(if x >= 0.0 {
        x.min(bins as f64) as usize + 1
    } else {
        0
    })
}

/// One dispatch of the observers over a chunk at save time `u.save_index`: histogram counts
/// (ranges as the kernel reads them: lo and bins / (hi - lo) in the run's precision) and the
/// states of kept trajectories.
pub fn dispatch(
    plan: &Plan,
    u: &ChunkUniform,
    states: &[u64],
    ranges: &[u64],
    hist: &mut [u32],
    kept: &mut [u64],
) {
    let (n, cap, dim) = (u.count as usize, plan.capacity as usize, plan.dim);
    let vals = |raw: &[u64], len: usize| -> Vec<f64> {
        match plan.precision {
            Precision::F32 => bytemuck::cast_slice::<u64, f32>(raw)[..len]
                .iter()
                .map(|&v| v as f64)
                .collect(),
            Precision::F64 => bytemuck::cast_slice::<u64, f64>(raw)[..len].to_vec(),
        }
    };
    let v = vals(states, plan.rows * cap);
    let obs = &plan.observers;
    let s = u.save_index as usize;
    let nh = obs.specs.len();
    let r = vals(ranges, plan.nsaves() * nh * 2);
    for j in 0..n {
        let point = match obs.replicas {
            Some(rep) => (u.first as u64 + j as u64) / rep,
            None => 0,
        };
        let words = ((s as u64 * obs.points + point) * obs.words as u64) as usize;
        for (h, &(c, bins, off)) in obs.specs.iter().enumerate() {
            let k = 2 * (s * nh + h);
            if let Some(b) = bin(v[c * cap + j], r[k], r[k + 1], bins, plan.precision) {
                hist[words + off as usize + b] += 1;
            }
        }
    }
    let (keep, every) = (obs.keep, obs.keep_every);
    let mut out = vals(kept, plan.nsaves() * keep as usize * dim);
    for j in 0..n {
        let g = u.first as u64 + j as u64;
        let k = g / every;
        if g.is_multiple_of(every) && k < keep {
            for c in 0..dim {
                out[(s * keep as usize + k as usize) * dim + c] = v[c * cap + j];
            }
        }
    }
    if keep > 0 {
        let bytes = crate::exec::real_bytes(&out, plan.precision);
        bytemuck::cast_slice_mut::<u64, u8>(kept)[..bytes.len()].copy_from_slice(&bytes);
    }
}
