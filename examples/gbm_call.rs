//! Monte Carlo under geometric Brownian motion: terminal moments on the device, then a
//! European call priced from the kept terminal prices against Black–Scholes.
//!
//!     cargo run --release --example gbm_call

use throng::{solve, AdapterChoice, Context, Ensemble, Method, Options, System, TimeGrid};

fn main() -> throng::Result<()> {
    let (s0, r, sigma, t, strike) = (100.0, 0.03, 0.25, 1.0, 105.0);
    let paths = 1 << 20;
    let ctx = Context::new(&AdapterChoice::default())?;
    let job = Ensemble::new(System::builtin("gbm")?, paths)
        .x0(&[s0])
        .set("mu", r)
        .set("sigma", sigma)
        .seed(2024)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, t, 252))?;
    let sol = solve(
        &ctx,
        &job,
        &Options {
            chunk: None,
            keep_states: true,
            ..Default::default()
        },
    )?;
    let st = &sol.stats;
    println!("adapter: {}", sol.adapter);
    println!(
        "E[S_T] = {:.4} (exact S0 e^rT = {:.4}), sd {:.4}, {} paths in {:.3} s",
        st.mean[0],
        s0 * (r * t).exp(),
        st.var()[0].sqrt(),
        st.count,
        sol.timing.solve_s
    );
    // Discounted payoff, its mean and standard error.
    let disc = (-r * t).exp();
    let pay: Vec<f64> = sol
        .states
        .unwrap()
        .iter()
        .map(|&s| disc * (s - strike).max(0.0))
        .collect();
    let n = pay.len() as f64;
    let mean = pay.iter().sum::<f64>() / n;
    let se = (pay.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    println!(
        "call(K={strike}) = {mean:.4} ± {se:.4} (Black–Scholes {:.4})",
        black_scholes_call(s0, strike, r, sigma, t)
    );
    Ok(())
}

fn black_scholes_call(s: f64, k: f64, r: f64, v: f64, t: f64) -> f64 {
    let d1 = ((s / k).ln() + (r + v * v / 2.0) * t) / (v * t.sqrt());
    let d2 = d1 - v * t.sqrt();
    s * norm_cdf(d1) - k * (-r * t).exp() * norm_cdf(d2)
}

/// Standard normal CDF via erfc (W. J. Cody's rational approximation is overkill here:
/// Abramowitz–Stegun 7.1.26 is accurate to 1.5e-7).
fn norm_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}
