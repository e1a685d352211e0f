//! The engine against exact laws, f64 references and its CPU twin. Statistical checks use
//! fixed seeds and |z| < 4 with standard errors derived below.

mod common;

use common::keep;

use throng::cpu::rk4::{rk4_solve, Steps};
use throng::system::Builtin;
use throng::{cpu, solve, Ensemble, Method, Options, Stats, System, TimeGrid};

fn gbm(paths: u64, mu: f64, sigma: f64, seed: u64) -> Ensemble {
    Ensemble::new(System::builtin("gbm").unwrap(), paths)
        .x0(&[1.0])
        .set("mu", mu)
        .set("sigma", sigma)
        .seed(seed)
}

fn lorenz(paths: u64) -> Ensemble {
    Ensemble::new(System::builtin("lorenz").unwrap(), paths)
        .x0(&[1.0, 0.0, 0.0])
        .sweep("rho", 0.0, 50.0)
}

/// Mean and unbiased variance, in f64, of component `c` of component-major states.
fn moments(states: &[f64], n: usize, c: usize) -> (f64, f64) {
    let xs = &states[c * n..(c + 1) * n];
    let m = xs.iter().sum::<f64>() / n as f64;
    let v = xs.iter().map(|&v| (v - m).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    (m, v)
}

#[test]
fn gbm_terminal_moments_match_exact_law_of_the_em_chain() {
    let ctx = common::ctx();
    let (mu, sigma, steps, n) = (0.05, 0.2, 64u64, 1u64 << 18);
    let job = gbm(n, mu, sigma, 11)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
        .unwrap();
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    // X_N = prod (a + b Z_k) with a = 1 + mu h, b = sigma sqrt(h): raw moments are powers of
    // E[(a + bZ)^k], so mean, variance and the fourth central moment are exact.
    let h = 1.0 / steps as f64;
    let (a, b) = (1.0 + mu * h, sigma * h.sqrt());
    let nn = steps as i32;
    let e1 = a.powi(nn);
    let e2 = (a * a + b * b).powi(nn);
    let e3 = (a.powi(3) + 3.0 * a * b * b).powi(nn);
    let e4 = (a.powi(4) + 6.0 * a * a * b * b + 3.0 * b.powi(4)).powi(nn);
    let var = e2 - e1 * e1;
    let mu4 = e4 - 4.0 * e3 * e1 + 6.0 * e2 * e1 * e1 - 3.0 * e1.powi(4);
    let nf = n as f64;
    let se_mean = (var / nf).sqrt();
    let se_var = ((mu4 - var * var * (nf - 3.0) / (nf - 1.0)) / nf).sqrt();
    let z_mean = (st.mean[0] - e1) / se_mean;
    let z_var = (st.var()[0] - var) / se_var;
    assert_eq!(st.count, n);
    assert!(
        z_mean.abs() < 4.0,
        "mean {} vs {e1}: z = {z_mean}",
        st.mean[0]
    );
    assert!(
        z_var.abs() < 4.0,
        "var {} vs {var}: z = {z_var}",
        st.var()[0]
    );
}

#[test]
fn ou_terminal_moments_match_exact_law_of_the_em_chain() {
    let ctx = common::ctx();
    let (theta, mu, sigma, x0, steps, n) = (2.0, 0.5, 0.3, 2.0, 50u64, 1u64 << 18);
    let job = Ensemble::new(System::builtin("ou").unwrap(), n)
        .x0(&[x0])
        .set("theta", theta)
        .set("mu", mu)
        .set("sigma", sigma)
        .seed(5)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
        .unwrap();
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    // x' = A x + B + s Z: Gaussian with mean A^N x0 + B (1 - A^N) / (1 - A) and
    // variance s^2 (1 - A^2N) / (1 - A^2); the sample variance has SE v sqrt(2 / (n - 1)).
    let h = 1.0 / steps as f64;
    let (aa, bb, s) = (1.0 - theta * h, theta * mu * h, sigma * h.sqrt());
    let an = aa.powi(steps as i32);
    let mean = an * x0 + bb * (1.0 - an) / (1.0 - aa);
    let var = s * s * (1.0 - an * an) / (1.0 - aa * aa);
    let nf = n as f64;
    let z_mean = (st.mean[0] - mean) / (var / nf).sqrt();
    let z_var = (st.var()[0] - var) / (var * (2.0 / (nf - 1.0)).sqrt());
    assert!(
        z_mean.abs() < 4.0,
        "mean {} vs {mean}: z = {z_mean}",
        st.mean[0]
    );
    assert!(
        z_var.abs() < 4.0,
        "var {} vs {var}: z = {z_var}",
        st.var()[0]
    );
}

#[test]
fn lorenz_rk4_matches_an_f64_rk4_reference() {
    let ctx = common::ctx();
    let n = 512u64;
    let job = lorenz(n)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 100))
        .unwrap();
    let states = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    let h = Steps {
        t0: 0.0,
        dt: 0.01,
        half_dt: 0.005,
        sixth_dt: 0.01 / 6.0,
        steps: 100,
    };
    let mut worst = 0f64;
    for i in 0..n as usize {
        let rho = 50.0 * i as f64 / (n - 1) as f64;
        let mut x = [1.0f64, 0.0, 0.0];
        rk4_solve(Builtin::Lorenz, &mut x, &[10.0, rho, 8.0 / 3.0], &h);
        let scale = x.iter().fold(0f64, |m, v| m.max(v.abs()));
        for c in 0..3 {
            let got = states[c * n as usize + i] as f64;
            worst = worst.max((got - x[c]).abs() / scale);
        }
    }
    // Relative to the largest component of the reference state.
    assert!(worst < 1e-4, "worst relative difference {worst:e}");
}

#[test]
fn gpu_matches_cpu_twin_trajectory_by_trajectory() {
    let ctx = common::ctx();
    let cases = [
        (
            gbm(3000, 0.05, 0.2, 3)
                .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 67))
                .unwrap(),
            1e-5,
        ),
        (
            Ensemble::new(System::builtin("ou").unwrap(), 3000)
                .x0(&[1.0])
                .sweep("sigma", 0.1, 2.0)
                .seed(9)
                .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 66))
                .unwrap(),
            1e-5,
        ),
        (
            lorenz(3000)
                .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 100))
                .unwrap(),
            1e-4,
        ),
        (
            lorenz(3000)
                .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.001, 101))
                .unwrap(),
            1e-4,
        ),
    ];
    for ((job, tol), lanes) in cases
        .into_iter()
        .flat_map(|c| [1, 2, 4].map(|l| (c.clone(), l)))
    {
        let opts = Options {
            lanes: Some(lanes),
            ..keep()
        };
        let gpu = solve(&ctx, &job, &opts).unwrap().states.unwrap();
        let twin = cpu::solve(&job, &keep()).unwrap().states.unwrap();
        let label = format!("{} {:?} lanes {lanes}", job.system.name, job.method);
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

#[test]
fn results_identical_for_any_chunk_size() {
    let ctx = common::ctx();
    let jobs = [
        gbm(10_000, 0.05, 0.2, 42)
            .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 33))
            .unwrap(),
        lorenz(10_000)
            .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 50))
            .unwrap(),
    ];
    for job in jobs {
        let whole = solve(&ctx, &job, &keep()).unwrap();
        assert_eq!(whole.chunks, 1);
        for chunk in [256, 1000, 4096] {
            let opts = Options {
                chunk: Some(chunk),
                keep_states: true,
                ..Default::default()
            };
            let part = solve(&ctx, &job, &opts).unwrap();
            assert!(part.chunks > 1);
            assert_eq!(part.stats, whole.stats, "chunk {chunk}");
            let same = part
                .states
                .as_ref()
                .unwrap()
                .iter()
                .zip(whole.states.as_ref().unwrap())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "chunk {chunk}: states differ");
        }
    }
}

#[test]
fn device_reduction_is_within_1e_5_of_an_f64_reduction() {
    let ctx = common::ctx();
    let jobs = [
        gbm(100_000, 0.05, 0.2, 8)
            .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 16))
            .unwrap(),
        lorenz(100_000)
            .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 300))
            .unwrap(),
    ];
    for job in jobs {
        let sol = solve(&ctx, &job, &keep()).unwrap();
        let states = sol.states.unwrap();
        let n = job.paths as usize;
        let mut tree = throng::reduce::MergeTree::new(job.system.dim());
        let narrow: Vec<f32> = states.iter().map(|&v| v as f32).collect();
        tree.absorb32(
            0,
            &cpu::reduce::block_partials(&narrow, n, job.system.dim()),
        );
        let twin = tree.total();
        for c in 0..job.system.dim() {
            let (m, v) = moments(&states, n, c);
            assert!((twin.mean[c] - m).abs() <= 1e-5 * m.abs(), "twin mean");
            assert!((twin.var()[c] - v).abs() <= 1e-5 * v, "twin var");
            let xs = &states[c * n..(c + 1) * n];
            let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let st = &sol.stats;
            assert!(
                (st.mean[c] - m).abs() <= 1e-5 * m.abs(),
                "mean {} vs {m}",
                st.mean[c]
            );
            assert!(
                (st.var()[c] - v).abs() <= 1e-5 * v,
                "var {} vs {v}",
                st.var()[c]
            );
            assert_eq!((st.min[c], st.max[c]), (lo, hi));
        }
    }
}

#[test]
fn rk4_converges_with_order_four_on_a_linear_ode() {
    let ctx = common::ctx();
    // x' = a x, x(0) = 1, to T = 4, with a swept over [-1.05, -0.95] across 4096 paths. Exact
    // RK4 multiplies by R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24 (z = a dt) per step: each path
    // must match R(z)^n to f32 rounding, and the mean signed relative error against e^(a T)
    // (rounding, of either sign, averages out over the paths; truncation does not) must
    // fall about 16-fold per halving of dt. References use the f32 a and dt of the kernel.
    // At 10, 20, 40 steps (z near -0.4, -0.2, -0.1) exact RK4's ratios are 18.9 and 17.4,
    // approaching 16 from above (fitted order 4.18); at 80 steps the truncation error
    // (2e-7) is too close to f32 rounding to time a ratio, so it is only checked against R^n.
    let t_end = 4.0f64;
    let n = 4096u64;
    let mut errs = vec![];
    let mut exact_errs = vec![];
    for steps in [10u64, 20, 40, 80] {
        let job = Ensemble::new(System::builtin("linear").unwrap(), n)
            .x0(&[1.0])
            .sweep("a", -1.05, -0.95)
            .job(Method::Rk4, TimeGrid::until(0.0, t_end, steps))
            .unwrap();
        let xs = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
        let dt = job.consts.dt as f64;
        let (mut err, mut exact_err) = (0.0, 0.0);
        for (i, &x) in xs.iter().enumerate() {
            let a = job.inputs_at(i as u64).1[0];
            let truth = (a * dt * steps as f64).exp();
            let z = a * dt;
            let rk4 =
                (1.0 + z + z * z / 2.0 + z.powi(3) / 6.0 + z.powi(4) / 24.0).powi(steps as i32);
            assert!(
                (x - rk4).abs() < 1e-6 * rk4,
                "{steps} steps, path {i}: {x} vs exact RK4 {rk4}"
            );
            err += (x - truth) / truth / n as f64;
            exact_err += (rk4 - truth) / truth / n as f64;
        }
        errs.push(err);
        exact_errs.push(exact_err);
    }
    let fit = &errs[..3];
    let ratios: Vec<f64> = fit.windows(2).map(|w| w[0] / w[1]).collect();
    for (k, r) in ratios.iter().enumerate() {
        let want = exact_errs[k] / exact_errs[k + 1];
        assert!(
            (r / want - 1.0).abs() < 0.05,
            "ratios {ratios:?} vs exact RK4 {want} (errors {errs:?})"
        );
        assert!((15.0..20.0).contains(r), "ratios {ratios:?}");
    }
    let order = common::fitted_order(fit);
    assert!((order - 4.0).abs() < 0.25, "order {order}, errors {errs:?}");
}

#[test]
fn rk4_in_f64_has_order_four_over_five_step_sizes() {
    // The same linear ODE in f64, where rounding (1e-16) stays far below the truncation
    // error at every size: x' = a x, a = -1, to T = 4, 10 to 160 steps.
    let ctx = common::ctx();
    let errs: Vec<f64> = [10u64, 20, 40, 80, 160]
        .iter()
        .map(|&steps| {
            let job = Ensemble::new(System::builtin("linear").unwrap(), 256)
                .x0(&[1.0])
                .set("a", -1.0)
                .precision(throng::Precision::F64)
                .job(Method::Rk4, TimeGrid::until(0.0, 4.0, steps))
                .unwrap();
            let x = solve(&ctx, &job, &keep()).unwrap().states.unwrap()[0];
            (x - (-4.0f64).exp()).abs()
        })
        .collect();
    let order = common::fitted_order(&errs);
    eprintln!("rk4 f64 errors {errs:?}, order {order:.3}");
    assert!((order - 4.0).abs() < 0.2, "order {order}, errors {errs:?}");
}

#[test]
fn euler_maruyama_has_weak_order_one_on_the_gbm_mean() {
    let ctx = common::ctx();
    let (mu, sigma, n) = (0.5f64, 0.2, 1u64 << 20);
    let exact = mu.exp();
    let mut errs = vec![];
    let mut chain = vec![];
    let mut se = vec![];
    for steps in [4u64, 8, 16, 32] {
        let job = gbm(n, mu, sigma, 100 + steps)
            .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
            .unwrap();
        let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
        let h = 1.0 / steps as f64;
        let chain_mean = (1.0 + mu * h).powi(steps as i32);
        let s = (st.var()[0] / n as f64).sqrt();
        // Each estimate agrees with the exact mean of its chain (|z| < 4).
        assert!(((st.mean[0] - chain_mean) / s).abs() < 4.0, "steps {steps}");
        errs.push(exact - st.mean[0]);
        chain.push(exact - chain_mean);
        se.push(s);
    }
    let p = common::fitted_order(&errs);
    let p_chain = common::fitted_order(&chain);
    // Propagated standard error of the fitted slope (common::fitted_order_se).
    let se_p = common::fitted_order_se(&errs, &se);
    assert!(
        (p_chain - 1.0).abs() < 0.1,
        "order of the exact chain {p_chain}"
    );
    assert!(
        (p - p_chain).abs() < 4.0 * se_p,
        "fitted {p} vs {p_chain} (se {se_p})"
    );
    assert!((p - 1.0).abs() < 0.2, "fitted weak order {p}");
}

#[test]
fn nonfinite_trajectories_are_counted_and_excluded() {
    let ctx = common::ctx();
    // x' = a x from 1 to t = 1: the result overflows f32 (e^a > 3.4e38) for a > 88.73, and
    // RK4's stage sum k1 + 2 (k2 + k3) + k4 (about 9 a x) can overflow first, but not for
    // a < 70 (9 * 70 * e^70 < 1e34). So between (150 - 88.73) / 150 and 80 / 150 of paths.
    let n = 1000u64;
    let job = Ensemble::new(System::builtin("linear").unwrap(), n)
        .x0(&[1.0])
        .sweep("a", 0.0, 150.0)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 100))
        .unwrap();
    let gpu: Stats = solve(&ctx, &job, &Options::default()).unwrap().stats;
    let twin = cpu::solve(&job, &Options::default()).unwrap().stats;
    assert_eq!(gpu.count + gpu.nonfinite, n);
    assert!((408..=534).contains(&gpu.nonfinite), "{}", gpu.nonfinite);
    assert!(gpu.nonfinite.abs_diff(twin.nonfinite) <= 2);
    assert!(gpu.max[0].is_finite() && gpu.mean[0].is_finite() && gpu.var()[0].is_finite());
}

#[test]
fn a_device_the_caller_owns_gives_the_same_results() {
    let ours = common::ctx();
    // The same adapter as ours, opened by the caller with default features and limits.
    let (adapter, device, queue) = common::app_device(&ours);
    let theirs = throng::Context::from_device(device, queue, adapter.get_info());
    let job = gbm(5000, 0.05, 0.2, 77)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 40))
        .unwrap();
    let a = solve(&ours, &job, &Options::default()).unwrap();
    let b = solve(&theirs, &job, &Options::default()).unwrap();
    // The caller's device has no SHADER_INT64, so Philox takes the 16-bit multiply path:
    // the noise, and so every statistic, must still agree bit for bit.
    assert!(!theirs.has_int64());
    assert_eq!(a.stats, b.stats);
}

#[test]
fn euler_maruyama_has_weak_order_one_on_the_gbm_second_moment() {
    let ctx = common::ctx();
    let (mu, sigma, n) = (0.5f64, 0.3, 1u64 << 20);
    // E[X_T^2] = exp((2 mu + sigma^2) T); the chain's is ((1 + mu h)^2 + sigma^2 h)^N.
    let exact = (2.0 * mu + sigma * sigma).exp();
    let (mut errs, mut chain, mut se) = (vec![], vec![], vec![]);
    for steps in [2u64, 4, 8, 16] {
        let job = gbm(n, mu, sigma, 300 + steps)
            .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
            .unwrap();
        let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
        let sq: Vec<f64> = s.iter().map(|&x| x.powi(2)).collect();
        let m2 = sq.iter().sum::<f64>() / n as f64;
        let sd = (sq.iter().map(|v| (v - m2).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let h = 1.0 / steps as f64;
        let chain_m2 = ((1.0 + mu * h).powi(2) + sigma * sigma * h).powi(steps as i32);
        let s_err = sd / (n as f64).sqrt();
        assert!(
            ((m2 - chain_m2) / s_err).abs() < 4.0,
            "steps {steps}: {m2} vs chain {chain_m2}"
        );
        errs.push(exact - m2);
        chain.push(exact - chain_m2);
        se.push(s_err);
    }
    let p = common::fitted_order(&errs);
    let p_chain = common::fitted_order(&chain);
    let se_p = common::fitted_order_se(&errs, &se);
    eprintln!("em weak order on E[X^2]: fitted {p:.3} (chain {p_chain:.3}, se {se_p:.3}), errors {errs:?}");
    assert!(
        (p_chain - 1.0).abs() < 0.15,
        "order of the exact chain {p_chain}"
    );
    assert!(
        (p - p_chain).abs() < 4.0 * se_p,
        "fitted {p} vs {p_chain} (se {se_p})"
    );
    assert!((p - 1.0).abs() < 0.2, "fitted weak order {p}");
}
