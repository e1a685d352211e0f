//! Plain-Rust twins of the kernels, same names and same math as `shaders/`: the oracle the
//! tests compare the device against, and a baseline for benchmarks.

// Component loops index several arrays at once, as `#for c in DIM` does in the kernels.
#![allow(clippy::needless_range_loop)]

pub mod adaptive_heun;
pub mod adaptive_milstein;
pub mod adaptive_sra1;
pub mod combine;
pub mod controller;
pub mod dopri5;
pub mod em;
pub mod etdrk2;
pub mod etdrk4;
pub mod exec;
pub mod exponential;
pub mod fixed;
pub mod heun;
pub mod integrate;
pub mod milstein;
pub mod observe;
pub mod phi;
pub mod reduce;
pub mod rk4;
pub mod sampler;
pub mod sde_controller;
pub mod setd1;
pub mod systems;

// The noise is defined once, in `rng`; the twins draw it from there.
pub use crate::rng::{normal, philox};

use std::ops::{Add, Div, Mul, Neg, Sub};
use std::time::Instant;

use crate::ensemble::{Job, StepConsts};
use crate::error::{Error, Result};
use crate::plan::{DeviceInfo, Options, Plan};
use crate::precision::Precision;
use crate::record::Recording;
use crate::solution::{Run, Solution, Timing};
use crate::system::Noise;

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

/// Terminal rows of trajectory `i` (its state, and an adaptive method's controller rows), as
/// the job's kernel computes them (in the job's precision, widened to f64).
pub fn trajectory(job: &Job, i: u64) -> Vec<f64> {
    fn run<T: Real>(job: &Job, i: u64) -> Vec<f64> {
        let (mut row, p) = integrate::start::<T>(job, i, false);
        integrate::advance(job, i, &p, &mut row, (0, job.steps as u64), false);
        row.into_iter().map(T::to_f64).collect()
    }
    match job.precision {
        Precision::F32 => run::<f32>(job, i),
        Precision::F64 => run::<f64>(job, i),
    }
}

/// The CPU twin of [`crate::solve()`]: the same plan and recording, each dispatch run by its
/// kernel's twin on all cores.
pub fn solve(job: &Job, opts: &Options) -> Result<Solution> {
    Ok(run(job, opts, crate::exec::Resume::default())?.solution(job, &opts.save_at))
}

/// The CPU twin of [`crate::solve::run`].
pub fn run(job: &Job, opts: &Options, resume: crate::exec::Resume) -> Result<Run> {
    let has_twin = job.system.twin.is_some()
        && matches!(
            job.system.noise,
            Noise::None | Noise::Diagonal | Noise::Additive
        );
    if !has_twin {
        return Err(Error::Unsupported {
            feature: "a CPU twin",
            message: format!(
                "system `{}` has no CPU twin (only gbm, ou, lorenz and linear do); run it on a device",
                job.system.name
            ),
        });
    }
    let start = Instant::now();
    let plan = Plan::new(job, opts, &DeviceInfo::cpu())?;
    let recording = Recording::new(&plan);
    let mut backend = exec::CpuBackend::new(job, &plan);
    let outcome = crate::exec::execute_with(job, &plan, &recording, opts, &mut backend, resume)?;
    let timing = Timing {
        setup_s: 0.0,
        solve_s: start.elapsed().as_secs_f64(),
    };
    Ok(Run {
        plan,
        outcome,
        timing,
        adapter: "cpu twin".into(),
    })
}
