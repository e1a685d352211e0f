// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC11). CPU twin: src/rng/philox.rs.
// Works on the lane type U (u32, or vec4<u32> for four trajectories per invocation):
// the prelude defines U, and U64 where the device has SHADER_INT64.

struct Words {
    x: U,
    y: U,
    z: U,
    w: U,
}

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

#ifdef INT64
// One 64-bit product for the high word; the low word stays a u32 multiply (faster on llvmpipe).
fn mulhi(a: u32, b: U) -> U {
    return U((U64(b) * u64(a)) >> U(32u));
}
#else
// 32x32 -> high 32 bits from 16-bit halves (WGSL has no widening multiply).
fn mulhi(a: u32, b: U) -> U {
    let m = U(0xFFFFu);
    let s = U(16u);
    let a_lo = U(a & 0xFFFFu);
    let a_hi = U(a >> 16u);
    let b_lo = b & m;
    let b_hi = b >> s;
    let lolo = a_lo * b_lo;
    let lohi = a_lo * b_hi;
    let hilo = a_hi * b_lo;
    let hihi = a_hi * b_hi;
    let mid = (lolo >> s) + (lohi & m) + (hilo & m);
    return hihi + (lohi >> s) + (hilo >> s) + (mid >> s);
}
#endif

fn philox_round(c: Words, k0: u32, k1: u32) -> Words {
    let hi0 = mulhi(PHILOX_M0, c.x);
    let lo0 = c.x * PHILOX_M0;
    let hi1 = mulhi(PHILOX_M1, c.z);
    let lo1 = c.z * PHILOX_M1;
    return Words(hi1 ^ c.y ^ U(k0), lo1, hi0 ^ c.w ^ U(k1), lo0);
}

fn philox4x32_10(counter: Words, key: vec2<u32>) -> Words {
    var c = counter;
    var k0 = key.x;
    var k1 = key.y;
    for (var r = 0u; r < 9u; r++) {
        c = philox_round(c, k0, k1);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return philox_round(c, k0, k1);
}
