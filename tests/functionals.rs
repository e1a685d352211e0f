//! Per-trajectory functionals written in WGSL (`payoff`, `stop`, `event`), reduced on the
//! device: a European call and a down-and-out call against closed forms, the first-passage
//! time of Brownian motion with drift, and an event count.

mod common;

use common::norm_cdf;
use throng::{solve, Ensemble, Method, Noise, Options, System, TimeGrid};

/// Black–Scholes call.
fn bs_call(s: f64, k: f64, r: f64, sigma: f64, t: f64) -> f64 {
    let d1 = ((s / k).ln() + (r + sigma * sigma / 2.0) * t) / (sigma * t.sqrt());
    let d2 = d1 - sigma * t.sqrt();
    s * norm_cdf(d1) - k * (-r * t).exp() * norm_cdf(d2)
}

/// Continuously monitored down-and-out call, barrier h <= k (Hull, no dividends).
fn down_and_out_call(s: f64, k: f64, h: f64, r: f64, sigma: f64, t: f64) -> f64 {
    let lambda = (r + sigma * sigma / 2.0) / (sigma * sigma);
    let y = (h * h / (s * k)).ln() / (sigma * t.sqrt()) + lambda * sigma * t.sqrt();
    let down_in = s * (h / s).powf(2.0 * lambda) * norm_cdf(y)
        - k * (-r * t).exp() * (h / s).powf(2.0 * lambda - 2.0) * norm_cdf(y - sigma * t.sqrt());
    bs_call(s, k, r, sigma, t) - down_in
}

/// log S under the risk-neutral law: Euler–Maruyama is exact in law (constant coefficients).
/// `extra` adds `stop` and the like.
fn log_gbm(extra: &str) -> System {
    System::wgsl(
        "log_gbm",
        &["y"],
        &[("r", 0.05), ("sigma", 0.2), ("k", 100.0), ("h", 90.0)],
        Noise::Additive,
        &format!(
            "fn drift(t: F, x: S, p: Params) -> S {{\n    return S(p.r - 0.5 * p.sigma * p.sigma);\n}}\n\
             fn diffusion(t: F, x: S, p: Params) -> G {{\n    return G(p.sigma);\n}}\n\
             fn payoff(x: S, p: Params) -> R {{\n    return exp(-p.r * T_END) * max(exp(x[0]) - p.k, R(0.0));\n}}\n{extra}"
        ),
    )
    .unwrap()
}

#[test]
fn european_call_by_payoff_matches_black_scholes() {
    let ctx = common::ctx();
    let n = 1u64 << 20;
    let job = Ensemble::new(log_gbm(""), n)
        .x0(&[100f64.ln()])
        .seed(41)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 16))
        .unwrap();
    assert_eq!(job.row_names(), ["y", "payoff"]);
    // With a histogram of the payoff row on request (its distribution, 0 for half the paths).
    let sol = solve(
        &ctx,
        &job,
        &Options {
            save_at: throng::SaveAt {
                hist: vec![throng::observe::Histogram {
                    component: 1,
                    lo: 0.0,
                    hi: 100.0,
                    bins: 50,
                }],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let st = sol.stats;
    let counts = &sol.saves[0].hist[0].counts;
    assert_eq!(counts.iter().sum::<u64>(), n);
    assert_eq!(counts[0], 0, "no payoff is negative");
    // P(S_T <= K) under the risk-neutral law: payoffs of exactly 0 fall in the first bin.
    let d2 = ((100f64 / 100.0).ln() + (0.05 - 0.02) * 1.0) / 0.2;
    let p0 = 1.0 - norm_cdf(d2);
    let z0 = (counts[1] as f64 / n as f64 - p0) / (p0 * (1.0 - p0) / n as f64).sqrt();
    assert!(
        z0 > -4.0,
        "first bin {} vs at least {p0} (z {z0})",
        counts[1]
    );
    let (price, se) = (st.mean[1], (st.var()[1] / n as f64).sqrt());
    let exact = bs_call(100.0, 100.0, 0.05, 0.2, 1.0);
    let z = (price - exact) / se;
    eprintln!("call {price:.4} +- {se:.4} vs Black-Scholes {exact:.4} (z {z:.2})");
    assert!(z.abs() < 4.0, "z {z}");
}

#[test]
fn down_and_out_call_matches_the_closed_form_with_the_broadie_glasserman_shift() {
    // Monitored at each of 256 steps: the discrete barrier h prices like a continuous one at
    // h exp(-0.5826 sigma sqrt(dt)) (Broadie, Glasserman, Kou 1997), which the test uses.
    let ctx = common::ctx();
    let n = 1u64 << 20;
    let steps = 256u64;
    let sys = log_gbm("fn stop(t: F, x: S, p: Params) -> B {\n    return x[0] <= log(p.h);\n}\n");
    let job = Ensemble::new(sys, n)
        .x0(&[100f64.ln()])
        .seed(43)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
        .unwrap();
    assert_eq!(job.row_names(), ["y", "tau", "hit", "payoff"]);
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    // A stopped path is frozen at or below the barrier, where the call pays 0 (h < k).
    let (price, se) = (st.mean[3], (st.var()[3] / n as f64).sqrt());
    let dt = 1.0 / steps as f64;
    let shifted = 90.0 * (-0.5826 * 0.2 * dt.sqrt()).exp();
    let exact = down_and_out_call(100.0, 100.0, shifted, 0.05, 0.2, 1.0);
    let z = (price - exact) / se;
    eprintln!(
        "down-and-out {price:.4} +- {se:.4} vs closed form at shifted barrier {shifted:.3}: \
         {exact:.4} (z {z:.2}); unshifted {:.4}; knocked out {:.4}",
        down_and_out_call(100.0, 100.0, 90.0, 0.05, 0.2, 1.0),
        st.mean[2]
    );
    assert!(z.abs() < 4.0, "z {z}");
}

/// Brownian motion with drift: dx = mu dt + sigma dW from 0.
fn drifted_bm(extra: &str) -> System {
    System::wgsl(
        "drifted_bm",
        &["x"],
        &[("mu", 1.0), ("sigma", 1.0), ("a", 1.0)],
        Noise::Additive,
        &format!(
            "fn drift(t: F, x: S, p: Params) -> S {{\n    return S(p.mu);\n}}\n\
             fn diffusion(t: F, x: S, p: Params) -> G {{\n    return G(p.sigma);\n}}\n{extra}"
        ),
    )
    .unwrap()
}

#[test]
fn first_passage_time_of_brownian_motion_matches_the_exact_law() {
    // tau = first time x >= a; the run stops at T = 4, so tau is min(tau, T) and `hit` says
    // whether it happened. P(tau > t) = N((a - mu t) / (sigma sqrt t))
    //   - exp(2 mu a / sigma^2) N((-a - mu t) / (sigma sqrt t)), E[min(tau, T)] = its integral.
    // Monitoring at steps of dt delays detection: the Broadie–Glasserman shift of a by
    // 0.5826 sigma sqrt(dt) corrects it to first order.
    let ctx = common::ctx();
    let (mu, sigma, a, t_end, steps, n) = (1.0f64, 1.0f64, 1.0f64, 4.0f64, 4000u64, 1u64 << 16);
    let sys = drifted_bm("fn stop(t: F, x: S, p: Params) -> B {\n    return x[0] >= p.a;\n}\n");
    let job = Ensemble::new(sys, n)
        .x0(&[0.0])
        .seed(47)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, t_end, steps))
        .unwrap();
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    let dt = t_end / steps as f64;
    let a2 = a + 0.5826 * sigma * dt.sqrt();
    let survive = |t: f64| {
        if t <= 0.0 {
            return 1.0;
        }
        let s = sigma * t.sqrt();
        norm_cdf((a2 - mu * t) / s)
            - (2.0 * mu * a2 / (sigma * sigma)).exp() * norm_cdf((-a2 - mu * t) / s)
    };
    // Simpson's rule on 4000 intervals.
    let m = 4000;
    let h = t_end / m as f64;
    let mut integral = survive(0.0) + survive(t_end);
    for i in 1..m {
        integral += survive(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    let mean_exact = integral * h / 3.0;
    let p_hit = 1.0 - survive(t_end);
    let (tau, se) = (st.mean[1], (st.var()[1] / n as f64).sqrt());
    let z = (tau - mean_exact) / se;
    let zp = (st.mean[2] - p_hit) / (p_hit * (1.0 - p_hit) / n as f64).sqrt();
    eprintln!(
        "E[min(tau, T)] {tau:.5} +- {se:.5} vs {mean_exact:.5} (z {z:.2}); \
         P(tau <= T) {:.5} vs {p_hit:.5} (z {zp:.2})",
        st.mean[2]
    );
    assert!(z.abs() < 4.0 && zp.abs() < 4.0, "z {z}, zp {zp}");
    // A stopped trajectory stays where it stopped: at or above a, and not far past it.
    assert!(st.max[0] < a + 6.0 * sigma * dt.sqrt(), "max {}", st.max[0]);
}

#[test]
fn events_count_steps_where_the_condition_holds() {
    // Driftless Brownian motion from 0: P(W_t > 0) = 1/2 at every step, so the count of
    // steps with x > 0 has mean steps / 2.
    let ctx = common::ctx();
    let (steps, n) = (64u64, 1u64 << 16);
    let sys = drifted_bm("fn event(t: F, x: S, p: Params) -> B {\n    return x[0] > R(0.0);\n}\n");
    let job = Ensemble::new(sys, n)
        .x0(&[0.0])
        .set("mu", 0.0)
        .seed(53)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
        .unwrap();
    assert_eq!(job.row_names(), ["x", "events"]);
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    let z = (st.mean[1] - steps as f64 / 2.0) / (st.var()[1] / n as f64).sqrt();
    eprintln!("events: mean {:.3} vs {} (z {z:.2})", st.mean[1], steps / 2);
    assert!(z.abs() < 4.0, "z {z}");
    assert!(st.min[1] == 0.0 && st.max[1] == steps as f64);
}

#[test]
fn path_accumulators_are_state_components_running_max_and_time_average() {
    // x: Brownian motion; m: running maximum of x (updated by `project` after every step);
    // a: integral of x dt (drift x, no noise), so a / T is the time average. Kept paths at
    // every step let the host recompute both from the path the device took.
    let ctx = common::ctx();
    let sys = System::wgsl(
        "accumulators",
        &["x", "m", "a"],
        &[("sigma", 1.0)],
        Noise::General { channels: 1 },
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(R(0.0), R(0.0), x[0]);\n}\n\
         fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(p.sigma, R(0.0), R(0.0));\n}\n\
         fn project(x: S, p: Params) -> S {\n    return S(x[0], max(x[1], x[0]), x[2]);\n}\n",
    )
    .unwrap();
    let (steps, k) = (100u64, 50u64);
    let job = Ensemble::new(sys, 4096)
        .seed(59)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, steps))
        .unwrap();
    let opts = Options {
        save_at: throng::SaveAt {
            every: Some(1),
            keep_paths: k,
            ..Default::default()
        },
        ..Default::default()
    };
    let sol = solve(&ctx, &job, &opts).unwrap();
    for i in 0..k as usize {
        let path: Vec<f64> = sol.saves.iter().map(|s| s.paths[i * 3]).collect();
        let last = &sol.saves.last().unwrap().paths[i * 3..i * 3 + 3];
        let max = path.iter().cloned().fold(0.0f64, f64::max);
        assert_eq!(last[1], max, "trajectory {i}: running max");
        // a_n = sum of x_j dt over steps j < n (x_0 = 0), summed in f32 like the kernel.
        let mut a = 0.0f32;
        for x in &path[..path.len() - 1] {
            a += *x as f32 * 0.01f32;
        }
        assert!(
            (last[2] - a as f64).abs() < 1e-5,
            "trajectory {i}: integral {} vs {a}",
            last[2]
        );
    }
    // E[max_{t<=1} W_t] = sqrt(2 / pi) for continuous monitoring; 100 steps fall short by
    // about 0.5826 sqrt(dt) (Broadie–Glasserman): the mean lies between.
    let st = &sol.stats;
    let cont = (2.0 / std::f64::consts::PI).sqrt();
    assert!(
        st.mean[1] < cont && st.mean[1] > cont - 0.5826 * 0.1 - 0.03,
        "{}",
        st.mean[1]
    );
    // And against the shifted value itself: |z| < 4 with the standard error of the mean
    // (the Broadie–Glasserman shift is first-order; its remainder is O(dt), small next to
    // the standard error of 4096 paths).
    let shifted = cont - 0.5826 * 0.1;
    let z = (st.mean[1] - shifted) / (st.var()[1] / st.count as f64).sqrt();
    assert!(
        z.abs() < 4.0,
        "running max mean {} vs {shifted} (z {z})",
        st.mean[1]
    );
    // a = dt sum_{j<100} W(j dt) is Gaussian with variance dt^3 sum_{i,j<100} min(i, j)
    // (about 1/3); the sample variance of a Gaussian has standard error v sqrt(2 / (n - 1)).
    let mut mins = 0.0;
    for i in 0..100u64 {
        for j in 0..100u64 {
            mins += i.min(j) as f64;
        }
    }
    let v = 1e-6 * mins;
    let z = (st.var()[2] - v) / (v * (2.0f64 / 4095.0).sqrt());
    eprintln!(
        "integral of W: var {} vs {v} (z {z:.2}); mean running max {}",
        st.var()[2],
        st.mean[1]
    );
    assert!(
        z.abs() < 4.0,
        "var of the integral {} vs {v} (z {z})",
        st.var()[2]
    );
}

#[test]
fn functionals_carry_across_segments_and_chunks_bit_for_bit() {
    // tau, hit, events and payoff live in rows that are stored after each segment and
    // loaded by the next: cutting the run anywhere must not change them.
    let ctx = common::ctx();
    let sys = drifted_bm(
        "fn stop(t: F, x: S, p: Params) -> B {\n    return x[0] >= p.a;\n}\n\
         fn event(t: F, x: S, p: Params) -> B {\n    return x[0] < R(0.0);\n}\n\
         fn payoff(x: S, p: Params) -> R {\n    return x[0] * x[0];\n}\n",
    );
    for precision in [throng::Precision::F32, throng::Precision::F64] {
        let job = Ensemble::new(sys.clone(), 3000)
            .x0(&[0.0])
            .sweep("mu", -1.0, 2.0)
            .seed(61)
            .precision(precision)
            .job(Method::EulerMaruyama, TimeGrid::until(0.0, 2.0, 203))
            .unwrap();
        assert_eq!(job.row_names(), ["x", "tau", "hit", "events", "payoff"]);
        let plain = solve(&ctx, &job, &Options::default()).unwrap();
        assert!(plain.stats.mean[2] > 0.1 && plain.stats.mean[2] < 0.9);
        for (every, dispatch, chunk) in [(Some(50), None, None), (Some(7), Some(3), Some(1024))] {
            let sol = solve(
                &ctx,
                &job,
                &Options {
                    save_at: throng::SaveAt {
                        every,
                        ..Default::default()
                    },
                    dispatch_steps: dispatch,
                    chunk,
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(
                sol.stats, plain.stats,
                "{precision:?} every {every:?} dispatch {dispatch:?}"
            );
        }
    }
}
