// What every adaptive driver shares (controller.wgsl for dopri5, sde_controller.wgsl for
// the adaptive SDE methods): the controller's rows after the state, dopri5's dense-output
// rows, and the count of trajectories that ran out of steps. CPU twins: src/cpu/controller.rs,
// src/cpu/sde_controller.rs.

#import state
#import store

@group(0) @binding(3) var<storage, read_write> events: array<atomic<u32>, 2>;

// Controller state of this invocation's lanes: loaded from the rows after the state by
// `load_counts` (a segment after the first continues where the last one stopped), stored
// back by `store_counts`. Rows: accepted, rejected, the next step h, and the last accepted
// error norm (negative if the last step was rejected).
var<private> accepted_out: U;
var<private> rejected_out: U;
var<private> h_out: R;
var<private> prev_out: R;

#ifdef DENSE
// Dense output: steps run past interior save times, and the state rows hold the continuous
// extension (Hairer's contd5, order 4) of the step that passed the save time, so saving
// does not change the steps taken. Rows from DENSE_ROW: the true time and the start of the
// last accepted step; the true state; that step's start state, first stage and h Σ d_i k_i.
// (Its last stage, drift at the true state, is recomputed as the next step's k1.)
var<private> dense_t: R;
var<private> dense_t_last: R;
var<private> dense_x: S;
var<private> dense_x_last: S;
var<private> dense_k_last: S;
var<private> dense_d_last: S;

fn dense_at(r: u32, inv: u32) -> R {
    return states[(DENSE_ROW + r) * chunk.stride + inv];
}

fn dense_set(r: u32, inv: u32, v: R) {
    states[(DENSE_ROW + r) * chunk.stride + inv] = v;
}
#endif

fn load_counts(inv: u32) {
    if (chunk.step0 == 0u) {
        accepted_out = U(0u);
        rejected_out = U(0u);
        h_out = R(DT);
        prev_out = R(1e-8);
        return;
    }
    accepted_out = U(states[DIM * chunk.stride + inv]);
    rejected_out = U(states[(DIM + 1u) * chunk.stride + inv]);
    h_out = states[(DIM + 2u) * chunk.stride + inv];
    prev_out = states[(DIM + 3u) * chunk.stride + inv];
#ifdef DENSE
    dense_t = dense_at(0u, inv);
    dense_t_last = dense_at(1u, inv);
#for c in DIM
    dense_x[$c] = dense_at(2u + $c, inv);
    dense_x_last[$c] = dense_at(2u + DIM + $c, inv);
    dense_k_last[$c] = dense_at(2u + 2u * DIM + $c, inv);
    dense_d_last[$c] = dense_at(2u + 3u * DIM + $c, inv);
#endfor
#endif
}

fn nan_r() -> R {
    return R(R32(bitcast<f32>(0x7fc00000u)));
}

fn store_counts(inv: u32) {
    states[DIM * chunk.stride + inv] = R(accepted_out);
    states[(DIM + 1u) * chunk.stride + inv] = R(rejected_out);
    states[(DIM + 2u) * chunk.stride + inv] = h_out;
    states[(DIM + 3u) * chunk.stride + inv] = prev_out;
#ifdef DENSE
    dense_set(0u, inv, dense_t);
    dense_set(1u, inv, dense_t_last);
#for c in DIM
    dense_set(2u + $c, inv, dense_x[$c]);
    dense_set(2u + DIM + $c, inv, dense_x_last[$c]);
    dense_set(2u + 2u * DIM + $c, inv, dense_k_last[$c]);
    dense_set(2u + 3u * DIM + $c, inv, dense_d_last[$c]);
#endfor
#endif
}

// The end of a segment for both drivers: a lane still running did not reach the segment's
// end, so the loop was stopped from outside (llvmpipe ends a shader's loops after 65535
// iterations in all): unfinished, not cut short, its state NaN. Keeps the controller's
// state for `store_counts` and counts the unfinished.
fn end_segment(x_in: S, unfinished_in: B, running: B, accepted: U, rejected: U, h: R, prev2: R, last_rejected: B, final_segment: bool, traj: U) -> S {
    var x = x_in;
    let unfinished = unfinished_in | running;
#for c in DIM
    x[$c] = select(x[$c], nan_r(), unfinished);
#endfor
    accepted_out = accepted;
    rejected_out = rejected;
    h_out = h;
    prev_out = select(prev2, -prev2, last_rejected);
    report_unfinished(unfinished, final_segment, traj);
    return x;
}

// Counted once, at the end: a trajectory out of steps stays out in later segments.
fn report_unfinished(unfinished: B, final_segment: bool, traj: U) {
    let flagged = select(U(0u), U(1u), unfinished & B(final_segment));
    // Lanes past the chunk's end run too (on copies of real inputs) but are no trajectory.
    for (var l = 0u; l < LANES; l++) {
        if (lane_u(flagged, l) == 1u && lane_u(traj, l) < chunk.first + chunk.count) {
            atomicAdd(&events[0], 1u);
            atomicMin(&events[1], lane_u(traj, l));
        }
    }
}
