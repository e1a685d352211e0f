//! A chaotic sweep: Lorenz with rho swept over [0, 50], one trajectory each, RK4 on the
//! device; prints where trajectories settle as rho grows (fixed point, then chaos past
//! rho ~ 24.74) as a text bifurcation summary.
//!
//!     cargo run --release --example lorenz_sweep

use throng::{solve, AdapterChoice, Context, Ensemble, Method, Options, System, TimeGrid};

fn main() -> throng::Result<()> {
    let n = 1 << 16;
    let ctx = Context::new(&AdapterChoice::default())?;
    let job = Ensemble::new(System::builtin("lorenz")?, n)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 0.0, 50.0)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.005, 20_000))?;
    let sol = solve(
        &ctx,
        &job,
        &Options {
            chunk: None,
            keep_states: true,
            ..Default::default()
        },
    )?;
    let z = &sol.states.as_ref().unwrap()[2 * n as usize..];
    println!(
        "adapter: {}; {} trajectories x {} steps in {:.3} s",
        sol.adapter, n, job.steps, sol.timing.solve_s
    );
    println!(
        "{:>6} {:>10} {:>10} {:>12}",
        "rho", "min z(T)", "max z(T)", "fixed point z"
    );
    let bins = 25;
    for b in 0..bins {
        let lo = b * n as usize / bins;
        let hi = (b + 1) * n as usize / bins;
        let zs = &z[lo..hi];
        let (mn, mx) = zs
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, c), &v| (a.min(v), c.max(v)));
        let rho = 50.0 * (lo + hi) as f64 / 2.0 / (n - 1) as f64;
        // C± = (±sqrt(beta (rho - 1)), ±sqrt(beta (rho - 1)), rho - 1) for rho > 1.
        let fp = if rho > 1.0 { rho - 1.0 } else { 0.0 };
        println!("{rho:>6.2} {mn:>10.3} {mx:>10.3} {fp:>12.3}");
    }
    Ok(())
}
