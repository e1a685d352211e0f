// What the exponential integrators (methods/setd1, etdrk2, etdrk4) share. Semilinear
// dX = (A X + N(t, X)) dt + g dW with A = diag(linear(t, p)), the system's
// `fn linear(t: F, p: Params) -> S`, taken at the start of each step, and N = drift - A x.
#import phi

// The SETD1 drift step e^(hA) x + h phi1(hA) N(x), given f = drift(t, x) and a = diag(A).
fn etd1(x: S, f: S, a: S) -> S {
    var u: S;
#for c in DIM
    let z$c = a[$c] * DT;
    u[$c] = exp_r(z$c) * x[$c] + DT * phi1(z$c) * (f[$c] - a[$c] * x[$c]);
#endfor
    return u;
}

#ifdef STOCHASTIC
// u + g(t, x) sqrt(h phi1(2hA)) z (diagonal or additive noise): the exact variance of the
// stochastic convolution, so Ornstein–Uhlenbeck is exact in law at any step.
fn etd_noise(u_in: S, t: F, x: S, p: Params, a: S, w: W) -> S {
    var u = u_in;
    let d = diffusion(t, x, p);
#for c in DIM
    u[$c] = u[$c] + d[$c] * (sqrt(DT * phi1(2.0 * (a[$c] * DT))) * w[$c]);
#endfor
    return u;
}
#endif
