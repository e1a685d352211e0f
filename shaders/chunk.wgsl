// The chunk a dispatch works on. Host mirror: `ChunkUniform` in src/kernel.rs.

struct Chunk {
    // global index of the chunk's first trajectory
    first: u32,
    // trajectories in this chunk
    count: u32,
    // invocations the states buffer holds per component
    stride: u32,
    // the segment this dispatch integrates: global steps step0 .. step0 + steps (a run that
    // saves statistics at several times is integrated one segment per save time)
    step0: u32,
    steps: u32,
    // which save time the segment ends at (where the reduction writes its partials)
    save: u32,
    // reduction blocks per chunk buffer (partials of save s start at block s * blocks)
    blocks: u32,
    // the save time's index in the run (observers write there); fused observers: the first
    // save time not yet taken
    save_index: u32,
    // fused observers: whether to count histograms and keep paths (not in the quantile pilot)
    observe: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> chunk: Chunk;
