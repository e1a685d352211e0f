// The chunk a dispatch works on. Host mirror: `ChunkUniform` in src/solve.rs.

struct Chunk {
    // global index of the chunk's first trajectory
    first: u32,
    // trajectories in this chunk
    count: u32,
    // invocations the states buffer holds per component
    stride: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> chunk: Chunk;
