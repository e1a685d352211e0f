// Statistics per group of GROUP consecutive trajectories: count, mean, M2 (sum of squared
// deviations), min, max per component, and the count of non-finite trajectories, which are
// excluded. One invocation per group (or point segment of a group) and no barriers. Two
// passes, each sum a perfect pairwise tree over the group's 32 positions in index order
// (excluded positions add 0): the mean from values scaled by S0 (an exact power of two, so
// 32 of them cannot overflow), then M2 of the values scaled by `inv`. The fused observers
// (shaders/fused.wgsl) form the same trees from registers, so both give the same bits. The
// host merges groups in f64 in group order. CPU twin: src/cpu/reduce.rs.

#import chunk
#import partial

// Per group: [finite count, non-finite count, global index of the group's first non-finite
// trajectory (all ones if none), then per component the mean and m2 of the scaled values,
// min, max, and the scale inv]. A run that saves at several times keeps the partials of
// each save in its own slot: group b of slot s is at (s * chunk.blocks + b) * words.
@group(0) @binding(1) var<storage, read> values: array<V>;
@group(0) @binding(2) var<storage, read_write> partials: array<PW>;

// The pairwise tree over a[0..GROUP]: a[i] = a[2i] + a[2i + 1], level by level.
fn tree(a: ptr<function, array<V, 32>>) -> V {
    for (var w = GROUP / 2u; w > 0u; w >>= 1u) {
        for (var i = 0u; i < w; i++) {
            (*a)[i] = (*a)[2u * i] + (*a)[2u * i + 1u];
        }
    }
    return (*a)[0];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
#ifdef POINTS
    // Invocation (group, k): the k-th point the group meets, trajectories first..end of the
    // chunk (empty if the group meets fewer points: an empty partial is still written).
    // Groups start at multiples of GROUP in the whole run, so segments do not depend on
    // chunking. `select` evaluates both arms: (p + 1) * REPLICAS may wrap, but is only
    // taken where it stays below the group's end.
    let group = gid.x / SEGS;
    let k = gid.x % SEGS;
    let gfirst = group * GROUP;
    if (gfirst >= chunk.count) {
        return;
    }
    let gend = min(gfirst + GROUP, chunk.count);
    let g = chunk.first + gfirst;
    let g_last = chunk.first + gend - 1u;
    let p = g / REPLICAS + k;
    var first = gend;
    var end = gend;
    if (p <= g_last / REPLICAS) {
        first = max(g, p * REPLICAS) - chunk.first;
        end = select(gend, (p + 1u) * REPLICAS - chunk.first, p + 1u <= g_last / REPLICAS);
    }
    let slot = gid.x;
#else
    let gfirst = gid.x * GROUP;
    if (gfirst >= chunk.count) {
        return;
    }
    let first = gfirst;
    let end = min(gfirst + GROUP, chunk.count);
    let slot = gid.x;
#endif
    let cap = chunk.stride * LANES;
    // Which of the group's positions count: in the segment and finite in every component.
    var live = 0u;
    var bad = 0u;
    var first_bad = 0xFFFFFFFFu;
    for (var j = first; j < end; j++) {
        var ok = true;
#for c in DIM
        ok = ok && is_finite(values[$c * cap + j]);
#endfor
        if (ok) {
            live |= 1u << (j - gfirst);
        } else {
            if (bad == 0u) {
                first_bad = chunk.first + j;
            }
            bad += 1u;
        }
    }
    let count = countOneBits(live);
    let n = V(f32(count));
#ifdef POINTS
    let base = (chunk.save * chunk.blocks * SEGS + slot) * (3u + 5u * DIM);
#else
    let base = (chunk.save * chunk.blocks + slot) * (3u + 5u * DIM);
#endif
    var a: array<V, 32>;
    for (var c = 0u; c < DIM; c++) {
        var lo = BIG;
        var hi = -BIG;
        for (var i = 0u; i < GROUP; i++) {
            a[i] = V(0.0);
            if ((live & (1u << i)) != 0u) {
                let v = values[c * cap + gfirst + i];
                lo = min(lo, v);
                hi = max(hi, v);
                a[i] = v * S0;
            }
        }
        let inv = scale_for(max(abs(lo), abs(hi)));
        // An empty partial keeps mean 0 (the host skips it).
        let mean = select((tree(&a) / n) / S0, V(0.0), count == 0u);
        let ms = mean * inv;
        for (var i = 0u; i < GROUP; i++) {
            a[i] = V(0.0);
            if ((live & (1u << i)) != 0u) {
                let d = values[c * cap + gfirst + i] * inv - ms;
                a[i] = d * d;
            }
        }
        let m2 = tree(&a);
        partials[base + 3u + 5u * c] = word(ms);
        partials[base + 4u + 5u * c] = word(m2);
        partials[base + 5u + 5u * c] = word(lo);
        partials[base + 6u + 5u * c] = word(hi);
        partials[base + 7u + 5u * c] = word(inv);
    }
    partials[base] = count_word(count);
    partials[base + 1u] = count_word(bad);
    partials[base + 2u] = index_word(first_bad);
}
