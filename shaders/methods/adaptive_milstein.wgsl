// Derivative-free Milstein (Rößler's Runge–Kutta form, Itô, strong order 1 for diagonal or
// scalar noise with g_i depending on x_i only) with an error estimate for the
// Euler–Maruyama step inside it, taken from the state alone: the Milstein term
// m = (g(xb) − g(x)) (dW² − h) / (2 √h), xb = x + f h + g √h, at its mean size
// E|dW² − h| = 4 φ(1) h (so (g(xb) − g(x)) 0.48394 √h), plus the drift's trapezoidal
// correction at the noiseless predictor, (f(t + h, x + f h) − f) h / 2. An estimate from the
// step's own increment would accept or shorten each step by that increment, and the
// accepted steps' leading local error would no longer average out: the error fell as
// tol^(1/2); from the state alone, the step choice is adapted and it falls as tol
// (tests/adaptive_sde.rs). The step taken is Milstein's, x' = x + f h + g dW + m; the
// tolerance as in adaptive_heun.wgsl. Driven by sde_controller.wgsl. CPU twin:
// src/cpu/adaptive_milstein.rs.
#import state

fn step(t: R, h: R, x: S, dw: DW, hh: DW, p: Params) -> Trial {
    let f = drift_t(t, x, p);
    let g = diffusion_t(t, x, p);
    let sh = sqrt(h);
    var xb: S;
#for c in DIM
    xb[$c] = x[$c] + f[$c] * h + g[$c] * sh;
#endfor
    let gb = diffusion_t(t, xb, p);
    var out: S;
    var m: S;
#for c in DIM
#ifdef SCALAR
    let w$c = dw[0];
#else
    let w$c = dw[$c];
#endif
    m[$c] = (gb[$c] - g[$c]) * ((w$c * w$c - h) / (2.0 * sh));
    out[$c] = x[$c] + f[$c] * h + g[$c] * w$c + m[$c];
#endfor
    var xd: S;
#for c in DIM
    xd[$c] = x[$c] + f[$c] * h;
#endfor
    let fe = drift_t(t + h, xd, p);
    var err2 = R(0.0);
#for c in DIM
    // 0.48394145 = 2 φ(1) = E|Z² − 1| / 2
    let e$c = (gb[$c] - g[$c]) * (0.48394145 * sh) + 0.5 * (fe[$c] - f[$c]) * h;
    let sc$c = max(R(ATOL), R(RTOL) * max(abs(x[$c]), abs(out[$c])));
    err2 = err2 + (e$c / sc$c) * (e$c / sc$c);
#endfor
    return Trial(out, err2 / R(F(DIM)));
}
