// Functions of the run's real type R that behave the same in f32 and f64. Vulkan has no f64
// exp (SPIR-V's GLSL.std.450 Exp is 16/32-bit only; llvmpipe compiles it and returns
// garbage), so f64 builds exp from + - * / floor, which every f64 device implements exactly.
// User systems may call exp_r too. CPU twin: f64::exp (exp64 agrees within 2 ulps).

#ifdef F64
fn exp_r(x: R) -> R {
    return exp64(x);
}

// e^x = 2^k e^r with k = round(x / ln 2) and r = x - k ln 2 (ln 2 split in two parts,
// Cody–Waite, so r is exact to about 2^-80), |r| <= 0.347; e^r by Taylor to r^13 (the next
// term is below 4e-18 relative); 2^k as two powers of two built by squaring, so that
// e^x near the top of the range does not overflow on the way.
fn exp64(x: R) -> R {
    let k = clamp(floor(x * 1.4426950408889634lf + 0.5lf), R(-1100.0lf), R(1100.0lf));
    let r = (x - k * 0.6931471803691238lf) - k * 1.9082149292705877e-10lf;
    var e = R(1.6059043836821613e-10lf);
    e = e * r + 2.08767569878681e-09lf;
    e = e * r + 2.505210838544172e-08lf;
    e = e * r + 2.755731922398589e-07lf;
    e = e * r + 2.7557319223985893e-06lf;
    e = e * r + 2.48015873015873e-05lf;
    e = e * r + 0.0001984126984126984lf;
    e = e * r + 0.001388888888888889lf;
    e = e * r + 0.008333333333333333lf;
    e = e * r + 0.041666666666666664lf;
    e = e * r + 0.16666666666666666lf;
    e = e * r + 0.5lf;
    e = e * r + 1.0lf;
    e = e * r + 1.0lf;
    let ki = I(k);
    let half = ki / I(2);
    let n = U(abs(half));
    let b = select(R(2.0lf), R(0.5lf), half < I(0));
    var p = R(1.0lf);
    var sq = b;
    for (var i = 0u; i < 10u; i++) {
        p = select(p, p * sq, ((n >> U(i)) & U(1u)) == U(1u));
        sq = sq * sq;
    }
    // 2^(k - half) is p, 2p or p/2.
    let rest = ki - half;
    let q = select(select(p * 0.5lf, p * 2.0lf, rest > half), p, rest == half);
    let y = (e * p) * q;
    return select(y, x, x != x);
}
#else
fn exp_r(x: R) -> R {
    return exp(x);
}
#endif

// log2 and exp2 for the step-size controllers (controller.wgsl, sde_controller.wgsl), from
// + - * floor and bit operations only, so every device and the CPU twin
// (src/cpu/controller.rs, same formulas and constants) step alike, and cheaply (llvmpipe's
// built-ins cost several times more). Cubics fitted on [0, 1): log2 within 2e-4, exp2
// within 1e-5 relative, ample for a controller. log2_ctl: x positive and normal; exp2_ctl:
// |y| < 126.
fn log2_ctl(x: R32) -> R32 {
    let bits = bitcast<U>(x);
    let e = R32(I(bits >> U(23u)) - I(127));
    let t = bitcast<R32>((bits & U(0x007FFFFFu)) | U(0x3F800000u)) - 1.0;
    return e + t * (1.4385478 + t * (-0.67808944 + t * (0.3236463 + t * -0.084294654)));
}

fn exp2_ctl(y: R32) -> R32 {
    let n = floor(y);
    let f = y - n;
    let p = 1.0 + f * (0.6930187 + f * (0.24140438 + f * (0.052074708 + f * 0.013493011)));
    return p * bitcast<R32>(U(I(n) + I(127)) << U(23u));
}
