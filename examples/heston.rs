//! Heston Monte Carlo (catalog system `heston`: full-truncation Euler, correlation through
//! general noise): E[S_T] against S0 e^{rT} and at-the-money and out-of-the-money calls.
//!
//!     cargo run --release --example heston

use throng::{solve, AdapterChoice, Context, Ensemble, Method, Options, System, TimeGrid};

fn main() -> throng::Result<()> {
    let (s0, r, t) = (100.0, 0.02, 1.0);
    let ctx = Context::new(&AdapterChoice::default())?;
    let job = Ensemble::new(System::builtin("heston")?, 1 << 20)
        .x0(&[s0, 0.04])
        .set("r", r)
        .set("kappa", 1.5)
        .set("theta", 0.04)
        .set("xi", 0.3)
        .set("rho", -0.7)
        .seed(2026)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, t, 1000))?;
    let sol = solve(
        &ctx,
        &job,
        &Options {
            keep_states: true,
            ..Default::default()
        },
    )?;
    let st = &sol.stats;
    let n = job.paths as usize;
    println!(
        "adapter: {}; {} paths x {} steps in {:.3} s",
        sol.adapter, n, job.steps, sol.timing.solve_s
    );
    println!(
        "E[S_T] = {:.4} +- {:.4} (S0 e^rT = {:.4}); E[v_T] = {:.5}",
        st.mean[0],
        (st.var()[0] / n as f64).sqrt(),
        s0 * (r * t).exp(),
        st.mean[1]
    );
    let s = &sol.states.unwrap()[..n];
    for k in [90.0, 100.0, 110.0] {
        let pay: Vec<f64> = s
            .iter()
            .map(|&v| (-r * t).exp() * (v - k).max(0.0))
            .collect();
        let m = pay.iter().sum::<f64>() / n as f64;
        let se =
            (pay.iter().map(|p| (p - m).powi(2)).sum::<f64>() / (n - 1) as f64 / n as f64).sqrt();
        println!("call K = {k:>5}: {m:.4} +- {se:.4}");
    }
    Ok(())
}
