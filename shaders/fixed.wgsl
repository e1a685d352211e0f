// The fixed-step driver: one invocation advances LANES trajectories through a segment of
// steps with the state in registers, calling the method file's
//   fn step(t: F, x: S, p: Params, w: W) -> S
// once per step (shaders/methods/NAME.wgsl), then `project` and the functionals.
// R is f32 or f64 (flag F64) lanes; the noise is f32 in both.
// A system may define `fn project(x: S, p: Params) -> S`, applied after every step (e.g. to
// keep a state non-negative).
#ifdef STOCHASTIC
#import noise
#ifdef TREE_NOISE
#import tree
#endif
#endif
#import state
#import integrate

// One step's normals: one per noise channel, correlated (dW = L dZ) under CORRELATED,
// all zero for an ODE.
alias W = array<R, NOISE>;

// The normals of a group of 4 steps, z[s * NOISE + j] for channel j of step s.
alias GroupNormals = array<R, 4u * NOISE>;

#ifdef TREE_NOISE
// The tree's normals of steps 16 sg .. 16 sg + 15 (Job::brownian): one walk for 16 steps.
#ifdef TREE_PACKED
alias TreeGroup = array<R32, 16>;
#else
alias TreeGroup = array<array<TreeNormals, 16>, NOISE_BLOCKS>;
#endif

fn tree_all(sg: u32, traj: U) -> TreeGroup {
#ifdef TREE_QUAD
    // The same arithmetic as advance_range's walk per 64 steps, so every path agrees.
    return tree_below_ends(sg, tree_quad(sg / 4u, traj), traj);
#else
#ifdef TREE_PACKED
    return tree_steps(sg, traj);
#else
    var t: TreeGroup;
#for c in NOISE_BLOCKS
    t[$c] = tree_steps(sg, $cu, traj);
#endfor
    return t;
#endif
#endif
}

#ifdef TREE_QUAD
// Steps 16 sg .. from the ends of the four 16-step nodes under sg's node of level
// TREE_QTOP (`ends`, from tree_quad).
fn tree_below_ends(sg: u32, ends: array<R32, 5>, traj: U) -> TreeGroup {
    let r = sg % 4u;
    let a = select(select(select(ends[0], ends[1], r == 1u), ends[2], r == 2u), ends[3], r == 3u);
    let b = select(select(select(ends[1], ends[2], r == 1u), ends[3], r == 2u), ends[4], r == 3u);
    return tree_steps_below(sg, a, b, TreePair(), traj, Normals());
}
#endif

// The normals of group 4 sg + q, picked by selects: a private array indexed by a variable
// would live in memory on llvmpipe.
fn tree_pick(t: TreeGroup, q: u32) -> GroupNormals {
    var z: GroupNormals;
#for s in 4
#for j in NOISE
#ifdef TREE_PACKED
    z[$s * NOISE + $ju] = R(select(select(select(t[$s], t[4u + $su], q == 1u),
        t[8u + $su], q == 2u), t[12u + $su], q == 3u));
#else
    z[$s * NOISE + $ju] = R(select(select(select(t[$ju / 4u][$s][$ju % 4u],
        t[$ju / 4u][4u + $su][$ju % 4u], q == 1u),
        t[$ju / 4u][8u + $su][$ju % 4u], q == 2u),
        t[$ju / 4u][12u + $su][$ju % 4u], q == 3u));
#endif
#endfor
#endfor
    return z;
}
#else
// Steps 4g + lo .. 4g + hi - 1 (0 <= lo < hi <= 4). For a stochastic system with the stream,
// the group's 4 * NOISE normals are exactly Philox blocks g * NOISE .. g * NOISE + NOISE - 1
// of the trajectory, so every word is used; normal s * NOISE + j drives channel j of step
// 4g + s, whichever segment the step falls in.
// (With the tree, the drivers hand group_with the tree's normals instead.)
fn group(x_in: S, p: Params, traj: U, g: u32, lo: u32, hi: u32) -> S {
    var z: GroupNormals;
#ifdef STOCHASTIC
#for j in NOISE
    let n$j = noise_block(g * NOISE + $ju, traj);
    z[4u * $ju] = R(n$j.z0);
    z[4u * $ju + 1u] = R(n$j.z1);
    z[4u * $ju + 2u] = R(n$j.z2);
    z[4u * $ju + 3u] = R(n$j.z3);
#endfor
#endif
    return group_with(x_in, p, g, lo, hi, z);
}
#endif

fn group_with(x_in: S, p: Params, g: u32, lo: u32, hi: u32, z: GroupNormals) -> S {
    var x = x_in;
#for s in 4
    if ($su >= lo && $su < hi) {
        let t = T0 + F(4u * g + $su) * DT;
#ifdef FUNCTIONALS
        let x_before = x;
#endif
#ifdef STOCHASTIC
        var w: W;
#for j in NOISE
        w[$j] = z[$s * NOISE + $j];
#endfor
#ifdef CORRELATED
        w = correlate(w);
#endif
#else
        let w = W();
#endif
        x = step(t, x, p, w);
#ifdef PROJECT
        x = project(x, p);
#endif
#ifdef FUNCTIONALS
        x = after_step(t + DT, x_before, x, p);
#endif
    }
#endfor
    return x;
}

// Steps chunk.step0 .. chunk.step0 + chunk.steps of LANES trajectories (entry point:
// integrate.wgsl).
fn advance(x0: S, p: Params, traj: U) -> S {
#ifdef TREE_NOISE
    return advance_range(x0, p, traj, chunk_a(), chunk_b());
#else
#ifdef ONE_SEGMENT
    // Constant bounds: whole groups in the loop, the partial group at the end (if any) known
    // at compile time.
    var x = x0;
    var g = 0u;
    for (; g < STEPS / 4u; g++) {
        x = group(x, p, traj, g, 0u, 4u);
    }
    if (STEPS % 4u != 0u) {
        x = group(x, p, traj, g, 0u, STEPS % 4u);
    }
    return x;
#else
    return advance_range(x0, p, traj, chunk.step0, chunk.step0 + chunk.steps);
#endif
#endif
}

#ifdef TREE_NOISE
fn chunk_a() -> u32 {
#ifdef ONE_SEGMENT
    return 0u;
#else
    return chunk.step0;
#endif
}

fn chunk_b() -> u32 {
#ifdef ONE_SEGMENT
    return STEPS;
#else
    return chunk.step0 + chunk.steps;
#endif
}

// Steps a .. b with the Brownian tree's normals, handed to the group body (one copy) 4
// steps at a time: one walk per 16 steps, or under TREE_QUAD per 64. Nested loops, not one
// loop with the walks under ifs: llvmpipe runs an if's body under a mask even when no lane
// takes it, so every group would pay for a walk.
fn advance_range(x0: S, p: Params, traj: U, a: u32, b: u32) -> S {
    var x = x0;
#ifdef TREE_QUAD
    for (var qg = a / 64u; 64u * qg < b; qg++) {
        let ends = tree_quad(qg, traj);
        for (var r = 0u; r < 4u; r++) {
            let sg = 4u * qg + r;
            if (16u * sg + 16u > a && 16u * sg < b) {
                let t16 = tree_below_ends(sg, ends, traj);
#else
    {
        for (var sg = a / 16u; 16u * sg < b; sg++) {
            {
                let t16 = tree_all(sg, traj);
#endif
                for (var q = 0u; q < 4u; q++) {
                    let g = 4u * sg + q;
                    if (4u * g + 4u > a && 4u * g < b) {
                        let lo = max(a, 4u * g) - 4u * g;
                        x = group_with(x, p, g, lo, min(b - 4u * g, 4u), tree_pick(t16, q));
                    }
                }
            }
        }
    }
    return x;
}
#else
// Steps a .. b, with a single copy of the group body (its steps outside a..b masked off). SIMD
// CPU drivers run a branch under a mask whether or not any lane takes it, so separate
// copies for a partial group at either end each cost a whole group on every call: with a
// save every 4 steps that tripled the integration.
fn advance_range(x0: S, p: Params, traj: U, a: u32, b: u32) -> S {
    var x = x0;
    for (var g = a / 4u; 4u * g < b; g++) {
        let lo = max(a, 4u * g) - 4u * g;
        x = group(x, p, traj, g, lo, min(b - 4u * g, 4u));
    }
    return x;
}
#endif
