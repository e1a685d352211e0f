// Stochastic Heun (Stratonovich; strong order 1 for commutative noise): predictor
// xp = x + f h + g dW, corrector with the averages of f and g. CPU twin: src/cpu/heun.rs.

// Component c of g dW for this noise kind (Heun evaluates it for two values of g).
#for c in DIM
fn noise_term_$c(d: G, w: W) -> R {
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

fn step(t: F, x_in: S, p: Params, w: W) -> S {
    var x = x_in;
    let f = drift(t, x, p);
    let d = diffusion(t, x, p);
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
    return x;
}
