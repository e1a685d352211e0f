// The entry point shared by every integration method: each invocation takes LANES
// trajectories of the chunk, builds their parameters and initial states (or loads the state
// the previous segment stored), lets the driver's `advance` (fixed.wgsl, or controller.wgsl
// for adaptive methods) carry them through the segment's steps, and stores the result.
#import store
#ifdef TALLY
#import tally
#endif
#ifdef FUNCTIONALS
#import functionals
#endif

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let inv = gid.x;
    if (inv * LANES >= chunk.count) {
        return;
    }
    let traj = U(chunk.first + inv * LANES) + LANE_OFFSETS;
#ifdef TALLY
    traj_now = traj;
#endif
#ifdef REPLICAS
    // A point's replicas share its inputs (sweeps are over points).
    let fi = R(traj / U(REPLICAS));
#else
    let fi = R(traj);
#endif
    let p = params_at(fi, inv);
#ifdef ONE_SEGMENT
    var x = x0_at(fi, inv);
#else
    var x: S;
    if (chunk.step0 == 0u) {
        x = x0_at(fi, inv);
    } else {
        x = load_state(inv);
    }
#endif
#ifdef FUNCTIONALS
    start_functionals(inv, x, p);
#endif
#ifdef CARRIED
    load_carried(inv);
#endif
#ifdef ADAPTIVE
    load_counts(inv);
#endif
    let x_end = advance(x, p, traj);
    store_state(inv, x_end);
#ifdef CARRIED
    store_carried(inv);
#endif
#ifdef FUNCTIONALS
    store_functionals(inv, x_end, p);
#endif
#ifdef ADAPTIVE
    store_counts(inv);
#endif
}
