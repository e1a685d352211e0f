// Stochastic exponential Euler (SETD1, Itô): X+ = e^(hA) X + h phi1(hA) N(X) + g sqrt(h phi1(2hA)) z,
// exact in law for Ornstein–Uhlenbeck. CPU twin: src/cpu/setd1.rs.
#import exponential

fn step(t: F, x: S, p: Params, w: W) -> S {
    let f = drift(t, x, p);
    let a = linear(t, p);
    var u = etd1(x, f, a);
#ifdef STOCHASTIC
    u = etd_noise(u, t, x, p, a, w);
#endif
    return u;
}
