//! `throng lyapunov`: Lyapunov exponents of every trajectory of a run (its sweeps and grids
//! included), from tangents derived from the system's own WGSL; a summary per exponent, and
//! with `--out` the exponents as NPY (grid-shaped for a 2-D grid) and, for a 2-D grid, a
//! heatmap of λ1.

use std::process::ExitCode;

use serde_json::json;
use throng::chaos::{self, LyapunovOptions};
use throng::{Context, Error};

use super::request::RequestArgs;
use super::{input, AdapterArgs};

#[derive(clap::Args)]
pub struct LyapunovArgs {
    #[command(flatten)]
    which: super::SystemArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// How many exponents, the largest first (1 to the dimension)
    #[arg(long, default_value_t = 1)]
    exponents: usize,
    /// Re-orthonormalise the tangent vectors every this many steps (dopri5: accepted steps)
    #[arg(long, default_value_t = 10)]
    renorm: u64,
    /// Steps before the stretches count (rounded up to a multiple of --renorm; dopri5:
    /// accepted steps)
    #[arg(long, default_value_t = 1000)]
    transient: u64,
    /// λ1 by the two-trajectory method with a neighbour at this distance, for drifts throng
    /// cannot differentiate (needs --exponents 1)
    #[arg(long)]
    separation: Option<f64>,
    #[command(flatten)]
    out: super::OutArgs,
    /// Print one JSON object as the last line
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    adapter: AdapterArgs,
}

pub fn lyapunov(args: LyapunovArgs) -> Result<ExitCode, Error> {
    let (system, req, ens, method, grid, params) =
        super::run::asked(&args.which, args.request.into_request())?;
    let observers = [
        ("--save-every", req.save_every.is_some()),
        ("--save-at", req.save_at.is_some()),
        ("--hist", !req.hist.is_empty()),
        ("--quantiles", req.quantiles.is_some()),
        ("--keep-paths", req.keep_paths.is_some()),
        ("--chunk", req.chunk.is_some()),
        ("--dispatch-steps", req.dispatch_steps.is_some()),
    ];
    if let Some((flag, _)) = observers.iter().find(|(_, given)| *given) {
        return Err(input(
            flag,
            format!("{flag} applies to `throng run`, not to `throng lyapunov`"),
        ));
    }
    let opts = LyapunovOptions {
        exponents: args.exponents,
        renorm: args.renorm,
        transient: args.transient,
        lanes: req.lanes,
        separation: args.separation,
    };
    let out = args.out.open()?;
    let ctx = Context::new(&args.adapter.choice())?;
    let l = chaos::lyapunov(&ctx, &ens, method, grid, &opts)?;
    let k = l.k;
    let transient = args.transient.div_ceil(args.renorm) * args.renorm;
    let short = l.counts.iter().filter(|&&b| b == 0).count();
    let mut per = Vec::new();
    for j in 0..k {
        let v: Vec<f64> = l
            .exponent(j)
            .into_iter()
            .filter(|v| v.is_finite())
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        per.push(json!({"mean": mean, "sd": sd, "min": min, "max": max, "finite": v.len()}));
    }
    // A 2-D grid: the array is (axis 2, axis 1, exponents), axis 1 varying fastest.
    let axes = super::grid_axes(&req);
    let shape: Vec<u64> = match axes.as_slice() {
        [a, b] => vec![b.1 as u64, a.1 as u64, k as u64],
        _ => vec![l.paths, k as u64],
    };
    let summary = json!({
        "system": system.name,
        "method": method.name(),
        "paths": l.paths,
        "exponents": per,
        "averaged_time": l.time,
        "blocks": l.blocks,
        "renorm": args.renorm,
        "transient": transient,
        "too_few_steps": short,
        "unfinished": l.unfinished,
        "params": params,
        "adapter": l.adapter,
        "solve_s": l.timing.solve_s,
        "setup_s": l.timing.setup_s,
    });
    if let Some(out) = out {
        let first: Vec<f64> = l.exponent(0);
        let draw = |path: &std::path::Path| -> Result<(), Error> {
            let [a, b] = axes.as_slice() else {
                return Ok(());
            };
            throng::plot::heatmap(
                path,
                &first,
                a.1,
                b.1,
                &a.0,
                &b.0,
                &format!("largest Lyapunov exponent of {}", system.name),
                "λ1",
            )
        };
        let pictures: Vec<(&str, throng::output::Draw)> = if axes.len() == 2 {
            vec![("lyapunov.png", &draw)]
        } else {
            vec![]
        };
        out.write_arrays(
            &[
                ("lyapunov", shape.clone(), &l.exponents),
                ("lyapunov_se", shape, &l.stderr),
            ],
            &pictures,
            summary.clone(),
        )?;
    }
    if short > 0 {
        eprintln!(
            "warning: {short} of {} trajectories took too few accepted steps for one block of {} after the transient of {transient}; their exponents are NaN (lengthen --t1 or shorten --transient)",
            l.paths, args.renorm
        );
    }
    if l.unfinished > 0 {
        eprintln!(
            "warning: {} trajectories did not reach t1 (out of --max-steps, blown up, or a step too short to move t; llvmpipe also stops one after 65535 trial steps); their exponents are NaN",
            l.unfinished
        );
    }
    if args.json {
        println!("{summary}");
    } else {
        // Under an adaptive method each trajectory's blocks of accepted steps span its own
        // time: the mean time and the range of block counts.
        let span = if method.is_adaptive() {
            let most = l.counts.iter().copied().max().unwrap_or(0);
            format!(
                "t = {:.6} on average ({} to {most} blocks of {} accepted steps)",
                l.time, l.blocks, args.renorm
            )
        } else {
            format!(
                "t = {} ({} blocks of {} steps)",
                l.time, l.blocks, args.renorm
            )
        };
        println!(
            "{} trajectories of {} ({}), exponents averaged over {span}",
            l.paths,
            system.name,
            method.name()
        );
    }
    if !args.json {
        println!(
            "{:<6} {:>14} {:>12} {:>14} {:>14} {:>9}",
            "", "mean", "sd", "min", "max", "finite"
        );
        for (j, p) in per.iter().enumerate() {
            println!(
                "λ{:<5} {:>14.6} {:>12.3e} {:>14.6} {:>14.6} {:>9}",
                j + 1,
                p["mean"].as_f64().unwrap_or(f64::NAN),
                p["sd"].as_f64().unwrap_or(f64::NAN),
                p["min"].as_f64().unwrap_or(f64::NAN),
                p["max"].as_f64().unwrap_or(f64::NAN),
                p["finite"]
            );
        }
        if k > 1 {
            let sum: f64 = per
                .iter()
                .map(|p| p["mean"].as_f64().unwrap_or(f64::NAN))
                .sum();
            println!("sum of the means: {sum:.6}");
        }
        println!(
            "setup {:.3} s, solve {:.3} s on {}",
            l.timing.setup_s, l.timing.solve_s, l.adapter
        );
    }
    Ok(ExitCode::SUCCESS)
}
