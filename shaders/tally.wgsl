// Counters a derived system's `project` may add to from inside the integration dispatch
// (orbit diagrams' histograms): TALLY counters of 64 bits, each two u32 words (low, high),
// counted with integer atomics so the totals do not depend on order, chunking or lanes.
// `traj_now` holds the trajectory indices of the invocation's lanes.

@group(0) @binding(4) var<storage, read_write> tally: array<atomic<u32>>;

var<private> traj_now: U;

// Adds one to counter `idx` of every lane where `on` holds.
fn tally_add(on: B, idx: U) {
    let flag = select(U(0u), U(1u), on);
    for (var l = 0u; l < LANES; l++) {
        if (lane_u(flag, l) == 1u) {
            let i = min(lane_u(idx, l), TALLY - 1u);
            // The low word wrapped: carry into the high one.
            if (atomicAdd(&tally[2u * i], 1u) == 0xffffffffu) {
                atomicAdd(&tally[2u * i + 1u], 1u);
            }
        }
    }
}
