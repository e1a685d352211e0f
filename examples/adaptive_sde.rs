//! Error against work for adaptive and fixed SDE steps on one Brownian path per trajectory:
//! the double well dx = (x − x³) dt + sqrt(2 T) dW (T = 0.25) from x0 = 30, a stiff start
//! (the drift's slope is −2699 there) and then slow wandering to t = 10. Adaptive Heun
//! (`adaptive-heun`) at several tolerances and fixed-step Heun at 2^m steps, all on the
//! Brownian tree, against fixed-step Heun at 2^16 steps on the same paths (f64, 500 paths).
//! Work is trial steps per path, rejected ones included.
//!
//! `cargo run --release --example adaptive_sde`

use throng::method::Controller;
use throng::noise::Brownian;
use throng::{
    solve, AdapterChoice, Context, Ensemble, Method, Options, Precision, System, TimeGrid,
};

fn main() -> throng::Result<()> {
    let ctx = Context::new(&AdapterChoice::default())?;
    let n = 500u64;
    let ens = || -> throng::Result<Ensemble> {
        Ok(Ensemble::new(System::builtin("double_well")?, n)
            .x0(&[30.0])
            .seed(3)
            .precision(Precision::F64)
            .brownian(Brownian::Tree))
    };
    let keep = Options {
        keep_states: true,
        ..Options::default()
    };
    let run = |m: Method, steps: u64| -> throng::Result<throng::Solution> {
        solve(
            &ctx,
            &ens()?.job(m, TimeGrid::until(0.0, 10.0, steps))?,
            &keep,
        )
    };
    let reference = run(Method::Heun, 1 << 16)?.states.expect("kept");
    let rms = |x: &[f64]| {
        ((0..n as usize)
            .map(|i| (x[i] - reference[i]).powi(2))
            .sum::<f64>()
            / n as f64)
            .sqrt()
    };
    println!("{:<28} {:>12} {:>12}", "run", "work/path", "rms error");
    for m in 8..=14u32 {
        let x = run(Method::Heun, 1 << m)?.states.expect("kept");
        println!(
            "{:<28} {:>12} {:>12.3e}",
            format!("heun, 2^{m} steps"),
            1u64 << m,
            rms(&x)
        );
    }
    for tol in [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4] {
        let ctl = Controller {
            rtol: tol,
            atol: tol,
            ..Default::default()
        };
        let sol = run(Method::AdaptiveHeun(ctl), 64)?;
        let a = sol.adaptive.as_ref().expect("adaptive");
        let work = a.steps.mean[0] + a.steps.mean[1];
        let x = sol.states.expect("kept");
        println!(
            "{:<28} {:>12.1} {:>12.3e}",
            format!("adaptive-heun, tol {tol:e}"),
            work,
            rms(&x)
        );
    }
    Ok(())
}
