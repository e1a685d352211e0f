//! User systems, noise kinds, per-trajectory inputs and the catalog (issue 3 checks).
//! Statistical checks use fixed seeds and |z| < 4.

mod common;

use common::keep;

use std::path::Path;

use throng::{solve, Ensemble, Init, Method, Noise, Options, System, TimeGrid, Value};

#[test]
fn every_catalog_system_runs_from_its_defaults_without_nonfinite_states() {
    let ctx = common::ctx();
    for sys in throng::catalog::all() {
        let dt = sys.defaults.dt.unwrap();
        let method = sys.defaults.method.unwrap();
        let name = sys.name.clone();
        let job = Ensemble::new(sys, 10_000)
            .seed(1)
            .job(method, TimeGrid::new(0.0, dt, 1000))
            .unwrap();
        let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
        assert_eq!(st.nonfinite, 0, "{name}");
        assert_eq!(st.count, 10_000, "{name}");
        // f64: the same, except for systems that call built-ins Vulkan lacks in f64, which
        // are refused with that reason (README, Limits).
        let job64 = Ensemble::new(job.system.clone(), 2048)
            .seed(1)
            .precision(throng::Precision::F64)
            .job(method, TimeGrid::new(0.0, dt, 1000))
            .unwrap();
        let refused = [
            "double_pendulum",
            "duffing",
            "ikeda",
            "kuramoto",
            "kuramoto_noisy",
            "standard_map",
            "thomas",
            "van_der_pol",
        ];
        match solve(&ctx, &job64, &Options::default()) {
            Ok(sol) => {
                assert!(!refused.contains(&name.as_str()), "{name} ran in f64");
                assert_eq!(
                    (sol.stats.count, sol.stats.nonfinite),
                    (2048, 0),
                    "{name} f64"
                );
                for c in 0..job.system.dim() {
                    assert!(sol.stats.mean[c].is_finite(), "{name} f64");
                }
            }
            Err(e) => {
                assert!(refused.contains(&name.as_str()), "{name} f64: {e}");
                assert!(
                    e.to_string().contains("has no implementation on Vulkan"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn a_user_system_restating_a_builtin_gives_bit_identical_results() {
    let ctx = common::ctx();
    let (user, _) = throng::spec::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gbm_restated.toml"
    )))
    .unwrap();
    let grid = TimeGrid::until(0.0, 1.0, 50);
    let run = |sys: System| {
        let job = Ensemble::new(sys, 5000)
            .x0(&[1.0])
            .sweep("sigma", 0.1, 0.5)
            .seed(9)
            .job(Method::EulerMaruyama, grid)
            .unwrap();
        solve(&ctx, &job, &keep()).unwrap()
    };
    let a = run(System::builtin("gbm").unwrap());
    let b = run(user);
    assert_eq!(a.stats, b.stats);
    assert!(a
        .states
        .unwrap()
        .iter()
        .zip(b.states.unwrap())
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}

fn noise_system(noise: Noise, d: usize) -> System {
    let names = ["a", "b", "c", "d"];
    let ones = vec!["R(1.0)"; d].join(", ");
    let code = format!(
        "fn drift(t: f32, x: S, p: Params) -> S {{\n    var z: S;\n    return z;\n}}\n\nfn diffusion(t: f32, x: S, p: Params) -> G {{\n    return G({ones});\n}}\n"
    );
    System::wgsl("pure_noise", &names[..d], &[], noise, &code).unwrap()
}

#[test]
fn correlated_noise_has_the_requested_correlation() {
    let ctx = common::ctx();
    let corr = vec![1.0, 0.5, 0.2, 0.5, 1.0, -0.3, 0.2, -0.3, 1.0];
    let n = 1u64 << 16;
    // dx = L dZ over 4 steps of 0.25: the terminal state is the sum of the increments, with
    // covariance corr. The sample correlation has SE (1 - rho^2) / sqrt(n - 1).
    let job = Ensemble::new(noise_system(Noise::Correlated { corr: corr.clone() }, 3), n)
        .seed(4)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 4))
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    let col = |c: usize| -> Vec<f64> { s[c * n as usize..][..n as usize].to_vec() };
    let cols: Vec<Vec<f64>> = (0..3).map(col).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    for i in 0..3 {
        let (mi, vi) = (
            mean(&cols[i]),
            cols[i].iter().map(|x| x * x).sum::<f64>() / n as f64,
        );
        assert!(
            ((vi - mi * mi) - 1.0).abs() < 4.0 * (2.0 / n as f64).sqrt(),
            "var {i}"
        );
        for j in 0..i {
            let mj = mean(&cols[j]);
            let cov = cols[i]
                .iter()
                .zip(&cols[j])
                .map(|(a, b)| (a - mi) * (b - mj))
                .sum::<f64>()
                / (n - 1) as f64;
            let vj = cols[j].iter().map(|x| (x - mj).powi(2)).sum::<f64>() / (n - 1) as f64;
            let vi2 = cols[i].iter().map(|x| (x - mi).powi(2)).sum::<f64>() / (n - 1) as f64;
            let rho_hat = cov / (vi2 * vj).sqrt();
            let rho = corr[i * 3 + j];
            let se = (1.0 - rho * rho) / ((n - 1) as f64).sqrt();
            eprintln!(
                "correlation ({i},{j}): {rho_hat:.4} vs {rho} (z {:.2})",
                (rho_hat - rho) / se
            );
            assert!(
                (rho_hat - rho).abs() < 4.0 * se,
                "({i},{j}): {rho_hat} vs {rho}, se {se}"
            );
        }
    }
}

#[test]
fn scalar_noise_drives_every_component_with_one_process() {
    let ctx = common::ctx();
    let job = Ensemble::new(noise_system(Noise::Scalar, 2), 4096)
        .seed(2)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 8))
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    assert!(s[..4096]
        .iter()
        .zip(&s[4096..])
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(s[..4096].iter().any(|v| *v != 0.0));
}

#[test]
fn a_non_positive_definite_correlation_is_refused() {
    let e = System::wgsl(
        "bad",
        &["a", "b"],
        &[],
        Noise::Correlated {
            corr: vec![1.0, 1.2, 1.2, 1.0],
        },
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not positive definite"), "{e}");
}

/// Heston call by the semi-closed form (Heston 1993) in the "little trap" form of
/// Albrecher, Mayer, Schoutens, Tistaert (Wilmott Magazine, 2007), integrated numerically.
struct Heston {
    s0: f64,
    k: f64,
    r: f64,
    t: f64,
    kappa: f64,
    theta: f64,
    xi: f64,
    rho: f64,
    v0: f64,
}

fn heston_call(h: &Heston) -> f64 {
    let Heston {
        s0,
        k,
        r,
        t,
        kappa,
        theta,
        xi,
        rho,
        v0,
    } = *h;
    #[derive(Clone, Copy)]
    struct C(f64, f64);
    impl std::ops::Add for C {
        type Output = C;
        fn add(self, o: C) -> C {
            C(self.0 + o.0, self.1 + o.1)
        }
    }
    impl std::ops::Sub for C {
        type Output = C;
        fn sub(self, o: C) -> C {
            C(self.0 - o.0, self.1 - o.1)
        }
    }
    impl std::ops::Mul for C {
        type Output = C;
        fn mul(self, o: C) -> C {
            C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
        }
    }
    impl std::ops::Div for C {
        type Output = C;
        fn div(self, o: C) -> C {
            let d = o.0 * o.0 + o.1 * o.1;
            C(
                (self.0 * o.0 + self.1 * o.1) / d,
                (self.1 * o.0 - self.0 * o.1) / d,
            )
        }
    }
    let re = |x: f64| C(x, 0.0);
    let exp = |z: C| {
        let m = z.0.exp();
        C(m * z.1.cos(), m * z.1.sin())
    };
    let ln = |z: C| C((z.0 * z.0 + z.1 * z.1).sqrt().ln(), z.1.atan2(z.0));
    let sqrt = |z: C| {
        let m = (z.0 * z.0 + z.1 * z.1).sqrt().sqrt();
        let a = z.1.atan2(z.0) / 2.0;
        C(m * a.cos(), m * a.sin())
    };
    // Characteristic function of ln S_T at complex u.
    let phi = |u: C| {
        let iu = C(-u.1, u.0);
        let b = re(kappa) - re(rho * xi) * iu;
        let d = sqrt(b * b + re(xi * xi) * (iu + u * u));
        let g = (b - d) / (b + d);
        let e = exp(re(-t) * d);
        let cc = re(kappa * theta / (xi * xi))
            * ((b - d) * re(t) - re(2.0) * ln((re(1.0) - g * e) / (re(1.0) - g)));
        let dd = (b - d) / re(xi * xi) * (re(1.0) - e) / (re(1.0) - g * e);
        exp(iu * re(s0.ln() + r * t) + cc + dd * re(v0))
    };
    let lk = k.ln();
    let phi_mi = phi(C(0.0, -1.0));
    let integrand = |u: f64, j: usize| {
        let z = if j == 1 {
            phi(C(u, -1.0)) / phi_mi
        } else {
            phi(C(u, 0.0))
        };
        let v = exp(C(0.0, -u * lk)) * z / C(0.0, u);
        v.0
    };
    let (n, hi) = (40_000, 200.0);
    let h = hi / n as f64;
    let p = |j: usize| {
        let mut s = 0.0;
        for m in 0..n {
            let u = (m as f64 + 0.5) * h; // midpoint rule: avoids u = 0
            s += integrand(u, j);
        }
        0.5 + s * h / std::f64::consts::PI
    };
    s0 * p(1) - k * (-r * t).exp() * p(2)
}

#[test]
fn heston_mean_and_call_match_theory() {
    let ctx = common::ctx();
    let (s0, r, kappa, theta, xi, rho, v0, t, k) =
        (100.0, 0.02, 1.5, 0.04, 0.3, -0.7, 0.04, 1.0, 100.0);
    let n = 1u64 << 18;
    let job = Ensemble::new(System::builtin("heston").unwrap(), n)
        .x0(&[s0, v0])
        .seed(7)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, t, 1000))
        .unwrap();
    let sol = solve(&ctx, &job, &keep()).unwrap();
    let st = &sol.stats;
    let se = (st.var()[0] / n as f64).sqrt();
    let want = s0 * (r * t).exp();
    assert!(
        ((st.mean[0] - want) / se).abs() < 4.0,
        "E[S_T] {} vs {want} (se {se})",
        st.mean[0]
    );
    let s = &sol.states.unwrap()[..n as usize];
    let disc = (-r * t).exp();
    let pay: Vec<f64> = s.iter().map(|&v| disc * (v - k).max(0.0)).collect();
    let m = pay.iter().sum::<f64>() / n as f64;
    let sd = (pay.iter().map(|p| (p - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let reference = heston_call(&Heston {
        s0,
        k,
        r,
        t,
        kappa,
        theta,
        xi,
        rho,
        v0,
    });
    // Sanity of the reference: Black–Scholes at the same variance is 8.91; Heston with
    // rho < 0 prices the at-the-money call a little lower.
    assert!((reference - 8.5).abs() < 1.0, "reference {reference}");
    let z = (m - reference) / (sd / (n as f64).sqrt());
    eprintln!("heston: E[S_T] {} (exact {want}, se {se}); call {m} +- {} vs reference {reference} (z {z})", st.mean[0], sd / (n as f64).sqrt());
    assert!(z.abs() < 4.0, "call {m} vs {reference}: z = {z}");
}

#[test]
fn cir_stays_non_negative_and_has_the_exact_mean() {
    let ctx = common::ctx();
    let (kappa, theta, sigma, x0, t) = (1.5, 0.04, 0.3, 0.02, 1.0);
    let n = 1u64 << 18;
    let job = Ensemble::new(System::builtin("cir").unwrap(), n)
        .x0(&[x0])
        .set("kappa", kappa)
        .set("theta", theta)
        .set("sigma", sigma)
        .seed(3)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, t, 1000))
        .unwrap();
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    let e = (-kappa * t).exp();
    let mean = x0 * e + theta * (1.0 - e);
    let var = x0 * sigma * sigma / kappa * (e - e * e)
        + theta * sigma * sigma / (2.0 * kappa) * (1.0 - e).powi(2);
    assert!(st.min[0] >= 0.0, "min {}", st.min[0]);
    let z = (st.mean[0] - mean) / (var / n as f64).sqrt();
    eprintln!(
        "cir: min {} mean {} vs exact {mean} (z {z})",
        st.min[0], st.mean[0]
    );
    assert!(z.abs() < 4.0, "mean {} vs {mean}: z = {z}", st.mean[0]);
}

/// A system that never moves (zero drift, RK4): the terminal state is the initial state, so
/// the kernel's view of every input can be read back exactly.
fn still(d: usize) -> System {
    let names = ["u", "v", "w"];
    System::wgsl(
        "still",
        &names[..d],
        &[("k", 0.0)],
        Noise::None,
        "fn drift(t: f32, x: S, p: Params) -> S {\n    var z: S;\n    return z;\n}\n",
    )
    .unwrap()
}

fn write_npy_f64(path: &Path, v: &[f64]) {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        v.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for x in v {
        bytes.extend(x.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn grids_sweeps_files_and_random_initial_states_reach_the_kernel() {
    let ctx = common::ctx();
    let grid = TimeGrid::new(0.0, 0.1, 1);
    // A 3 x 4 grid: trajectory i is cell (i mod 3, i / 3).
    let job = Ensemble::new(still(2), 12)
        .grid("x0.u", 0.0, 2.0, 3)
        .grid("x0.v", 10.0, 40.0, 4)
        .job(Method::Rk4, grid)
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    for i in 0..12 {
        assert_eq!(
            (s[i], s[12 + i]),
            ((i % 3) as f64, 10.0 + 10.0 * (i / 3) as f64),
            "cell {i}"
        );
    }
    assert!(Ensemble::new(still(2), 10)
        .grid("x0.u", 0.0, 1.0, 3)
        .job(Method::Rk4, grid)
        .is_err());
    // Log sweep, values from NPY and CSV, random initial states: the kernel sees exactly the
    // values the host computes (Job::value_at).
    let dir = std::env::temp_dir().join(format!("throng-values-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = 1000usize;
    let vals: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    write_npy_f64(&dir.join("v.npy"), &vals);
    let csv: String = std::iter::once("w,other\n".to_string())
        .chain(vals.iter().map(|v| format!("{},0\n", 2.0 * v)))
        .collect();
    std::fs::write(dir.join("w.csv"), csv).unwrap();
    let from_npy = throng::values::read(&dir.join("v.npy"), None).unwrap();
    let from_csv = throng::values::read(&dir.join("w.csv"), Some("w")).unwrap();
    assert_eq!(from_npy, vals);
    let job = Ensemble::new(still(3), n as u64)
        .logsweep("x0.u", 0.01, 100.0)
        .values("x0.v", from_npy)
        .values("x0.w", from_csv)
        .job(Method::Rk4, grid)
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    for i in 0..n {
        for c in 0..3 {
            assert_eq!(
                s[c * n + i],
                job.value_at(c, i as u64),
                "component {c}, trajectory {i}"
            );
        }
    }
    assert_eq!(s[0], 0.01f32 as f64);
    assert!((s[n - 1] - 100.0).abs() < 1e-4);
    let _ = std::fs::remove_dir_all(&dir);
    let n = 1usize << 16;
    let job = Ensemble::new(still(2), n as u64)
        .x0(&[1.0, -2.0])
        .init(Init::Normal(vec![0.5, 2.0]))
        .seed(11)
        .job(Method::Rk4, grid)
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    for (c, (mu, sd)) in [(1.0, 0.5), (-2.0, 2.0)].into_iter().enumerate() {
        let xs = &s[c * n..][..n];
        assert!(xs
            .iter()
            .enumerate()
            .all(|(i, &x)| x == job.value_at(c, i as u64)));
        let m = xs.iter().copied().sum::<f64>() / n as f64;
        let v = xs.iter().map(|&x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!(
            ((m - mu) / (sd / (n as f64).sqrt())).abs() < 4.0,
            "mean {m}"
        );
        assert!(
            ((v - sd * sd) / (sd * sd * (2.0 / (n - 1) as f64).sqrt())).abs() < 4.0,
            "var {v}"
        );
    }
    let _ = Value::Const(0.0);
}
