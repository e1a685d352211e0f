//! The noise, defined in plain Rust: Philox4x32-10 and the Box–Muller normals drawn from it,
//! the twins of `shaders/philox.wgsl` and `shaders/normal.wgsl`.
//!
//! Every standard normal throng draws is a pure function of (seed, trajectory, step, channel):
//! with `m` noise channels, normal k = step * m + channel of trajectory `traj` is word k % 4
//! (after Box–Muller on word pairs (0,1) and (2,3)) of the Philox4x32-10 block with
//! key = (seed low 32 bits, seed high 32 bits) and counter =
//! (k / 4 low word, k / 4 high word, traj, stream), stream 0 for path noise.
//! Nothing here depends on chunking, dispatch shape, workgroup size or device. The device's
//! side of the audit is `gpu::rng_blocks`.

pub mod normal;
pub mod philox;
pub mod tree;

pub use normal::noise;
pub use philox::{counter_add, philox4x32_10};
