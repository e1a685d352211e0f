//! SDE methods beyond Euler–Maruyama: derivative-free Milstein (Itô) and stochastic Heun
//! (Stratonovich). Strong orders are fitted from 5 step sizes against the exact solution on
//! the same Brownian path: the system carries w = W_t as a component driven by the same
//! (scalar) noise, which every method integrates exactly, so the exact GBM solution can be
//! evaluated on the path each scheme saw.

mod common;

use common::keep;

use throng::{cpu, solve, Ensemble, Method, Noise, System, TimeGrid};

#[test]
fn milstein_and_heun_match_their_cpu_twins() {
    let ctx = common::ctx();
    for method in [Method::Milstein, Method::Heun] {
        for (name, ens) in [
            (
                "gbm",
                Ensemble::new(System::builtin("gbm").unwrap(), 3000)
                    .x0(&[1.0])
                    .sweep("sigma", 0.1, 0.8)
                    .seed(5),
            ),
            (
                "ou",
                Ensemble::new(System::builtin("ou").unwrap(), 3000)
                    .x0(&[1.0])
                    .sweep("sigma", 0.1, 2.0)
                    .seed(6),
            ),
        ] {
            let job = ens.job(method, TimeGrid::until(0.0, 1.0, 67)).unwrap();
            let gpu = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
            let twin = cpu::solve(&job, &keep()).unwrap().states.unwrap();
            for (i, (g, t)) in gpu.iter().zip(&twin).enumerate() {
                // Rounding accumulates on the scale of the terms summed (order 1).
                assert!(
                    (g - t).abs() <= 1e-5 * t.abs().max(1.0),
                    "{name} {method:?} path {i}: {g} vs {t}"
                );
            }
        }
    }
}

/// GBM driven by one Wiener process, plus w = W_t: dx = mu x dt + sigma x dW, dw = dW.
fn gbm_with_path() -> System {
    System::wgsl(
        "gbm_path",
        &["x", "w"],
        &[("mu", 0.05), ("sigma", 0.5)],
        Noise::Scalar,
        "fn drift(t: f32, x: S, p: Params) -> S {\n    return S(p.mu * x[0], R(0.0));\n}\n\nfn diffusion(t: f32, x: S, p: Params) -> G {\n    return G(p.sigma * x[0], R(1.0));\n}\n",
    )
    .unwrap()
}

/// Mean |X_T - exact(W_T)| for each number of steps; `exact` maps w_T to the solution.
fn strong_errors(method: Method, exact: impl Fn(f64) -> f64) -> Vec<f64> {
    let ctx = common::ctx();
    let n = 1usize << 14;
    [8u64, 16, 32, 64, 128]
        .iter()
        .map(|&steps| {
            let job = Ensemble::new(gbm_with_path(), n as u64)
                .x0(&[1.0, 0.0])
                .seed(21)
                .job(method, TimeGrid::until(0.0, 1.0, steps))
                .unwrap();
            let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
            (0..n)
                .map(|i| (s[i] as f64 - exact(s[n + i] as f64)).abs())
                .sum::<f64>()
                / n as f64
        })
        .collect()
}

#[test]
fn euler_maruyama_has_strong_order_one_half() {
    let (mu, sigma) = (0.05, 0.5);
    let e = strong_errors(Method::EulerMaruyama, |w| {
        ((mu - sigma * sigma / 2.0) + sigma * w).exp()
    });
    let p = common::fitted_order(&e);
    eprintln!("em strong errors {e:?}, order {p:.3}");
    assert!((p - 0.5).abs() < 0.1, "order {p}, errors {e:?}");
}

#[test]
fn milstein_has_strong_order_one() {
    let (mu, sigma) = (0.05, 0.5);
    let e = strong_errors(Method::Milstein, |w| {
        ((mu - sigma * sigma / 2.0) + sigma * w).exp()
    });
    let p = common::fitted_order(&e);
    eprintln!("milstein strong errors {e:?}, order {p:.3}");
    assert!((p - 1.0).abs() < 0.1, "order {p}, errors {e:?}");
}

#[test]
fn heun_has_strong_order_one_for_the_stratonovich_solution() {
    // Read as Stratonovich, dx = mu x dt + sigma x o dW has x_T = exp(mu T + sigma W_T).
    let (mu, sigma) = (0.05, 0.5);
    let e = strong_errors(Method::Heun, |w| (mu + sigma * w).exp());
    let p = common::fitted_order(&e);
    eprintln!("heun strong errors {e:?}, order {p:.3}");
    assert!((p - 1.0).abs() < 0.1, "order {p}, errors {e:?}");
}

#[test]
fn methods_refuse_systems_they_do_not_fit() {
    let grid = TimeGrid::new(0.0, 0.01, 10);
    let err = |sys: &str, m: Method| {
        Ensemble::new(System::builtin(sys).unwrap(), 10)
            .job(m, grid)
            .unwrap_err()
            .to_string()
    };
    assert!(err("heston", Method::Milstein)
        .contains("milstein needs diagonal, scalar or additive noise"));
    assert!(err("lorenz", Method::Heun).contains("integrates SDEs"));
    assert!(err("gbm", Method::Rk4).contains("rk4 integrates ODEs"));
}

#[test]
fn exponential_methods_match_their_cpu_twins() {
    let ctx = common::ctx();
    let cases = [
        (
            Ensemble::new(System::builtin("ou").unwrap(), 3000)
                .x0(&[1.0])
                .sweep("theta", 0.1, 50.0)
                .seed(8),
            Method::Setd1,
            1e-5,
        ),
        (
            Ensemble::new(System::builtin("ou").unwrap(), 3000)
                .x0(&[1.0])
                .sweep("theta", 0.1, 50.0)
                .seed(8),
            Method::Etdrk2,
            1e-5,
        ),
        (
            Ensemble::new(System::builtin("lorenz").unwrap(), 3000)
                .x0(&[1.0, 0.0, 0.0])
                .sweep("rho", 0.0, 50.0),
            Method::Etdrk2,
            1e-4,
        ),
        (
            Ensemble::new(System::builtin("ou").unwrap(), 3000)
                .x0(&[1.0])
                .sweep("theta", 0.1, 50.0)
                .seed(8),
            Method::Etdrk4,
            1e-5,
        ),
        (
            Ensemble::new(System::builtin("lorenz").unwrap(), 3000)
                .x0(&[1.0, 0.0, 0.0])
                .sweep("rho", 0.0, 50.0),
            Method::Etdrk4,
            1e-4,
        ),
    ];
    for (ens, method, tol) in cases {
        let job = ens.job(method, TimeGrid::new(0.0, 0.01, 100)).unwrap();
        let gpu = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
        let twin = cpu::solve(&job, &keep()).unwrap().states.unwrap();
        let label = format!("{} {method:?}", job.system.name);
        common::assert_matches_twin(
            &gpu,
            &twin,
            job.paths as usize,
            job.system.dim(),
            tol,
            &label,
        );
    }
}

/// OU in f32 on 2^18 paths against the exact law (tests/common).
fn ou_law(method: Method, theta: f64, steps: u64) -> throng::Stats {
    common::ou_law(method, throng::Precision::F32, theta, steps, 1 << 18, 13)
}

#[test]
fn setd1_is_exact_in_law_for_ou_at_any_step() {
    for steps in [1, 1000] {
        assert_eq!(ou_law(Method::Setd1, 2.0, steps).nonfinite, 0);
        assert_eq!(ou_law(Method::Etdrk2, 2.0, steps).nonfinite, 0);
    }
}

#[test]
fn stiff_ou_stays_exact_under_setd1_and_blows_up_under_euler_maruyama() {
    // theta = 1e4, dt = 0.01: Euler–Maruyama multiplies by 1 - theta dt = -99 per step.
    let exp = ou_law(Method::Setd1, 1e4, 100);
    assert_eq!((exp.nonfinite, exp.count), (0, 1 << 18));
    let em = ou_law(Method::EulerMaruyama, 1e4, 100);
    assert_eq!(
        em.nonfinite,
        1 << 18,
        "every Euler–Maruyama path overflows and is reported"
    );
    assert_eq!(em.count, 0);
}

#[test]
fn exponential_methods_converge_with_orders_one_two_and_four() {
    // Bernoulli x' = a x + b x^2 (A = a, N = b x^2), x(0) = 1: 1/x = (1 + b/a) e^(-a t) - b/a.
    // In f64, so that rounding stays far below the smallest error fitted.
    let ctx = common::ctx();
    let (a, b) = (-2.0f64, 1.0f64);
    let sys = System::wgsl(
        "bernoulli",
        &["x"],
        &[("a", a), ("b", b)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a * x[0] + p.b * x[0] * x[0]);\n}\n\nfn linear(t: F, p: Params) -> S {\n    return S(p.a);\n}\n",
    )
    .unwrap();
    let t_end = 2.0;
    let exact = 1.0 / ((1.0 + b / a) * (-a * t_end).exp() - b / a);
    for (method, want, tol) in [
        (Method::Setd1, 1.0, 0.1),
        (Method::Etdrk2, 2.0, 0.1),
        (Method::Etdrk4, 4.0, 0.2),
    ] {
        let errs: Vec<f64> = [20u64, 40, 80, 160]
            .iter()
            .map(|&steps| {
                let job = Ensemble::new(sys.clone(), 256)
                    .x0(&[1.0])
                    .precision(throng::Precision::F64)
                    .job(method, TimeGrid::until(0.0, t_end, steps))
                    .unwrap();
                (solve(&ctx, &job, &keep()).unwrap().states.unwrap()[0] - exact).abs()
            })
            .collect();
        let p = common::fitted_order(&errs);
        eprintln!("{method:?} errors {errs:?}, order {p:.3}");
        assert!(
            (p - want).abs() < tol,
            "{method:?}: order {p}, errors {errs:?}"
        );
    }
}
