// Observers at a save time, one invocation per trajectory of the chunk, after the reduction:
// histograms (bins counted with integer atomics, so the totals do not depend on order or
// chunking) and the states of KEEP trajectories, every KEEP_EVERY-th. Histogram h counts component
// HIST_COMPONENT[h] into HIST_BINS[h] bins over [lo, hi) of its range at this save time,
// with index 0 for v < lo and HIST_BINS[h] + 1 for v >= hi; non-finite values are not
// counted (the reduction counts them). CPU twin: src/cpu/observe.rs.
#import chunk

#ifdef F64
alias V = f64;
#else
alias V = f32;
#endif

@group(0) @binding(1) var<storage, read> values: array<V>;
// Per save time, HIST_WORDS counters: histogram h's at HIST_OFFSET[h].
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
// Per save time and histogram: (lo, bins / (hi - lo)).
@group(0) @binding(3) var<storage, read> ranges: array<V>;
// Per save time, KEEP trajectories x DIM components.
@group(0) @binding(4) var<storage, read_write> kept: array<V>;

fn finite(v: V) -> bool {
    // false for NaN and both infinities
    return abs(v) <= V(BIG);
}

// BLOCK invocations per workgroup, so a chunk needs no more workgroups than the integration
// kernels (the scheduler sizes chunks by those).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= chunk.count) {
        return;
    }
    let cap = chunk.stride * LANES;
    let s = chunk.save_index;
#ifdef POINTS
    // Point p's counters of save time s (runs with replicas).
    let words = (s * POINTS + (chunk.first + j) / REPLICAS) * HIST_WORDS;
#else
    let words = s * HIST_WORDS;
#endif
    // Every binding stays in the layout whichever observers this run has.
    _ = &hist;
    _ = &ranges;
    _ = &kept;
    // Unrolled at composition: every histogram's component, bins and offset are constants
    // (a loop indexing the constant arrays spills them to memory on CPU drivers).
#for h in NHIST
    {
        let v = values[HIST_COMPONENT[$h] * cap + j];
        if (finite(v)) {
            let r = 2u * (s * NHIST + $hu);
            let x = (v - ranges[r]) * ranges[r + 1u];
            var idx = 0u;
            if (x >= V(0.0)) {
                idx = u32(min(x, V(HIST_BINS[$h]))) + 1u;
            }
            atomicAdd(&hist[words + HIST_OFFSET[$h] + idx], 1u);
        }
    }
#endfor
#ifdef KEEP_PATHS
    let g = chunk.first + j;
#ifdef KEEP_STRIDED
    // (an integer division per trajectory only when a stride was asked for)
    let k = g / KEEP_EVERY;
    let keep = g % KEEP_EVERY == 0u && k < KEEP;
#else
    let k = g;
    let keep = g < KEEP;
#endif
    if (keep) {
#for c in DIM
        kept[(s * KEEP + k) * DIM + $cu] = values[$cu * cap + j];
#endfor
    }
#endif
}
