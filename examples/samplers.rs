//! Every diffusion sampler against the exact answer: the sliced Wasserstein-1 distance (8
//! directions, from histograms reduced on the device) of N samples from the exact target,
//! at 5, 10, 20 and 50 denoiser calls, on two Gaussian mixtures (`ring8`: 8 equal narrow
//! components on a circle; `skew3`: 3 components of unequal weights and shapes), every run
//! from the same exact draws of p_T (seed 1). Prints a Markdown table (the one in
//! BENCHMARKS.md). A sampler that takes k calls a step runs ⌊NFE/k⌋ steps, so it uses at
//! most the NFE of its column (the cell says how many when fewer).
//!
//! `cargo run --release --example samplers [PATHS [SAMPLER ...]]` (default 10^6, every
//! sampler)

use throng::sample::{self, Model, Request};
use throng::sampler::SAMPLERS;
use throng::{AdapterChoice, Context};

fn main() -> throng::Result<()> {
    let paths: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse::<f64>().expect("PATHS is a number") as u64)
        .unwrap_or(1_000_000);
    let only: Vec<String> = std::env::args().skip(2).collect();
    let ctx = Context::new(&AdapterChoice::default())?;
    let nfes = [5usize, 10, 20, 50];
    println!("{paths} samples on {}.\n", ctx.info.name);
    for name in ["ring8", "skew3"] {
        let mut floor = 0.0;
        println!("**{name}**: sliced W1 from the exact target (lower is better)\n");
        println!("| sampler | NFE 5 | NFE 10 | NFE 20 | NFE 50 |");
        println!("|---|---|---|---|---|");
        for info in SAMPLERS {
            if !only.is_empty() && !only.iter().any(|s| s == info.name) {
                continue;
            }
            let mut row = format!("| {} |", info.name);
            for &nfe in &nfes {
                let steps = nfe / info.stages;
                if steps == 0 {
                    row += " — |";
                    continue;
                }
                let mut req = Request::new(
                    Model::builtin(name).expect("built-in"),
                    info.sampler,
                    steps * info.stages,
                    paths,
                );
                req.seed = 1;
                let got = sample::sample(&ctx, &req)?;
                let m = got.metrics.expect("a mixture has metrics");
                floor = m.sliced_w1_floor;
                let note = if got.nfe < nfe {
                    format!(" ({} calls)", got.nfe)
                } else {
                    String::new()
                };
                row += &format!(" {:.4}{note} |", m.sliced_w1);
            }
            println!("{row}");
        }
        println!("\nExact samples of this size are at {floor:.4} on average.\n");
    }
    Ok(())
}
