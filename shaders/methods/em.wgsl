// Euler–Maruyama (Itô; with no noise the explicit Euler method): x += f h + g dW.
// Noise kinds: DIAGONAL (and additive) x_i += g_i dW_i; SCALAR x_i += g_i dW_0; CORRELATED
// x_i += g_i (L dZ)_i; GENERAL x_i += sum_j g[i * NOISE + j] dW_j. CPU twin: src/cpu/em.rs.
fn step(t: F, x_in: S, p: Params, w: W) -> S {
    var x = x_in;
    let f = drift(t, x, p);
#ifdef STOCHASTIC
    let d = diffusion(t, x, p);
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
#else
#for c in DIM
    x[$c] = x[$c] + f[$c] * DT;
#endfor
#endif
    return x;
}
