// Linear decay or growth: x' = a x (exact solution x0 e^{a t}); a reference for orders.
fn drift(t: f32, x: S, p: Params) -> S {
    return S(p.a * x[0]);
}
