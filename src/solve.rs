//! Running a job on the device: pipelines and buffers (setup), then chunk by chunk: integrate,
//! reduce, read the block partials back and merge them in block order.

use std::time::Instant;

use bytemuck::Zeroable;
use serde::Serialize;

use crate::context::Context;
use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::kernel::{self, partial_words, Target, BLOCK};
use crate::observe::{quantile_range, quantiles_from, HistCounts, Quantiles, Save, SaveAt};
use crate::observe::{PILOT, QUANTILE_BINS};
use crate::precision::Precision;
use crate::reduce::Stats;
use crate::schedule;
use crate::shader::Composed;

/// How to run (not what to run).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// At most this many trajectories per chunk (rounded down to a multiple of 256).
    pub chunk: Option<u64>,
    /// Read every terminal state back (component-major: `states[c * paths + i]`).
    pub keep_states: bool,
    /// Trajectories per invocation (1, 2 or 4); default [`default_lanes`].
    pub lanes: Option<u32>,
    /// Statistics at save times besides the end ([`crate::observe::SaveAt`]).
    pub save_at: SaveAt,
    /// At most this many steps per dispatch, so that no dispatch runs long on a display GPU
    /// (None: a whole segment between save times). Results do not depend on it.
    pub dispatch_steps: Option<u64>,
    /// Called after every chunk.
    pub progress: Option<Progress>,
    /// Checked between dispatches: once set, the run stops and returns the chunks it
    /// completed, marked partial.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Where a run stands, for [`Progress`].
#[derive(Clone, Copy, Debug)]
pub struct ProgressInfo {
    pub trajectories: u64,
    pub of: u64,
    /// Fixed-step methods: trajectory-steps done.
    pub trajectory_steps: u64,
    pub elapsed_s: f64,
    /// At the rate so far.
    pub eta_s: f64,
}

/// A progress callback.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(&ProgressInfo) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Trajectories per invocation unless the caller chose. Four measured fastest on lavapipe
/// (SIMD across invocations wants independent work in each) and on an H100 at scale
/// (BENCHMARKS.md); `--lanes` exists to measure other devices.
pub fn default_lanes(_ctx: &Context) -> u32 {
    4
}

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
    /// Trajectories that reached max_steps before t1 (their states are NaN, so they are
    /// also counted in `stats.nonfinite`).
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
}

/// Creates a compute pipeline from validated WGSL, with the layout naga derives from it.
pub(crate) fn pipeline(
    ctx: &Context,
    src: &Composed,
    label: &str,
) -> Result<wgpu::ComputePipeline> {
    src.validate(ctx.capabilities())?;
    if let Some(dir) = std::env::var_os("THRONG_DUMP_WGSL") {
        // For debugging: the exact composed kernel the driver sees.
        let _ = std::fs::write(
            std::path::Path::new(&dir).join(format!("{label}.wgsl")),
            &src.source,
        );
    }
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(src.source.as_str().into()),
        });
    Ok(ctx
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        }))
}

pub(crate) fn buffer(
    ctx: &Context,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16),
        usage,
        mapped_at_creation: false,
    })
}

pub(crate) fn bind(
    ctx: &Context,
    p: &wgpu::ComputePipeline,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let numbered: Vec<(u32, &wgpu::Buffer)> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u32, *b))
        .collect();
    bind_at(ctx, p, &numbered)
}

/// Binds buffers at explicit binding numbers.
pub(crate) fn bind_at(
    ctx: &Context,
    p: &wgpu::ComputePipeline,
    buffers: &[(u32, &wgpu::Buffer)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: *i,
            resource: b.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &p.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// A chunk's partials: batches already read, and the last batch still on the device
/// (parity of the read buffer, bytes, save times in it, the submission that copied it).
pub(crate) struct ChunkParts {
    /// (a batch read back, offset of one save time's partials in it)
    read: Vec<(std::rc::Rc<Vec<u8>>, usize)>,
    tail: Option<(usize, u64, usize, wgpu::SubmissionIndex)>,
    chunk_bytes: usize,
}

/// Where the observers' results sit (histograms: the user's, then one per component for
/// quantiles).
pub(crate) struct ObserverLayout {
    /// (component, bins, offset) per histogram.
    pub specs: Vec<(usize, u32, u32)>,
    /// Counters per save time.
    pub words: u32,
    pub quantile_first: usize,
    pub keep: u64,
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
        }
    }

    pub fn active(&self) -> bool {
        !self.specs.is_empty() || self.keep > 0
    }
}

/// The observers' raw results: per save time, the histogram ranges and counters, and the
/// kept states.
pub(crate) struct Observed<'a> {
    pub layout: &'a ObserverLayout,
    pub ranges: &'a [(f64, f64)],
    pub hist: &'a [u64],
    pub kept: &'a [f64],
}

/// The save times a caller asked for (none unless `save_at` asks for more than the end).
pub(crate) fn saves_of(
    job: &Job,
    opts: &Options,
    steps: &[u64],
    stats: Vec<Stats>,
    observed: &Observed,
) -> Vec<Save> {
    let sa = &opts.save_at;
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
            let counts = |h: usize| {
                let (_, bins, off) = lay.specs[h];
                let base = s * lay.words as usize + off as usize;
                observed.hist[base..base + bins as usize + 2].to_vec()
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
                    .map(|c| {
                        let h = lay.quantile_first + c;
                        let (lo, hi) = observed.ranges[s * nh + h];
                        Quantiles {
                            component: c,
                            values: quantiles_from(&counts(h), lo, hi, &sa.quantiles),
                            resolution: (hi - lo) / QUANTILE_BINS as f64,
                        }
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
            }
        })
        .collect()
}

/// Splits an adaptive run's statistics into the state's and the step counts'.
pub(crate) fn split_counts(
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

/// Waits for the queue and copies `size` bytes out of a MAP_READ buffer.
pub(crate) fn read_back(ctx: &Context, buf: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
    read_back_after(ctx, buf, size, None)
}

/// The same, waiting only for submission `after` (the one that filled `buf`), not for work
/// submitted since: the device keeps computing while the host reads.
pub(crate) fn read_back_after(
    ctx: &Context,
    buf: &wgpu::Buffer,
    size: u64,
    after: Option<wgpu::SubmissionIndex>,
) -> Result<Vec<u8>> {
    let slice = buf.slice(..size);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    let wait = match after {
        Some(idx) => wgpu::PollType::Wait {
            submission_index: Some(idx),
            timeout: None,
        },
        None => wgpu::PollType::wait_indefinitely(),
    };
    ctx.device
        .poll(wait)
        .map_err(|e| Error::DeviceLost(e.to_string()))?;
    ctx.check_lost()?;
    rx.recv()
        .map_err(|_| Error::Gpu("buffer mapping was abandoned".into()))?
        .map_err(|e| Error::Gpu(format!("could not read results back: {e}")))?;
    let data = slice
        .get_mapped_range()
        .map_err(|e| Error::Gpu(e.to_string()))?
        .to_vec();
    buf.unmap();
    Ok(data)
}

/// Uploads reals in the run's precision.
fn write_reals(ctx: &Context, buf: &wgpu::Buffer, values: &[f64], precision: Precision) {
    match precision {
        Precision::F32 => {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            ctx.queue.write_buffer(buf, 0, bytemuck::cast_slice(&v));
        }
        Precision::F64 => ctx.queue.write_buffer(buf, 0, bytemuck::cast_slice(values)),
    }
}

/// Reals read back in the run's precision, widened to f64.
fn reals(raw: &[u8], precision: Precision) -> Vec<f64> {
    match precision {
        Precision::F32 => bytemuck::cast_slice::<u8, f32>(raw)
            .iter()
            .map(|&v| v as f64)
            .collect(),
        Precision::F64 => bytemuck::cast_slice::<u8, f64>(raw).to_vec(),
    }
}

/// Fails with the first validation error raised since `scope` was pushed.
pub(crate) fn check_scope(ctx: &Context, scope: wgpu::ErrorScopeGuard) -> Result<()> {
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu(e.to_string()));
    }
    ctx.check_lost()
}

/// Mirror of `Chunk` in shaders/chunk.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ChunkUniform {
    first: u32,
    count: u32,
    stride: u32,
    step0: u32,
    steps: u32,
    save: u32,
    blocks: u32,
    save_index: u32,
}

/// Integrates a job on the device and reduces its terminal states there.
pub fn solve(ctx: &Context, job: &Job, opts: &Options) -> Result<Solution> {
    let setup = Instant::now();
    ctx.check_lost()?;
    if job.precision == Precision::F64 && !ctx.has_f64() {
        return Err(Error::Invalid(format!(
            "f64 needs SHADER_F64, which adapter `{}` does not offer; run in f32",
            ctx.adapter_label()
        )));
    }
    let rows = job.rows();
    let bytes = job.precision.bytes();
    // A value of f64 occupies two f32 slots of the chunk plan.
    let plan = schedule::plan(
        job.paths,
        rows * (bytes / 4) as usize,
        (&ctx.limits).into(),
        opts.chunk,
    )?;
    let lanes = match (job.method.is_adaptive(), opts.lanes) {
        // The user's drift takes one t, and adaptive trajectories' times differ.
        (true, None | Some(1)) => 1,
        (true, Some(l)) => {
            return Err(Error::Invalid(format!(
                "method {} runs one trajectory per invocation; lanes {l} is not available",
                job.method.name()
            )))
        }
        (false, l) => l.unwrap_or_else(|| default_lanes(ctx)),
    };
    if ![1, 2, 4].contains(&lanes) {
        return Err(Error::Invalid(format!(
            "lanes must be 1, 2 or 4, got {lanes}"
        )));
    }
    let save_steps = opts.save_at.steps(job)?;
    let target = Target {
        int64: ctx.has_int64(),
        lanes,
        segmented: save_steps.len() > 1 || opts.dispatch_steps.is_some(),
    };
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let integrate = pipeline(ctx, &kernel::integrate(job, target)?, job.method.name())?;
    let reduce = pipeline(ctx, &kernel::reduce(rows, lanes, job.precision)?, "reduce")?;
    let sa = &opts.save_at;
    sa.check(job)?;
    let dim = job.system.dim();
    let obs = ObserverLayout::new(sa, rows);
    let observe = if obs.active() {
        Some(pipeline(
            ctx,
            &kernel::observe(
                dim,
                lanes,
                job.precision,
                &obs.specs,
                obs.words,
                sa.keep_paths,
                sa.keep_every,
            )?,
            "observe",
        )?)
    } else {
        None
    };

    use wgpu::BufferUsages as B;
    let cap = plan.capacity;
    let stride = cap / lanes as u64;
    let state_bytes = cap * rows as u64 * bytes;
    let blocks = cap / BLOCK as u64;
    let nsaves = save_steps.len() as u64;
    if opts.dispatch_steps.is_some() && job.method.is_adaptive() {
        return Err(Error::Invalid(format!(
            "--dispatch-steps does not apply to {}: its dispatches end at save times, where it \
             cuts its steps (use --save-every to shorten them)",
            job.method.name()
        )));
    }
    if let Some(0) = opts.dispatch_steps {
        return Err(Error::Invalid(
            "at most 0 steps per dispatch: give at least 1".into(),
        ));
    }
    // Partials of several save times wait on the device in slots (up to 64 MiB) and are read
    // back together: one readback per batch of saves, not per save.
    let slot_bytes = blocks * partial_words(rows) as u64 * bytes;
    let budget = (64u64 << 20).min(ctx.limits.max_storage_buffer_binding_size);
    let slots = (budget / slot_bytes).clamp(1, save_steps.len() as u64);
    let partial_bytes = slots * slot_bytes;
    let uniform = buffer(
        ctx,
        "chunk",
        std::mem::size_of::<ChunkUniform>() as u64,
        B::UNIFORM | B::COPY_DST,
    );
    let states = buffer(ctx, "states", state_bytes, B::STORAGE | B::COPY_SRC);
    let partials = buffer(ctx, "partials", partial_bytes, B::STORAGE | B::COPY_SRC);
    // Two, so that one chunk's partials can be read while the next chunk computes.
    let partials_read = [0, 1].map(|_| {
        buffer(
            ctx,
            "partials read",
            partial_bytes,
            B::MAP_READ | B::COPY_DST,
        )
    });
    let states_read = opts
        .keep_states
        .then(|| buffer(ctx, "states read", state_bytes, B::MAP_READ | B::COPY_DST));
    // Inputs the host computes (log sweeps, grids, files, random initial states): one row
    // of `cap` values per table, refilled for each chunk.
    let table_bytes = job.tables as u64 * cap * bytes;
    if table_bytes > ctx.limits.max_storage_buffer_binding_size {
        return Err(Error::Invalid(
            "too many per-trajectory input tables for one binding".into(),
        ));
    }
    let inputs =
        (job.tables > 0).then(|| buffer(ctx, "inputs", table_bytes, B::STORAGE | B::COPY_DST));
    // Adaptive runs count unfinished trajectories and the lowest index among them.
    let events = job
        .method
        .is_adaptive()
        .then(|| buffer(ctx, "events", 8, B::STORAGE | B::COPY_DST | B::COPY_SRC));
    let events_read = events
        .as_ref()
        .map(|_| buffer(ctx, "events read", 8, B::MAP_READ | B::COPY_DST));
    let mut integrate_buffers = vec![(0, &uniform), (1, &states)];
    integrate_buffers.extend(inputs.as_ref().map(|t| (2, t)));
    integrate_buffers.extend(events.as_ref().map(|e| (3, e)));
    let integrate_bind = bind_at(ctx, &integrate, &integrate_buffers);
    let reduce_bind = bind(ctx, &reduce, &[&uniform, &states, &partials]);
    // Observers: histogram counters and kept paths for every save time, on the device until
    // the end (integer counts, so the order chunks arrive in does not matter).
    let hist_bytes = nsaves * obs.words as u64 * 4;
    let kept_bytes = nsaves * sa.keep_paths * dim as u64 * bytes;
    for (what, b) in [("histograms", hist_bytes), ("kept paths", kept_bytes)] {
        if b > ctx.limits.max_storage_buffer_binding_size {
            return Err(Error::Invalid(format!(
                "{what} at {nsaves} save times need {b} bytes, more than one binding holds \
                 ({}); save less often or ask for less",
                ctx.limits.max_storage_buffer_binding_size
            )));
        }
    }
    let hist = buffer(ctx, "hist", hist_bytes, B::STORAGE | B::COPY_SRC);
    let ranges = buffer(
        ctx,
        "ranges",
        nsaves * obs.specs.len() as u64 * 2 * bytes,
        B::STORAGE | B::COPY_DST,
    );
    let kept_paths = buffer(ctx, "kept", kept_bytes, B::STORAGE | B::COPY_SRC);
    let device_bytes = [
        &uniform,
        &states,
        &partials,
        &partials_read[0],
        &partials_read[1],
        &hist,
        &ranges,
        &kept_paths,
    ]
    .iter()
    .map(|b| b.size())
    .sum::<u64>()
        + [&states_read, &inputs, &events, &events_read]
            .iter()
            .filter_map(|b| b.as_ref().map(|b| b.size()))
            .sum::<u64>()
        // read-back copies of the observers, made at the end
        + if obs.active() { hist_bytes + kept_bytes } else { 0 };
    let observe_bind = observe
        .as_ref()
        .map(|o| bind(ctx, o, &[&uniform, &states, &hist, &ranges, &kept_paths]));
    // Some drivers (lavapipe) compile a pipeline at its first dispatch: dispatch both once
    // on an empty chunk (count 0: every invocation returns) so that compilation is setup.
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&integrate);
        pass.set_bind_group(0, &integrate_bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
        pass.set_pipeline(&reduce);
        pass.set_bind_group(0, &reduce_bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
        if let (Some(o), Some(b)) = (&observe, &observe_bind) {
            pass.set_pipeline(o);
            pass.set_bind_group(0, b, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
    }
    ctx.queue
        .write_buffer(&uniform, 0, bytemuck::bytes_of(&ChunkUniform::zeroed()));
    let idx = ctx.queue.submit([enc.finish()]);
    // A validation error (reported by the scope) makes the submission fail, and waiting on
    // it then fails too: report the cause, not the wait.
    check_scope(ctx, scope)?;
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(idx),
            timeout: None,
        })
        .map_err(|e| Error::DeviceLost(e.to_string()))?;
    let setup_s = setup.elapsed().as_secs_f64();

    let solve_start = Instant::now();
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    };
    // One chunk through every segment: integrate, and at each save time reduce (and observe).
    // Returns None if cancelled before the chunk was complete (its statistics are dropped).
    // The last batch of partials is copied into partials_read[parity] but not read: the
    // caller reads it with `finish` after submitting the next chunk.
    let run_chunk =
        |chunk: &schedule::Chunk, observing: bool, parity: usize| -> Result<Option<ChunkParts>> {
            if let Some(t) = &inputs {
                let table = job.table_rows(chunk.first, chunk.count, cap);
                write_reals(ctx, t, &table, job.precision);
            }
            if let Some(e) = &events {
                ctx.queue
                    .write_buffer(e, 0, bytemuck::cast_slice(&[0u32, u32::MAX]));
            }
            let invocations = chunk.count.div_ceil(lanes as u64);
            let chunk_blocks = chunk.count.div_ceil(BLOCK as u64);
            // Block partials per save time, merged into the totals block by block once the
            // chunk is complete: the same merge order for any chunking.
            let mut parts = ChunkParts {
                read: Vec::new(),
                tail: None,
                chunk_bytes: 0,
            };
            let chunk_bytes = (chunk_blocks * partial_words(rows) as u64 * bytes) as usize;
            let mut step0 = 0u64;
            let mut slot = 0u64;
            for (s, &save_step) in save_steps.iter().enumerate() {
                // The segment step0 .. save_step, in dispatches of at most dispatch_steps steps.
                while step0 < save_step {
                    if cancelled() {
                        return Ok(None);
                    }
                    let steps = (save_step - step0).min(opts.dispatch_steps.unwrap_or(u64::MAX));
                    let ends_segment = step0 + steps == save_step;
                    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
                    let u = ChunkUniform {
                        first: chunk.first as u32,
                        count: chunk.count as u32,
                        stride: stride as u32,
                        step0: step0 as u32,
                        steps: steps as u32,
                        save: slot as u32,
                        blocks: blocks as u32,
                        save_index: s as u32,
                    };
                    ctx.queue.write_buffer(&uniform, 0, bytemuck::bytes_of(&u));
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    {
                        let mut pass = enc.begin_compute_pass(&Default::default());
                        pass.set_pipeline(&integrate);
                        pass.set_bind_group(0, &integrate_bind, &[]);
                        pass.dispatch_workgroups(
                            invocations.div_ceil(target.workgroup() as u64) as u32,
                            1,
                            1,
                        );
                        if ends_segment {
                            pass.set_pipeline(&reduce);
                            pass.set_bind_group(0, &reduce_bind, &[]);
                            pass.dispatch_workgroups(chunk_blocks.div_ceil(64) as u32, 1, 1);
                            if let (true, Some(o), Some(b)) = (observing, &observe, &observe_bind) {
                                pass.set_pipeline(o);
                                pass.set_bind_group(0, b, &[]);
                                pass.dispatch_workgroups(
                                    chunk.count.div_ceil(BLOCK as u64) as u32,
                                    1,
                                    1,
                                );
                            }
                        }
                    }
                    ctx.queue.submit([enc.finish()]);
                    check_scope(ctx, scope)?;
                    step0 += steps;
                }
                slot += 1;
                if slot == slots || s + 1 == save_steps.len() {
                    let used = slot * slot_bytes;
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    enc.copy_buffer_to_buffer(&partials, 0, &partials_read[parity], 0, used);
                    let idx = ctx.queue.submit([enc.finish()]);
                    if s + 1 == save_steps.len() {
                        parts.tail = Some((parity, used, slot as usize, idx));
                    } else {
                        let raw = std::rc::Rc::new(read_back_after(
                            ctx,
                            &partials_read[parity],
                            used,
                            Some(idx),
                        )?);
                        for k in 0..slot as usize {
                            parts.read.push((raw.clone(), k * slot_bytes as usize));
                        }
                    }
                    slot = 0;
                }
            }
            parts.chunk_bytes = chunk_bytes;
            Ok(Some(parts))
        };
    // Reads a chunk's last batch and merges all its partials into the totals, in block order.
    let finish = |parts: ChunkParts, saved: &mut [Stats]| -> Result<()> {
        let mut all = parts.read;
        if let Some((parity, used, n, idx)) = parts.tail {
            let raw = std::rc::Rc::new(read_back_after(
                ctx,
                &partials_read[parity],
                used,
                Some(idx),
            )?);
            for k in 0..n {
                all.push((raw.clone(), k * slot_bytes as usize));
            }
        }
        for (total, (raw, at)) in saved.iter_mut().zip(&all) {
            let raw = &raw[*at..][..parts.chunk_bytes];
            match job.precision {
                Precision::F32 => total.absorb_blocks(bytemuck::cast_slice(raw)),
                Precision::F64 => total.absorb_blocks64(bytemuck::cast_slice(raw)),
            }
        }
        Ok(())
    };

    // Quantile histograms need a range per save time before the run: the min and max of a
    // pilot over the first PILOT trajectories (fixed, so independent of the chunking).
    let mut obs_ranges = vec![(0.0f64, 1.0f64); save_steps.len() * obs.specs.len()];
    for row in obs_ranges.chunks_mut(obs.specs.len().max(1)) {
        for (h, spec) in sa.hist.iter().enumerate() {
            row[h] = (spec.lo, spec.hi);
        }
    }
    if !sa.quantiles.is_empty() {
        let pilot_n = job.paths.min(PILOT);
        let mut pilot = vec![Stats::empty(rows); save_steps.len()];
        let mut first = 0;
        while first < pilot_n {
            let chunk = schedule::Chunk {
                first,
                count: (pilot_n - first).min(cap),
            };
            match run_chunk(&chunk, false, 0)? {
                Some(parts) => finish(parts, &mut pilot)?,
                None => break,
            }
            first += chunk.count;
        }
        for (s, st) in pilot.iter().enumerate() {
            for c in 0..rows {
                obs_ranges[s * obs.specs.len() + obs.quantile_first + c] =
                    quantile_range(st.min[c], st.max[c]);
            }
        }
    }
    if obs.active() {
        let packed: Vec<f64> = obs_ranges
            .iter()
            .enumerate()
            .flat_map(|(k, &(lo, hi))| {
                let bins = obs.specs[k % obs.specs.len().max(1)].1 as f64;
                [lo, bins / (hi - lo)]
            })
            .collect();
        write_reals(ctx, &ranges, &packed, job.precision);
    }

    let mut saved = vec![Stats::empty(rows); save_steps.len()];
    let mut kept = opts
        .keep_states
        .then(|| vec![0f64; job.paths as usize * rows]);
    let (mut unfinished, mut first_unfinished) = (0u64, None);
    let mut done = 0u64;
    let mut partial = false;
    // Chunk i + 1 is submitted before chunk i's partials are read and merged, so the device
    // computes while the host reads (unless states or step counts are read back per chunk).
    let mut previous: Option<ChunkParts> = None;
    for (i, chunk) in plan.chunks.iter().enumerate() {
        let parts = run_chunk(chunk, true, i % 2)?;
        if let Some(p) = previous.take() {
            finish(p, &mut saved)?;
        }
        let Some(parts) = parts else {
            partial = true;
            break;
        };
        previous = Some(parts);
        done += chunk.count;
        if let Some(p) = &opts.progress {
            let elapsed = solve_start.elapsed().as_secs_f64();
            let rate = done as f64 / elapsed;
            (p.0)(&ProgressInfo {
                trajectories: done,
                of: job.paths,
                trajectory_steps: done * job.steps as u64,
                elapsed_s: elapsed,
                eta_s: (job.paths - done) as f64 / rate,
            });
        }
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        if let (Some(e), Some(er)) = (&events, &events_read) {
            enc.copy_buffer_to_buffer(e, 0, er, 0, 8);
        }
        if let Some(sr) = &states_read {
            enc.copy_buffer_to_buffer(&states, 0, sr, 0, state_bytes);
        }
        ctx.queue.submit([enc.finish()]);
        if let Some(er) = &events_read {
            let ev: Vec<u32> = bytemuck::cast_slice(&read_back(ctx, er, 8)?).to_vec();
            unfinished += ev[0] as u64;
            if ev[0] > 0 && first_unfinished.is_none() {
                first_unfinished = Some(ev[1] as u64);
            }
        }
        if let (Some(sr), Some(out)) = (&states_read, kept.as_mut()) {
            let vals = reals(&read_back(ctx, sr, state_bytes)?, job.precision);
            let n = job.paths as usize;
            for c in 0..rows {
                let src = &vals[c * cap as usize..][..chunk.count as usize];
                out[c * n + chunk.first as usize..][..chunk.count as usize].copy_from_slice(src);
            }
        }
    }
    if let Some(p) = previous.take() {
        finish(p, &mut saved)?;
    }
    // Observers' results, read once at the end.
    let mut hist_counts = vec![0u64; (nsaves * obs.words as u64) as usize];
    let mut kept_values = vec![0f64; (nsaves * sa.keep_paths * dim as u64) as usize];
    if obs.active() {
        let hist_read = buffer(ctx, "hist read", hist_bytes, B::MAP_READ | B::COPY_DST);
        let kept_read = buffer(ctx, "kept read", kept_bytes, B::MAP_READ | B::COPY_DST);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&hist, 0, &hist_read, 0, hist_bytes.max(16).min(hist.size()));
        enc.copy_buffer_to_buffer(
            &kept_paths,
            0,
            &kept_read,
            0,
            kept_bytes.max(16).min(kept_paths.size()),
        );
        ctx.queue.submit([enc.finish()]);
        if hist_bytes > 0 {
            let raw = read_back(ctx, &hist_read, hist_bytes)?;
            for (o, w) in hist_counts
                .iter_mut()
                .zip(bytemuck::cast_slice::<u8, u32>(&raw))
            {
                *o = *w as u64;
            }
        }
        if kept_bytes > 0 {
            kept_values = reals(&read_back(ctx, &kept_read, kept_bytes)?, job.precision);
        }
    }
    let observed = Observed {
        layout: &obs,
        ranges: &obs_ranges,
        hist: &hist_counts,
        kept: &kept_values,
    };
    let stats = saved.last().cloned().expect("at least one save: the end");
    let saves = saves_of(job, opts, &save_steps, saved, &observed);
    let (stats, adaptive) = split_counts(job, stats, unfinished, first_unfinished);
    Ok(Solution {
        stats,
        saves,
        adaptive,
        partial,
        completed: done,
        states: kept,
        timing: Timing {
            setup_s,
            solve_s: solve_start.elapsed().as_secs_f64(),
        },
        adapter: ctx.adapter_label(),
        chunks: plan.chunks.len(),
        chunk_capacity: cap,
        device_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::ChunkUniform;
    use crate::shader::{compose, Source};

    #[test]
    fn chunk_uniform_matches_the_wgsl_layout() {
        let root = Source::new(
            "root",
            "#import chunk\n@compute @workgroup_size(1) fn main() { _ = chunk.first; }\n",
        );
        let module = compose(&[root], &[], &[], &[])
            .unwrap()
            .validate(naga::valid::Capabilities::empty())
            .unwrap();
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Chunk"))
            .unwrap();
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("Chunk is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<ChunkUniform>());
        let offsets: Vec<u32> = members.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [0, 4, 8, 12, 16, 20, 24, 28]);
    }
}
