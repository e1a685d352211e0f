// Terminal-state statistics per block of BLOCK consecutive trajectories: count, mean, M2 (sum
// of squared deviations), min, max per component, and the count of non-finite trajectories,
// which are excluded. One invocation per block and no barriers (barriers are slow on CPU
// drivers): Welford's update within runs of RUN trajectories, Chan's merge across runs, all
// in a fixed order, so a block's result depends only on its trajectories. The host merges
// blocks in f64 in block order. CPU twin: src/cpu/reduce.rs.

const BLOCK: u32 = 256u;
const RUN: u32 = 16u;

#import chunk

// Per block: [finite count, non-finite count, global index of the block's first non-finite
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
#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
#ifdef POINTS
    // Invocation (block, k): the k-th point the block meets, trajectories first..end of the
    // chunk (empty if the block meets fewer points: an empty partial is still written).
    // Blocks start at multiples of BLOCK in the whole run, so segments do not depend on
    // chunking. `select` evaluates both arms: (p + 1) * REPLICAS may wrap, but is only
    // taken where it stays below the block's end.
    let block = gid.x / SEGS;
    let k = gid.x % SEGS;
    let bfirst = block * BLOCK;
    if (bfirst >= chunk.count) {
        return;
    }
    let bend = min(bfirst + BLOCK, chunk.count);
    let g = chunk.first + bfirst;
    let g_last = chunk.first + bend - 1u;
    let p = g / REPLICAS + k;
    var first = bend;
    var end = bend;
    if (p <= g_last / REPLICAS) {
        first = max(g, p * REPLICAS) - chunk.first;
        end = select(bend, (p + 1u) * REPLICAS - chunk.first, p + 1u <= g_last / REPLICAS);
    }
    let slot = gid.x;
#else
    let block = gid.x;
    let first = block * BLOCK;
    if (first >= chunk.count) {
        return;
    }
    let end = min(first + BLOCK, chunk.count);
    let slot = block;
#endif
    let cap = chunk.stride * LANES;
    // Which trajectories are finite in every component: one bit each.
    var finite: array<u32, 8>;
    var bad = 0u;
    var first_bad = 0xFFFFFFFFu;
    for (var j = first; j < end; j++) {
        var ok = true;
#for c in DIM
        ok = ok && is_finite(values[$c * cap + j]);
#endfor
        if (ok) {
            finite[(j - first) / 32u] |= 1u << ((j - first) % 32u);
        } else {
            if (bad == 0u) {
                first_bad = chunk.first + j;
            }
            bad += 1u;
        }
    }
#ifdef POINTS
    let base = (chunk.save * chunk.blocks * SEGS + slot) * (3u + 5u * DIM);
#else
    let base = (chunk.save * chunk.blocks + slot) * (3u + 5u * DIM);
#endif
    var count = 0u;
    for (var c = 0u; c < DIM; c++) {
        var lo = BIG;
        var hi = -BIG;
        for (var i = 0u; first + i < end; i++) {
            if ((finite[i / 32u] & (1u << (i % 32u))) != 0u) {
                let v = values[c * cap + first + i];
                lo = min(lo, v);
                hi = max(hi, v);
            }
        }
        // Moments of v * inv (inv from scale_for).
        let inv = scale_for(max(abs(lo), abs(hi)));
        var n = V(0.0);
        var mean = V(0.0);
        var m2 = V(0.0);
        for (var r = 0u; r < BLOCK / RUN; r++) {
            var rn = V(0.0);
            var rmean = V(0.0);
            var rm2 = V(0.0);
            for (var k = 0u; k < RUN; k++) {
                let i = r * RUN + k;
                if (first + i < end && (finite[i / 32u] & (1u << (i % 32u))) != 0u) {
                    let v = values[c * cap + first + i] * inv;
                    rn += 1.0;
                    let d = v - rmean;
                    rmean += d / rn;
                    rm2 += d * (v - rmean);
                }
            }
            if (rn > 0.0) {
                let nt = n + rn;
                let d = rmean - mean;
                let f = rn / nt;
                mean += d * f;
                m2 = m2 + rm2 + d * d * n * f;
                n = nt;
            }
        }
        count = u32(n);
        partials[base + 3u + 5u * c] = word(mean);
        partials[base + 4u + 5u * c] = word(m2);
        partials[base + 5u + 5u * c] = word(lo);
        partials[base + 6u + 5u * c] = word(hi);
        partials[base + 7u + 5u * c] = word(inv);
    }
    partials[base] = count_word(count);
    partials[base + 1u] = count_word(bad);
    partials[base + 2u] = index_word(first_bad);
}
