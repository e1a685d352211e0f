//! Adaptive steps per trajectory: the Van der Pol oscillator x'' = mu (1 - x^2) x' - x over a
//! sweep of mu from 1 to 1000 in f64 with Dormand–Prince 5(4). As mu grows the limit cycle
//! gets stiff relaxation jumps, and each trajectory takes the steps its own mu needs.
//!
//! `cargo run --release --example adaptive`

use throng::method::Controller;
use throng::{solve, AdapterChoice, Context, Ensemble, Method, Noise, Options, System, TimeGrid};

fn main() -> throng::Result<()> {
    let vdp = System::wgsl(
        "van_der_pol",
        &["x", "v"],
        &[("mu", 1.0)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], p.mu * (1.0 - x[0] * x[0]) * x[1] - x[0]);\n}\n",
    )?;
    let ctx = Context::new(&AdapterChoice::default())?;
    let precision = if ctx.has_f64() {
        throng::Precision::F64
    } else {
        throng::Precision::F32
    };
    let n = 4096u64;
    let job = Ensemble::new(vdp, n)
        .x0(&[2.0, 0.0])
        .logsweep("mu", 1.0, 1000.0)
        .precision(precision)
        .job(
            Method::Dopri5(Controller {
                rtol: 1e-7,
                atol: 1e-7,
                max_steps: 1_000_000,
                ..Default::default()
            }),
            TimeGrid::until(0.0, 50.0, 1000),
        )?;
    let sol = solve(
        &ctx,
        &job,
        &Options {
            keep_states: true,
            ..Default::default()
        },
    )?;
    let s = sol.states.as_ref().unwrap();
    let n = n as usize;
    println!(
        "Van der Pol, t = 50, {} on {}",
        precision.name(),
        sol.adapter
    );
    println!(
        "{:>8} {:>10} {:>10} {:>12}",
        "mu", "accepted", "rejected", "x(50)"
    );
    for i in (0..n).step_by(n / 8).chain([n - 1]) {
        let mu = job.value_at(2, i as u64);
        println!(
            "{mu:>8.1} {:>10} {:>10} {:>12.6}",
            s[2 * n + i],
            s[3 * n + i],
            s[i]
        );
    }
    let a = sol.adaptive.unwrap();
    println!(
        "accepted steps: mean {:.0}, min {}, max {}; unfinished {}; {:.3} s",
        a.steps.mean[0], a.steps.min[0], a.steps.max[0], a.unfinished, sol.timing.solve_s
    );
    Ok(())
}
