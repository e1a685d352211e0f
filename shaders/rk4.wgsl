// Classic fourth-order Runge–Kutta for ODE systems, f32 or f64. One invocation advances LANES
// trajectories through a segment of steps with the state in registers. CPU twin: src/cpu/rk4.rs.
#import state
#import integrate

fn rk4_step(x: S, p: Params, t: F) -> S {
    let k1 = drift(t, x, p);
    let k2 = drift(t + HALF_DT, axpy(x, HALF_DT, k1), p);
    let k3 = drift(t + HALF_DT, axpy(x, HALF_DT, k2), p);
    let k4 = drift(t + DT, axpy(x, DT, k3), p);
    var out: S;
#for c in DIM
    out[$c] = x[$c] + SIXTH_DT * (k1[$c] + 2.0 * (k2[$c] + k3[$c]) + k4[$c]);
#endfor
#ifdef PROJECT
    out = project(out, p);
#endif
#ifdef FUNCTIONALS
    out = after_step(t + DT, x, out, p);
#endif
    return out;
}

// Steps chunk.step0 .. chunk.step0 + chunk.steps of LANES trajectories (entry point:
// integrate.wgsl).
fn advance(x0: S, p: Params, traj: U) -> S {
    var x = x0;
#ifdef ONE_SEGMENT
    let end = STEPS;
    var n = 0u;
#else
    let end = chunk.step0 + chunk.steps;
    var n = chunk.step0;
#endif
    // Four steps per iteration: independent work for the compiler to schedule.
    for (; n + 4u <= end; n += 4u) {
        x = rk4_step(x, p, T0 + F(n) * DT);
        x = rk4_step(x, p, T0 + F(n + 1u) * DT);
        x = rk4_step(x, p, T0 + F(n + 2u) * DT);
        x = rk4_step(x, p, T0 + F(n + 3u) * DT);
    }
    for (; n < end; n++) {
        x = rk4_step(x, p, T0 + F(n) * DT);
    }
    return x;
}
