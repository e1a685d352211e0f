// Derivative-free Milstein (Rößler's Runge–Kutta form, Itô, strong order 1 for diagonal or
// scalar noise with g_i depending on x_i only) with an error estimate for the
// Euler–Maruyama step inside it: the Milstein term m = (g(xb) − g(x)) (dW² − h) / (2 √h),
// xb = x + f h + g √h, plus the drift's trapezoidal correction (f(t + h, x') − f) h / 2, so
// that neither the noise nor the drift goes unmeasured. The step taken is Milstein's,
// x' = x + f h + g dW + m; the tolerance as in adaptive_heun.wgsl. Driven by
// sde_controller.wgsl. CPU twin: src/cpu/sde_controller.rs.
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
    let fe = drift_t(t + h, out, p);
    var err2 = R(0.0);
#for c in DIM
    let e$c = m[$c] + 0.5 * (fe[$c] - f[$c]) * h;
    let sc$c = max(R(ATOL), R(RTOL) * max(abs(x[$c]), abs(out[$c])));
    err2 = err2 + (e$c / sc$c) * (e$c / sc$c);
#endfor
    return Trial(out, err2 / R(F(DIM)));
}
