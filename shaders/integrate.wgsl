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
#ifdef FUSED
#import fused
#endif

#ifdef FUSED
// Invocations are numbered subgroup by subgroup, so each group of GROUP trajectories lies in
// one subgroup whatever order the device gives them; none returns early, since all take
// part in the shuffles (lanes past the chunk's end are `valid` false, and store nothing).
@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_invocation_id) sg_inv: u32,
) {
    let inv = wg.x * WORKGROUP + sg_id * sg_size + sg_inv;
    throng_sg = sg_inv;
    let traj = U(chunk.first + inv * LANES) + LANE_OFFSETS;
    let valid = traj < U(chunk.first + chunk.count);
#else
@compute @workgroup_size(WORKGROUP)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let inv = gid.x;
    if (inv * LANES >= chunk.count) {
        return;
    }
    let traj = U(chunk.first + inv * LANES) + LANE_OFFSETS;
#endif
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
#ifdef FUSED
    let x_end = throng_advance_saving(x, p, traj, valid, inv);
#else
    let x_end = advance(x, p, traj);
#endif
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
