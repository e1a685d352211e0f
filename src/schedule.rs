//! The scheduler's plan: how an ensemble is cut into chunks that fit one dispatch and one
//! storage binding. Pure arithmetic on the device's limits, so it is tested without a device.
//! Chunks are whole reduction blocks, so statistics combine the same way for any chunking.

use crate::error::{Error, Result};
use crate::reduce::BLOCK;

/// The device limits that shape chunks.
#[derive(Clone, Copy, Debug)]
pub struct DeviceLimits {
    pub max_storage_binding: u64,
    pub max_buffer: u64,
    pub max_workgroups_per_dim: u32,
}

impl From<&wgpu::Limits> for DeviceLimits {
    fn from(l: &wgpu::Limits) -> Self {
        DeviceLimits {
            max_storage_binding: l.max_storage_buffer_binding_size,
            max_buffer: l.max_buffer_size,
            max_workgroups_per_dim: l.max_compute_workgroups_per_dimension,
        }
    }
}

/// A run of consecutive trajectories handled by one dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub first: u64,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Trajectories a chunk's buffers hold (a multiple of BLOCK).
    pub capacity: u64,
    pub chunks: Vec<Chunk>,
}

fn round_up(n: u64, m: u64) -> u64 {
    n.div_ceil(m) * m
}

/// Plans `paths` trajectories of dimension `dim`; `cap` limits trajectories per chunk and is
/// rounded down to a multiple of BLOCK.
pub fn plan(paths: u64, dim: usize, limits: DeviceLimits, cap: Option<u64>) -> Result<Plan> {
    plan_range(0, paths, dim, limits, cap)
}

/// Plans trajectories `first..end` (`first` a multiple of BLOCK: a shard's, or where a
/// checkpoint stopped) the same way; an empty range has no chunks.
pub fn plan_range(
    first: u64,
    end: u64,
    dim: usize,
    limits: DeviceLimits,
    cap: Option<u64>,
) -> Result<Plan> {
    let paths = end.saturating_sub(first);
    debug_assert!(paths == 0 || first.is_multiple_of(BLOCK as u64));
    let block = BLOCK as u64;
    if let Some(c) = cap {
        if c < block {
            return Err(Error::Input {
                what: "chunk".into(),
                message: format!("--chunk must be at least {block} (one reduction block), got {c}"),
            });
        }
    }
    // One workgroup per block in both kernels.
    let by_dispatch = limits.max_workgroups_per_dim as u64 * block;
    let bytes_per_traj = 4 * dim as u64;
    let by_binding = limits.max_storage_binding.min(limits.max_buffer) / bytes_per_traj;
    let mut capacity = round_up(paths.max(1), block)
        .min(by_dispatch / block * block)
        .min(by_binding / block * block);
    if let Some(c) = cap {
        capacity = capacity.min(c / block * block);
    }
    if capacity == 0 {
        return Err(Error::Limit {
            what: "trajectories per chunk".into(),
            got: block,
            max: by_dispatch.min(by_binding),
            message: format!(
                "the device's limits cannot hold one block of {block} trajectories of dimension {dim}"
            ),
        });
    }
    let chunks = (0..paths.div_ceil(capacity))
        .map(|k| {
            let at = k * capacity;
            Chunk {
                first: first + at,
                count: capacity.min(paths - at),
            }
        })
        .collect();
    Ok(Plan { capacity, chunks })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLVMPIPE: DeviceLimits = DeviceLimits {
        max_storage_binding: 128 << 20,
        max_buffer: (1 << 31) - 1,
        max_workgroups_per_dim: 65535,
    };

    #[test]
    fn small_ensembles_take_one_chunk() {
        let p = plan(1000, 3, LLVMPIPE, None).unwrap();
        assert_eq!(p.capacity, 1024);
        assert_eq!(
            p.chunks,
            vec![Chunk {
                first: 0,
                count: 1000
            }]
        );
    }

    #[test]
    fn chunks_respect_dispatch_and_binding_limits() {
        // dim 1: the dispatch limit binds (65535 workgroups * 256 trajectories).
        let p = plan(100_000_000, 1, LLVMPIPE, None).unwrap();
        assert_eq!(p.capacity, 65535 * 256);
        // dim 16: 128 MiB / 64 bytes = 2^21 trajectories.
        let p = plan(100_000_000, 16, LLVMPIPE, None).unwrap();
        assert_eq!(p.capacity, 1 << 21);
        let total: u64 = p.chunks.iter().map(|c| c.count).sum();
        assert_eq!(total, 100_000_000);
        for w in p.chunks.windows(2) {
            assert_eq!(w[0].first + w[0].count, w[1].first);
        }
    }

    #[test]
    fn user_cap_rounds_down_to_blocks_and_too_small_is_an_error() {
        let p = plan(10_000, 1, LLVMPIPE, Some(1000)).unwrap();
        assert_eq!(p.capacity, 768);
        assert_eq!(p.chunks.len(), 14);
        assert_eq!(
            p.chunks[13],
            Chunk {
                first: 13 * 768,
                count: 10_000 - 13 * 768
            }
        );
        assert!(plan(10_000, 1, LLVMPIPE, Some(100)).is_err());
    }
}
