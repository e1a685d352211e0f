//! `throng orbit`: orbit (bifurcation) diagrams over a sweep: per trajectory, after a
//! transient, every iterate, the local maxima of a component, or its value where another
//! crosses a section upward; with `--out`, the values and a (value × parameter) histogram as
//! NPY and a log-scaled density PNG.

use std::process::ExitCode;

use serde_json::json;
use throng::chaos::{self, OrbitBins, OrbitMode, OrbitOptions};
use throng::{Context, Error};

use super::request::RequestArgs;
use super::{input, AdapterArgs};

/// At most this many columns of trajectories in the diagram.
const COLUMNS: u64 = 800;

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
    /// Values kept per trajectory (with --range, every value is counted into the histogram
    /// on the device whatever this is, and it may be 0)
    #[arg(long, default_value_t = 32)]
    points: usize,
    /// Steps before recording starts
    #[arg(long, default_value_t = 1000)]
    transient: u64,
    /// Value bins of the diagram
    #[arg(long, default_value_t = 400)]
    bins: usize,
    /// Range of the value axis, LO:HI: every value recorded is counted on the device
    /// (default: the range of the kept values, and the histogram of those alone)
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
    let range = match &args.range {
        Some(r) => Some(
            r.split_once(':')
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
                })
                .filter(|(a, b)| a < b && a.is_finite() && b.is_finite())
                .ok_or_else(|| {
                    input(
                        "--range",
                        format!("--range takes LO:HI with finite LO < HI, got `{r}`"),
                    )
                })?,
        ),
        None => None,
    };
    let bins_over = |(lo, hi): (f64, f64)| OrbitBins {
        columns: COLUMNS,
        bins: args.bins,
        lo,
        hi,
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
            histogram: range.map(bins_over),
        },
    )?;
    let finite: Vec<f64> = o.values.iter().cloned().filter(|v| v.is_finite()).collect();
    let recorded: u64 = o.counts.iter().sum();
    let (lo, hi) = match range {
        Some(r) => r,
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
    println!(
        "{} trajectories of {} ({}): {recorded} values of `{}` recorded ({} to {} per trajectory, the first {} kept)",
        o.paths,
        system.name,
        method.name(),
        system.state[component],
        o.counts.iter().min().unwrap_or(&0),
        o.counts.iter().max().unwrap_or(&0),
        o.m,
    );
    // The device's histogram of every value, or the host's of the kept ones.
    let hist = match &o.histogram {
        Some(h) => Some(h.clone()),
        None if lo.is_finite() && hi.is_finite() => {
            Some(o.histogram_of_kept(&bins_over((lo, hi)))?)
        }
        None => None,
    };
    if let Some(h) = &hist {
        println!(
            "histogram of {} values ({}): {} in [{lo:.6}, {hi:.6}), {} below, {} above; {} columns of {} trajectories",
            if o.histogram.is_some() { "all" } else { "the kept" },
            if o.histogram.is_some() { "on the device" } else { "on the host" },
            h.counts.iter().sum::<u64>(),
            h.below,
            h.above,
            h.columns,
            h.per
        );
    }
    println!(
        "setup {:.3} s, solve {:.3} s on {}",
        o.timing.setup_s, o.timing.solve_s, o.adapter
    );
    if let Some(out) = out {
        let Some(hist) = hist else {
            return Err(input(
                "--out",
                "no finite value was recorded: nothing to draw",
            ));
        };
        let columns = hist.columns;
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
            throng::plot::density(path, &hist.counts, columns, args.bins, &x, &y, &title)
        };
        let counts: Vec<f64> = o.counts.iter().map(|&c| c as f64).collect();
        let hist_f: Vec<f64> = hist.counts.iter().map(|&c| c as f64).collect();
        let summary = json!({
            "system": system.name,
            "method": method.name(),
            "paths": o.paths,
            "component": system.state[component],
            "recorded": recorded,
            "kept_per_trajectory": o.m,
            "range": [lo, hi],
            "histogram": {
                "of": if o.histogram.is_some() { "every value, on the device" } else { "the kept values" },
                "counted": hist.counts.iter().sum::<u64>(),
                "below": hist.below,
                "above": hist.above,
                "trajectories_per_column": hist.per,
            },
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
