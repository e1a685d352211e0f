// Per-trajectory functionals a system may define, kept beside the state as extra rows of the
// states buffer (so they carry across segments and are reduced like the state):
//   fn stop(t: F, x: S, p: Params) -> B   absorbing condition: once true (checked at t0 and
//                                          after every step) the trajectory is frozen; rows
//                                          `tau` (the grid time it first held, t1 if never)
//                                          and `hit` (1 or 0);
//   fn event(t: F, x: S, p: Params) -> B  row `events`: the number of steps after which it
//                                          held (while not stopped);
//   fn payoff(x: S, p: Params) -> R       row `payoff`: its value at each save time.
// Rows follow the state in this order, each present only if its function is defined.
#import store

var<private> stopped: R;
var<private> tau: R;
var<private> events: R;

// Called after every step with the state before and after it.
fn after_step(t: F, before: S, after: S, p: Params) -> S {
    var x = after;
#ifdef STOP
    let frozen = stopped > R(0.5);
#for c in DIM
    x[$c] = select(after[$c], before[$c], frozen);
#endfor
    let now = stop(t, x, p) & !frozen;
    tau = select(tau, R(t), now);
    stopped = select(stopped, R(1.0), now);
#ifdef EVENT
    events += select(R(0.0), R(1.0), event(t, x, p) & !frozen);
#endif
#else
#ifdef EVENT
    events += select(R(0.0), R(1.0), event(t, x, p));
#endif
#endif
    return x;
}

// Row of the first functional.
const FROW: u32 = DIM;

fn start_functionals(inv: u32, x: S, p: Params) {
    var r = FROW;
    if (chunk.step0 == 0u) {
#ifdef STOP
        let now = stop(T0, x, p);
        stopped = select(R(0.0), R(1.0), now);
        tau = select(R(T_END), R(T0), now);
#endif
        events = R(0.0);
        return;
    }
#ifdef STOP
    tau = states[r * chunk.stride + inv];
    stopped = states[(r + 1u) * chunk.stride + inv];
    r += 2u;
#endif
#ifdef EVENT
    events = states[r * chunk.stride + inv];
#endif
}

fn store_functionals(inv: u32, x: S, p: Params) {
    var r = FROW;
#ifdef STOP
    states[r * chunk.stride + inv] = tau;
    states[(r + 1u) * chunk.stride + inv] = stopped;
    r += 2u;
#endif
#ifdef EVENT
    states[r * chunk.stride + inv] = events;
    r += 1u;
#endif
#ifdef PAYOFF
    states[r * chunk.stride + inv] = payoff(x, p);
#endif
}
