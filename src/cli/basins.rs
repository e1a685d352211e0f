//! `throng basins`: basins of attraction over a grid of initial states: every trajectory is
//! integrated and its final state labelled, by the nearest of given points or by the
//! system's own `fn label(x: S, p: Params) -> U`; with `--out`, the labels as NPY and a
//! categorical PNG for a 2-D grid.

use std::process::ExitCode;

use serde_json::json;
use throng::chaos::{self, Labels};
use throng::{Context, Error};

use super::request::RequestArgs;
use super::{input, AdapterArgs};

#[derive(clap::Args)]
pub struct BasinsArgs {
    #[command(flatten)]
    which: super::SystemArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Label by the nearest of these points: "x1,y1;x2,y2;..." (else the system's `fn label`)
    #[arg(long)]
    attractors: Option<String>,
    /// With --attractors: farther than this from every point is unlabelled
    #[arg(long, default_value_t = f64::INFINITY)]
    radius: f64,
    #[command(flatten)]
    out: super::OutArgs,
    #[command(flatten)]
    adapter: AdapterArgs,
}

pub fn basins(args: BasinsArgs) -> Result<ExitCode, Error> {
    let (system, req, ens, method, grid, params) =
        super::run::asked(&args.which, args.request.into_request())?;
    let labels = match &args.attractors {
        Some(text) => {
            let points: Result<Vec<Vec<f64>>, Error> = text
                .split(';')
                .map(|p| {
                    p.split(',')
                        .map(|v| {
                            v.trim().parse::<f64>().map_err(|_| {
                                input(
                                    "--attractors",
                                    format!("--attractors: `{v}` is not a number"),
                                )
                            })
                        })
                        .collect()
                })
                .collect();
            Labels::Nearest {
                points: points?,
                radius: args.radius,
            }
        }
        None => Labels::Wgsl,
    };
    let out = args.out.open()?;
    let ctx = Context::new(&args.adapter.choice())?;
    let b = chaos::basins(&ctx, &ens, method, grid, &labels, req.lanes)?;
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for &l in &b.labels {
        let key = if l == u32::MAX {
            "unlabelled".to_string()
        } else {
            l.to_string()
        };
        *counts.entry(key).or_default() += 1;
    }
    println!(
        "{} trajectories of {} ({}); labels:",
        b.paths,
        system.name,
        method.name()
    );
    for (k, v) in &counts {
        println!(
            "  {k:>10}: {v} ({:.2} %)",
            100.0 * *v as f64 / b.paths as f64
        );
    }
    println!(
        "setup {:.3} s, solve {:.3} s on {}",
        b.timing.setup_s, b.timing.solve_s, b.adapter
    );
    if let Some(out) = out {
        let axes = super::grid_axes(&req);
        let shape: Vec<u64> = match axes.as_slice() {
            [a, c] => vec![c.1 as u64, a.1 as u64],
            _ => vec![b.paths],
        };
        let title = format!("basins of {}", system.name);
        // The legend names a nearest-point label by its point.
        let names: Vec<String> = match &labels {
            Labels::Nearest { points, .. } => points
                .iter()
                .map(|p| {
                    let v: Vec<String> = p.iter().map(|v| format!("{v}")).collect();
                    format!("near ({})", v.join(", "))
                })
                .collect(),
            Labels::Wgsl => vec![],
        };
        let draw = |path: &std::path::Path| -> Result<(), Error> {
            let [a, c] = axes.as_slice() else {
                return Ok(());
            };
            throng::plot::categorical(path, &b.labels, a.1, c.1, &a.0, &c.0, &title, &names)
        };
        let pictures: Vec<(&str, throng::output::Draw)> = if axes.len() == 2 {
            vec![("basins.png", &draw)]
        } else {
            vec![]
        };
        let as_f: Vec<f64> = b
            .labels
            .iter()
            .map(|&l| if l == u32::MAX { -1.0 } else { l as f64 })
            .collect();
        let summary = json!({
            "system": system.name,
            "method": method.name(),
            "paths": b.paths,
            "labels": counts,
            "params": params,
            "adapter": b.adapter,
            "solve_s": b.timing.solve_s,
        });
        out.write_arrays(&[("basins", shape, &as_f)], &pictures, summary)?;
    }
    Ok(ExitCode::SUCCESS)
}
