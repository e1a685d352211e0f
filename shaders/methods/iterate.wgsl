// Iteration of a discrete map: x_{n+1} = map(n, x_n), written by throng as `drift` for a
// system of kind "map" (src/kernel.rs, MAP_DRIFT); t is the grid's time of step n.
// A random map (noise = "general") takes the step's normals w, one per channel.
fn step(t: F, x: S, p: Params, w: W) -> S {
#ifdef STOCHASTIC
    return map(t, x, p, w);
#else
    return drift(t, x, p);
#endif
}
