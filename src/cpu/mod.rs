//! Plain-Rust twins of the kernels, same names and same math as `shaders/`: the oracle the
//! tests compare the device against, and a baseline for benchmarks.

pub mod dopri5;
pub mod normal;
pub mod observe;
pub mod phi;
pub mod philox;
pub mod reduce;
pub mod rk4;
pub mod sde;
pub mod systems;

use std::ops::{Add, Div, Mul, Neg, Sub};
use std::time::Instant;

use crate::ensemble::{Job, StepConsts};
use crate::error::Result;
use crate::method::Method;
use crate::precision::Precision;
use crate::reduce::Stats;
use crate::solve::{Options, Solution, Timing};

/// The float arithmetic the twins are generic over (f32 to mirror kernels, f64 as reference).
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Default
    + Send
    + Sync
{
    fn of(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// The largest finite value.
    fn max_finite() -> Self;
    fn exp(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    /// phi1 and phi2 as the kernels of this precision evaluate them.
    fn phi1(self) -> Self;
    fn phi2(self) -> Self;
    fn phi3(self) -> Self;
    /// A job's step constants in this precision.
    fn consts(job: &Job) -> StepConsts<Self>;
}

impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn max_finite() -> Self {
        f32::MAX
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn phi1(self) -> Self {
        phi::phi1(self)
    }
    fn phi2(self) -> Self {
        phi::phi2(self)
    }
    fn phi3(self) -> Self {
        phi::phi3(self)
    }
    fn consts(job: &Job) -> StepConsts<Self> {
        job.consts
    }
}

impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn max_finite() -> Self {
        f64::MAX
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn phi1(self) -> Self {
        phi::phi1_f64(self)
    }
    fn phi2(self) -> Self {
        phi::phi2_f64(self)
    }
    fn phi3(self) -> Self {
        phi::phi3_f64(self)
    }
    fn consts(job: &Job) -> StepConsts<Self> {
        job.consts64
    }
}

/// Terminal state of trajectory `i`, as the job's kernel computes it (in the job's
/// precision, widened to f64).
pub fn trajectory(job: &Job, i: u64) -> Vec<f64> {
    match job.precision {
        Precision::F32 => trajectory_in::<f32>(job, i)
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        Precision::F64 => trajectory_in::<f64>(job, i),
    }
}

fn trajectory_in<T: Real>(job: &Job, i: u64) -> Vec<T> {
    match job.method {
        Method::EulerMaruyama
        | Method::Milstein
        | Method::Heun
        | Method::Setd1
        | Method::Etdrk2
        | Method::Etdrk4 => sde::sde_trajectory(job, i),
        Method::Rk4 => rk4::rk4_trajectory(job, i),
        Method::Dopri5(_) => dopri5::dopri5_trajectory(job, i),
    }
}

/// Terminal states of trajectories `first..first + count`, component-major, on all cores.
/// The job's system must have a Rust twin ([`solve`] checks).
pub fn states(job: &Job, first: u64, count: u64) -> Vec<f64> {
    let dim = job.rows();
    let n = count as usize;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.max(1));
    let per = n.div_ceil(threads);
    let mut rows: Vec<Vec<f64>> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let lo = (t * per).min(n);
                    let hi = ((t + 1) * per).min(n);
                    let mut out = Vec::with_capacity((hi - lo) * dim);
                    for j in lo..hi {
                        out.extend(trajectory(job, first + j as u64));
                    }
                    out
                })
            })
            .collect();
        rows = handles.into_iter().map(|h| h.join().unwrap()).collect();
    });
    let flat: Vec<f64> = rows.concat();
    let mut out = vec![0.0f64; n * dim];
    for j in 0..n {
        for c in 0..dim {
            out[c * n + j] = flat[j * dim + c];
        }
    }
    out
}

/// The CPU twin of [`crate::solve`]: the same job, the same statistics layout.
pub fn solve(job: &Job, opts: &Options) -> Result<Solution> {
    let has_twin = job.system.twin.is_some()
        && matches!(
            job.system.noise,
            crate::system::Noise::None | crate::system::Noise::Diagonal
        );
    if !has_twin {
        return Err(crate::error::Error::Invalid(format!(
            "system `{}` has no CPU twin (only gbm, ou, lorenz and linear do); run it on a device",
            job.system.name
        )));
    }
    let t0 = Instant::now();
    let dim = job.rows();
    let n = job.paths as usize;
    let reduce_states = |states: &[f64]| {
        let mut stats = Stats::empty(dim);
        match job.precision {
            Precision::F32 => {
                let v: Vec<f32> = states.iter().map(|&x| x as f32).collect();
                stats.absorb_blocks(&reduce::block_partials(&v, n, dim));
            }
            Precision::F64 => stats.absorb_blocks64(&reduce::block_partials64(states, n, dim)),
        }
        stats
    };
    // Each save time: the same job cut at that step (the noise is keyed by step, so the
    // shorter run passes through the same states).
    opts.save_at.check(job)?;
    let save_steps = opts.save_at.steps(job)?;
    let (per_save, states) = if job.method.is_adaptive() && save_steps.len() > 1 {
        // dopri5 cuts its steps at save times: integrate each trajectory segment by segment.
        let rows = job.rows();
        let mut all = vec![vec![0.0f64; n * rows]; save_steps.len()];
        for i in 0..n {
            let segs: Vec<Vec<f64>> = match job.precision {
                Precision::F32 => dopri5::dopri5_segments::<f32>(job, i as u64, &save_steps)
                    .into_iter()
                    .map(|r| r.into_iter().map(|v| v as f64).collect())
                    .collect(),
                Precision::F64 => dopri5::dopri5_segments::<f64>(job, i as u64, &save_steps),
            };
            for (s, row) in segs.iter().enumerate() {
                for c in 0..rows {
                    all[s][c * n + i] = row[c];
                }
            }
        }
        let last = all.pop().unwrap();
        (all, last)
    } else {
        let per_save: Vec<Vec<f64>> = save_steps[..save_steps.len() - 1]
            .iter()
            .map(|&m| {
                let mut part = job.clone();
                part.steps = m as u32;
                states(&part, 0, job.paths)
            })
            .collect();
        (per_save, states(job, 0, job.paths))
    };
    let all: Vec<&[f64]> = per_save
        .iter()
        .map(|v| v.as_slice())
        .chain([states.as_slice()])
        .collect();
    let saved: Vec<Stats> = all.iter().map(|s| reduce_states(s)).collect();
    let stats = saved.last().cloned().expect("the end is a save");
    let host = observe::observers(job, &opts.save_at, &all);
    let observed = crate::solve::Observed {
        layout: &host.layout,
        ranges: &host.ranges,
        hist: &host.hist,
        kept: &host.kept,
    };
    let saves = crate::solve::saves_of(job, opts, &save_steps, saved, &observed);
    // Unfinished adaptive trajectories: NaN state after max_steps steps.
    let (mut unfinished, mut first_unfinished) = (0u64, None);
    if let Method::Dopri5(ctl) = job.method {
        let d = job.system.dim();
        for i in 0..n {
            let taken = states[d * n + i] + states[(d + 1) * n + i];
            if states[i].is_nan() && taken >= ctl.max_steps as f64 {
                unfinished += 1;
                first_unfinished.get_or_insert(i as u64);
            }
        }
    }
    let (stats, adaptive) = crate::solve::split_counts(job, stats, unfinished, first_unfinished);
    Ok(Solution {
        stats,
        saves,
        adaptive,
        partial: false,
        completed: job.paths,
        states: opts.keep_states.then_some(states),
        timing: Timing {
            setup_s: 0.0,
            solve_s: t0.elapsed().as_secs_f64(),
        },
        adapter: "cpu twin".into(),
        chunks: 1,
        chunk_capacity: job.paths,
        device_bytes: 0,
    })
}
