// Rößler's SRA1 for additive noise (Itô = Stratonovich; strong order 1.5 with fixed steps),
// which needs the step's space-time Lévy area H = A / h (A = ∫ (W_r − W_t − (r − t)/h ΔW) dr):
// the stage y = x + (3/4) h f + g ((3/4) dW + (3/2) H) at t + 3h/4, then
// x' = x + h (f + 2 f(y)) / 3 + g dW. The error is its embedded Euler–Maruyama step's,
// x' − (x + f h + g dW) = (2/3) h (f(y) − f). g is taken at the step's start (additive noise
// may depend on t; within a step it is frozen). Driven by sde_controller.wgsl on the area
// tree. CPU twin: src/cpu/adaptive_sra1.rs.
#import state

fn step(t: R, h: R, x: S, dw: DW, hh: DW, p: Params) -> Trial {
    let f = drift_t(t, x, p);
    let g = diffusion_t(t, x, p);
    var y: S;
#for c in DIM
    y[$c] = x[$c] + 0.75 * h * f[$c] + g[$c] * (0.75 * dw[$c] + 1.5 * hh[$c]);
#endfor
    let f2 = drift_t(t + 0.75 * h, y, p);
    var out: S;
    var err2 = R(0.0);
#for c in DIM
    out[$c] = x[$c] + h * (f[$c] + 2.0 * f2[$c]) / 3.0 + g[$c] * dw[$c];
    let e$c = (2.0 / 3.0) * h * (f2[$c] - f[$c]);
    let sc$c = max(R(ATOL), R(RTOL) * max(abs(x[$c]), abs(out[$c])));
    err2 = err2 + (e$c / sc$c) * (e$c / sc$c);
#endfor
    return Trial(out, err2 / R(F(DIM)));
}
