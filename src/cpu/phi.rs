//! phi-functions of exponential integrators, the CPU twin of `shaders/phi.wgsl`.

/// 1/(k+1)!, k = 0..11, as the f32 kernels write them (`shaders/phi.wgsl`): phi1's z^k
/// coefficients are entries 0..=10, phi2's (1/(k+2)!) entries 1..=11 (the next term is
/// below 2e-9 relative for |z| < 1).
const INV_FACT_F32: [f32; 12] = [
    1.0,
    0.5,
    0.16666667,
    0.041666668,
    0.008333334,
    0.0013888889,
    0.0001984127,
    2.4801588e-05,
    2.7557319e-06,
    2.755732e-07,
    2.5052108e-08,
    2.0876756e-09,
];

/// c0 + z (c1 + z (c2 + ...)) in f32, innermost first, as the kernels' nested form.
fn horner32(c: &[f32], z: f32) -> f32 {
    let (last, rest) = c.split_last().expect("coefficients");
    rest.iter().rev().fold(*last, |acc, &ck| acc * z + ck)
}

pub fn phi1(z: f32) -> f32 {
    if z.abs() < 1.0 {
        horner32(&INV_FACT_F32[..11], z)
    } else {
        (z.exp() - 1.0) / z
    }
}

pub fn phi2(z: f32) -> f32 {
    if z.abs() < 1.0 {
        horner32(&INV_FACT_F32[1..], z)
    } else {
        (z.exp() - 1.0 - z) / (z * z)
    }
}

/// phi1(z) z^k coefficients 1/(k+1)!, k = 0..17, for |z| < 1 in f64 (the next term is below
/// 1e-17); the same literals as `shaders/phi.wgsl`.
const PHI1_F64: [f64; 18] = [
    1.0,
    0.5,
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
    1.1470745597729725e-11,
    7.647163731819816e-13,
    4.779477332387385e-14,
    2.8114572543455206e-15,
    1.5619206968586225e-16,
];
/// phi2's: 1/(k+2)!.
const PHI2_F64: [f64; 18] = [
    0.5,
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
    1.1470745597729725e-11,
    7.647163731819816e-13,
    4.779477332387385e-14,
    2.8114572543455206e-15,
    1.5619206968586225e-16,
    8.22063524662433e-18,
];

fn horner(c: &[f64], z: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ck| acc * z + ck)
}

/// phi1 in f64: the series for |z| < 1, else the closed form (the kernel's `exp64` there).
pub fn phi1_f64(z: f64) -> f64 {
    if z.abs() < 1.0 {
        horner(&PHI1_F64, z)
    } else {
        (z.exp() - 1.0) / z
    }
}

pub fn phi2_f64(z: f64) -> f64 {
    if z.abs() < 1.0 {
        horner(&PHI2_F64, z)
    } else {
        (z.exp() - 1.0 - z) / (z * z)
    }
}

/// phi3's z^k coefficients 1/(k+3)!, f32 kernels (k = 0..10, rounded once to f32) and f64
/// kernels (k = 0..17); the same literals as `shaders/phi.wgsl`.
const PHI3_F32: [f64; 11] = [
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
];
const PHI3_F64: [f64; 18] = [
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
    1.1470745597729725e-11,
    7.647163731819816e-13,
    4.779477332387385e-14,
    2.8114572543455206e-15,
    1.5619206968586225e-16,
    8.22063524662433e-18,
    4.110317623312165e-19,
];

/// phi3(z) = (e^z - 1 - z - z^2/2) / z^3, as the f32 kernels evaluate it.
pub fn phi3(z: f32) -> f32 {
    if z.abs() < 1.0 {
        PHI3_F32
            .iter()
            .rev()
            .skip(1)
            .fold(PHI3_F32[10] as f32, |acc, &c| acc * z + c as f32)
    } else {
        (z.exp() - 1.0 - z - 0.5 * z * z) / (z * z * z)
    }
}

pub fn phi3_f64(z: f64) -> f64 {
    if z.abs() < 1.0 {
        horner(&PHI3_F64, z)
    } else {
        (z.exp() - 1.0 - z - 0.5 * z * z) / (z * z * z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// phi_n(z) = sum_j z^j / (j + n)!: the series for |z| < 2 (30 terms), else the closed
    /// form, which has no harmful cancellation there.
    fn exact(n: i32, z: f64) -> f64 {
        if z.abs() < 2.0 {
            (0..30).fold(0.0, |acc, j| {
                acc + z.powi(j) / (1..=(j + n)).map(|k| k as f64).product::<f64>()
            })
        } else {
            match n {
                1 => z.exp_m1() / z,
                2 => (z.exp_m1() - z) / (z * z),
                _ => (z.exp_m1() - z - 0.5 * z * z) / (z * z * z),
            }
        }
    }

    fn exact1(z: f64) -> f64 {
        exact(1, z)
    }

    fn exact2(z: f64) -> f64 {
        exact(2, z)
    }

    fn exact3(z: f64) -> f64 {
        exact(3, z)
    }

    #[test]
    fn phi_functions_are_accurate_at_and_near_zero() {
        for z in [
            0.0, 1e-8, -1e-8, 1e-3, -1e-3, 0.5, -0.99, 1.0, -1.0, 3.0, -5e+01, 5e+01, -1e4,
        ] {
            let (a, b) = (phi1(z as f32) as f64, phi2(z as f32) as f64);
            let c = phi3(z as f32) as f64;
            // Closed forms lose up to about 8 ulps just above |z| = 1 (cancellation).
            assert!(
                (c - exact3(z)).abs() <= 1e-6 * exact3(z).abs(),
                "phi3({z}) = {c}, want {}",
                exact3(z)
            );
            for (got, want) in [
                (phi1_f64(z), exact1(z)),
                (phi2_f64(z), exact2(z)),
                (phi3_f64(z), exact3(z)),
            ] {
                assert!(
                    (got - want).abs() <= 1e-14 * want.abs(),
                    "f64 phi at {z}: {got}, want {want}"
                );
            }
            assert!(
                (a - exact1(z)).abs() <= 4e-7 * exact1(z).abs(),
                "phi1({z}) = {a}, want {}",
                exact1(z)
            );
            assert!(
                (b - exact2(z)).abs() <= 4e-7 * exact2(z).abs(),
                "phi2({z}) = {b}, want {}",
                exact2(z)
            );
        }
    }
}
