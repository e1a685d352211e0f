//! The noise layout, and the GPU side of the RNG audit.
//!
//! Every standard normal throng draws is a pure function of (seed, trajectory, step, channel):
//! with `m` noise channels, normal k = step * m + channel of trajectory `traj` is word k % 4
//! (after Box–Muller on word pairs (0,1) and (2,3)) of the Philox4x32-10 block with
//! key = (seed low 32 bits, seed high 32 bits) and counter =
//! (k / 4 low word, k / 4 high word, traj, stream), stream 0 for path noise.
//! Nothing here depends on chunking, dispatch shape, workgroup size or device.

pub use crate::cpu::normal::noise;
pub use crate::cpu::philox::{counter_add, philox4x32_10};
pub use crate::gpu::{rng_blocks as gpu_blocks, Blocks};
