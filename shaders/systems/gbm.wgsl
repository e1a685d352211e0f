// Geometric Brownian motion: dX = mu X dt + sigma X dW (Itô).
fn drift(t: f32, x: S, p: Params) -> S {
    return S(p.mu * x[0]);
}

fn diffusion(t: f32, x: S, p: Params) -> S {
    return S(p.sigma * x[0]);
}
