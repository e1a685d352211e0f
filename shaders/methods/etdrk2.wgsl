// ETD-RK2 (Cox–Matthews): the SETD1 drift step U, then h phi2(hA) (N(U, t + h) - N(X, t));
// the noise as in SETD1. CPU twin: src/cpu/etdrk2.rs.
#import exponential

fn step(t: F, x: S, p: Params, w: W) -> S {
    let f = drift(t, x, p);
    let a = linear(t, p);
    var u = etd1(x, f, a);
    let fu = drift(t + DT, u, p);
#for c in DIM
    u[$c] = u[$c] + DT * phi2(a[$c] * DT) * ((fu[$c] - a[$c] * u[$c]) - (f[$c] - a[$c] * x[$c]));
#endfor
#ifdef STOCHASTIC
    u = etd_noise(u, t, x, p, a, w);
#endif
    return u;
}
