// Statistics per group of GROUP consecutive trajectories: count, mean, M2 (sum of squared
// deviations), min, max per component, and the count of non-finite trajectories, which are
// excluded. One invocation per group (or point segment of a group) and no barriers. Two
// passes, each sum a perfect pairwise tree over the group's 32 positions in index order
// (excluded positions add 0): the mean from values scaled by S0 (an exact power of two, so
// 32 of them cannot overflow), then M2 of the values scaled by `inv`. The fused observers
// (shaders/fused.wgsl) form the same trees from registers, so both give the same bits. The
// host merges groups in f64 in group order. CPU twin: src/cpu/reduce.rs.

const GROUP: u32 = 32u;

#import chunk

// Per group: [finite count, non-finite count, global index of the block's first non-finite
// trajectory (all ones if none), then per component the mean and m2 of the scaled values,
// min, max, and the scale inv]. A run that saves at several times keeps the partials of
// each save in its own slot: block b of slot s is at (s * chunk.blocks + b) * words. f32 runs store u32 words (counts, and the
// bits of f32 values); f64 runs (flag F64) store f64 values, counts included, unscaled.
#ifdef F64
alias V = f64;
const BIG: f64 = 1.7976931348623157e308lf;
@group(0) @binding(1) var<storage, read> values: array<f64>;
@group(0) @binding(2) var<storage, read_write> partials: array<f64>;

fn is_finite(v: f64) -> bool {
    // false for NaN (every comparison with NaN is) and for infinities
    return abs(v) <= BIG;
}

fn word(v: f64) -> f64 {
    return v;
}

fn count_word(n: u32) -> f64 {
    return f64(n);
}

fn index_word(i: u32) -> f64 {
    return select(f64(i), -1.0lf, i == 0xFFFFFFFFu);
}

// Squares of f64 values up to 1e154 cannot overflow; no scaling.
fn scale_for(big: f64) -> f64 {
    return 1.0lf;
}

const S0: f64 = 1.0lf;
#else
alias V = f32;
const BIG: f32 = 3.4028234663852886e38;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<u32>;

fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7F800000u) != 0x7F800000u;
}

fn word(v: f32) -> u32 {
    return bitcast<u32>(v);
}

fn count_word(n: u32) -> u32 {
    return n;
}

fn index_word(i: u32) -> u32 {
    return i;
}

// An exact power of two bringing max |v| near 1, so squares cannot overflow; the host
// divides it out in f64.
fn scale_for(big: f32) -> f32 {
    let e = i32((bitcast<u32>(big) >> 23u) & 0xFFu);
    return bitcast<f32>(u32(clamp(254 - e, 1, 254)) << 23u);
}

// 1 / GROUP: a sum of GROUP scaled values stays finite.
const S0: f32 = 0.03125;
#endif

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
