// Standard normals from Philox words by Box–Muller, two normals per pair of words, so one
// block gives four normals. log and sin/cos are built here from + - * / and bit operations,
// never the driver's built-ins. Always f32 (lanes R32), in f64 runs too (whose accuracy Vulkan barely bounds), so every device and the
// CPU twin (src/rng/normal.rs, same formulas and constants) agree to a few ulps.

struct Normals {
    z0: R32,
    z1: R32,
    z2: R32,
    z3: R32,
}

// (k + 0.5) * 2^-23 for the top 23 bits k: exactly representable, never 0 or 1.
fn open_unit(w: U) -> R32 {
    return (R32(w >> U(9u)) + 0.5) * 1.1920928955078125e-7;
}

// k * 2^-24 for the top 24 bits k: in [0, 1), exact.
fn half_open_unit(w: U) -> R32 {
    return R32(w >> U(8u)) * 5.9604644775390625e-8;
}

// ln u for normal u > 0: u = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) with
// s = (m - 1) / (m + 1), |s| < 0.172, series to s^9 (next term < 1e-9).
fn ln_positive(u: R32) -> R32 {
    let t = bitcast<U>(u) + U(0x004AFB0Du);
    let e = R32(I(t >> U(23u)) - I(127));
    let m = bitcast<R32>((t & U(0x007FFFFFu)) + U(0x3F3504F3u));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = s2 * (0.6666667 + s2 * (0.4 + s2 * (0.2857143 + s2 * 0.22222222)));
    return e * 0.6931472 + (2.0 * s + s * p);
}

// (sin, cos) of 2 pi u for u in [0, 1): q = round(4u) quarter turns, f = u - q / 4 in
// [-1/8, 1/8] (exact), Taylor polynomials in f of sin and cos of 2 pi f, then rotation by q.
fn sincos_turns(u: R32) -> array<R32, 2> {
    let q = floor(4.0 * u + 0.5);
    let f = u - 0.25 * q;
    let f2 = f * f;
    let s = f * (6.2831855 + f2 * (-41.3417 + f2 * (81.60525
        + f2 * (-76.70586 + f2 * 42.058693))));
    let c = 1.0 + f2 * (-19.739208 + f2 * (64.93939 + f2 * (-85.45682
        + f2 * (60.24464 + f2 * -26.426256))));
    let qi = U(q) & U(3u);
    let swap = (qi & U(1u)) == U(1u);
    let a = select(s, c, swap);
    let b = select(c, s, swap);
    return array<R32, 2>(select(a, -a, qi >= U(2u)), select(b, -b, ((qi + U(1u)) & U(2u)) != U(0u)));
}

fn box_muller(a: U, b: U) -> array<R32, 2> {
    let r = sqrt(-2.0 * ln_positive(open_unit(a)));
    let sc = sincos_turns(half_open_unit(b));
    return array<R32, 2>(r * sc[1], r * sc[0]);
}

fn normals4(w: Words) -> Normals {
    let p = box_muller(w.x, w.y);
    let q = box_muller(w.z, w.w);
    return Normals(p[0], p[1], q[0], q[1]);
}
