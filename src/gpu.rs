//! The device's side of a run: [`Resources`] (pipelines with bind group layouts read from
//! each kernel's WGSL, the plan's buffers, bind groups) and [`GpuBackend`], which carries out
//! a recording's commands with as few submissions as read-backs need. Every dispatch finds its
//! uniform in its own slot through a dynamic offset, so many dispatches share one command
//! encoder — throng's, or an application's.

use std::collections::HashMap;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::exec::Backend;
use crate::kernel::{self, ChunkUniform, Target};
use crate::plan::{Buf, Plan};
use crate::record::Kernel;
use crate::shader::Composed;

/// Bind group layout entries for every resource a kernel's WGSL declares: uniforms (with a
/// dynamic offset if asked) and storage buffers, read-only where the shader only reads.
/// Read from the shader, so the host never restates what the WGSL says.
fn layout_entries(module: &naga::Module, dynamic: bool) -> Vec<wgpu::BindGroupLayoutEntry> {
    let mut entries: Vec<wgpu::BindGroupLayoutEntry> = module
        .global_variables
        .iter()
        .filter_map(|(_, g)| {
            let binding = g.binding.as_ref()?;
            let ty = match g.space {
                naga::AddressSpace::Uniform => wgpu::BufferBindingType::Uniform,
                naga::AddressSpace::Storage { access } => wgpu::BufferBindingType::Storage {
                    read_only: !access.contains(naga::StorageAccess::STORE),
                },
                _ => return None,
            };
            let uniform = ty == wgpu::BufferBindingType::Uniform;
            Some(wgpu::BindGroupLayoutEntry {
                binding: binding.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: uniform && dynamic,
                    min_binding_size: None,
                },
                count: None,
            })
        })
        .collect();
    entries.sort_by_key(|e| e.binding);
    entries
}

/// A compute pipeline from validated WGSL, with the layout its declarations give.
pub fn pipeline(
    ctx: &Context,
    src: &Composed,
    label: &str,
    dynamic_uniform: bool,
) -> Result<(wgpu::ComputePipeline, wgpu::BindGroupLayout)> {
    let module = src.validate(ctx.capabilities())?;
    if let Some(dir) = std::env::var_os("THRONG_DUMP_WGSL") {
        // For debugging: the exact composed kernel the driver sees.
        let _ = std::fs::write(
            std::path::Path::new(&dir).join(format!("{label}.wgsl")),
            &src.source,
        );
    }
    let layout = ctx
        .device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &layout_entries(&module, dynamic_uniform),
        });
    let pipeline_layout = ctx
        .device
        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
    // A driver that cannot build the kernel reports why here, in scopes of its own: left to
    // an enclosing scope it would surface later as "ComputePipeline ... is invalid" with no
    // reason (or, for an internal error or running out of memory, as a panic).
    let scopes = [
        wgpu::ErrorFilter::Validation,
        wgpu::ErrorFilter::OutOfMemory,
        wgpu::ErrorFilter::Internal,
    ]
    .map(|f| ctx.device.push_error_scope(f));
    let shader = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(src.source.as_str().into()),
        });
    let p = ctx
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: Some(&pipeline_layout),
            module: &shader,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
    let mut failure = None;
    for scope in scopes.into_iter().rev() {
        if let Some(e) = pollster::block_on(scope.pop()) {
            failure.get_or_insert(e);
        }
    }
    if let Some(e) = failure {
        let why = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        return Err(Error::Gpu(format!(
            "the device could not build the `{label}` kernel: {why}"
        )));
    }
    Ok((p, layout))
}

pub fn buffer(ctx: &Context, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16),
        usage,
        mapped_at_creation: false,
    })
}

/// A bind group of `layout` over buffer ranges at binding numbers (size None: to the end); a
/// uniform bound with a dynamic offset is bound `uniform_size` bytes wide.
fn bind(
    ctx: &Context,
    layout: &wgpu::BindGroupLayout,
    buffers: &[(u32, &wgpu::Buffer, u64, Option<u64>)],
    uniform_size: Option<u64>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .map(|&(i, b, offset, size)| {
            let size = match uniform_size {
                Some(u) if b.usage().contains(wgpu::BufferUsages::UNIFORM) => Some(u),
                _ => size,
            };
            wgpu::BindGroupEntry {
                binding: i,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b,
                    offset,
                    size: size.and_then(wgpu::BufferSize::new),
                }),
            }
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout,
        entries: &entries,
    })
}

/// Waits for submission `after` (or for the queue) and copies `size` bytes out of a
/// MAP_READ buffer; work submitted since keeps running while the host reads.
pub fn read_back(
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

/// Fails with the first validation error raised since `scope` was pushed.
pub fn check_scope(ctx: &Context, scope: wgpu::ErrorScopeGuard) -> Result<()> {
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu(e.to_string()));
    }
    ctx.check_lost()
}

fn usage(b: Buf) -> wgpu::BufferUsages {
    use wgpu::BufferUsages as B;
    match b {
        Buf::Uniform => B::UNIFORM | B::COPY_DST,
        Buf::States | Buf::Partials | Buf::Hist | Buf::Kept | Buf::Blocks => {
            B::STORAGE | B::COPY_SRC
        }
        Buf::Inputs | Buf::Ranges | Buf::SaveSteps | Buf::Data => B::STORAGE | B::COPY_DST,
        Buf::Events | Buf::Tally => B::STORAGE | B::COPY_DST | B::COPY_SRC,
        _ => B::MAP_READ | B::COPY_DST,
    }
}

/// Which buffer sits at each binding of a kernel (shaders/chunk.wgsl, store.wgsl,
/// integrate.wgsl, fused.wgsl and the method files, reduce.wgsl, observe.wgsl,
/// combine.wgsl).
fn bindings(kernel: Kernel) -> &'static [(u32, Buf)] {
    match kernel {
        Kernel::Integrate => &[
            (0, Buf::Uniform),
            (1, Buf::States),
            (2, Buf::Inputs),
            (3, Buf::Events),
            (4, Buf::Tally),
            // fused observers (fused.wgsl)
            (5, Buf::Partials),
            (6, Buf::SaveSteps),
            (7, Buf::Hist),
            (8, Buf::Ranges),
            (9, Buf::Kept),
            // the system's tables (kernel::data_tables)
            (10, Buf::Data),
        ],
        Kernel::Reduce => &[(0, Buf::Uniform), (1, Buf::States), (2, Buf::Partials)],
        Kernel::Combine => &[(0, Buf::Uniform), (1, Buf::Partials), (2, Buf::Blocks)],
        Kernel::Observe => &[
            (0, Buf::Uniform),
            (1, Buf::States),
            (2, Buf::Hist),
            (3, Buf::Ranges),
            (4, Buf::Kept),
        ],
    }
}

/// The device objects of a run: a pipeline and bind group per kernel, the plan's buffers.
pub struct Resources {
    pipelines: HashMap<Kernel, (wgpu::ComputePipeline, wgpu::BindGroup)>,
    pub buffers: HashMap<Buf, wgpu::Buffer>,
    /// Where the states start in `buffers[&Buf::States]` (an application's buffer may hold
    /// them at an offset).
    pub states_offset: u64,
    uniform_align: u64,
}

/// A buffer of the application's that holds a stepper's states, from `offset`.
#[derive(Clone, Debug)]
pub struct External {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
}

impl Resources {
    /// Creates pipelines for the composed kernels (`observe` only when the plan observes)
    /// and the plan's buffers, then runs each pipeline once on an empty chunk: some drivers
    /// (lavapipe) compile a pipeline at its first dispatch, and that belongs to setup.
    pub fn new(ctx: &Context, plan: &Plan, kernels: &[(Kernel, Composed)]) -> Result<Resources> {
        let res = Self::build(ctx, plan, kernels, None)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        // Slot 0 holds a zeroed uniform (count 0): every invocation returns at once.
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for kernel in [
            Kernel::Integrate,
            Kernel::Reduce,
            Kernel::Observe,
            Kernel::Combine,
        ] {
            res.encode_dispatch(&mut enc, kernel, 0, 1);
        }
        let idx = ctx.queue.submit([enc.finish()]);
        // A validation error (reported by the scope) makes the submission fail, and waiting
        // on it then fails too: report the cause, not the wait.
        check_scope(ctx, scope)?;
        ctx.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(idx),
                timeout: None,
            })
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        Ok(res)
    }

    /// Pipelines and buffers with no submission (a stepper's, on an application's queue);
    /// the states in `external` if given.
    pub fn build(
        ctx: &Context,
        plan: &Plan,
        kernels: &[(Kernel, Composed)],
        external: Option<&External>,
    ) -> Result<Resources> {
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut buffers: HashMap<Buf, wgpu::Buffer> = Buf::ALL
            .iter()
            .filter(|&&b| !(b == Buf::States && external.is_some()))
            .map(|&b| (b, buffer(ctx, b.name(), plan.buffer_bytes(b), usage(b))))
            .collect();
        let states_offset = external.map_or(0, |e| e.offset);
        if let Some(e) = external {
            buffers.insert(Buf::States, e.buffer.clone());
        }
        let states_size = plan.buffer_bytes(Buf::States);
        let mut pipelines = HashMap::new();
        let uniform_size = std::mem::size_of::<ChunkUniform>() as u64;
        for (kernel, src) in kernels {
            let label = format!("{kernel:?}").to_lowercase();
            let (p, layout) = pipeline(ctx, src, &label, true)?;
            // Only the bindings the kernel declares (inputs and events are optional).
            let module = src.parse()?;
            let declared: Vec<u32> = module
                .global_variables
                .iter()
                .filter_map(|(_, g)| g.binding.as_ref().map(|b| b.binding))
                .collect();
            let bufs: Vec<(u32, &wgpu::Buffer, u64, Option<u64>)> = bindings(*kernel)
                .iter()
                .filter(|(i, _)| declared.contains(i))
                .map(|&(i, b)| match b {
                    Buf::States => (i, &buffers[&b], states_offset, Some(states_size.max(16))),
                    _ => (i, &buffers[&b], 0, None),
                })
                .collect();
            let group = bind(ctx, &layout, &bufs, Some(uniform_size));
            pipelines.insert(*kernel, (p, group));
        }
        check_scope(ctx, scope)?;
        Ok(Resources {
            pipelines,
            buffers,
            states_offset,
            uniform_align: plan.uniform_align,
        })
    }

    /// Records one dispatch into an encoder (the application's, when embedded).
    pub fn encode_dispatch(
        &self,
        enc: &mut wgpu::CommandEncoder,
        kernel: Kernel,
        slot: u32,
        workgroups: u32,
    ) {
        let Some((p, group)) = self.pipelines.get(&kernel) else {
            return;
        };
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(p);
        pass.set_bind_group(0, group, &[(slot as u64 * self.uniform_align) as u32]);
        pass.dispatch_workgroups(workgroups, 1, 1);
    }
}

/// Runs a recording's commands on the device: dispatches and copies go into one encoder,
/// submitted when the host needs a result (a read-back) or writes a buffer.
pub struct GpuBackend<'a> {
    ctx: &'a Context,
    res: &'a Resources,
    open: Option<(wgpu::CommandEncoder, wgpu::ErrorScopeGuard)>,
}

impl<'a> GpuBackend<'a> {
    pub fn new(ctx: &'a Context, res: &'a Resources) -> GpuBackend<'a> {
        GpuBackend {
            ctx,
            res,
            open: None,
        }
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        let ctx = self.ctx;
        &mut self
            .open
            .get_or_insert_with(|| {
                let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
                (
                    ctx.device.create_command_encoder(&Default::default()),
                    scope,
                )
            })
            .0
    }
}

impl Backend for GpuBackend<'_> {
    type Ticket = wgpu::SubmissionIndex;

    fn write(&mut self, buf: Buf, data: &[u8]) -> Result<()> {
        // Writes take effect before the next submission: submit what was recorded first, so
        // it sees the old contents.
        if self.open.is_some() {
            self.submit()?;
        }
        self.ctx
            .queue
            .write_buffer(&self.res.buffers[&buf], 0, data);
        Ok(())
    }

    fn dispatch(&mut self, kernel: Kernel, slot: u32, workgroups: u32) -> Result<()> {
        let res = self.res;
        res.encode_dispatch(self.encoder(), kernel, slot, workgroups);
        Ok(())
    }

    fn copy(&mut self, from: Buf, to: Buf, bytes: u64) -> Result<()> {
        let res = self.res;
        self.encoder()
            .copy_buffer_to_buffer(&res.buffers[&from], 0, &res.buffers[&to], 0, bytes);
        Ok(())
    }

    fn submit(&mut self) -> Result<wgpu::SubmissionIndex> {
        self.ctx.check_lost()?;
        match self.open.take() {
            Some((enc, scope)) => {
                let idx = self.ctx.queue.submit([enc.finish()]);
                check_scope(self.ctx, scope)?;
                Ok(idx)
            }
            None => Ok(self.ctx.queue.submit([])),
        }
    }

    fn read(&mut self, buf: Buf, bytes: u64, after: wgpu::SubmissionIndex) -> Result<Vec<u8>> {
        read_back(self.ctx, &self.res.buffers[&buf], bytes, Some(after))
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RngArgs {
    counter: [u32; 4],
    key: [u32; 2],
    count: u32,
    pad: u32,
}

/// Philox blocks and the four Box–Muller normals of each.
pub type Blocks = (Vec<[u32; 4]>, Vec<[f32; 4]>);

/// `count` consecutive Philox blocks from `counter`, and their Box–Muller normals, computed
/// by the device's kernel (`shaders/rng.wgsl`): the GPU side of the RNG audit.
pub fn rng_blocks(
    ctx: &Context,
    counter: [u32; 4],
    key: [u32; 2],
    count: u32,
    target: Option<Target>,
) -> Result<Blocks> {
    let target = target.unwrap_or(Target {
        int64: ctx.has_int64(),
        lanes: 1,
        segmented: false,
        open_ended: false,
        dense: false,
    });
    if target.int64 && !ctx.has_int64() {
        return Err(Error::Unsupported {
            feature: "SHADER_INT64",
            message: "the adapter lacks SHADER_INT64".into(),
        });
    }
    let bytes = count as u64 * 16;
    if count == 0 || bytes > ctx.limits.max_storage_buffer_binding_size {
        let max = ctx.limits.max_storage_buffer_binding_size / 16;
        return Err(Error::Limit {
            what: "blocks".into(),
            got: count as u64,
            max,
            message: format!("blocks must be between 1 and {max}"),
        });
    }
    use wgpu::BufferUsages as B;
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let (p, layout) = pipeline(ctx, &kernel::rng(target)?, "rng", false)?;
    let args = buffer(ctx, "rng args", 32, B::UNIFORM | B::COPY_DST);
    let blocks = buffer(ctx, "blocks", bytes, B::STORAGE | B::COPY_SRC);
    let normals = buffer(ctx, "normals", bytes, B::STORAGE | B::COPY_SRC);
    let blocks_read = buffer(ctx, "blocks read", bytes, B::MAP_READ | B::COPY_DST);
    let normals_read = buffer(ctx, "normals read", bytes, B::MAP_READ | B::COPY_DST);
    let group = bind(
        ctx,
        &layout,
        &[
            (0, &args, 0, None),
            (1, &blocks, 0, None),
            (2, &normals, 0, None),
        ],
        None,
    );
    let a = RngArgs {
        counter,
        key,
        count,
        pad: 0,
    };
    ctx.queue.write_buffer(&args, 0, bytemuck::bytes_of(&a));
    let groups = count.div_ceil(64);
    let max = ctx.limits.max_compute_workgroups_per_dimension;
    let (x, y) = (groups.min(max), groups.div_ceil(max));
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }
    enc.copy_buffer_to_buffer(&blocks, 0, &blocks_read, 0, bytes);
    enc.copy_buffer_to_buffer(&normals, 0, &normals_read, 0, bytes);
    let idx = ctx.queue.submit([enc.finish()]);
    check_scope(ctx, scope)?;
    let b = read_back(ctx, &blocks_read, bytes, Some(idx.clone()))?;
    let n = read_back(ctx, &normals_read, bytes, Some(idx))?;
    Ok((
        bytemuck::pod_collect_to_vec(&b),
        bytemuck::pod_collect_to_vec(&n),
    ))
}

/// Runs a one-off kernel: binding 0 reads `input`, binding 1 receives `out_bytes`, one
/// invocation per workgroup x `groups`; returns binding 1's bytes (tools and checks).
pub fn run_simple(
    ctx: &Context,
    src: &Composed,
    input: &[u8],
    out_bytes: u64,
    groups: u32,
) -> Result<Vec<u8>> {
    use wgpu::BufferUsages as B;
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let (p, layout) = pipeline(ctx, src, "tool", false)?;
    let inp = buffer(
        ctx,
        "tool input",
        input.len() as u64,
        B::STORAGE | B::COPY_DST,
    );
    let out = buffer(ctx, "tool output", out_bytes, B::STORAGE | B::COPY_SRC);
    let read = buffer(ctx, "tool read", out_bytes, B::MAP_READ | B::COPY_DST);
    ctx.queue.write_buffer(&inp, 0, input);
    let group = bind(
        ctx,
        &layout,
        &[(0, &inp, 0, None), (1, &out, 0, None)],
        None,
    );
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&p);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(groups, 1, 1);
    }
    enc.copy_buffer_to_buffer(&out, 0, &read, 0, out_bytes);
    let idx = ctx.queue.submit([enc.finish()]);
    check_scope(ctx, scope)?;
    read_back(ctx, &read, out_bytes, Some(idx))
}
