// ETDRK4 (Cox–Matthews 2002): stages at t + h/2 (twice) and t + h with e^(hA/2) and
// (h/2) phi1(hA/2); weights phi1 - 3 phi2 + 4 phi3, 2 phi2 - 4 phi3 (twice) and
// 4 phi3 - phi2. The noise as in SETD1. CPU twin: src/cpu/etdrk4.rs.
#import exponential

fn step(t: F, x: S, p: Params, w: W) -> S {
    let f = drift(t, x, p);
    let a = linear(t, p);
    var ua: S;
#for c in DIM
    let z$c = a[$c] * DT;
    let eh$c = exp_r(0.5 * z$c);
    let ph$c = HALF_DT * phi1(0.5 * z$c);
    let n0$c = f[$c] - a[$c] * x[$c];
    ua[$c] = eh$c * x[$c] + ph$c * n0$c;
#endfor
    let fa = drift(t + HALF_DT, ua, p);
    var ub: S;
#for c in DIM
    let na$c = fa[$c] - a[$c] * ua[$c];
    ub[$c] = eh$c * x[$c] + ph$c * na$c;
#endfor
    let fb = drift(t + HALF_DT, ub, p);
    var uc: S;
#for c in DIM
    let nb$c = fb[$c] - a[$c] * ub[$c];
    uc[$c] = eh$c * ua[$c] + ph$c * (2.0 * nb$c - n0$c);
#endfor
    let fc = drift(t + DT, uc, p);
    var u: S;
#for c in DIM
    let nc$c = fc[$c] - a[$c] * uc[$c];
    let p1$c = phi1(z$c);
    let p2$c = phi2(z$c);
    let p3$c = phi3(z$c);
    u[$c] = exp_r(z$c) * x[$c] + DT * ((p1$c - 3.0 * p2$c + 4.0 * p3$c) * n0$c
        + (2.0 * p2$c - 4.0 * p3$c) * (na$c + nb$c) + (4.0 * p3$c - p2$c) * nc$c);
#endfor
#ifdef STOCHASTIC
    u = etd_noise(u, t, x, p, a, w);
#endif
    return u;
}
