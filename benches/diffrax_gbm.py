# GBM (mu=0.05, sigma=0.2, x0=1) to t=1 with Euler on diffrax's VirtualBrownianTree, N paths
# vmapped, fixed steps; prints trajectory-steps/s of the jitted solve (after one warm-up).
import sys, time
import jax, jax.numpy as jnp, diffrax
jax.config.update("jax_enable_x64", False)
N = int(sys.argv[1]); STEPS = int(sys.argv[2]); REPEAT = int(sys.argv[3]) if len(sys.argv) > 3 else 3
mu, sigma = 0.05, 0.2
def one(key):
    bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=1.0 / STEPS, shape=(), key=key)
    terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, a: mu * y),
                              diffrax.ControlTerm(lambda t, y, a: sigma * y, bm))
    sol = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, 1.0, 1.0 / STEPS, jnp.float32(1.0),
                              saveat=diffrax.SaveAt(t1=True), max_steps=STEPS + 1)
    return sol.ys[-1]
solve = jax.jit(jax.vmap(one))
keys = jax.random.split(jax.random.PRNGKey(1), N)
solve(keys).block_until_ready()
for r in range(REPEAT):
    t = time.perf_counter(); y = solve(keys).block_until_ready(); dt = time.perf_counter() - t
    print(f"diffrax N={N} steps={STEPS} solve_s {dt:.4f} rate {N*STEPS/dt:.3e} mean {float(jnp.mean(y)):.5f}", flush=True)
