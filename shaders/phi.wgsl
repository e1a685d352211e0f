// phi-functions of exponential integrators, stable at and near z = 0:
// phi1(z) = (e^z - 1) / z, phi2(z) = (e^z - 1 - z) / z^2, with phi1(0) = 1, phi2(0) = 1/2.
// For |z| < 1 their Taylor series (to z^10; the next term is below 2e-9 relative), else the
// closed forms, which lose at most a few ulps there. CPU twin: src/cpu/phi.rs.

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
