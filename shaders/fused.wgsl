// Observers fused into the integration kernel (flag FUSED: fixed-step methods on devices
// with subgroups). One dispatch carries a chunk's trajectories through several save times
// and at each, while the rows are in registers, writes the reduction partial of every group
// of GROUP trajectories, counts the histograms and keeps the chosen paths: no store and
// load of the states, no reduce or observe dispatch per save time.
//
// A group is GROUP / LANES consecutive invocations of one subgroup (main numbers
// invocations subgroup by subgroup). Its sums are the pairwise tree of reduce.wgsl: within
// an invocation's lanes ((x + y) + (z + w)), then between invocations by shuffles with
// partner i ^ m, m = 1, 2, 4, ... Addition is commutative, so both partners hold the same
// sum and every level pairs the same positions as the reduce kernel's tree: the partials
// are the reduce kernel's bit for bit (on devices that do not contract a * b + c; the CPU
// twin runs the reduce kernel's twin). The histogram arithmetic is observe.wgsl's.
#import partial

@group(0) @binding(5) var<storage, read_write> throng_partials: array<PW>;
// The run's save steps, then all ones (no save beyond the last).
@group(0) @binding(6) var<storage, read> throng_save_steps: array<u32>;
#ifdef FUSED_HIST
// Per save time, throng_hist_words counters (per point with FUSED_POINTS).
@group(0) @binding(7) var<storage, read_write> throng_hist: array<atomic<u32>>;
// Per save time and histogram: (lo, bins / (hi - lo)).
@group(0) @binding(8) var<storage, read> throng_ranges: array<F>;
#endif
#ifdef FUSED_KEEP
// Per save time, throng_keep trajectories x DIM components.
@group(0) @binding(9) var<storage, read_write> throng_kept: array<F>;
#endif

// Invocations per group, and this invocation's index in its subgroup (set by main).
const throng_gi: u32 = GROUP / LANES;
var<private> throng_sg: u32;

fn throng_finite(v: R) -> B {
    return abs(v) <= R(BIG);
}

// Sums over the group (shuffles with partners i ^ 1, i ^ 2, ...; the constant conditions
// unroll the levels, so every shuffle has a constant partner): of one value, of (sum, min,
// max, count), and of the counts of non-finite trajectories (count, lowest index).
fn throng_sum(a: F) -> F {
    var v = a;
#for k in 5
    if (throng_gi > (1u << $ku)) {
        v += subgroupShuffleXor(v, 1u << $ku);
    }
#endfor
    return v;
}

fn throng_first(a: vec4<F>) -> vec4<F> {
    var v = a;
#for k in 5
    if (throng_gi > (1u << $ku)) {
        let o = subgroupShuffleXor(v, 1u << $ku);
        v = vec4<F>(v.x + o.x, min(v.y, o.y), max(v.z, o.z), v.w + o.w);
    }
#endfor
    return v;
}

fn throng_bad(a: vec2<u32>) -> vec2<u32> {
    var v = a;
#for k in 5
    if (throng_gi > (1u << $ku)) {
        let o = subgroupShuffleXor(v, 1u << $ku);
        v = vec2<u32>(v.x + o.x, min(v.y, o.y));
    }
#endfor
    return v;
}

// The rows the reduction covers, in the states buffer's order: the state, then the
// functionals (store_functionals).
fn throng_rows_of(x: S, p: Params) -> array<R, ROWS> {
    var r: array<R, ROWS>;
#for c in DIM
    r[$c] = x[$c];
#endfor
#ifdef FUNCTIONALS
    var k = DIM;
#ifdef STOP
    r[k] = tau;
    r[k + 1u] = stopped;
    k += 2u;
#endif
#ifdef EVENT
    r[k] = events;
    k += 1u;
#endif
#ifdef PAYOFF
    r[k] = payoff(x, p);
#endif
#endif
    return r;
}

// Save time s (partial slot `slot`) of the invocation's trajectories `traj`; `valid`: the
// lanes that hold trajectories of the chunk.
fn throng_save(rows: array<R, ROWS>, traj: U, valid: B, s: u32, slot: u32, inv: u32) {
    var ok = valid;
#for c in ROWS
    ok = ok & throng_finite(rows[$c]);
#endfor
    let bad = valid & !ok;
    // Non-finite trajectories are rare: their counts take shuffles only where a subgroup
    // has one (subgroupAny is the same in all its invocations).
    var nb = vec2<u32>(0u, 0xFFFFFFFFu);
    if (subgroupAny(any(bad))) {
        nb = throng_bad(vec2<u32>(
            throng_hsum_u(select(U(0u), U(1u), bad)),
            throng_hmin_u(select(U(0xFFFFFFFFu), traj, bad)),
        ));
    }
    // The group's first invocation writes; a group past the chunk's end writes nothing.
    let lead = throng_sg % throng_gi == 0u && inv * LANES < chunk.count;
    let base = (slot * chunk.blocks + inv / throng_gi) * (3u + 5u * ROWS);
    let one = select(R(0.0), R(1.0), ok);
    var n = F(0.0);
#for c in ROWS
    {
        let v = rows[$c];
        // (sum, min, max, count): the count is exact in F (at most GROUP).
        let a = throng_first(vec4<F>(
            throng_hsum(select(R(0.0), v * R(S0), ok)),
            throng_hmin(select(R(BIG), v, ok)),
            throng_hmax(select(R(-BIG), v, ok)),
            throng_hsum(one),
        ));
        n = a.w;
        let inv_s = scale_for(max(abs(a.y), abs(a.z)));
        let ms = select((a.x / n) / S0, F(0.0), n == F(0.0)) * inv_s;
        // (v * inv_s is exact, so a fused multiply-add there changes nothing; the select
        // between square and sum keeps a compiler from fusing those, as the reduce kernel's
        // store between them does.)
        let d = v * inv_s - R(ms);
        let m2 = throng_sum(throng_hsum(select(R(0.0), d * d, ok)));
        if (lead) {
            throng_partials[base + 3u + 5u * $cu] = word(ms);
            throng_partials[base + 4u + 5u * $cu] = word(m2);
            throng_partials[base + 5u + 5u * $cu] = word(a.y);
            throng_partials[base + 6u + 5u * $cu] = word(a.z);
            throng_partials[base + 7u + 5u * $cu] = word(inv_s);
        }
    }
#endfor
    if (lead) {
        throng_partials[base] = count_word(u32(n));
        throng_partials[base + 1u] = count_word(nb.x);
        throng_partials[base + 2u] = index_word(nb.y);
    }
    if (chunk.observe == 0u) {
        return;
    }
#ifdef FUSED_HIST
    // Bins as observe.wgsl computes them; a component's non-finite values are not counted.
#for h in NHIST
    {
        let v = rows[throng_hist_component[$h]];
        let r = 2u * (s * throng_nhist + $hu);
        let x = (v - R(throng_ranges[r])) * R(throng_ranges[r + 1u]);
        let idx = select(U(0u), U(min(x, R(F(throng_hist_bins[$h])))) + U(1u), x >= R(0.0));
        let on = select(U(0u), U(1u), valid & throng_finite(v));
        // Every lane adds (0 where it does not count): a branch per lane would cost more
        // than the add.
        let at = select(U(0u), idx, on != U(0u));
        for (var l = 0u; l < LANES; l++) {
#ifdef FUSED_POINTS
            let words = (s * throng_points + lane_u(traj, l) / REPLICAS) * throng_hist_words;
#else
            let words = s * throng_hist_words;
#endif
            atomicAdd(&throng_hist[words + throng_hist_offset[$h] + lane_u(at, l)], lane_u(on, l));
        }
    }
#endfor
#endif
#ifdef FUSED_KEEP
    for (var l = 0u; l < LANES; l++) {
        let g = lane_u(traj, l);
#ifdef FUSED_KEEP_STRIDED
        let k = g / throng_keep_every;
        let keep = g % throng_keep_every == 0u && k < throng_keep;
#else
        let k = g;
        let keep = g < throng_keep;
#endif
        if (keep && lane_u(select(U(0u), U(1u), valid), l) != 0u) {
#for c in DIM
            throng_kept[(s * throng_keep + k) * DIM + $cu] = throng_lane(rows[$c], l);
#endfor
        }
    }
#endif
}

// The chunk's steps chunk.step0 .. chunk.step0 + chunk.steps, saving at every save step in
// that range (from save chunk.save_index, partial slot chunk.save): the fused counterpart of
// fixed.wgsl's `advance`. One loop with one copy of the group body, cut where a save step
// falls inside a group: a loop nested in another costs more than the steps on llvmpipe.
fn throng_advance_saving(x0: S, p: Params, traj: U, valid: B, inv: u32) -> S {
    var x = x0;
    var a = chunk.step0;
    let b = chunk.step0 + chunk.steps;
    var s = chunk.save_index;
    var slot = chunk.save;
#ifdef FUSED_EVERY
    var next = min((s + 1u) * throng_every, throng_last);
#else
    var next = throng_save_steps[s];
#endif
#ifdef TREE_NOISE
    // The tree's normals 16 steps at a time (fixed.wgsl, tree_all), the groups inside them
    // in a nested loop (under an if, every group would pay for a walk on llvmpipe).
    while (a < b) {
        let t16 = tree_all(a / 16u, traj);
        let e = min(b, 16u * (a / 16u) + 16u);
#else
    {
        let e = b;
#endif
        while (a < e) {
            let g = a / 4u;
            let hi = min(min(e, next) - 4u * g, 4u);
#ifdef TREE_NOISE
            x = group_with(x, p, g, a - 4u * g, hi, tree_pick(t16, g % 4u));
#else
            x = group(x, p, traj, g, a - 4u * g, hi);
#endif
            a = 4u * g + hi;
            if (a == next) {
                throng_save(throng_rows_of(x, p), traj, valid, s, slot, inv);
                s += 1u;
                slot += 1u;
#ifdef FUSED_EVERY
                next = min(next + throng_every, throng_last);
#else
                next = throng_save_steps[s];
#endif
            }
        }
    }
    return x;
}
