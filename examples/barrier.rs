//! A down-and-out call priced on the device with a WGSL payoff and an absorbing barrier,
//! with the price path of the knock-out probability over time (saves every 16 steps) and a
//! histogram of the terminal payoff, written as NPY files for numpy.
//!
//! `cargo run --release --example barrier [OUT_DIR]`

use throng::observe::Histogram;
use throng::{
    solve, AdapterChoice, Context, Ensemble, Method, Noise, Options, SaveAt, System, TimeGrid,
};

fn main() -> throng::Result<()> {
    // log S under the risk-neutral law (Euler–Maruyama is exact in law for it); the barrier
    // is monitored at every step.
    let sys = System::wgsl(
        "down_and_out",
        &["y"],
        &[("r", 0.05), ("sigma", 0.2), ("k", 100.0), ("h", 90.0)],
        Noise::Additive,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.r - 0.5 * p.sigma * p.sigma);\n}\n\
         fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(p.sigma);\n}\n\
         fn stop(t: F, x: S, p: Params) -> B {\n    return x[0] <= log(p.h);\n}\n\
         fn payoff(x: S, p: Params) -> R {\n    return exp(-p.r * T_END) * max(exp(x[0]) - p.k, R(0.0));\n}\n",
    )?;
    let ctx = Context::new(&AdapterChoice::default())?;
    let n = 1u64 << 22;
    let job = Ensemble::new(sys, n)
        .x0(&[100f64.ln()])
        .seed(7)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 256))?;
    let names = job.row_names(); // y, tau, hit, payoff
    let sol = solve(
        &ctx,
        &job,
        &Options {
            save_at: SaveAt {
                every: Some(16),
                hist: vec![Histogram {
                    component: 3,
                    lo: 0.0,
                    hi: 60.0,
                    bins: 60,
                }],
                ..Default::default()
            },
            ..Default::default()
        },
    )?;
    let st = &sol.stats;
    let se = (st.var()[3] / st.count as f64).sqrt();
    println!("{n} paths, 256 monitoring dates, on {}", sol.adapter);
    println!(
        "down-and-out call (S 100, K 100, H 90, r 0.05, sigma 0.2, T 1): {:.4} +- {:.4}",
        st.mean[3], se
    );
    println!("knocked out by t:");
    for s in sol.saves.iter().step_by(4) {
        println!("  t {:.3}: {:.4}", s.t, s.stats.mean[2]);
    }
    println!(
        "mean knock-out time given a knock-out: {:.4}",
        (st.mean[1] - (1.0 - st.mean[2]) * 1.0) / st.mean[2]
    );
    if let Some(dir) = std::env::args().nth(1) {
        // Replaces the files of an earlier run of this example in `dir`.
        let out = throng::output::OutDir::open(std::path::Path::new(&dir), true)?;
        out.write(&sol, 1.0, 256, serde_json::json!({"rows": names}))?;
        println!("rows {names:?}; wrote {dir}/summary.json and its arrays");
    }
    println!("solve {:.3} s", sol.timing.solve_s);
    Ok(())
}
