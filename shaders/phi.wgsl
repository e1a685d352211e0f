// phi-functions of exponential integrators, stable at and near z = 0:
// phi1(z) = (e^z - 1) / z, phi2(z) = (e^z - 1 - z) / z^2, with phi1(0) = 1, phi2(0) = 1/2.
// For |z| < 1 their Taylor series (to z^10; the next term is below 2e-9 relative), else the
// closed forms, which lose at most a few ulps there. CPU twin: src/cpu/phi.rs.

#ifdef F64
// f64: series to z^17 (the next term is below 1e-17) with coefficients 1/(k+1)! and
// 1/(k+2)!, the same literals as the twin; exp64 from arithmetic (f64 `exp` is not a
// Vulkan built-in).
fn phi1(z: R) -> R {
    var s = R(1.5619206968586225e-16lf);
    let c = array<f64, 17>(1.0lf, 0.5lf, 0.16666666666666666lf, 0.041666666666666664lf, 0.008333333333333333lf, 0.001388888888888889lf, 0.0001984126984126984lf, 2.48015873015873e-05lf, 2.7557319223985893e-06lf, 2.755731922398589e-07lf, 2.505210838544172e-08lf, 2.08767569878681e-09lf, 1.6059043836821613e-10lf, 1.1470745597729725e-11lf, 7.647163731819816e-13lf, 4.779477332387385e-14lf, 2.8114572543455206e-15lf);
    for (var k = 16; k >= 0; k--) {
        s = s * z + c[k];
    }
    return select((exp64(z) - 1.0) / z, s, abs(z) < R(1.0));
}

fn phi2(z: R) -> R {
    var s = R(8.22063524662433e-18lf);
    let c = array<f64, 17>(0.5lf, 0.16666666666666666lf, 0.041666666666666664lf, 0.008333333333333333lf, 0.001388888888888889lf, 0.0001984126984126984lf, 2.48015873015873e-05lf, 2.7557319223985893e-06lf, 2.755731922398589e-07lf, 2.505210838544172e-08lf, 2.08767569878681e-09lf, 1.6059043836821613e-10lf, 1.1470745597729725e-11lf, 7.647163731819816e-13lf, 4.779477332387385e-14lf, 2.8114572543455206e-15lf, 1.5619206968586225e-16lf);
    for (var k = 16; k >= 0; k--) {
        s = s * z + c[k];
    }
    return select((exp64(z) - 1.0 - z) / (z * z), s, abs(z) < R(1.0));
}
#else
fn phi1(z: R) -> R {
    let series = 1.0 + z * (0.5 + z * (0.16666667 + z * (0.041666668 + z * (0.008333334 + z * (0.0013888889
        + z * (0.0001984127 + z * (2.4801588e-05 + z * (2.7557319e-06 + z * (2.755732e-07 + z * 2.5052108e-08)))))))));
    return select((exp(z) - 1.0) / z, series, abs(z) < R(1.0));
}

fn phi2(z: R) -> R {
    let series = 0.5 + z * (0.16666667 + z * (0.041666668 + z * (0.008333334 + z * (0.0013888889 + z * (0.0001984127
        + z * (2.4801588e-05 + z * (2.7557319e-06 + z * (2.755732e-07 + z * (2.5052108e-08 + z * 2.0876756e-09)))))))));
    return select((exp(z) - 1.0 - z) / (z * z), series, abs(z) < R(1.0));
}
#endif
