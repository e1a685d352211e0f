// Helpers over the state type S = array<R, DIM> (R is one component of LANES trajectories).

alias S = array<R, DIM>;

// y + a * x, component by component.
fn axpy(y: S, a: f32, x: S) -> S {
    var out: S;
    for (var c = 0u; c < DIM; c++) {
        out[c] = y[c] + a * x[c];
    }
    return out;
}
