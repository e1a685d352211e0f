//! Embedding: a [`Stepper`] keeps an ensemble's states in a GPU buffer (its own, or one the
//! application made, e.g. with `STORAGE | VERTEX` to draw from it) and records the dispatches
//! that advance them into the application's command encoder. It never submits on its own:
//! the application submits, synchronises and draws; reading results back to the host is a
//! separate, explicit call.
//!
//! The states are the rows of a [`Plan::stepper`] (every trajectory in one binding), laid out
//! component-major ([`StateLayout`]). Each `encode` carries its own uniform (copied into the
//! uniform buffer inside the encoder), so several encodes in one encoder, or in several, take
//! effect in the order the application submits them. The noise is keyed by the global step,
//! so N encodes of k steps give bit for bit the states of one run of N·k steps.

use std::ops::Range;

use wgpu::util::DeviceExt;

use crate::context::Context;
use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::exec;
use crate::gpu::{self, External, Resources};
use crate::kernel::ChunkUniform;
use crate::plan::{Buf, Plan};
use crate::precision::Precision;
use crate::record::{self, Kernel};
use crate::reduce::Stats;

/// How to build a [`Stepper`].
#[derive(Clone, Debug, Default)]
pub struct StepperOptions {
    /// Trajectories per invocation (1, 2 or 4; adaptive methods 1). Default: as `solve`.
    pub lanes: Option<u32>,
    /// Keep the states in this buffer of the application's, from this offset (aligned to
    /// the device's `min_storage_buffer_offset_alignment`); it needs `STORAGE` usage, and
    /// `COPY_SRC` for [`Stepper::read_states`]. None: the stepper makes its own, with
    /// `STORAGE | VERTEX | COPY_SRC | COPY_DST`.
    pub states: Option<(wgpu::Buffer, u64)>,
}

/// Where the states sit in the state buffer: row `r` (state component, then any functional
/// and controller rows, [`Job::row_names`]) of trajectory `i` is the scalar (f32 or f64, as
/// the job's precision) at byte `offset + (r * stride + i) * scalar_bytes`, for
/// `i < paths`. The bytes from `offset` to `offset + bytes` belong to throng; the rest of
/// an application's buffer is never touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLayout {
    pub offset: u64,
    /// Scalars per row: `paths` rounded up to a multiple of 256.
    pub stride: u64,
    pub rows: usize,
    pub paths: u64,
    pub scalar_bytes: u64,
    /// Bytes throng uses from `offset`.
    pub bytes: u64,
}

impl StateLayout {
    /// The byte range of row `r`'s `paths` scalars, e.g. for a vertex buffer slice.
    pub fn row(&self, r: usize) -> Range<u64> {
        let start = self.offset + r as u64 * self.stride * self.scalar_bytes;
        start..start + self.paths * self.scalar_bytes
    }
}

/// An ensemble advanced inside an application's command encoders.
pub struct Stepper {
    ctx: Context,
    plan: Plan,
    res: Resources,
    /// Global steps recorded so far (the next encode starts here).
    step: u64,
    t0: f64,
    dt: f64,
    row_names: Vec<String>,
}

impl Stepper {
    /// Plans the job for `ctx`'s device (listing everything it lacks in one error), composes
    /// and builds the kernels and buffers, and uploads the per-trajectory input tables. The
    /// only queue work is `write_buffer` of those tables (and of the adaptive counters),
    /// which takes effect at the application's next submission; nothing is submitted.
    pub fn new(ctx: &Context, job: &Job, opts: StepperOptions) -> Result<Stepper> {
        ctx.check_lost()?;
        let dev = ctx.device_info();
        let plan = Plan::stepper(job, opts.lanes, &dev)?;
        let bytes = plan.buffer_bytes(Buf::States);
        let external = match opts.states {
            Some((buffer, offset)) => {
                let problem = if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
                    Some(format!(
                        "the state buffer needs STORAGE usage (it has {:?})",
                        buffer.usage()
                    ))
                } else if !offset.is_multiple_of(dev.storage_align) {
                    Some(format!(
                        "the state buffer's offset {offset} is not a multiple of the device's \
                         storage offset alignment ({})",
                        dev.storage_align
                    ))
                } else if offset.saturating_add(bytes) > buffer.size() {
                    Some(format!(
                        "the state buffer holds {} bytes; the states need {bytes} from offset \
                         {offset}",
                        buffer.size()
                    ))
                } else {
                    None
                };
                if let Some(message) = problem {
                    return Err(Error::Input {
                        what: "state buffer".into(),
                        message,
                    });
                }
                External { buffer, offset }
            }
            None => {
                use wgpu::BufferUsages as B;
                External {
                    buffer: gpu::buffer(
                        ctx,
                        "throng states",
                        bytes,
                        B::STORAGE | B::VERTEX | B::COPY_SRC | B::COPY_DST,
                    ),
                    offset: 0,
                }
            }
        };
        let kernels = record::kernels(job, &plan, &Default::default())?;
        let res = Resources::build(ctx, &plan, &kernels, Some(&external))?;
        if plan.tables > 0 {
            let table = job.table_rows(0, plan.paths, plan.capacity);
            ctx.queue.write_buffer(
                &res.buffers[&Buf::Inputs],
                0,
                &exec::real_bytes(&table, plan.precision),
            );
        }
        if plan.data > 0 {
            ctx.queue.write_buffer(
                &res.buffers[&Buf::Data],
                0,
                &exec::real_bytes(&job.system.table_values(), plan.precision),
            );
        }
        if plan.adaptive {
            ctx.queue.write_buffer(
                &res.buffers[&Buf::Events],
                0,
                bytemuck::cast_slice(&[0u32, u32::MAX]),
            );
        }
        Ok(Stepper {
            ctx: Context::borrow(&ctx.device, &ctx.queue),
            plan,
            res,
            step: 0,
            t0: job.grid.t0,
            dt: job.consts64.dt,
            row_names: job.row_names(),
        })
    }

    /// The buffer that holds the states ([`Stepper::layout`] says where).
    pub fn state_buffer(&self) -> &wgpu::Buffer {
        &self.res.buffers[&Buf::States]
    }

    pub fn layout(&self) -> StateLayout {
        StateLayout {
            offset: self.res.states_offset,
            stride: self.plan.capacity,
            rows: self.plan.rows,
            paths: self.plan.paths,
            scalar_bytes: self.plan.real_bytes,
            bytes: self.plan.buffer_bytes(Buf::States),
        }
    }

    /// Names of the rows, in order.
    pub fn row_names(&self) -> &[String] {
        &self.row_names
    }

    /// Global steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The time the states reach once everything recorded so far has run.
    pub fn time(&self) -> f64 {
        self.t0 + self.step as f64 * self.dt
    }

    /// Starts again from the job's initial states: the next encode initialises them (and an
    /// adaptive method's counts of trajectories out of steps start again, at the application's
    /// next submission).
    pub fn reset(&mut self) {
        self.step = 0;
        if self.plan.adaptive {
            self.ctx.queue.write_buffer(
                &self.res.buffers[&Buf::Events],
                0,
                bytemuck::cast_slice(&[0u32, u32::MAX]),
            );
        }
    }

    fn uniform(&self, step0: u64, steps: u64) -> ChunkUniform {
        ChunkUniform {
            first: 0,
            count: self.plan.paths as u32,
            stride: self.plan.stride as u32,
            step0: step0 as u32,
            steps: steps as u32,
            save: 0,
            blocks: self.plan.blocks as u32,
            save_index: 0,
            ..Default::default()
        }
    }

    /// Copies `u` into the uniform slot inside the encoder, so it takes effect in order with
    /// the dispatches around it (a queue write would land before the whole submission).
    fn set_uniform(&self, enc: &mut wgpu::CommandEncoder, u: ChunkUniform) {
        let src = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("throng step uniform"),
                contents: bytemuck::bytes_of(&u),
                usage: wgpu::BufferUsages::COPY_SRC,
            });
        enc.copy_buffer_to_buffer(
            &src,
            0,
            &self.res.buffers[&Buf::Uniform],
            0,
            std::mem::size_of::<ChunkUniform>() as u64,
        );
    }

    /// Records the dispatch that advances every trajectory by `steps` grid steps (for dopri5:
    /// by `steps * dt` in time, in steps of its own choosing, at most `max_steps` of them per
    /// trajectory and call). Nothing runs until the application submits the encoder.
    pub fn encode(&mut self, enc: &mut wgpu::CommandEncoder, steps: u32) -> Result<()> {
        let end = self.step + steps as u64;
        if steps == 0 || end > u32::MAX as u64 {
            return Err(Error::Limit {
                what: "stepper steps".into(),
                got: end,
                max: u32::MAX as u64,
                message: format!(
                    "a stepper advances by 1 or more steps, to at most {} steps in all (asked \
                     for {steps} after {}); reset it to start again",
                    u32::MAX,
                    self.step
                ),
            });
        }
        let groups = self
            .plan
            .invocations(self.plan.capacity)
            .div_ceil(self.plan.target.workgroup() as u64) as u32;
        // A fixed-step method's dispatches take at most MAX_DISPATCH_STEPS steps (llvmpipe's
        // loop limit), each with its own uniform; the noise is keyed by the global step, so
        // the split changes nothing. An adaptive call stays one dispatch (its segment ends,
        // and its step budget applies, per call).
        let most = if self.plan.adaptive {
            u64::MAX
        } else {
            crate::plan::MAX_DISPATCH_STEPS
        };
        while self.step < end {
            let k = (end - self.step).min(most);
            self.set_uniform(enc, self.uniform(self.step, k));
            self.res.encode_dispatch(enc, Kernel::Integrate, 0, groups);
            self.step += k;
        }
        Ok(())
    }

    /// Records the reduction of the states as they are at this point of the encoder into
    /// [`Stepper::stats_buffer`]: per block of 256 trajectories (with replicas, per group of
    /// 32 and point segment of each group: `reduce::segments_per_group` partials per group),
    /// the words of `shaders/reduce.wgsl` (counts, then per row mean, M2, min, max). Read and
    /// merged by [`Stepper::read_stats`], or bound by the application.
    pub fn encode_stats(&self, enc: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.step == 0 {
            return Err(Error::Input {
                what: "stepper statistics".into(),
                message: "no step has been encoded yet: the states are not initialised".into(),
            });
        }
        self.set_uniform(enc, self.uniform(self.step, 0));
        // With replicas, one partial per point segment of each block (merged in order).
        let groups = (self.plan.blocks * self.plan.segs).div_ceil(64) as u32;
        self.res.encode_dispatch(enc, Kernel::Reduce, 0, groups);
        if self.plan.combine {
            let blocks = self.plan.capacity / crate::reduce::BLOCK as u64;
            self.res
                .encode_dispatch(enc, Kernel::Combine, 0, blocks.div_ceil(64) as u32);
        }
        Ok(())
    }

    /// The block (or with replicas group) partials [`Stepper::encode_stats`] writes.
    pub fn stats_buffer(&self) -> &wgpu::Buffer {
        &self.res.buffers[&self.plan.read_source()]
    }

    /// Submits a copy of the partials, waits, and merges them in block order in f64 (as
    /// `solve` does): the statistics of every row at the last `encode_stats` submitted.
    pub fn read_stats(&self) -> Result<Stats> {
        // The partials that hold trajectories (the buffer has room for whole blocks).
        let per = match self.plan.combine {
            true => crate::reduce::BLOCK,
            false => crate::reduce::GROUP,
        } as u64;
        let units = self.plan.paths.div_ceil(per);
        let bytes = self.plan.read_slot_bytes() / (self.plan.capacity / per) * units;
        let to = Buf::PartialsRead(0);
        let raw = self.read(self.plan.read_source(), 0, to, bytes)?;
        let mut tree = crate::reduce::MergeTree::new(self.plan.rows);
        exec::absorb(&mut tree, &raw, self.plan.precision, 0);
        Ok(tree.total())
    }

    /// Submits a copy of the states, waits, and returns every row of every trajectory,
    /// row-major by row: `out[r * paths + i]` (f32 states widened).
    pub fn read_states(&self) -> Result<Vec<f64>> {
        let l = self.layout();
        if !self
            .state_buffer()
            .usage()
            .contains(wgpu::BufferUsages::COPY_SRC)
        {
            return Err(Error::Input {
                what: "state buffer".into(),
                message: "reading states back needs COPY_SRC usage on the state buffer".into(),
            });
        }
        let raw = self.read(Buf::States, l.offset, Buf::StatesRead, l.bytes)?;
        let vals = exec::reals(&raw, self.plan.precision);
        let (n, cap) = (l.paths as usize, l.stride as usize);
        let mut out = Vec::with_capacity(n * l.rows);
        for r in 0..l.rows {
            out.extend_from_slice(&vals[r * cap..][..n]);
        }
        Ok(out)
    }

    fn read(&self, from: Buf, offset: u64, to: Buf, bytes: u64) -> Result<Vec<u8>> {
        let ctx = &self.ctx;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(
            &self.res.buffers[&from],
            offset,
            &self.res.buffers[&to],
            0,
            bytes,
        );
        let idx = ctx.queue.submit([enc.finish()]);
        gpu::check_scope(ctx, scope)?;
        gpu::read_back(ctx, &self.res.buffers[&to], bytes, Some(idx))
    }

    /// Bytes of device memory the stepper made (the states' too, if it owns them).
    pub fn device_bytes(&self) -> u64 {
        self.plan.device_bytes
    }

    /// Whether states are f64.
    pub fn precision(&self) -> Precision {
        self.plan.precision
    }
}
