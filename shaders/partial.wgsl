// The words of a reduction partial and the arithmetic both reductions share: the reduce
// kernel (reduce.wgsl) and the observers fused into the integration kernel (fused.wgsl).
// f32 runs store u32 words (counts, and the bits of f32 values); f64 runs (flag F64) store
// f64 values, counts included, unscaled. Host decoder: `reduce::for_each_block32/64`.

// Trajectories per partial, aligned at multiples of GROUP in the whole run.
const GROUP: u32 = 32u;

#ifdef F64
alias V = f64;
alias PW = f64;
const BIG: f64 = 1.7976931348623157e308lf;

fn is_finite(v: f64) -> bool {
    // false for NaN (every comparison with NaN is) and for infinities
    return abs(v) <= BIG;
}

fn word(v: f64) -> f64 {
    return v;
}

fn count_word(n: u32) -> f64 {
    return f64(n);
}

fn index_word(i: u32) -> f64 {
    return select(f64(i), -1.0lf, i == 0xFFFFFFFFu);
}

// Squares of f64 values up to 1e154 cannot overflow; no scaling.
fn scale_for(big: f64) -> f64 {
    return 1.0lf;
}

const S0: f64 = 1.0lf;
#else
alias V = f32;
alias PW = u32;
const BIG: f32 = 3.4028234663852886e38;

fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7F800000u) != 0x7F800000u;
}

fn word(v: f32) -> u32 {
    return bitcast<u32>(v);
}

fn count_word(n: u32) -> u32 {
    return n;
}

fn index_word(i: u32) -> u32 {
    return i;
}

// An exact power of two bringing max |v| near 1, so squares cannot overflow; the host
// divides it out in f64.
fn scale_for(big: f32) -> f32 {
    let e = i32((bitcast<u32>(big) >> 23u) & 0xFFu);
    return bitcast<f32>(u32(clamp(254 - e, 1, 254)) << 23u);
}

// 1 / GROUP: a sum of GROUP scaled values stays finite.
const S0: f32 = 0.03125;
#endif
