// Classic fourth-order Runge–Kutta for ODE systems, f32. One invocation advances LANES
// trajectories through all STEPS steps with the state in registers. CPU twin: src/cpu/rk4.rs.
#import state
#import store

fn rk4_step(x: S, p: Params, t: f32) -> S {
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
    return out;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let inv = gid.x;
    if (inv * LANES >= chunk.count) {
        return;
    }
    let traj = U(chunk.first + inv * LANES) + LANE_OFFSETS;
    let fi = R(traj);
    let p = params_at(fi, inv);
    var x = x0_at(fi, inv);
    // Four steps per iteration: independent work for the compiler to schedule.
    let groups = STEPS / 4u;
    for (var g = 0u; g < groups; g++) {
        let n = 4u * g;
        x = rk4_step(x, p, T0 + f32(n) * DT);
        x = rk4_step(x, p, T0 + f32(n + 1u) * DT);
        x = rk4_step(x, p, T0 + f32(n + 2u) * DT);
        x = rk4_step(x, p, T0 + f32(n + 3u) * DT);
    }
    for (var n = 4u * groups; n < STEPS; n++) {
        x = rk4_step(x, p, T0 + f32(n) * DT);
    }
    store_state(inv, x);
}
