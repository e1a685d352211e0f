// Standard normals from Philox words by Box–Muller, two normals per pair of words, so one
// block gives four normals. CPU twin: src/cpu/normal.rs (same formulas; sin, cos, log and
// sqrt may differ by a few ulps between a driver and Rust's libm).

struct Normals {
    z0: R,
    z1: R,
    z2: R,
    z3: R,
}

// (k + 0.5) * 2^-23 for the top 23 bits k: exactly representable, never 0 or 1.
fn open_unit(w: U) -> R {
    return (R(w >> U(9u)) + 0.5) * 1.1920928955078125e-7;
}

// k * 2^-24 for the top 24 bits k: in [0, 1), exact.
fn half_open_unit(w: U) -> R {
    return R(w >> U(8u)) * 5.9604644775390625e-8;
}

fn box_muller(a: U, b: U) -> array<R, 2> {
    let r = sqrt(-2.0 * log(open_unit(a)));
    let theta = 6.2831855 * half_open_unit(b);
    return array<R, 2>(r * cos(theta), r * sin(theta));
}

fn normals4(w: Words) -> Normals {
    let p = box_muller(w.x, w.y);
    let q = box_muller(w.z, w.w);
    return Normals(p[0], p[1], q[0], q[1]);
}
