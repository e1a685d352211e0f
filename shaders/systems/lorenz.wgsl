// Lorenz (1963): x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z.
fn drift(t: f32, x: S, p: Params) -> S {
    return S(
        p.sigma * (x[1] - x[0]),
        x[0] * (p.rho - x[2]) - x[1],
        x[0] * x[1] - p.beta * x[2],
    );
}
