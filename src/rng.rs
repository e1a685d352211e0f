//! The noise layout, and the GPU side of the RNG audit.
//!
//! Every standard normal throng draws is a pure function of (seed, trajectory, step, channel):
//! with `m` noise channels, normal k = step * m + channel of trajectory `traj` is word k % 4
//! (after Box–Muller on word pairs (0,1) and (2,3)) of the Philox4x32-10 block with
//! key = (seed low 32 bits, seed high 32 bits) and counter =
//! (k / 4 low word, k / 4 high word, traj, stream), stream 0 for path noise.
//! Nothing here depends on chunking, dispatch shape, workgroup size or device.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::kernel::{self, Target};
use crate::solve::{bind, buffer, check_scope, pipeline, read_back};

pub use crate::cpu::normal::noise;
pub use crate::cpu::philox::{counter_add, philox4x32_10};

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
/// by the device's kernel (`shaders/rng.wgsl`).
pub fn gpu_blocks(
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
    });
    if target.int64 && !ctx.has_int64() {
        return Err(Error::Invalid("the adapter lacks SHADER_INT64".into()));
    }
    let bytes = count as u64 * 16;
    if count == 0 || bytes > ctx.limits.max_storage_buffer_binding_size {
        return Err(Error::Invalid(format!(
            "blocks must be between 1 and {}",
            ctx.limits.max_storage_buffer_binding_size / 16
        )));
    }
    use wgpu::BufferUsages as B;
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let p = pipeline(ctx, &kernel::rng(target)?, "rng")?;
    let args = buffer(ctx, "rng args", 32, B::UNIFORM | B::COPY_DST);
    let blocks = buffer(ctx, "blocks", bytes, B::STORAGE | B::COPY_SRC);
    let normals = buffer(ctx, "normals", bytes, B::STORAGE | B::COPY_SRC);
    let blocks_read = buffer(ctx, "blocks read", bytes, B::MAP_READ | B::COPY_DST);
    let normals_read = buffer(ctx, "normals read", bytes, B::MAP_READ | B::COPY_DST);
    let group = bind(ctx, &p, &[&args, &blocks, &normals]);
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
    ctx.queue.submit([enc.finish()]);
    check_scope(ctx, scope)?;
    let b = read_back(ctx, &blocks_read, bytes)?;
    let n = read_back(ctx, &normals_read, bytes)?;
    Ok((
        bytemuck::cast_slice(&b).to_vec(),
        bytemuck::cast_slice(&n).to_vec(),
    ))
}
