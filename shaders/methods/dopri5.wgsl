// Dormand–Prince 5(4), for ODEs: one trial step of size h from (t, x), whose step size the
// controller (controller.wgsl) chooses per trajectory. CPU twin: src/cpu/dopri5.rs.
#import state

struct Trial {
    // the fifth-order solution at t_new
    x: S,
    // drift(t_new, x): the next step's k1 if this one is accepted (first same as last)
    k: S,
    // mean over components of (err_c / (ATOL + RTOL max(|x_c|, |x5_c|)))^2, err the
    // difference from the embedded fourth-order solution
    err2: R,
#ifdef DENSE
    // h (d1 k1 + d3 k3 + ... + d7 k7): the quartic term of the continuous extension
    // (Hairer's rcont5), which the controller interpolates save times with
    d: S,
#endif
}

// k1 = drift_t(t, x); t_new is t + h, or exactly the segment's end for its last step.
fn step(t: R, h: R, t_new: R, x: S, k1: S, p: Params) -> Trial {
    var y: S;
#for c in DIM
    y[$c] = x[$c] + h * (0.2 * k1[$c]);
#endfor
    let k2 = drift_t(t + 0.2 * h, y, p);
#for c in DIM
    y[$c] = x[$c] + h * ((3.0 / 40.0) * k1[$c] + (9.0 / 40.0) * k2[$c]);
#endfor
    let k3 = drift_t(t + 0.3 * h, y, p);
#for c in DIM
    y[$c] = x[$c] + h * ((44.0 / 45.0) * k1[$c] + (-56.0 / 15.0) * k2[$c] + (32.0 / 9.0) * k3[$c]);
#endfor
    let k4 = drift_t(t + 0.8 * h, y, p);
#for c in DIM
    y[$c] = x[$c] + h * ((19372.0 / 6561.0) * k1[$c] + (-25360.0 / 2187.0) * k2[$c]
        + (64448.0 / 6561.0) * k3[$c] + (-212.0 / 729.0) * k4[$c]);
#endfor
    let k5 = drift_t(t + (8.0 / 9.0) * h, y, p);
#for c in DIM
    y[$c] = x[$c] + h * ((9017.0 / 3168.0) * k1[$c] + (-355.0 / 33.0) * k2[$c]
        + (46732.0 / 5247.0) * k3[$c] + (49.0 / 176.0) * k4[$c] + (-5103.0 / 18656.0) * k5[$c]);
#endfor
    let k6 = drift_t(t + 1.0 * h, y, p);
    var x5: S;
#for c in DIM
    x5[$c] = x[$c] + h * ((35.0 / 384.0) * k1[$c] + (500.0 / 1113.0) * k3[$c]
        + (125.0 / 192.0) * k4[$c] + (-2187.0 / 6784.0) * k5[$c] + (11.0 / 84.0) * k6[$c]);
#endfor
    let k7 = drift_t(t_new, x5, p);
    var err2 = R(0.0);
#for c in DIM
    let e$c = h * ((71.0 / 57600.0) * k1[$c] + (-71.0 / 16695.0) * k3[$c] + (71.0 / 1920.0) * k4[$c]
        + (-17253.0 / 339200.0) * k5[$c] + (22.0 / 525.0) * k6[$c] + (-1.0 / 40.0) * k7[$c]);
    let sc$c = R(ATOL) + R(RTOL) * max(abs(x[$c]), abs(x5[$c]));
    err2 = err2 + (e$c / sc$c) * (e$c / sc$c);
#endfor
#ifdef DENSE
    var d: S;
#for c in DIM
    d[$c] = h * ((-12715105075.0 / 11282082432.0) * k1[$c] + (87487479700.0 / 32700410799.0) * k3[$c]
        + (-10690763975.0 / 1880347072.0) * k4[$c] + (701980252875.0 / 199316789632.0) * k5[$c]
        + (-1453857185.0 / 822651844.0) * k6[$c] + (69997945.0 / 29380423.0) * k7[$c]);
#endfor
    return Trial(x5, k7, err2 * R(1.0 / F(DIM)), d);
#else
    return Trial(x5, k7, err2 * R(1.0 / F(DIM)));
#endif
}
