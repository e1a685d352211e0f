// Stochastic Heun with an embedded Euler–Maruyama error estimate (the pair of Gotta Go
// Fast, Jolicoeur-Martineau et al. 2021), for additive noise, where Itô and Stratonovich
// agree and Heun has strong order 1: xe = x + f h + g dW, x' = x + (f + f(xe)) h/2 +
// (g(t) + g(t + h)) dW/2; the error is x' − xe, measured against the mixed tolerance
// max(ATOL, RTOL max(|x|, |x'|)). Driven by sde_controller.wgsl with increments from the
// Brownian tree. CPU twin: src/cpu/sde_controller.rs.
#import state

fn step(t: R, h: R, x: S, dw: DW, hh: DW, p: Params) -> Trial {
    let f = drift_t(t, x, p);
    let g = diffusion_t(t, x, p);
    var xe: S;
#for c in DIM
    xe[$c] = x[$c] + f[$c] * h + g[$c] * dw[$c];
#endfor
    let fe = drift_t(t + h, xe, p);
    let ge = diffusion_t(t + h, xe, p);
    var out: S;
    var err2 = R(0.0);
#for c in DIM
    out[$c] = x[$c] + 0.5 * ((f[$c] + fe[$c]) * h + (g[$c] + ge[$c]) * dw[$c]);
    // x' − xe, formed from the differences (not by subtracting two close states, whose
    // rounding would swamp a small error)
    let e$c = 0.5 * ((fe[$c] - f[$c]) * h + (ge[$c] - g[$c]) * dw[$c]);
    let sc$c = max(R(ATOL), R(RTOL) * max(abs(x[$c]), abs(out[$c])));
    err2 = err2 + (e$c / sc$c) * (e$c / sc$c);
#endfor
    return Trial(out, err2 / R(F(DIM)));
}
