// The fixed-step driver: one invocation advances LANES trajectories through a segment of
// steps with the state in registers, calling the method file's
//   fn step(t: F, x: S, p: Params, w: W) -> S
// once per step (shaders/methods/NAME.wgsl), then `project` and the functionals.
// R is f32 or f64 (flag F64) lanes; the noise is f32 in both.
// A system may define `fn project(x: S, p: Params) -> S`, applied after every step (e.g. to
// keep a state non-negative).
#ifdef STOCHASTIC
#import noise
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
#for j in NOISE
    let n$j = noise_block(g * NOISE + $ju, traj);
    z[4u * $ju] = R(n$j.z0);
    z[4u * $ju + 1u] = R(n$j.z1);
    z[4u * $ju + 2u] = R(n$j.z2);
    z[4u * $ju + 3u] = R(n$j.z3);
#endfor
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
// integrate.wgsl): a partial group of 4 at either end, whole groups in the loop (whose body
// is the only copy in the hot path, with constant bounds).
fn advance(x0: S, p: Params, traj: U) -> S {
    var x = x0;
#ifdef ONE_SEGMENT
    let a = 0u;
    let b = STEPS;
#else
    let a = chunk.step0;
    let b = chunk.step0 + chunk.steps;
#endif
    var g = a / 4u;
    if (a % 4u != 0u) {
        x = group(x, p, traj, g, a % 4u, min(b - 4u * g, 4u));
        g += 1u;
    }
    let full = b / 4u;
    for (; g < full; g++) {
        x = group(x, p, traj, g, 0u, 4u);
    }
    if (4u * g < b) {
        x = group(x, p, traj, g, 0u, b - 4u * g);
    }
    return x;
}
