// Iteration of a discrete map: x_{n+1} = map(n, x_n), written by throng as `drift` for a
// system of kind "map" (src/kernel.rs, MAP_DRIFT); t is the grid's time of step n.
fn step(t: F, x: S, p: Params, w: W) -> S {
    return drift(t, x, p);
}
