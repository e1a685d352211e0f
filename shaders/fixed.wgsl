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

// Steps 4g + lo .. 4g + hi - 1 (0 <= lo < hi <= 4). For a stochastic system the group's
// 4 * NOISE normals are exactly Philox blocks g * NOISE .. g * NOISE + NOISE - 1 of the
// trajectory, so every word is used; normal s * NOISE + j drives channel j of step 4g + s,
// whichever segment the step falls in.
fn group(x_in: S, p: Params, traj: U, g: u32, lo: u32, hi: u32) -> S {
    var x = x_in;
#ifdef STOCHASTIC
    var z: array<R, 4u * NOISE>;
#ifdef TREE_NOISE
    // (Job::brownian: the step normals are the Brownian tree's scaled increments)
    var tb: array<array<TreeNormals, 4>, NOISE_BLOCKS>;
#for b in NOISE_BLOCKS
    tb[$b] = tree_group(g, $bu, traj);
#endfor
#for s in 4
#for j in NOISE
    z[$s * NOISE + $ju] = R(tb[$ju / 4u][$s][$ju % 4u]);
#endfor
#endfor
#else
#for j in NOISE
    let n$j = noise_block(g * NOISE + $ju, traj);
    z[4u * $ju] = R(n$j.z0);
    z[4u * $ju + 1u] = R(n$j.z1);
    z[4u * $ju + 2u] = R(n$j.z2);
    z[4u * $ju + 3u] = R(n$j.z3);
#endfor
#endif
#endif
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
}

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
