// Terminal-state statistics per block of BLOCK trajectories: count, mean, M2 (sum of squared
// deviations), min, max per component, and the count of non-finite trajectories (excluded).
// A fixed tree of Chan merges, so a block's result depends only on its trajectories; the
// host merges blocks in f64 in block order. CPU twin: src/cpu/reduce.rs.

const BLOCK: u32 = 256u;
const BIG: f32 = 3.4028234663852886e38;

struct Chunk {
    first: u32,
    count: u32,
    stride: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> chunk: Chunk;
@group(0) @binding(1) var<storage, read> values: array<f32>;
// Per block: [finite count, non-finite count, then per component mean, m2, min, max as f32 bits].
@group(0) @binding(2) var<storage, read_write> partials: array<u32>;

var<workgroup> w_n: array<f32, BLOCK>;
var<workgroup> w_mean: array<f32, BLOCK>;
var<workgroup> w_m2: array<f32, BLOCK>;
var<workgroup> w_min: array<f32, BLOCK>;
var<workgroup> w_max: array<f32, BLOCK>;
var<workgroup> w_bad: array<u32, BLOCK>;

fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7F800000u) != 0x7F800000u;
}

// Chan et al.'s pairwise update: slot a absorbs slot b.
fn merge(a: u32, b: u32) {
    let na = w_n[a];
    let nb = w_n[b];
    let n = na + nb;
    if (nb > 0.0) {
        let d = w_mean[b] - w_mean[a];
        let fb = nb / n;
        w_mean[a] = w_mean[a] + d * fb;
        w_m2[a] = w_m2[a] + w_m2[b] + d * d * na * fb;
        w_n[a] = n;
    }
    w_min[a] = min(w_min[a], w_min[b]);
    w_max[a] = max(w_max[a], w_max[b]);
}

@compute @workgroup_size(BLOCK)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let block = wid.x;
    let j = block * BLOCK + lid;
    let cap = chunk.stride * LANES;
    let inside = j < chunk.count;
    var finite = inside;
    if (inside) {
        for (var c = 0u; c < DIM; c++) {
            finite = finite && is_finite(values[c * cap + j]);
        }
    }
    w_bad[lid] = select(0u, 1u, inside && !finite);
    workgroupBarrier();
    for (var s = BLOCK / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            w_bad[lid] += w_bad[lid + s];
        }
        workgroupBarrier();
    }
    let base = block * (2u + 4u * DIM);
    for (var c = 0u; c < DIM; c++) {
        var v = 0.0;
        if (finite) {
            v = values[c * cap + j];
        }
        w_n[lid] = select(0.0, 1.0, finite);
        w_mean[lid] = v;
        w_m2[lid] = 0.0;
        w_min[lid] = select(BIG, v, finite);
        w_max[lid] = select(-BIG, v, finite);
        workgroupBarrier();
        for (var s = BLOCK / 2u; s > 0u; s >>= 1u) {
            if (lid < s) {
                merge(lid, lid + s);
            }
            workgroupBarrier();
        }
        if (lid == 0u) {
            partials[base] = u32(w_n[0]);
            partials[base + 2u + 4u * c] = bitcast<u32>(w_mean[0]);
            partials[base + 3u + 4u * c] = bitcast<u32>(w_m2[0]);
            partials[base + 4u + 4u * c] = bitcast<u32>(w_min[0]);
            partials[base + 5u + 4u * c] = bitcast<u32>(w_max[0]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[base + 1u] = w_bad[0];
    }
}
