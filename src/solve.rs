//! A run on the device, stage by stage: plan (checks and sizes, no device call) → composed
//! kernels → resources (pipelines, buffers) → recording (a plain list of commands) →
//! execution → solution. `cpu::solve` runs the same plan and recording on the CPU twin.

use std::time::Instant;

pub use crate::plan::{Options, Progress, ProgressInfo, DEFAULT_LANES};
pub use crate::solution::{Run, Solution, StepReport, Timing};

use crate::context::Context;
use crate::ensemble::Job;
use crate::error::Result;
use crate::exec;
use crate::gpu::{GpuBackend, Resources};
use crate::plan::Plan;
use crate::record::{self, Recording};
use crate::solution;

/// Trajectories per invocation unless the caller chose ([`DEFAULT_LANES`] on every device
/// measured so far).
pub fn default_lanes(_ctx: &Context) -> u32 {
    DEFAULT_LANES
}

/// Integrates a job on the device and reduces its states there.
pub fn solve(ctx: &Context, job: &Job, opts: &Options) -> Result<Solution> {
    Ok(run(ctx, job, opts, exec::Resume::default())?.solution(job, &opts.save_at))
}

/// The same, after a checkpoint's outcome and reporting checkpoints, up to the outcome
/// (a shard's, to merge with the others').
pub fn run(ctx: &Context, job: &Job, opts: &Options, resume: exec::Resume) -> Result<Run> {
    let setup = Instant::now();
    ctx.check_lost()?;
    let plan = Plan::new(job, opts, &ctx.device_info())?;
    let kernels = record::kernels(job, &plan, &opts.save_at)?;
    let resources = Resources::new(ctx, &plan, &kernels)?;
    let recording = Recording::new(&plan);
    let setup_s = setup.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut backend = GpuBackend::new(ctx, &resources);
    let outcome = exec::execute_with(job, &plan, &recording, opts, &mut backend, resume)?;
    let timing = solution::Timing {
        setup_s,
        solve_s: start.elapsed().as_secs_f64(),
    };
    Ok(Run {
        plan,
        outcome,
        timing,
        adapter: ctx.adapter_label(),
    })
}
