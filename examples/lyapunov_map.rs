//! The cost of Lyapunov exponents against plain integration, interleaved: a Lorenz map over
//! an N x N grid of (rho, sigma) with 10^4 RK4 steps (dt 0.01), run plain (terminal
//! statistics), with λ1, and with the full spectrum (λ1..λ3).
//!
//!     cargo run --release --example lyapunov_map -- [N] [STEPS] [ROUNDS]   (1024 10000 3)

use throng::chaos::{self, LyapunovOptions};
use throng::{solve, AdapterChoice, Context, Ensemble, Method, Options, System, TimeGrid};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> throng::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("N STEPS ROUNDS are numbers"))
        .collect();
    let n = *args.first().unwrap_or(&1024);
    let steps = *args.get(1).unwrap_or(&10_000);
    let rounds = *args.get(2).unwrap_or(&3) as usize;
    let ctx = Context::new(&AdapterChoice::default())?;
    let ens = Ensemble::new(System::builtin("lorenz")?, n * n)
        .x0(&[1.0, 1.0, 20.0])
        .grid("rho", 0.0, 50.0, n)
        .grid("sigma", 0.0, 20.0, n);
    let grid = TimeGrid::new(0.0, 0.01, steps);
    let job = ens.job(Method::Rk4, grid)?;
    let lyap = |k: usize| -> throng::Result<f64> {
        let opts = LyapunovOptions {
            exponents: k,
            renorm: 10,
            transient: steps / 5,
            lanes: None,
            separation: None,
        };
        Ok(chaos::lyapunov(&ctx, &ens, Method::Rk4, grid, &opts)?
            .timing
            .solve_s)
    };
    let (mut plain, mut one, mut three) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        plain.push(solve(&ctx, &job, &Options::default())?.timing.solve_s);
        one.push(lyap(1)?);
        three.push(lyap(3)?);
    }
    let ts = (n * n * steps) as f64;
    let (p, a, b) = (
        median(plain.clone()),
        median(one.clone()),
        median(three.clone()),
    );
    println!("adapter: {}", ctx.adapter_label());
    println!("Lorenz {n} x {n} (rho, sigma) grid, {steps} RK4 steps, {rounds} interleaved rounds, solve_s:");
    println!(
        "  plain      median {p:.3} s ({:.3e} traj-steps/s) {plain:.3?}",
        ts / p
    );
    println!(
        "  λ1         median {a:.3} s ({:.3e} traj-steps/s) {one:.3?}  {:.2}x plain",
        ts / a,
        a / p
    );
    println!(
        "  λ1..λ3     median {b:.3} s ({:.3e} traj-steps/s) {three:.3?}  {:.2}x plain",
        ts / b,
        b / p
    );
    Ok(())
}
