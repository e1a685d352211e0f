//! Shared by the integration tests. There is no skipping: without an adapter these tests
//! fail with throng's own message (`.ci/run` installs lavapipe where there is no GPU).
#![allow(dead_code)]

use throng::{
    solve, AdapterChoice, Context, Ensemble, Method, Options, Precision, System, TimeGrid,
};

/// Options that keep every terminal state.
pub fn keep() -> Options {
    Options {
        keep_states: true,
        ..Default::default()
    }
}

pub fn ctx() -> Context {
    std::env::set_var(
        "XDG_RUNTIME_DIR",
        std::env::var("XDG_RUNTIME_DIR").unwrap_or("/tmp".into()),
    );
    match Context::new(&AdapterChoice::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Random123's known-answer vectors: (counter, key, output).
pub fn kat() -> Vec<([u32; 4], [u32; 2], [u32; 4])> {
    let text = include_str!("../data/philox4x32_10_kat.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<u32> = l
                .split_whitespace()
                .map(|h| u32::from_str_radix(h, 16).unwrap())
                .collect();
            assert_eq!(w.len(), 10, "malformed KAT line: {l}");
            (
                [w[0], w[1], w[2], w[3]],
                [w[4], w[5]],
                [w[6], w[7], w[8], w[9]],
            )
        })
        .collect()
}

/// Least-squares slope of -log2(error) against the index, for errors at step sizes halving
/// from one entry to the next: the fitted order of convergence.
pub fn fitted_order(errs: &[f64]) -> f64 {
    let k = errs.len() as f64;
    let mx = (k - 1.0) / 2.0;
    let ys: Vec<f64> = errs.iter().map(|e| -e.log2()).collect();
    let my = ys.iter().sum::<f64>() / k;
    let sxy: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - mx) * (y - my))
        .sum();
    let sxx: f64 = (0..errs.len()).map(|i| (i as f64 - mx).powi(2)).sum();
    sxy / sxx
}

/// Standard error of [`fitted_order`] when error i has standard error `se[i]`: each
/// log2 |error| has standard error se / (|error| ln 2), propagated through the slope.
pub fn fitted_order_se(errs: &[f64], se: &[f64]) -> f64 {
    let k = errs.len() as f64;
    let mx = (k - 1.0) / 2.0;
    let sxx: f64 = (0..errs.len()).map(|i| (i as f64 - mx).powi(2)).sum();
    let var: f64 = errs
        .iter()
        .zip(se)
        .enumerate()
        .map(|(i, (e, s))| ((i as f64 - mx) * s / (e.abs() * 2f64.ln())).powi(2))
        .sum();
    var.sqrt() / sxx
}

/// Asserts device and CPU-twin terminal states (component-major, `dim` components of `n`
/// paths) agree within `tol` relative to max(|twin state|, 1): rounding accumulates on the
/// scale of the terms summed (order 1 here), not on a final value that may cross zero.
pub fn assert_matches_twin(gpu: &[f64], twin: &[f64], n: usize, dim: usize, tol: f64, label: &str) {
    for i in 0..n {
        let scale = (0..dim).fold(1f64, |m, c| m.max(twin[c * n + i].abs()));
        for c in 0..dim {
            let (g, t) = (gpu[c * n + i], twin[c * n + i]);
            assert!(
                (g - t).abs() <= tol * scale,
                "{label} path {i} component {c}: gpu {g} twin {t}"
            );
        }
    }
}

/// The standard normal CDF (erfc) and its inverse, as the library computes them.
#[allow(unused_imports)]
pub use throng::sample::{normal_cdf as norm_cdf, normal_quantile as norm_quantile};

/// OU (mu 0.5, sigma 0.8, x0 2, T 1) under `method`: when every path stays finite, the
/// terminal mean and variance must match the exact law, |z| < 4 (the mean's standard error
/// sqrt(v / n); the Gaussian sample variance's v sqrt(2 / (n - 1))). Returns the statistics.
pub fn ou_law(
    method: Method,
    precision: Precision,
    theta: f64,
    steps: u64,
    n: u64,
    seed: u64,
) -> throng::Stats {
    let ctx = ctx();
    let (mu, sigma, x0, t) = (0.5, 0.8, 2.0, 1.0);
    let job = Ensemble::new(System::builtin("ou").unwrap(), n)
        .x0(&[x0])
        .set("theta", theta)
        .set("mu", mu)
        .set("sigma", sigma)
        .seed(seed)
        .precision(precision)
        .job(method, TimeGrid::until(0.0, t, steps))
        .unwrap();
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    if st.count == n {
        let e = (-theta * t).exp();
        let mean = mu + (x0 - mu) * e;
        let var = sigma * sigma * (1.0 - e * e) / (2.0 * theta);
        let zm = (st.mean[0] - mean) / (var / n as f64).sqrt();
        let zv = (st.var()[0] - var) / (var * (2.0 / (n - 1) as f64).sqrt());
        eprintln!(
            "{precision:?} {method:?} theta {theta} dt {}: mean z {zm:.2}, var z {zv:.2}",
            t / steps as f64
        );
        assert!(
            zm.abs() < 4.0 && zv.abs() < 4.0,
            "{method:?} theta {theta} steps {steps}: mean {} var {}",
            st.mean[0],
            st.var()[0]
        );
    }
    st
}

/// Runs the `throng` binary with `args` and waits for it.
pub fn throng(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_throng"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .expect("run throng")
}

/// `throng args` fails with exactly one line, starting `error`, containing `needle`, and no
/// panic.
pub fn assert_one_line_error(args: &[&str], needle: &str) {
    let o = throng(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{args:?}: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("error"), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in {err}"
    );
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An application's own device and queue on the same adapter as `ours`, opened with
/// default features and limits (no f64, no INT64, 128 MiB storage bindings).
pub fn app_device(ours: &Context) -> (wgpu::Adapter, wgpu::Device, wgpu::Queue) {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
        .into_iter()
        .find(|a| a.get_info().name == ours.info.name)
        .expect("the adapter `ctx` opened");
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))
        .expect("a device with default limits");
    (adapter, device, queue)
}
