//! The chaos toolkit: tangents derived from the user's WGSL, and Lyapunov exponents.

mod common;

use rand::{Rng, SeedableRng};
use throng::chaos::{self, LyapunovOptions};
use throng::kernel::Target;
use throng::{Ensemble, Error, Init, Method, Noise, Precision, System, TimeGrid};

/// The largest difference between the derived J·v and central differences at points near
/// each catalog ODE's x0, relative to the scale of the values, in f64 where the kernel can
/// be f64 (no f64 transcendentals on Vulkan) and in f32 otherwise.
#[test]
fn derived_tangents_match_central_differences_for_every_catalog_ode() {
    let ctx = common::ctx();
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut checked = 0;
    for sys in throng::catalog::all() {
        if sys.noise != Noise::None {
            continue;
        }
        let d = sys.dim();
        let x0 = sys.defaults.x0.clone().unwrap_or(vec![0.5; d]);
        let f64_job = Ensemble::new(sys.clone(), 1)
            .precision(Precision::F64)
            .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
            .unwrap();
        let target = Target {
            int64: false,
            lanes: 1,
            segmented: false,
            open_ended: false,
        };
        let wide = throng::kernel::integrate(&f64_job, target).is_ok();
        let job = if wide {
            f64_job
        } else {
            Ensemble::new(sys.clone(), 1)
                .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
                .unwrap()
        };
        let points: Vec<(f64, Vec<f64>, Vec<f64>, f64)> = (0..8)
            .map(|_| {
                let x: Vec<f64> = x0.iter().map(|v| v + rng.random_range(-0.5..0.5)).collect();
                let v: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
                let scale = 1.0 + x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                // Steps balancing truncation (h^2) and rounding (eps / h).
                let h = if wide { 1e-5 } else { 3e-3 } * scale;
                (rng.random_range(0.0..1.0), x, v, h)
            })
            .collect();
        let res = chaos::probe(&ctx, &job, &points).unwrap_or_else(|e| panic!("{}: {e}", sys.name));
        for (p, r) in points.iter().zip(&res) {
            let h = p.3;
            let fmax = r.f.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let jmax = r.jv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for c in 0..d {
                let fd = (r.f_plus[c] - r.f_minus[c]) / (2.0 * h);
                // f64: truncation h^2 |f'''| and rounding 1e-16 |f| / h stay below 1e-6 of the
                // scale; f32: rounding 6e-8 |f| / h is about 2e-5 |f| at h = 3e-3, so 1e-3.
                let tol = if wide { 1e-6 } else { 1e-3 } * (1.0 + jmax + fmax);
                assert!(
                    (r.jv[c] - fd).abs() <= tol,
                    "{} ({}) at {:?} along {:?}: J v [{c}] = {} but central difference {fd}",
                    sys.name,
                    if wide { "f64" } else { "f32" },
                    p.1,
                    p.2,
                    r.jv[c]
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked} catalog ODEs");
}

#[test]
fn a_linear_system_s_tangent_is_its_matrix_exactly() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "linear2",
        &["u", "v"],
        &[("a", -0.5), ("b", 2.0), ("c", -3.0), ("e", 0.25)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a * x[0] + p.b * x[1], p.c * x[0] + p.e * x[1]);\n}\n",
    )
    .unwrap();
    let job = Ensemble::new(sys, 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
        .unwrap();
    let pts = vec![(0.0, vec![0.3, -0.7], vec![1.5, 0.25], 1e-3)];
    let r = &chaos::probe(&ctx, &job, &pts).unwrap()[0];
    let (a, b, c, e) = (-0.5f32, 2.0f32, -3.0f32, 0.25f32);
    assert_eq!(r.jv[0], (a * 1.5 + b * 0.25) as f64);
    assert_eq!(r.jv[1], (c * 1.5 + e * 0.25) as f64);
}

#[test]
fn what_cannot_be_differentiated_is_refused_at_the_user_s_line() {
    let sys = System::wgsl(
        "smooth",
        &["x"],
        &[],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    let k = x[0] * 2.0;\n    return S(smoothstep(0.0, 1.0, k));\n}\n",
    )
    .unwrap();
    let job = Ensemble::new(sys, 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
        .unwrap();
    let e = chaos::derivatives(&job, 1).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Shader { .. }), "{text}");
    assert!(text.contains("<smooth>:3:14"), "{text}");
    assert!(text.contains("`smoothstep`"), "{text}");
}
