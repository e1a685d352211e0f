// Ornstein–Uhlenbeck: dX = theta (mu - X) dt + sigma dW.
fn drift(t: f32, x: S, p: Params) -> S {
    return S(p.theta * (p.mu - x[0]));
}

fn diffusion(t: f32, x: S, p: Params) -> S {
    return S(p.sigma);
}
