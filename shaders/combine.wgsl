// Block partials from group partials: for each save time of a batch and each block of BLOCK
// = 8 groups of 32 trajectories, the 8 group partials (reduce.wgsl or fused.wgsl) merged into
// one, so the host reads and merges 8 times fewer. Counts add, the lowest non-finite index
// wins; per row, the groups' moments are brought to the block's scale (exact powers of two)
// and merged by Chan's update in a pairwise tree (pairs (0, 1), (2, 3), ... then pairs of
// pairs), so the result depends only on the block's trajectories. Runs without replicas
// only (a block may hold several points). CPU twin: src/cpu/combine.rs.
#import chunk
#import partial

@group(0) @binding(1) var<storage, read> groups: array<PW>;
@group(0) @binding(2) var<storage, read_write> blocks: array<PW>;

const W: u32 = 3u + 5u * DIM;
const PER: u32 = 8u;

struct Part {
    n: V,
    mean: V,
    m2: V,
}

fn value(w: PW) -> V {
#ifdef F64
    return w;
#else
    return bitcast<f32>(w);
#endif
}

fn count(w: PW) -> u32 {
    return u32(w);
}

fn chan(a: Part, b: Part) -> Part {
    if (b.n == V(0.0)) {
        return a;
    }
    if (a.n == V(0.0)) {
        return b;
    }
    let n = a.n + b.n;
    let f = b.n / n;
    let d = b.mean - a.mean;
    return Part(n, a.mean + d * f, a.m2 + b.m2 + d * d * (a.n * f));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Invocation (slot, block) for the chunk's blocks in every slot; the slots of the
    // buffers hold `nblocks` blocks each.
    let nblocks = chunk.blocks / PER;
    let used = (chunk.count + PER * GROUP - 1u) / (PER * GROUP);
    let slot = gid.x / used;
    let block = gid.x % used;
    if (slot >= SLOTS) {
        return;
    }
    // The block's groups that hold trajectories of this chunk (the rest hold stale words).
    let live = min(PER, (chunk.count - block * PER * GROUP + GROUP - 1u) / GROUP);
    let g0 = (slot * chunk.blocks + block * PER) * W;
    let out = (slot * nblocks + block) * W;
    var n = 0u;
    var bad = 0u;
    var first_bad = 0xFFFFFFFFu;
    for (var g = 0u; g < live; g++) {
        n += count(groups[g0 + g * W]);
        bad += count(groups[g0 + g * W + 1u]);
#ifdef F64
        let i = groups[g0 + g * W + 2u];
        first_bad = min(first_bad, select(u32(i), 0xFFFFFFFFu, i < 0.0lf));
#else
        first_bad = min(first_bad, groups[g0 + g * W + 2u]);
#endif
    }
    for (var c = 0u; c < DIM; c++) {
        var lo = BIG;
        var hi = -BIG;
        for (var g = 0u; g < live; g++) {
            if (count(groups[g0 + g * W]) > 0u) {
                lo = min(lo, value(groups[g0 + g * W + 5u + 5u * c]));
                hi = max(hi, value(groups[g0 + g * W + 6u + 5u * c]));
            }
        }
        let inv = scale_for(max(abs(lo), abs(hi)));
        var p: array<Part, 8>;
        for (var g = 0u; g < PER; g++) {
            p[g] = Part(V(0.0), V(0.0), V(0.0));
            // (a group of non-finite trajectories only adds nothing, and its scale is
            // not one to divide by)
            if (g < live && count(groups[g0 + g * W]) > 0u) {
                let w = g0 + g * W + 3u + 5u * c;
                let r = inv / value(groups[w + 4u]);
                p[g] = Part(V(f32(count(groups[g0 + g * W]))), value(groups[w]) * r,
                            value(groups[w + 1u]) * r * r);
            }
        }
        for (var k = 0u; k < PER / 2u; k++) {
            p[k] = chan(p[2u * k], p[2u * k + 1u]);
        }
        p[0] = chan(p[0], p[1]);
        p[1] = chan(p[2], p[3]);
        p[0] = chan(p[0], p[1]);
        blocks[out + 3u + 5u * c] = word(p[0].mean);
        blocks[out + 4u + 5u * c] = word(p[0].m2);
        blocks[out + 5u + 5u * c] = word(lo);
        blocks[out + 6u + 5u * c] = word(hi);
        blocks[out + 7u + 5u * c] = word(inv);
    }
    blocks[out] = count_word(n);
    blocks[out + 1u] = count_word(bad);
    blocks[out + 2u] = index_word(first_bad);
}
