//! The last stage of a run: its raw outcome, from either executor, assembled into a
//! [`Solution`] by one function.

use serde::Serialize;

use crate::ensemble::Job;
use crate::exec::Outcome;
use crate::observe::QUANTILE_BINS;
use crate::observe::{
    quantiles_from, HistCounts, ObserverLayout, PointHist, PointQuantiles, Quantiles, Save, SaveAt,
};
use crate::plan::Plan;
use crate::reduce::{MergeTree, PointStats, Stats};

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Timing {
    /// Kernel composition, validation, pipelines and buffers.
    pub setup_s: f64,
    /// From the first dispatch to statistics on the host.
    pub solve_s: f64,
}

/// What an adaptive method reports besides the states: step counts per trajectory reduced
/// over the finite trajectories, and the trajectories that ran out of steps.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepReport {
    /// Statistics of accepted (component 0) and rejected (component 1) steps, the next step
    /// size (2) and the controller's last error norm (3; negative after a rejection).
    pub steps: Stats,
    /// Trajectories that did not reach t1: out of max_steps, blown up (a step taken whatever
    /// its error, of dt_min or one tree point, overflowed), with a step too short to move t,
    /// or stopped early by the driver (llvmpipe ends a shader's loops after 65535
    /// iterations: trial steps of one segment); their states are NaN, so they are also
    /// counted in `stats.nonfinite`.
    pub unfinished: u64,
    /// The lowest index among them, to replay it.
    pub first_unfinished: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Solution {
    /// Statistics of the terminal states.
    pub stats: Stats,
    /// Statistics at every save time, the last being the end (empty unless
    /// `Options::save_at` asked for save times).
    pub saves: Vec<Save>,
    /// Terminal states if kept, component-major, in the run's precision widened to f64.
    pub states: Option<Vec<f64>>,
    /// A derived system's device counters (`System::tally`; empty for other systems).
    pub tally: Vec<u64>,
    /// Terminal statistics per point (runs with replicas): point p's trajectories are
    /// `p * replicas .. (p + 1) * replicas`; every row of the run (`Job::row_names`).
    pub points: Option<PointStats>,
    /// Adaptive methods only.
    pub adaptive: Option<StepReport>,
    /// Cancelled: the statistics cover the first `completed` trajectories only.
    pub partial: bool,
    pub completed: u64,
    pub timing: Timing,
    pub adapter: String,
    pub chunks: usize,
    pub chunk_capacity: u64,
    /// Bytes of device buffers the run allocated (its device memory, bounded by the chunk
    /// and the observers, not by the number of trajectories).
    pub device_bytes: u64,
    /// Whether the observers ran fused into the integration kernel ([`crate::Options::fuse`]).
    pub fused: bool,
}

/// The observers' raw results: per save time, the histogram ranges and counters, and the
/// kept states.
struct Observed<'a> {
    pub layout: &'a ObserverLayout,
    pub ranges: &'a [(f64, f64)],
    pub hist: &'a [u64],
    pub kept: &'a [f64],
}

/// The save times a caller asked for (none unless `save_at` asks for more than the end).
fn saves_of(
    job: &Job,
    sa: &SaveAt,
    steps: &[u64],
    stats: Vec<Stats>,
    points: Vec<PointStats>,
    observed: &Observed,
) -> Vec<Save> {
    // Each save time's per-point statistics move into its Save (no copy: they can be large).
    let mut points: Vec<Option<PointStats>> = points.into_iter().map(Some).collect();
    if !sa.any() {
        return Vec::new();
    }
    let dim = job.system.dim();
    let lay = observed.layout;
    let nh = lay.specs.len();
    steps
        .iter()
        .zip(stats)
        .enumerate()
        .map(|(s, (&step, mut stats))| {
            if job.method.is_adaptive() {
                stats.split_off(dim);
            }
            // Point p's counts of histogram h; the totals sum every point's.
            let point_counts = |h: usize, p: u64| {
                let (_, bins, off) = lay.specs[h];
                let base = ((s as u64 * lay.points + p) * lay.words as u64) as usize + off as usize;
                &observed.hist[base..base + bins as usize + 2]
            };
            let counts = |h: usize| {
                let mut total = point_counts(h, 0).to_vec();
                for p in 1..lay.points {
                    for (t, c) in total.iter_mut().zip(point_counts(h, p)) {
                        *t += c;
                    }
                }
                total
            };
            let per_point = lay.replicas.is_some();
            let point_hist = (0..sa.hist.len())
                .filter(|_| per_point)
                .map(|h| {
                    let (lo, hi) = observed.ranges[s * nh + h];
                    PointHist {
                        component: lay.specs[h].0,
                        lo,
                        hi,
                        bins: lay.specs[h].1,
                        counts: (0..lay.points)
                            .flat_map(|p| point_counts(h, p).to_vec())
                            .collect(),
                    }
                })
                .collect();
            // Row c's quantile histogram: its range's resolution, and quantiles from counts.
            let qrange = |c: usize| observed.ranges[s * nh + lay.quantile_first + c];
            let resolution = |c: usize| {
                let (lo, hi) = qrange(c);
                (hi - lo) / QUANTILE_BINS as f64
            };
            let quantiles_of = |c: usize, counts: &[u64]| {
                let (lo, hi) = qrange(c);
                quantiles_from(counts, lo, hi, &sa.quantiles)
            };
            let point_quantiles = if sa.quantiles.is_empty() || !per_point {
                Vec::new()
            } else {
                (0..job.rows())
                    .map(|c| PointQuantiles {
                        component: c,
                        values: (0..lay.points)
                            .flat_map(|p| quantiles_of(c, point_counts(lay.quantile_first + c, p)))
                            .collect(),
                        resolution: resolution(c),
                    })
                    .collect()
            };
            let hist = (0..sa.hist.len())
                .map(|h| {
                    let (lo, hi) = observed.ranges[s * nh + h];
                    HistCounts {
                        component: lay.specs[h].0,
                        lo,
                        hi,
                        counts: counts(h),
                    }
                })
                .collect();
            let quantiles = if sa.quantiles.is_empty() {
                Vec::new()
            } else {
                (0..job.rows())
                    .map(|c| Quantiles {
                        component: c,
                        values: quantiles_of(c, &counts(lay.quantile_first + c)),
                        resolution: resolution(c),
                    })
                    .collect()
            };
            let k = (lay.keep as usize) * dim;
            Save {
                step,
                t: job.grid.t0 + job.grid.dt * step as f64,
                stats,
                hist,
                quantiles,
                paths: observed.kept[s * k..(s + 1) * k].to_vec(),
                points: points.get_mut(s).and_then(Option::take),
                point_hist,
                point_quantiles,
            }
        })
        .collect()
}

/// Splits an adaptive run's statistics into the state's and the step counts'.
fn split_counts(
    job: &Job,
    mut stats: Stats,
    unfinished: u64,
    first_unfinished: Option<u64>,
) -> (Stats, Option<StepReport>) {
    if !job.method.is_adaptive() {
        return (stats, None);
    }
    let steps = stats.split_off(job.system.dim());
    (
        stats,
        Some(StepReport {
            steps,
            unfinished,
            first_unfinished,
        }),
    )
}

/// A run's outcome before assembly, with the plan it ran (what a shard or a checkpoint
/// keeps comes from here).
pub struct Run {
    pub plan: Plan,
    pub outcome: Outcome,
    pub timing: Timing,
    pub adapter: String,
}

impl Run {
    /// The solution: [`assemble`].
    pub fn solution(self, job: &Job, sa: &SaveAt) -> Solution {
        assemble(job, &self.plan, sa, self.outcome, self.timing, self.adapter)
    }
}

/// Assembles what an executor read into a solution: statistics at each save time, the
/// observers' results, and an adaptive run's step counts split from the state's rows.
pub fn assemble(
    job: &Job,
    plan: &Plan,
    sa: &SaveAt,
    out: Outcome,
    timing: Timing,
    adapter: String,
) -> Solution {
    let observed = Observed {
        layout: &plan.observers,
        ranges: &out.ranges,
        hist: &out.hist,
        kept: &out.kept,
    };
    let saved: Vec<Stats> = out.saved.iter().map(MergeTree::total).collect();
    let stats = saved.last().cloned().expect("at least one save: the end");
    let terminal_points = out.points.last().cloned();
    let saves = saves_of(job, sa, &plan.save_steps, saved, out.points, &observed);
    let (stats, adaptive) = split_counts(job, stats, out.unfinished, out.first_unfinished);
    Solution {
        stats,
        saves,
        adaptive,
        partial: out.partial,
        completed: out.completed,
        states: out.states,
        tally: out.tally,
        points: terminal_points,
        timing,
        adapter,
        chunks: plan.chunks.len(),
        chunk_capacity: plan.capacity,
        device_bytes: plan.device_bytes,
        fused: plan.fused,
    }
}
