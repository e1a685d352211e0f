//! The CPU twin of `shaders/observe.wgsl` and of the pilot that sets quantile ranges:
//! histogram bins computed in the run's precision with the same formula, kept paths.

use crate::ensemble::Job;
use crate::observe::{quantile_range, SaveAt, PILOT};
use crate::precision::Precision;
use crate::solve::ObserverLayout;

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

/// Observers over the states at each save time (`states[s]`, component-major): layout,
/// ranges, histogram counters and kept paths, laid out as the device leaves them.
pub(crate) struct HostObservers {
    pub layout: ObserverLayout,
    pub ranges: Vec<(f64, f64)>,
    pub hist: Vec<u64>,
    pub kept: Vec<f64>,
}

pub(crate) fn observers(job: &Job, sa: &SaveAt, states: &[&[f64]]) -> HostObservers {
    let dim = job.system.dim();
    let n = job.paths as usize;
    let rows = job.rows();
    let lay = ObserverLayout::new(sa, rows);
    let nh = lay.specs.len();
    let mut ranges = vec![(0.0, 1.0); states.len() * nh];
    let mut hist = vec![0u64; states.len() * lay.words as usize];
    let keep = sa.keep_paths as usize;
    let mut kept = vec![0.0; states.len() * keep * dim];
    for (s, st) in states.iter().enumerate() {
        for (h, spec) in sa.hist.iter().enumerate() {
            ranges[s * nh + h] = (spec.lo, spec.hi);
        }
        for c in 0..rows {
            if sa.quantiles.is_empty() {
                break;
            }
            let pilot = &st[c * n..c * n + (job.paths.min(PILOT) as usize)];
            let finite = pilot.iter().filter(|v| v.is_finite());
            let lo = finite.clone().cloned().fold(f64::INFINITY, f64::min);
            let hi = finite.cloned().fold(f64::NEG_INFINITY, f64::max);
            ranges[s * nh + lay.quantile_first + c] = quantile_range(lo, hi);
        }
        for (h, &(c, bins, off)) in lay.specs.iter().enumerate() {
            let (lo, hi) = ranges[s * nh + h];
            let scale = job.precision.round(bins as f64 / (hi - lo));
            for &v in &st[c * n..(c + 1) * n] {
                if let Some(b) = bin(v, lo, scale, bins, job.precision) {
                    hist[s * lay.words as usize + off as usize + b] += 1;
                }
            }
        }
        let every = sa.keep_every.max(1) as usize;
        for i in 0..keep {
            for c in 0..dim {
                kept[(s * keep + i) * dim + c] = st[c * n + i * every];
            }
        }
    }
    HostObservers {
        layout: lay,
        ranges,
        hist,
        kept,
    }
}
