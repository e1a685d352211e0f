//! A user-written SDE from Rust: a stochastic SIR-like epidemic in proportions with
//! demographic noise, swept over the contact rate, run on the device.
//!
//!     cargo run --release --example user_sde

use throng::{solve, AdapterChoice, Context, Ensemble, Method, Noise, Options, System, TimeGrid};

const CODE: &str = "
fn drift(t: F, x: S, p: Params) -> S {
    let infection = p.beta * x[0] * x[1];
    return S(-infection, infection - p.gamma * x[1]);
}

// Two noise channels (infection, recovery) act on both compartments: general noise.
fn diffusion(t: F, x: S, p: Params) -> G {
    let a = sqrt(max(p.beta * x[0] * x[1], R(0.0)) / p.n);
    let b = sqrt(max(p.gamma * x[1], R(0.0)) / p.n);
    return G(-a, R(0.0), a, -b);
}

fn project(x: S, p: Params) -> S {
    return S(max(x[0], R(0.0)), max(x[1], R(0.0)));
}
";

fn main() -> throng::Result<()> {
    let sir = System::wgsl(
        "sir",
        &["s", "i"],
        &[("beta", 0.3), ("gamma", 0.1), ("n", 10_000.0)],
        Noise::General { channels: 2 },
        CODE,
    )?;
    let ctx = Context::new(&AdapterChoice::default())?;
    let job = Ensemble::new(sir, 1 << 16)
        .x0(&[0.999, 0.001])
        .sweep("beta", 0.05, 0.5)
        .seed(1)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 200.0, 2000))?;
    let sol = solve(
        &ctx,
        &job,
        &Options {
            keep_states: true,
            ..Default::default()
        },
    )?;
    println!(
        "adapter: {}; {} paths in {:.3} s",
        sol.adapter, job.paths, sol.timing.solve_s
    );
    let s = sol.states.unwrap();
    let n = job.paths as usize;
    println!("{:>6} {:>22}", "beta", "mean final susceptible");
    for b in 0..10 {
        let (lo, hi) = (b * n / 10, (b + 1) * n / 10);
        let mean = s[lo..hi].iter().copied().sum::<f64>() / (hi - lo) as f64;
        let beta = 0.05 + 0.45 * (lo + hi) as f64 / 2.0 / (n - 1) as f64;
        println!("{beta:>6.3} {mean:>22.4}");
    }
    Ok(())
}
