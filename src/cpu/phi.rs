//! phi-functions of exponential integrators, the CPU twin of `shaders/phi.wgsl`.

pub fn phi1(z: f32) -> f32 {
    if z.abs() < 1.0 {
        1.0 + z
            * (0.5
                + z * (0.16666667
                    + z * (0.041666668
                        + z * (0.008333334
                            + z * (0.0013888889
                                + z * (0.0001984127
                                    + z * (2.4801588e-05
                                        + z * (2.7557319e-06
                                            + z * (2.755732e-07 + z * 2.5052108e-08)))))))))
    } else {
        (z.exp() - 1.0) / z
    }
}

pub fn phi2(z: f32) -> f32 {
    if z.abs() < 1.0 {
        0.5 + z
            * (0.16666667
                + z * (0.041666668
                    + z * (0.008333334
                        + z * (0.0013888889
                            + z * (0.0001984127
                                + z * (2.4801588e-05
                                    + z * (2.7557319e-06
                                        + z * (2.755732e-07
                                            + z * (2.5052108e-08 + z * 2.0876756e-09)))))))))
    } else {
        (z.exp() - 1.0 - z) / (z * z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact1(z: f64) -> f64 {
        if z == 0.0 {
            1.0
        } else {
            z.exp_m1() / z
        }
    }

    fn exact2(z: f64) -> f64 {
        if z.abs() < 1e-5 {
            0.5 + z / 6.0
        } else {
            (z.exp_m1() - z) / (z * z)
        }
    }

    #[test]
    fn phi_functions_are_accurate_at_and_near_zero() {
        for z in [
            0.0, 1e-8, -1e-8, 1e-3, -1e-3, 0.5, -0.99, 1.0, -1.0, 3.0, -5e+01, 5e+01, -1e4,
        ] {
            let (a, b) = (phi1(z as f32) as f64, phi2(z as f32) as f64);
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
