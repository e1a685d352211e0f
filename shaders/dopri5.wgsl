// Dormand–Prince 5(4) for ODE systems with per-trajectory step control, f32 or f64 (flag F64).
// Each trajectory has its own t, step h and controller memory. The code is written for lanes
// (select per lane, a finished lane takes zero steps), but runs with LANES = 1: the user's
// drift takes one t, and lanes' times differ. Error norm: RMS over components of
// err_c / (ATOL + RTOL max(|x_c|, |x5_c|)); PI control as in Hairer's DOPRI5 (beta 0.04).
// The controller's powers are taken in f32 in both precisions (f64 pow is no Vulkan
// built-in, and the controller needs no more). CPU twin: src/cpu/dopri5.rs.
#import state
#import integrate

@group(0) @binding(3) var<storage, read_write> events: array<atomic<u32>, 2>;

// Controller state of this invocation's lanes: loaded from the rows after the state by
// `load_counts` (a segment after the first continues where the last one stopped), stored
// back by `store_counts`. Rows: accepted, rejected, the next step h, and the last accepted
// error norm (negative if the last step was rejected).
var<private> accepted_out: U;
var<private> rejected_out: U;
var<private> h_out: R;
var<private> prev_out: R;

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
}

fn pw(v: R, e: f32) -> R {
    return R(pow(R32(max(v, R(1e-12))), R32(e)));
}

fn nan_r() -> R {
    return R(R32(bitcast<f32>(0x7fc00000u)));
}

// From the segment's start to its end: a save time on the grid t0 + k dt (steps are cut
// there), or T1 for the last segment.
fn advance(x0: S, p: Params, traj: U) -> S {
    var x = x0;
    let end_step = chunk.step0 + chunk.steps;
    let final_segment = end_step >= TOTAL_STEPS;
    let te = R(select(T0 + F(end_step) * DT, T1, final_segment));
    let t0 = select(T0 + F(chunk.step0) * DT, T0, chunk.step0 == 0u);
    var t = R(t0);
    var h = h_out;
    var k1 = drift(t0, x, p);
    var prev2 = abs(prev_out);
    var accepted = accepted_out;
    var rejected = rejected_out;
    var last_rejected = prev_out < R(0.0);
    var running = t < te;
    var unfinished = U(0u) == U(1u);
    loop {
        let over = (accepted + rejected) >= U(MAX_STEPS);
        unfinished = unfinished | (running & over);
        running = running & !over;
        if (!any(running)) {
            break;
        }
        let last = h >= te - t;
        let hs = select(R(0.0), select(h, te - t, last), running);
        var y: S;
#for c in DIM
        y[$c] = x[$c] + hs * (0.2 * k1[$c]);
#endfor
        let k2 = drift(t + 0.2 * hs, y, p);
#for c in DIM
        y[$c] = x[$c] + hs * ((3.0 / 40.0) * k1[$c] + (9.0 / 40.0) * k2[$c]);
#endfor
        let k3 = drift(t + 0.3 * hs, y, p);
#for c in DIM
        y[$c] = x[$c] + hs * ((44.0 / 45.0) * k1[$c] + (-56.0 / 15.0) * k2[$c] + (32.0 / 9.0) * k3[$c]);
#endfor
        let k4 = drift(t + 0.8 * hs, y, p);
#for c in DIM
        y[$c] = x[$c] + hs * ((19372.0 / 6561.0) * k1[$c] + (-25360.0 / 2187.0) * k2[$c]
            + (64448.0 / 6561.0) * k3[$c] + (-212.0 / 729.0) * k4[$c]);
#endfor
        let k5 = drift(t + (8.0 / 9.0) * hs, y, p);
#for c in DIM
        y[$c] = x[$c] + hs * ((9017.0 / 3168.0) * k1[$c] + (-355.0 / 33.0) * k2[$c]
            + (46732.0 / 5247.0) * k3[$c] + (49.0 / 176.0) * k4[$c] + (-5103.0 / 18656.0) * k5[$c]);
#endfor
        let k6 = drift(t + 1.0 * hs, y, p);
        var x5: S;
#for c in DIM
        x5[$c] = x[$c] + hs * ((35.0 / 384.0) * k1[$c] + (500.0 / 1113.0) * k3[$c]
            + (125.0 / 192.0) * k4[$c] + (-2187.0 / 6784.0) * k5[$c] + (11.0 / 84.0) * k6[$c]);
#endfor
        let t_new = select(t + hs, te, last);
        let k7 = drift(t_new, x5, p);
        var err2 = R(0.0);
#for c in DIM
        let e$c = hs * ((71.0 / 57600.0) * k1[$c] + (-71.0 / 16695.0) * k3[$c] + (71.0 / 1920.0) * k4[$c]
            + (-17253.0 / 339200.0) * k5[$c] + (22.0 / 525.0) * k6[$c] + (-1.0 / 40.0) * k7[$c]);
        let sc$c = R(ATOL) + R(RTOL) * max(abs(x[$c]), abs(x5[$c]));
        err2 = err2 + (e$c / sc$c) * (e$c / sc$c);
#endfor
        err2 = err2 / R(f32(DIM));
        let ok = running & ((err2 <= R(1.0)) | (hs <= R(DT_MIN)));
        let rej = running & !ok;
#for c in DIM
        x[$c] = select(x[$c], x5[$c], ok);
        k1[$c] = select(k1[$c], k7[$c], ok);
#endfor
        t = select(t, t_new, ok);
        accepted += select(U(0u), U(1u), ok);
        rejected += select(U(0u), U(1u), rej);
        let fac = clamp(pw(err2, EXP_ERR2) / pw(prev2, EXP_PREV2) / 0.9, R(0.1), R(5.0));
        let grown = hs / fac;
        let h_ok = select(grown, hs, last_rejected & (grown > hs));
        let h_rej = hs / min(pw(err2, EXP_ERR2) / 0.9, R(5.0));
        prev2 = select(prev2, max(err2, R(1e-8)), ok);
        last_rejected = select(last_rejected, rej, running);
        h = select(h, clamp(select(h_rej, h_ok, ok), R(DT_MIN), R(DT_MAX)), running);
        running = running & (t < te);
    }
#for c in DIM
    x[$c] = select(x[$c], nan_r(), unfinished);
#endfor
    accepted_out = accepted;
    rejected_out = rejected;
    h_out = h;
    prev_out = select(prev2, -prev2, last_rejected);
    // Counted once, at the end: a trajectory out of steps stays out in later segments.
    let flagged = select(U(0u), U(1u), unfinished & final_segment);
    for (var l = 0u; l < LANES; l++) {
        if (lane_u(flagged, l) == 1u) {
            atomicAdd(&events[0], 1u);
            atomicMin(&events[1], lane_u(traj, l));
        }
    }
    return x;
}

fn store_counts(inv: u32) {
    states[DIM * chunk.stride + inv] = R(accepted_out);
    states[(DIM + 1u) * chunk.stride + inv] = R(rejected_out);
    states[(DIM + 2u) * chunk.stride + inv] = h_out;
    states[(DIM + 3u) * chunk.stride + inv] = prev_out;
}
