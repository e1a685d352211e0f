//! Running a job on the device: pipelines and buffers (setup), then chunk by chunk: integrate,
//! reduce, read the block partials back and merge them in block order.

use std::time::Instant;

use bytemuck::Zeroable;
use serde::Serialize;

use crate::context::Context;
use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::kernel::{self, partial_words, Target, BLOCK};
use crate::observe::{Save, SaveAt};
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
    /// Statistics of accepted (component 0) and rejected (component 1) steps.
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
    pub timing: Timing,
    pub adapter: String,
    pub chunks: usize,
    pub chunk_capacity: u64,
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
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &p.get_bind_group_layout(0),
        entries: &entries,
    })
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

/// The save times a caller asked for (none unless `save_at.every` is set).
pub(crate) fn saves_of(job: &Job, opts: &Options, steps: &[u64], stats: Vec<Stats>) -> Vec<Save> {
    if opts.save_at.every.is_none() {
        return Vec::new();
    }
    steps
        .iter()
        .zip(stats)
        .map(|(&step, stats)| Save {
            step,
            t: job.grid.t0 + job.grid.dt * step as f64,
            stats,
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
    let slice = buf.slice(..size);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
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
    pad: u32,
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
    let target = Target {
        int64: ctx.has_int64(),
        lanes,
    };
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let integrate = pipeline(ctx, &kernel::integrate(job, target)?, job.method.name())?;
    let reduce = pipeline(ctx, &kernel::reduce(rows, lanes, job.precision)?, "reduce")?;

    use wgpu::BufferUsages as B;
    let cap = plan.capacity;
    let stride = cap / lanes as u64;
    let state_bytes = cap * rows as u64 * bytes;
    let blocks = cap / BLOCK as u64;
    let save_steps = opts.save_at.steps(job)?;
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
    let partials_read = buffer(
        ctx,
        "partials read",
        partial_bytes,
        B::MAP_READ | B::COPY_DST,
    );
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
    }
    ctx.queue
        .write_buffer(&uniform, 0, bytemuck::bytes_of(&ChunkUniform::zeroed()));
    let idx = ctx.queue.submit([enc.finish()]);
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(idx),
            timeout: None,
        })
        .map_err(|e| Error::DeviceLost(e.to_string()))?;
    check_scope(ctx, scope)?;
    let setup_s = setup.elapsed().as_secs_f64();

    let solve_start = Instant::now();
    let mut saved = vec![Stats::empty(rows); save_steps.len()];
    let mut kept = opts
        .keep_states
        .then(|| vec![0f64; job.paths as usize * rows]);
    let (mut unfinished, mut first_unfinished) = (0u64, None);
    for chunk in &plan.chunks {
        if let Some(t) = &inputs {
            let table = job.table_rows(chunk.first, chunk.count, cap);
            match job.precision {
                Precision::F32 => {
                    let v: Vec<f32> = table.iter().map(|&x| x as f32).collect();
                    ctx.queue.write_buffer(t, 0, bytemuck::cast_slice(&v));
                }
                Precision::F64 => ctx.queue.write_buffer(t, 0, bytemuck::cast_slice(&table)),
            }
        }
        if let Some(e) = &events {
            ctx.queue
                .write_buffer(e, 0, bytemuck::cast_slice(&[0u32, u32::MAX]));
        }
        let invocations = chunk.count.div_ceil(lanes as u64);
        let chunk_blocks = chunk.count.div_ceil(BLOCK as u64);
        let mut step0 = 0u64;
        let mut slot = 0u64;
        let mut batch_first = 0usize;
        for (s, &save_step) in save_steps.iter().enumerate() {
            // The segment step0 .. save_step, in dispatches of at most dispatch_steps steps.
            while step0 < save_step {
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
                    pad: 0,
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
                enc.copy_buffer_to_buffer(&partials, 0, &partials_read, 0, used);
                ctx.queue.submit([enc.finish()]);
                let raw = read_back(ctx, &partials_read, used)?;
                let words_per_slot = (slot_bytes / bytes) as usize;
                let chunk_words = chunk_blocks as usize * partial_words(rows);
                for k in 0..slot as usize {
                    let stats = &mut saved[batch_first + k];
                    match job.precision {
                        Precision::F32 => {
                            let w: &[u32] = bytemuck::cast_slice(&raw);
                            stats.absorb_blocks(&w[k * words_per_slot..][..chunk_words]);
                        }
                        Precision::F64 => {
                            let w: &[f64] = bytemuck::cast_slice(&raw);
                            stats.absorb_blocks64(&w[k * words_per_slot..][..chunk_words]);
                        }
                    }
                }
                batch_first = s + 1;
                slot = 0;
            }
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
            let raw = read_back(ctx, sr, state_bytes)?;
            let vals: Vec<f64> = match job.precision {
                Precision::F32 => bytemuck::cast_slice::<u8, f32>(&raw)
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
                Precision::F64 => bytemuck::cast_slice::<u8, f64>(&raw).to_vec(),
            };
            let n = job.paths as usize;
            for c in 0..rows {
                let src = &vals[c * cap as usize..][..chunk.count as usize];
                out[c * n + chunk.first as usize..][..chunk.count as usize].copy_from_slice(src);
            }
        }
    }
    let stats = saved.last().cloned().expect("at least one save: the end");
    let saves = saves_of(job, opts, &save_steps, saved);
    let (stats, adaptive) = split_counts(job, stats, unfinished, first_unfinished);
    Ok(Solution {
        stats,
        saves,
        adaptive,
        states: kept,
        timing: Timing {
            setup_s,
            solve_s: solve_start.elapsed().as_secs_f64(),
        },
        adapter: ctx.adapter_label(),
        chunks: plan.chunks.len(),
        chunk_capacity: cap,
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
