//! `throng orbit`: orbit (bifurcation) diagrams over a sweep: per trajectory, after a
//! transient, every iterate, the local maxima of a component, or its value where another
//! crosses a section upward; with `--out`, the values and a (value × parameter) histogram as
//! NPY and a log-scaled density PNG.

use std::process::ExitCode;

use serde_json::json;
use throng::chaos::{self, OrbitMode, OrbitOptions};
use throng::{Context, Error};

use super::request::RequestArgs;
use super::{input, AdapterArgs};

#[derive(clap::Args)]
pub struct OrbitArgs {
    #[command(flatten)]
    which: super::SystemArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// The state component recorded (default: the first)
    #[arg(long)]
    component: Option<String>,
    /// Record the local maxima of the component (default: every step, as for maps)
    #[arg(long)]
    maxima: bool,
    /// Record the component where NAME crosses VALUE upward (NAME=VALUE)
    #[arg(long, conflicts_with = "maxima")]
    section: Option<String>,
    /// Values kept per trajectory
    #[arg(long, default_value_t = 32)]
    points: usize,
    /// Steps before recording starts
    #[arg(long, default_value_t = 1000)]
    transient: u64,
    /// Value bins of the diagram
    #[arg(long, default_value_t = 400)]
    bins: usize,
    /// Range of the value axis, LO:HI (default: the values' own)
    #[arg(long)]
    range: Option<String>,
    #[command(flatten)]
    out: super::OutArgs,
    #[command(flatten)]
    adapter: AdapterArgs,
}

pub fn orbit(args: OrbitArgs) -> Result<ExitCode, Error> {
    let (system, req, ens, method, grid, params) =
        super::run::asked(&args.which, args.request.into_request())?;
    let index = |name: &str| -> Result<usize, Error> {
        system.state.iter().position(|s| s == name).ok_or_else(|| {
            input(
                "--component",
                format!(
                    "`{}` has no component `{name}` (its components: {})",
                    system.name,
                    system.state.join(", ")
                ),
            )
        })
    };
    let component = match &args.component {
        Some(c) => index(c)?,
        None => 0,
    };
    let mode = match (&args.section, args.maxima) {
        (Some(s), _) => {
            let (name, value) = s.split_once('=').ok_or_else(|| {
                input(
                    "--section",
                    format!("--section takes NAME=VALUE, got `{s}`"),
                )
            })?;
            let value: f64 = value
                .trim()
                .parse()
                .map_err(|_| input("--section", format!("--section: `{value}` is not a number")))?;
            OrbitMode::Section {
                component: index(name.trim())?,
                value,
            }
        }
        (None, true) => OrbitMode::Maxima,
        (None, false) => OrbitMode::Every,
    };
    let out = args.out.open()?;
    let ctx = Context::new(&args.adapter.choice())?;
    let o = chaos::orbit(
        &ctx,
        &ens,
        method,
        grid,
        &OrbitOptions {
            component,
            mode,
            values: args.points,
            transient: args.transient,
            lanes: req.lanes,
        },
    )?;
    let finite: Vec<f64> = o.values.iter().cloned().filter(|v| v.is_finite()).collect();
    let recorded: u64 = o.counts.iter().sum();
    let (lo, hi) = match &args.range {
        Some(r) => {
            let (a, b) = r
                .split_once(':')
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
                })
                .filter(|(a, b)| a < b)
                .ok_or_else(|| {
                    input(
                        "--range",
                        format!("--range takes LO:HI with LO < HI, got `{r}`"),
                    )
                })?;
            (a, b)
        }
        None => {
            let lo = finite.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = finite.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if lo < hi {
                let pad = (hi - lo) * 0.01;
                (lo - pad, hi + pad)
            } else {
                // One value (or none: the check below reports it).
                (lo - 0.5, lo + 0.5)
            }
        }
    };
    let columns = (o.paths as usize).min(800);
    println!(
        "{} trajectories of {} ({}): {recorded} values of `{}` recorded ({} to {} per trajectory), in [{lo:.6}, {hi:.6}]",
        o.paths,
        system.name,
        method.name(),
        system.state[component],
        o.counts.iter().min().unwrap_or(&0),
        o.counts.iter().max().unwrap_or(&0),
    );
    println!(
        "setup {:.3} s, solve {:.3} s on {}",
        o.timing.setup_s, o.timing.solve_s, o.adapter
    );
    if let Some(out) = out {
        if !lo.is_finite() || !hi.is_finite() {
            return Err(input(
                "--out",
                "no finite value was recorded: nothing to draw",
            ));
        }
        let hist = o.histogram(columns, args.bins, lo, hi);
        // The x axis: the one swept parameter, else the trajectory index.
        let x = match (req.sweep.as_slice(), req.grid.as_slice()) {
            ([s], []) => throng::plot::Axis {
                label: s.name.clone(),
                lo: s.value.lo,
                hi: s.value.hi,
            },
            _ => throng::plot::Axis {
                label: "trajectory".into(),
                lo: 0.0,
                hi: o.paths as f64,
            },
        };
        let y = throng::plot::Axis {
            label: system.state[component].clone(),
            lo,
            hi,
        };
        let title = format!("orbit diagram of {}", system.name);
        let draw = |path: &std::path::Path| {
            throng::plot::density(path, &hist, columns, args.bins, &x, &y, &title)
        };
        let counts: Vec<f64> = o.counts.iter().map(|&c| c as f64).collect();
        let hist_f: Vec<f64> = hist.iter().map(|&c| c as f64).collect();
        let summary = json!({
            "system": system.name,
            "method": method.name(),
            "paths": o.paths,
            "component": system.state[component],
            "recorded": recorded,
            "range": [lo, hi],
            "params": params,
            "adapter": o.adapter,
            "solve_s": o.timing.solve_s,
        });
        out.write_arrays(
            &[
                ("orbit", vec![o.paths, o.m as u64], &o.values),
                ("orbit_counts", vec![o.paths], &counts),
                (
                    "orbit_hist",
                    vec![args.bins as u64, columns as u64],
                    &hist_f,
                ),
            ],
            &[("orbit.png", &draw)],
            summary,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
