// Classic fourth-order Runge–Kutta, for ODEs (w is all zeros). CPU twin: src/cpu/rk4.rs.
#import state

fn step(t: F, x: S, p: Params, w: W) -> S {
    let k1 = drift(t, x, p);
    let k2 = drift(t + HALF_DT, axpy(x, HALF_DT, k1), p);
    let k3 = drift(t + HALF_DT, axpy(x, HALF_DT, k2), p);
    let k4 = drift(t + DT, axpy(x, DT, k3), p);
    var out: S;
#for c in DIM
    out[$c] = x[$c] + SIXTH_DT * (k1[$c] + 2.0 * (k2[$c] + k3[$c]) + k4[$c]);
#endfor
    return out;
}
