// One-step SDE methods driven by the per-step Wiener increments: Euler–Maruyama (Itô;
// with no noise the explicit Euler method), derivative-free Milstein (Itô, strong order 1 for
// diagonal, scalar or additive noise; flag MILSTEIN) and stochastic Heun (Stratonovich;
// flag HEUN), and the exponential integrators SETD1, ETD-RK2 and ETDRK4 for semilinear
// systems (flags EXPONENTIAL, ETDRK2, ETDRK4). One invocation advances LANES trajectories
// through a segment of steps with the state in registers. R is f32 or f64 (flag F64) lanes; the noise is f32 in both.
// Noise kinds (flags): DIAGONAL (and additive) x_i += g_i dW_i; SCALAR x_i += g_i dW_0;
// CORRELATED x_i += g_i (L dZ)_i; GENERAL x_i += sum_j g[i * NOISE + j] dW_j.
// A system may define `fn project(x: S, p: Params) -> S`, applied after every step (e.g. to
// keep a state non-negative). CPU twin: src/cpu/sde.rs.
#ifdef STOCHASTIC
#import noise
#endif
#ifdef EXPONENTIAL
#import phi
#endif
#import state
#import integrate

#ifdef HEUN
// Component c of g dW for this noise kind (Heun evaluates it for two values of g).
#for c in DIM
fn noise_term_$c(d: G, w: array<R, NOISE>) -> R {
#ifdef GENERAL
    var s = R(0.0);
#for j in NOISE
    s += d[$c * NOISE + $j] * (SQRT_DT * w[$j]);
#endfor
    return s;
#endif
#ifdef SCALAR
    return d[$c] * (SQRT_DT * w[0]);
#endif
#ifdef DIAGONAL
    return d[$c] * (SQRT_DT * w[$c]);
#endif
#ifdef CORRELATED
    return d[$c] * (SQRT_DT * w[$c]);
#endif
}
#endfor
#endif

// Steps 4g + lo .. 4g + hi - 1 (0 <= lo < hi <= 4). For a stochastic system the group's
// 4 * NOISE normals are exactly Philox blocks g * NOISE .. g * NOISE + NOISE - 1 of the
// trajectory, so every word is used; normal s * NOISE + j drives channel j of step 4g + s,
// whichever segment the step falls in.
fn em_group(x_in: S, p: Params, traj: U, g: u32, lo: u32, hi: u32) -> S {
    var x = x_in;
#ifdef STOCHASTIC
    var z: array<R, 4u * NOISE>;
#for j in NOISE
    let n$j = noise_block(g * NOISE + $ju, traj);
    z[4u * $ju] = R(n$j.z0);
    z[4u * $ju + 1u] = R(n$j.z1);
    z[4u * $ju + 2u] = R(n$j.z2);
    z[4u * $ju + 3u] = R(n$j.z3);
#endfor
#endif
#for s in 4
    if ($su >= lo && $su < hi) {
        let t = T0 + F(4u * g + $su) * DT;
#ifdef FUNCTIONALS
        let x_before = x;
#endif
        let f = drift(t, x, p);
#ifdef EXPONENTIAL
        // Semilinear dX = (A X + N(t, X)) dt + g dW with A = diag(linear(t, p)) and
        // N = drift - A x. SETD1: X+ = e^(hA) X + h phi1(hA) N(X) + g sqrt(h phi1(2hA)) z,
        // exact in law for Ornstein–Uhlenbeck. ETD-RK2 (Cox–Matthews) adds
        // h phi2(hA) (N(U, t + h) - N(X, t)) at U = the SETD1 drift step.
        let a = linear(t, p);
        var u: S;
#ifdef ETDRK4
        // ETDRK4 (Cox–Matthews 2002): stages at t + h/2 (twice) and t + h with e^(hA/2) and
        // (h/2) phi1(hA/2); weights phi1 - 3 phi2 + 4 phi3, 2 phi2 - 4 phi3 (twice) and
        // 4 phi3 - phi2.
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
#for c in DIM
        let nc$c = fc[$c] - a[$c] * uc[$c];
        let p1$c = phi1(z$c);
        let p2$c = phi2(z$c);
        let p3$c = phi3(z$c);
        u[$c] = exp_r(z$c) * x[$c] + DT * ((p1$c - 3.0 * p2$c + 4.0 * p3$c) * n0$c
            + (2.0 * p2$c - 4.0 * p3$c) * (na$c + nb$c) + (4.0 * p3$c - p2$c) * nc$c);
#endfor
#else
#for c in DIM
        let z$c = a[$c] * DT;
        u[$c] = exp_r(z$c) * x[$c] + DT * phi1(z$c) * (f[$c] - a[$c] * x[$c]);
#endfor
#endif
#ifdef ETDRK2
        let fu = drift(t + DT, u, p);
#for c in DIM
        u[$c] = u[$c] + DT * phi2(z$c) * ((fu[$c] - a[$c] * u[$c]) - (f[$c] - a[$c] * x[$c]));
#endfor
#endif
#ifdef STOCHASTIC
        let d = diffusion(t, x, p);
#for c in DIM
        u[$c] = u[$c] + d[$c] * (sqrt(DT * phi1(2.0 * z$c)) * z[$s * NOISE + $c]);
#endfor
#endif
        x = u;
#else
#ifdef STOCHASTIC
        let d = diffusion(t, x, p);
        var w: array<R, NOISE>;
#for j in NOISE
        w[$j] = z[$s * NOISE + $j];
#endfor
#ifdef CORRELATED
        w = correlate(w);
#endif
#ifdef MILSTEIN
        // Rossler's derivative-free Milstein: the support value xb = x + f h + g sqrt(h)
        // replaces dg/dx: x += f h + g dW + (g(xb) - g(x)) sqrt(h) (w^2 - 1) / 2.
        var xb: S;
#for c in DIM
        xb[$c] = x[$c] + f[$c] * DT + d[$c] * SQRT_DT;
#endfor
        let db = diffusion(t, xb, p);
#for c in DIM
#ifdef SCALAR
        x[$c] = x[$c] + f[$c] * DT + d[$c] * (SQRT_DT * w[0]) + (db[$c] - d[$c]) * (SQRT_DT * 0.5 * (w[0] * w[0] - 1.0));
#else
        x[$c] = x[$c] + f[$c] * DT + d[$c] * (SQRT_DT * w[$c]) + (db[$c] - d[$c]) * (SQRT_DT * 0.5 * (w[$c] * w[$c] - 1.0));
#endif
#endfor
#endif
#ifdef HEUN
        // Predictor xp = x + f h + g dW; corrector with the averages of f and g.
        var xp: S;
        var dx: S;
#for c in DIM
        dx[$c] = noise_term_$c(d, w);
        xp[$c] = x[$c] + f[$c] * DT + dx[$c];
#endfor
        let fp = drift(t + DT, xp, p);
        let dp = diffusion(t + DT, xp, p);
#for c in DIM
        x[$c] = x[$c] + 0.5 * ((f[$c] + fp[$c]) * DT + dx[$c] + noise_term_$c(dp, w));
#endfor
#endif
#ifdef EM
#for c in DIM
#ifdef GENERAL
        var dx$c = f[$c] * DT;
#for j in NOISE
        dx$c += d[$c * NOISE + $j] * (SQRT_DT * w[$j]);
#endfor
        x[$c] = x[$c] + dx$c;
#endif
#ifdef SCALAR
        x[$c] = x[$c] + f[$c] * DT + d[$c] * (SQRT_DT * w[0]);
#endif
#ifdef DIAGONAL
        x[$c] = x[$c] + f[$c] * DT + d[$c] * (SQRT_DT * w[$c]);
#endif
#ifdef CORRELATED
        x[$c] = x[$c] + f[$c] * DT + d[$c] * (SQRT_DT * w[$c]);
#endif
#endfor
#endif
#else
#for c in DIM
        x[$c] = x[$c] + f[$c] * DT;
#endfor
#endif
#endif
#ifdef PROJECT
        x = project(x, p);
#endif
#ifdef FUNCTIONALS
        x = after_step(t + DT, x_before, x, p);
#endif
    }
#endfor
    return x;
}

// Steps chunk.step0 .. chunk.step0 + chunk.steps of LANES trajectories (entry point:
// integrate.wgsl): a partial group of 4 at either end, whole groups in the loop (whose body
// is the only copy in the hot path, with constant bounds).
fn advance(x0: S, p: Params, traj: U) -> S {
    var x = x0;
#ifdef ONE_SEGMENT
    let a = 0u;
    let b = STEPS;
#else
    let a = chunk.step0;
    let b = chunk.step0 + chunk.steps;
#endif
    var g = a / 4u;
    if (a % 4u != 0u) {
        x = em_group(x, p, traj, g, a % 4u, min(b - 4u * g, 4u));
        g += 1u;
    }
    let full = b / 4u;
    for (; g < full; g++) {
        x = em_group(x, p, traj, g, 0u, 4u);
    }
    if (4u * g < b) {
        x = em_group(x, p, traj, g, 0u, b - 4u * g);
    }
    return x;
}
