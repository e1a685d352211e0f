// Derivative-free Milstein in Rößler's Runge–Kutta form (Itô, strong order 1 for diagonal,
// scalar or additive noise with g_i depending on x_i only): the support value
// xb = x + f h + g sqrt(h) replaces dg/dx: x += f h + g dW + (g(xb) - g(x)) sqrt(h) (w^2 - 1) / 2.
// CPU twin: src/cpu/milstein.rs.
fn step(t: F, x_in: S, p: Params, w: W) -> S {
    var x = x_in;
    let f = drift(t, x, p);
    let d = diffusion(t, x, p);
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
    return x;
}
