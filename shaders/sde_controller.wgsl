// The adaptive SDE driver: each trajectory has its own position k on the Brownian tree's
// points of depth TREE_LEAF (time T0 + k LEAF_DT), its own step, a whole number of those
// points, and the controller's rows (adaptive.wgsl), and takes trial steps of the method
// file's
//   fn step(t: R, h: R, x: S, dw: DW, hh: DW, p: Params) -> Trial
// (methods/adaptive_heun.wgsl, methods/adaptive_milstein.wgsl, methods/adaptive_sra1.wgsl;
// hh is the step's space-time Lévy area A/h per channel under TREE_AREA, else zero, with
// A from the walks' areas from 0 by A_{k,k'} = A_{0,k'} − A_{0,k} − (h B_k − t_k ΔB)/2)
// until it reaches the
// segment's end, a point of the step grid. B at the step's left end stays in registers, so
// a trial step walks the tree once, to its right end; a rejected step walks the same path
// to a nearer point: the path does not depend on the steps, rejections, lanes or chunks.
// A step is accepted when its error norm (a mean square) is at most 1, or when it spans
// one point; then h' = h clamp(0.9 err2^-ERR_EXP, 0.2, 2) (rounded to 1/256), without growth right after a
// rejection. CPU twin: src/cpu/sde_controller.rs.
#import noise
#import tree
#import state
#import integrate
#import adaptive

// A step's Brownian increments, one per channel.
alias DW = array<R, NOISE>;

// B at a point, every channel, and (area tree) the area from 0 to there.
struct BW {
    w: array<R32, NOISE>,
    a: array<R32, NOISE>,
}

// A method's trial step: its solution and the mean over components of (err_c / tol_c)^2.
struct Trial {
    x: S,
    err2: R,
}

#ifdef PROJECT
var<private> throng_t: R;
#endif

// B at point k, every channel.
fn tree_w(k: U, traj: U) -> BW {
    var out: BW;
#ifdef TREE_AREA
    var tb: array<TreeArea, NOISE_BLOCKS>;
#for b in NOISE_BLOCKS
    tb[$b] = tree_area_at(k, $bu, traj);
#endfor
#for j in NOISE
    out.w[$j] = tb[$ju / 4u].w[$ju % 4u];
    out.a[$j] = tb[$ju / 4u].a[$ju % 4u];
#endfor
#else
    var tb: array<TreeNormals, NOISE_BLOCKS>;
#for b in NOISE_BLOCKS
    tb[$b] = tree_at(k, $bu, traj);
#endfor
#for j in NOISE
    out.w[$j] = tb[$ju / 4u][$ju % 4u];
#endfor
#endif
    return out;
}

fn advance(x0: S, p: Params, traj: U) -> S {
    var x = x0;
    let end_step = chunk.step0 + chunk.steps;
    let final_segment = end_step >= TOTAL_STEPS;
    // The segment's end: a save time on the step grid, or T1 (point 2^TREE_LEAF).
    let ke = U(end_step * LEAF_PER_STEP);
    var k = U(chunk.step0 * LEAF_PER_STEP);
    // B at the left end: walked by the loop's first pass (one copy of the unrolled walk in
    // the kernel; each copy costs llvmpipe seconds to compile).
    var wl: BW;
    var have_left = false;
    var h = h_out;
    var prev2 = abs(prev_out);
    var accepted = accepted_out;
    var rejected = rejected_out;
    var last_rejected = prev_out < R(0.0);
    var running = k < ke;
    var unfinished = U(0u) == U(1u);
    loop {
        let over = (accepted + rejected) >= U(MAX_STEPS);
        unfinished = unfinished | (running & over);
        running = running & !over;
        if (!any(running)) {
            break;
        }
        // At least one point, at most to the segment's end; a finished lane takes none.
        let n = select(U(0u), clamp(U(h / R(LEAF_DT)), U(1u), ke - k), running);
        let kn = k + n;
        let wr = tree_w(select(k, kn, have_left), traj);
        if (!have_left) {
            wl = wr;
            have_left = true;
            continue;
        }
        var dw: DW;
#for j in NOISE
        dw[$j] = R(SQRT_SPAN * (wr.w[$j] - wl.w[$j]));
#endfor
        let t = T0 + R(k) * LEAF_DT;
        let hs = R(n) * LEAF_DT;
        var hh: DW;
#ifdef TREE_AREA
        // In the tree's units (span 1), then A_real = span^(3/2) A and H = A_real / h.
        let t0n = R32(k) * LEAF_FRAC;
        let hn = R32(n) * LEAF_FRAC;
#for j in NOISE
        {
            let dbn = wr.w[$j] - wl.w[$j];
            let da = wr.a[$j] - wl.a[$j] - 0.5 * (hn * wl.w[$j] - t0n * dbn);
            hh[$j] = R(SPAN_3_2 * da) / hs;
        }
#endfor
#endif
        let trial = step(t, hs, x, dw, hh, p);
        let err2 = trial.err2;
        // A step of one point (or DT_MIN) is taken whatever its error, but not an
        // overflowed one: that trajectory has blown up and stops, unfinished, rather than
        // crawl to the end one point at a time.
        let blown = running & !(err2 <= R(1e30)) & ((n <= U(1u)) | (hs <= R(DT_MIN)));
        unfinished = unfinished | blown;
        running = running & !blown;
        let ok = running & ((err2 <= R(1.0)) | (n <= U(1u)) | (hs <= R(DT_MIN)));
        let rej = running & !ok;
#for c in DIM
        x[$c] = select(x[$c], trial.x[$c], ok);
#endfor
#for j in NOISE
        wl.w[$j] = select(wl.w[$j], wr.w[$j], ok);
        wl.a[$j] = select(wl.a[$j], wr.a[$j], ok);
#endfor
        k = select(k, kn, ok);
#ifdef PROJECT
        // After accepted steps only (project may have side effects); one lane (lane_time).
        if (any(ok)) {
            throng_t = T0 + R(k) * LEAF_DT;
            x = project(x, p);
        }
#endif
        accepted += select(U(0u), U(1u), ok);
        rejected += select(U(0u), U(1u), rej);
        // A NaN norm (an overflowed trial) counts as a huge one, so the step shrinks.
        let e = select(err2, R(1e30), !(err2 <= R(1e30)));
        let q0 = clamp(0.9 * exp2_ctl(-ERR_EXP * log2_ctl(R32(max(e, R(1e-12))))), R32(0.2), R32(2.0));
        // Rounded to 1/256: a device that contracts the polynomials into fused multiply-adds
        // differs from the host by ulps, and a step is a whole number of points, so an
        // unrounded factor would tip the count.
        let q = floor(q0 * 256.0 + 0.5) / 256.0;
        let grown = hs * R(q);
        let h_ok = select(grown, hs, last_rejected & (grown > hs));
        let h_new = select(grown, h_ok, ok);
        prev2 = select(prev2, max(e, R(1e-8)), ok);
        last_rejected = select(last_rejected, rej, running);
        h = select(h, clamp(h_new, R(DT_MIN), R(DT_MAX)), running);
        running = running & (k < ke);
    }
    return end_segment(x, unfinished, running, accepted, rejected, h, prev2, last_rejected, final_segment, traj);
}
