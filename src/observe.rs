//! What a run reports besides terminal statistics (the "save-at" of the run): statistics at
//! save times every k steps, computed on the device where the states live.

use serde::Serialize;

use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::reduce::Stats;

/// Save times of a run, as step counts from t0: every `every` steps, and always the last
/// step. Fixed-step methods only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SaveAt {
    /// Save every this many steps (None: the end only).
    pub every: Option<u64>,
    /// Also save at these times, which must lie on the step grid t0 + k dt.
    pub times: Vec<f64>,
    /// Histograms at every save time.
    pub hist: Vec<Histogram>,
    /// Quantile levels in (0, 1), of every state component at every save time.
    pub quantiles: Vec<f64>,
    /// Keep the states of this many trajectories at every save time: 0, j, 2j, … with
    /// j = `keep_every` (0 or 1: the first `keep_paths`).
    pub keep_paths: u64,
    pub keep_every: u64,
}

impl SaveAt {
    /// Whether anything beyond terminal statistics is asked for.
    pub fn any(&self) -> bool {
        self.every.is_some()
            || !self.times.is_empty()
            || !self.hist.is_empty()
            || !self.quantiles.is_empty()
            || self.keep_paths > 0
    }

    /// Checks the observers against a job.
    pub fn check(&self, job: &Job) -> Result<()> {
        let rows = job.rows();
        for h in &self.hist {
            if h.component >= rows {
                return Err(input(
                    "histogram",
                    format!(
                        "histogram of row {}: trajectories have {rows} ({})",
                        h.component,
                        job.row_names().join(", ")
                    ),
                ));
            }
            if !(h.lo.is_finite() && h.hi.is_finite() && h.lo < h.hi) {
                return Err(input(
                    "histogram",
                    format!(
                        "histogram range {}..{} must be finite with lo < hi",
                        h.lo, h.hi
                    ),
                ));
            }
            if h.bins == 0 || h.bins > 1 << 20 {
                return Err(Error::Limit {
                    what: "histogram bins".into(),
                    got: h.bins as u64,
                    max: 1 << 20,
                    message: format!("a histogram needs 1 to {} bins, got {}", 1 << 20, h.bins),
                });
            }
        }
        if let Some(q) = self.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
            return Err(input("quantiles", format!("quantile {q} is not in (0, 1)")));
        }
        let every = self.keep_every.max(1);
        if self.keep_paths > 0 && (self.keep_paths - 1).saturating_mul(every) >= job.paths {
            return Err(input(
                "keep_paths",
                format!(
                    "keep {} paths every {every} of {}: there are not that many",
                    self.keep_paths, job.paths
                ),
            ));
        }

        Ok(())
    }

    /// The steps at which the run saves, in order, ending with the job's last step.
    pub fn steps(&self, job: &Job) -> Result<Vec<u64>> {
        let n = job.steps as u64;
        if self.every.is_none() && self.times.is_empty() {
            return Ok(vec![n]);
        }
        let mut out: Vec<u64> = Vec::new();
        if let Some(k) = self.every {
            if k == 0 {
                return Err(input(
                    "save_every",
                    "save every 0 steps: give at least 1".into(),
                ));
            }
            out.extend((1..=n / k).map(|j| j * k));
        }
        for &t in &self.times {
            let k = (t - job.grid.t0) / job.grid.dt;
            let step = k.round();
            if !(step >= 1.0 && step <= n as f64 && (k - step).abs() <= 1e-6 * step.max(1.0)) {
                return Err(input(
                    "save times",
                    format!(
                        "save time {t} is not a step of the grid t0 {} + k dt (dt {}, k 1..{n})",
                        job.grid.t0, job.grid.dt
                    ),
                ));
            }
            out.push(step as u64);
        }
        out.push(n);
        out.sort_unstable();
        out.dedup();
        if out.len() > MAX_SAVES {
            return Err(Error::Limit {
                what: "save times".into(),
                got: out.len() as u64,
                max: MAX_SAVES as u64,
                message: format!(
                    "{} save times; at most {MAX_SAVES} (save less often)",
                    out.len()
                ),
            });
        }
        Ok(out)
    }
}

/// A value the user asked to observe that throng cannot use, named by `what`.
fn input(what: &str, message: String) -> Error {
    Error::Input {
        what: what.into(),
        message,
    }
}

/// Most save times one run may have.
pub const MAX_SAVES: usize = 1 << 16;

/// Statistics at one save time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Save {
    /// Steps from t0.
    pub step: u64,
    pub t: f64,
    pub stats: Stats,
    /// One per requested histogram.
    pub hist: Vec<HistCounts>,
    /// One per state component when quantiles were requested.
    pub quantiles: Vec<Quantiles>,
    /// States of the first `keep_paths` trajectories, trajectory-major (`[i * dim + c]`).
    pub paths: Vec<f64>,
    /// Statistics per point, every row (runs with replicas).
    pub points: Option<crate::reduce::PointStats>,
    /// Per point, one per requested histogram (runs with replicas).
    pub point_hist: Vec<PointHist>,
    /// Per point, one per row when quantiles were requested (runs with replicas).
    pub point_quantiles: Vec<PointQuantiles>,
}

/// A histogram of one state component at every save time: `bins` bins over [lo, hi), with
/// values below lo and at or above hi counted apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub component: usize,
    pub lo: f64,
    pub hi: f64,
    pub bins: u32,
}

/// Bins of the histograms quantiles are read from (per component and save time).
pub const QUANTILE_BINS: u32 = 4096;
/// Trajectories of the pilot run that sets the quantile histograms' ranges: the first ones
/// of the ensemble, whatever the chunking, so results do not depend on it.
pub const PILOT: u64 = 4096;

/// Counts of one histogram at one save time: `[below lo, bin 0, ..., bin B-1, at or above hi]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistCounts {
    pub component: usize,
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

/// One histogram at one save time for every point (runs with replicas): point p's counts
/// are `counts[p * (bins + 2)..][..bins + 2]`, laid out as [`HistCounts`]'s.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointHist {
    pub component: usize,
    pub lo: f64,
    pub hi: f64,
    pub bins: u32,
    pub counts: Vec<u64>,
}

/// Quantiles of one component at one save time for every point: point p's are
/// `values[p * levels..][..levels]`, read from its own quantile histogram over the range the
/// pilot set for the whole run (so `resolution` is the same for all points).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointQuantiles {
    pub component: usize,
    pub values: Vec<f64>,
    pub resolution: f64,
}

/// Quantiles of one component at one save time, read from a histogram of QUANTILE_BINS bins
/// by linear interpolation within the bin: each is within `resolution` (one bin) of the
/// sample quantile. NaN where the quantile falls outside the histogram's range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantiles {
    pub component: usize,
    pub values: Vec<f64>,
    pub resolution: f64,
}

/// The range a quantile histogram covers, from the pilot's min and max: 5 % margin each side.
pub fn quantile_range(min: f64, max: f64) -> (f64, f64) {
    if !(min.is_finite() && max.is_finite()) {
        return (-1.0, 1.0);
    }
    let span = (max - min).max(1e-6 * max.abs().max(min.abs()).max(1e-30));
    (min - 0.05 * span, max + 0.05 * span)
}

/// Reads quantiles `qs` from counts over [lo, hi) (layout of [`HistCounts`]).
pub fn quantiles_from(counts: &[u64], lo: f64, hi: f64, qs: &[f64]) -> Vec<f64> {
    let bins = counts.len() - 2;
    let width = (hi - lo) / bins as f64;
    let total: u64 = counts.iter().sum();
    qs.iter()
        .map(|&q| {
            let target = q * total as f64;
            let mut cum = 0.0;
            for (idx, &c) in counts.iter().enumerate() {
                let c = c as f64;
                if c > 0.0 && cum + c >= target {
                    if idx == 0 || idx == bins + 1 {
                        return f64::NAN;
                    }
                    let frac = ((target - cum) / c).clamp(0.0, 1.0);
                    return lo + ((idx - 1) as f64 + frac) * width;
                }
                cum += c;
            }
            f64::NAN
        })
        .collect()
}

/// Where the observers' results sit (histograms: the user's, then one per component for
/// quantiles).
#[derive(Clone, Debug, PartialEq)]
pub struct ObserverLayout {
    /// (component, bins, offset) per histogram.
    pub specs: Vec<(usize, u32, u32)>,
    /// Counters per save time.
    pub words: u32,
    pub quantile_first: usize,
    pub keep: u64,
    /// Kept trajectories are 0, keep_every, 2 keep_every, …
    pub keep_every: u64,
    /// Runs with replicas count histograms per point: `points` sets of `words` counters per
    /// save time, point p's at `(s * points + p) * words` (1 set without replicas).
    pub points: u64,
    pub replicas: Option<u64>,
}

impl ObserverLayout {
    /// `rows`: values per trajectory (state, functionals, step counts); quantiles cover all.
    pub fn new(sa: &SaveAt, rows: usize) -> ObserverLayout {
        let mut specs = Vec::new();
        let mut words = 0u32;
        for h in &sa.hist {
            specs.push((h.component, h.bins, words));
            words += h.bins + 2;
        }
        let quantile_first = specs.len();
        if !sa.quantiles.is_empty() {
            for c in 0..rows {
                specs.push((c, QUANTILE_BINS, words));
                words += QUANTILE_BINS + 2;
            }
        }
        ObserverLayout {
            specs,
            words,
            quantile_first,
            keep: sa.keep_paths,
            keep_every: sa.keep_every.max(1),
            points: 1,
            replicas: None,
        }
    }

    /// Per point, for runs with `replicas` trajectories per point (`points` of them).
    pub fn per_point(mut self, replicas: Option<u64>, points: u64) -> ObserverLayout {
        if replicas.is_some() {
            self.points = points;
            self.replicas = replicas;
        }
        self
    }

    /// Counters per save time, every point's.
    pub fn save_words(&self) -> u64 {
        self.points * self.words as u64
    }

    pub fn active(&self) -> bool {
        !self.specs.is_empty() || self.keep > 0
    }
}
