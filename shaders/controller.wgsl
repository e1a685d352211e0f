// The adaptive driver: each trajectory has its own t, step h and controller memory, and
// takes trial steps of the method file's
//   fn step(t: R, h: R, t_new: R, x: S, k1: S, p: Params) -> Trial
// (methods/dopri5.wgsl) until it reaches the segment's end. Lanes step together with their
// own t and h (select per lane, no divergent branch; a finished lane takes zero steps), and
// the drift sees each lane's time through `drift_t` (kernel.rs: a drift that never reads t
// gets any lane's, one that compiles with `t: R` gets them all, any other runs one lane).
// A system's `project` runs with one lane only. A step is accepted when its error norm
// (Trial.err2, a mean square) is at most 1; PI control as in Hairer's DOPRI5 (beta 0.04).
// The controller's powers are taken in f32 in both precisions (f64 pow is no Vulkan
// built-in, and the controller needs no more). A system's `project` is applied after every
// accepted step. CPU twin: src/cpu/controller.rs.
#import state
#import integrate
#import adaptive

#ifdef PROJECT
// The time `project` is called at (the end of the step just accepted): adaptive steps are
// not on the grid, and the chaos toolkit's derived `project` times its blocks by it.
var<private> throng_t: R;
#endif

// From the segment's start to its end: a save time on the grid t0 + k dt (steps are cut
// there), or T1 for the last segment.
fn advance(x0: S, p: Params, traj: U) -> S {
    var x = x0;
    let end_step = chunk.step0 + chunk.steps;
#ifdef OPEN_ENDED
    // A stepper's segments go on: none ends at T1, and the step budget is per segment (the
    // counts it keeps grow without bound). A trajectory already out of steps (NaN) stays.
    let final_segment = true;
    let te = R(T0 + F(end_step) * DT);
    let base = accepted_out + rejected_out;
#else
    let final_segment = end_step >= TOTAL_STEPS;
    let te = R(select(T0 + F(end_step) * DT, T1, final_segment));
    let base = U(0u);
#endif
    let t0 = select(T0 + F(chunk.step0) * DT, T0, chunk.step0 == 0u);
    var t = R(t0);
#ifdef DENSE
    // A later segment goes on from the true state, which may lie past its start.
    if (chunk.step0 > 0u) {
        t = dense_t;
        x = dense_x;
    }
#endif
    var h = h_out;
    var k1 = drift_t(t, x, p);
#ifdef DENSE
    var t_last = t;
    var x_last = x;
    var k_last = k1;
    var d_last: S;
    if (chunk.step0 > 0u) {
        t_last = dense_t_last;
        x_last = dense_x_last;
        k_last = dense_k_last;
        d_last = dense_d_last;
    }
#endif
    var prev2 = abs(prev_out);
    // PI control needs err^a / prev^b: one log2 and one exp2 per step (math.wgsl's
    // polynomial ones), with log2(prev) kept from the step that set it.
    // prev2 is at least 1e-8; at the floor, log2 is the constant the loop uses.
    let l8 = log2_ctl(R32(1e-8f));
    var lprev = select(log2_ctl(R32(max(prev2, R(1e-8)))), R32(l8), prev2 <= R(1e-8));
    var accepted = accepted_out;
    var rejected = rejected_out;
    var last_rejected = prev_out < R(0.0);
    var running = t < te;
#ifdef OPEN_ENDED
    running = running & (x[0] == x[0]);
#endif
    var unfinished = U(0u) == U(1u);
    loop {
#ifdef DENSE
        // Only the run's end cuts a step; save times are interpolated.
        let last = B(final_segment) & (h >= te - t);
#else
        let last = h >= te - t;
#endif
        // A step too short to move t (after a blow-up its norm is NaN, and each rejection
        // shortens it 5-fold until it underflows) would be taken forever: the trajectory
        // stops there, unfinished, as it would at MAX_STEPS.
        let stuck = !(select(t + h, te, last) > t);
        let over = ((accepted + rejected - base) >= U(MAX_STEPS)) | stuck;
        unfinished = unfinished | (running & over);
        running = running & !over;
        if (!any(running)) {
            break;
        }
        let hs = select(R(0.0), select(h, te - t, last), running);
        let t_new = select(t + hs, te, last);
        let trial = step(t, hs, t_new, x, k1, p);
        let err2 = trial.err2;
        // A step of DT_MIN is taken whatever its error, but not an overflowed one: that
        // trajectory has blown up and stops, unfinished.
        // (Folds away without a DT_MIN: a step of 0 is one that no longer moves t.)
        let blown = B(DT_MIN > 0.0) & running & !(err2 <= R(1e30)) & (hs <= R(DT_MIN));
        unfinished = unfinished | blown;
        running = running & !blown;
        let ok = running & ((err2 <= R(1.0)) | (hs <= R(DT_MIN)));
        let rej = running & !ok;
#ifdef DENSE
#for c in DIM
        x_last[$c] = select(x_last[$c], x[$c], ok);
        k_last[$c] = select(k_last[$c], k1[$c], ok);
        d_last[$c] = select(d_last[$c], trial.d[$c], ok);
#endfor
        t_last = select(t_last, t, ok);
#endif
#for c in DIM
        x[$c] = select(x[$c], trial.x[$c], ok);
        k1[$c] = select(k1[$c], trial.k[$c], ok);
#endfor
        t = select(t, t_new, ok);
#ifdef PROJECT
        // Only after an accepted step: project may have side effects (the carried rows of
        // throng's derived systems). Written for LANES = 1, like the drift calls here.
        if (any(ok)) {
            throng_t = t;
            let xp = project(x, p);
            var moved = false;
#for c in DIM
            moved = moved | any(xp[$c] != x[$c]);
#endfor
            // k1 (first same as last) is the drift at the state before projection: stale
            // if project moved it. An identity projection costs no drift call.
            if (moved) {
                x = xp;
                k1 = drift_t(t, x, p);
            }
        }
#endif
        accepted += select(U(0u), U(1u), ok);
        rejected += select(U(0u), U(1u), rej);
        // A NaN norm (a trial that overflowed: inf - inf) counts as a huge one, so the step
        // shrinks (max(NaN, ..) might drop the NaN and grow it), as in the CPU twin.
        let e = select(err2, R(1e30), !(err2 <= R(1e30)));
        let l = log2_ctl(R32(max(e, R(1e-12))));
        // r = 0.9 err^-a prev^b: the step's factor, clamped to [0.2, 10] (after a
        // rejection at most 1). Multiplied, not divided: a division costs llvmpipe several
        // multiplications.
        let r = 0.9 * exp2_ctl(select(R32(0.0), R32(EXP_PREV2) * lprev, ok) - R32(EXP_ERR2) * l);
        let grown = hs * R(clamp(r, R32(0.2), R32(10.0)));
        let h_ok = select(grown, hs, last_rejected & (grown > hs));
        let h_rej = hs * R(max(r, R32(0.2)));
        let floor8 = e >= R(1e-8);
        prev2 = select(prev2, select(R(1e-8), e, floor8), ok);
        lprev = select(lprev, select(R32(l8), l, floor8), ok);
        last_rejected = select(last_rejected, rej, running);
        h = select(h, clamp(select(h_rej, h_ok, ok), R(DT_MIN), R(DT_MAX)), running);
        running = running & (t < te);
    }
    x = end_segment(x, unfinished, running, accepted, rejected, h, prev2, last_rejected, final_segment, traj);
#ifdef DENSE
    dense_t = t;
    dense_x = x;
    dense_t_last = t_last;
    dense_x_last = x_last;
    dense_k_last = k_last;
    dense_d_last = d_last;
    // The state at te where the last accepted step passed it: with θ = (te - t_last) / h,
    // y = x_last + θ (Δ + (1 - θ) (r3 + θ (r4 + (1 - θ) d))), Δ = x - x_last,
    // r3 = h k_last - Δ, r4 = Δ - h k1 - r3 (k1 is the drift at x: that step's last stage).
    let past = t > te;
    let hl = select(R(1.0), t - t_last, past);
    let th = (te - t_last) / hl;
    let th1 = R(1.0) - th;
    var y: S;
#for c in DIM
    let dx$c = x[$c] - x_last[$c];
    let r3$c = hl * k_last[$c] - dx$c;
    let r4$c = dx$c - hl * k1[$c] - r3$c;
    y[$c] = select(x[$c], x_last[$c] + th * (dx$c + th1 * (r3$c + th * (r4$c + th1 * d_last[$c]))), past);
#endfor
    return y;
#else
    return x;
#endif
}
