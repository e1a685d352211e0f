// Where the integration kernels leave trajectories' states. states holds one chunk,
// component-major: component c of the trajectory at offset j in the chunk is scalar
// c * (stride * LANES) + j, so one R at c * stride + inv holds LANES of them.
#import chunk

@group(0) @binding(1) var<storage, read_write> states: array<R>;

fn store_state(inv: u32, x: S) {
#for c in DIM
    states[$c * chunk.stride + inv] = x[$c];
#endfor
}

#ifdef CARRIED
// Rows beside the state that the method does not integrate (systems throng derives): they
// start at 0, and `project` reads and writes them between steps.
fn load_carried(inv: u32) {
#ifdef ONE_SEGMENT
    carried = array<R, CARRIED>();
#else
    if (chunk.step0 == 0u) {
        carried = array<R, CARRIED>();
        return;
    }
#for c in CARRIED
    carried[$c] = states[(CROW + $cu) * chunk.stride + inv];
#endfor
#endif
}

fn store_carried(inv: u32) {
#for c in CARRIED
    states[(CROW + $cu) * chunk.stride + inv] = carried[$c];
#endfor
}
#endif

// The state left by the previous segment.
fn load_state(inv: u32) -> S {
    var x: S;
#for c in DIM
    x[$c] = states[$c * chunk.stride + inv];
#endfor
    return x;
}
