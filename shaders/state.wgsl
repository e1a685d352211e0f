// Helpers over the state type S = array<R, DIM> (R is one component of LANES trajectories).
// `#for` unrolls over components at composition time, so every index is a constant and the
// state stays in registers (a WGSL loop over an array spills it to memory on llvmpipe).

alias S = array<R, DIM>;

// y + a * x, component by component.
fn axpy(y: S, a: F, x: S) -> S {
    var out: S;
#for c in DIM
    out[$c] = y[$c] + a * x[$c];
#endfor
    return out;
}
