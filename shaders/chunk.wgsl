// The chunk a dispatch works on, and where trajectories' states live.
// states holds one chunk, component-major: component c of the trajectory at offset j in the
// chunk is scalar c * (stride * LANES) + j, so one R at c * stride + inv holds LANES of them.

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
@group(0) @binding(1) var<storage, read_write> states: array<R>;

fn store_state(inv: u32, x: S) {
#for c in DIM
    states[$c * chunk.stride + inv] = x[$c];
#endfor
}
