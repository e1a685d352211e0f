//! `throng sample`: samples a diffusion model (a built-in Gaussian mixture or a model spec
//! with a WGSL denoiser) with one of the samplers, on the device, and reports how far the
//! samples are from the exact target when it is known: mean, covariance, per-mode mass and
//! sliced Wasserstein-1, and for ODE samplers the pathwise error against a reference solve
//! of the probability-flow ODE from the same x_T. With `--out`: the kept samples as NPY, the
//! metrics in summary.json, and for 2-D data pictures of the samples and the target density.

use std::process::ExitCode;

use serde_json::json;
use throng::sample::{self, Model, Request};
use throng::sampler::{Sampler, SAMPLERS};
use throng::spec::form::parse;
use throng::{Context, Error, Precision};

use super::{input, AdapterArgs};

fn sampler_names() -> String {
    SAMPLERS
        .iter()
        .map(|s| format!("{} ({})", s.name, s.summary))
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(clap::Args)]
pub struct SampleArgs {
    /// A built-in model (ring8: 8 components on a circle; skew3: 3 unequal components) or a
    /// model spec (TOML: [mixture], or wgsl with `fn denoise(t: F, x: X, p: Params) -> X`)
    #[arg(long)]
    model: String,
    /// The sampler
    #[arg(long, long_help = sampler_names(), value_parser = |s: &str| Sampler::parse(s).map_err(|e| e.to_string()))]
    sampler: Sampler,
    /// Denoiser evaluations (a multiple of the sampler's calls a step)
    #[arg(long, value_parser = parse::<u64>)]
    nfe: u64,
    /// Samples
    #[arg(long, default_value = "100000", value_parser = parse::<u64>)]
    paths: u64,
    #[arg(long, default_value = "0", value_parser = parse::<u64>)]
    seed: u64,
    /// Step grid: lambda (uniform in half log-SNR), t, quadratic or karras
    #[arg(long, default_value = "lambda")]
    grid: String,
    /// Override the model's schedule: vp-linear, vp-cosine, ve or edm
    #[arg(long)]
    schedule: Option<String>,
    /// Start and end times (default: the schedule's range)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    t_start: Option<f64>,
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    t_end: Option<f64>,
    #[arg(long, value_parser = parse::<Precision>)]
    precision: Option<Precision>,
    /// Samples kept and written (the first ones)
    #[arg(long, default_value = "100000", value_parser = parse::<u64>)]
    keep: u64,
    /// ODE samplers: also the pathwise error of the kept samples (at most 4096) against a
    /// reference solve (DPM-Solver-3, 1500 calls, f64 where the device has it) from the same x_T
    #[arg(long)]
    reference: bool,
    #[arg(long, value_parser = parse::<u32>)]
    lanes: Option<u32>,
    /// Only the samples: no metric rows (faster; nothing is measured against the target)
    #[arg(long)]
    no_metrics: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    out: super::OutArgs,
    #[command(flatten)]
    adapter: AdapterArgs,
}

fn model(name: &str) -> Result<Model, Error> {
    if let Some(m) = Model::builtin(name) {
        return Ok(m);
    }
    let path = std::path::Path::new(name);
    if !path.exists() {
        return Err(input(
            "--model",
            format!("--model: `{name}` is neither a built-in model (ring8, skew3) nor a file"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: format!("--model {name}"),
        source,
    })?;
    Model::from_spec(
        &text,
        name,
        path.parent().unwrap_or(std::path::Path::new(".")),
    )
}

pub fn run(args: SampleArgs) -> Result<ExitCode, Error> {
    let mut m = model(&args.model)?;
    if let Some(s) = &args.schedule {
        m.schedule = sample::parse_schedule(s)?;
    }
    let mut req = Request::new(m, args.sampler, args.nfe as usize, args.paths);
    req.grid = sample::parse_grid(&args.grid)?;
    req.t_start = args.t_start;
    req.t_end = args.t_end;
    req.seed = args.seed;
    req.precision = args.precision.unwrap_or(Precision::F32);
    req.keep = args.keep;
    req.lanes = args.lanes;
    req.metrics = !args.no_metrics;
    // Checked before the device starts.
    sample::system(&req)?;
    let info = args.sampler.info();
    if args.reference && info.stochastic {
        return Err(input(
            "--reference",
            format!(
                "--reference: {} is an SDE sampler; the pathwise error is for ODE samplers",
                info.name
            ),
        ));
    }
    let out = args.out.open()?;
    let ctx = Context::new(&args.adapter.choice())?;
    let got = sample::sample(&ctx, &req)?;
    let pathwise = if args.reference {
        Some(reference_error(&ctx, &req, &got)?)
    } else {
        None
    };
    let sol = &got.solution;
    let rate = args.paths as f64 / sol.timing.solve_s.max(1e-12);
    let summary = json!({
        "model": req.model.name,
        "sampler": args.sampler.label(),
        "nfe": got.nfe,
        "steps": got.steps,
        "grid": args.grid,
        "paths": args.paths,
        "seed": args.seed,
        "precision": req.precision.name(),
        "metrics": got.metrics,
        "pathwise_error": pathwise,
        "nonfinite": sol.stats.nonfinite,
        "adapter": sol.adapter,
        "fused": sol.fused,
        "timing": sol.timing,
        "samples_per_s": rate,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{}: {} samples by {}, {} NFE ({} steps, grid {}), {} on {}",
            req.model.name,
            args.paths,
            args.sampler.label(),
            got.nfe,
            got.steps,
            args.grid,
            req.precision.name(),
            sol.adapter
        );
        if let Some(mt) = &got.metrics {
            let v = |x: &[f64]| {
                x.iter()
                    .map(|v| format!("{v:+.4}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "  mean error        [{}]  (in standard errors [{}])",
                v(&mt.mean_error),
                v(&mt.mean_z)
            );
            println!(
                "  covariance error  {:.4} (Frobenius); second moments within {:.1} standard errors",
                mt.cov_error, mt.moment_z_max
            );
            if !mt.mode_mass.is_empty() {
                let worst = mt
                    .mode_mass
                    .iter()
                    .map(|(s, e, se)| ((s - e) / se).abs())
                    .fold(0.0, f64::max);
                println!(
                    "  mode masses       {} (exact weights {}); within {worst:.1} standard errors",
                    mt.mode_mass
                        .iter()
                        .map(|m| format!("{:.4}", m.0))
                        .collect::<Vec<_>>()
                        .join(" "),
                    mt.mode_mass
                        .iter()
                        .map(|m| format!("{:.4}", m.1))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            println!(
                "  sliced W1         {:.5} over {} directions (exact samples: {:.5} at this size)",
                mt.sliced_w1,
                mt.w1.len(),
                mt.sliced_w1_floor
            );
        }
        if let Some(e) = pathwise {
            println!("  pathwise error    {e:.3e} (RMS against the probability-flow ODE's solve)");
        }
        if sol.stats.nonfinite > 0 {
            println!("  non-finite        {} samples", sol.stats.nonfinite);
        }
        println!(
            "  setup {:.3} s, solve {:.3} s: {:.3e} samples/s",
            sol.timing.setup_s, sol.timing.solve_s, rate
        );
    }
    if let Some(out) = out {
        let d = got.layout.dim;
        let n = (got.samples.len() / d) as u64;
        let draw_samples = |path: &std::path::Path| picture(path, &req, &got.samples, false);
        let draw_target = |path: &std::path::Path| picture(path, &req, &got.samples, true);
        let mut pictures: Vec<(&str, throng::output::Draw)> = Vec::new();
        if d == 2 && n > 0 {
            pictures.push(("samples.png", &draw_samples));
            if req.model.target.is_some() {
                pictures.push(("target.png", &draw_target));
            }
        }
        out.write_arrays(
            &[("samples", vec![n, d as u64], &got.samples)],
            &pictures,
            summary,
        )?;
    }
    Ok(if sol.stats.nonfinite > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// RMS distance of the kept samples from a reference solve of the probability-flow ODE
/// from the same x_T (same seed and trajectory indices, so the same draws).
fn reference_error(ctx: &Context, req: &Request, got: &sample::Sampled) -> Result<f64, Error> {
    let d = got.layout.dim;
    let n = (got.samples.len() / d).min(4096);
    if n == 0 {
        return Err(input(
            "--reference",
            "--reference needs kept samples (--keep)",
        ));
    }
    let mut r = req.clone();
    r.sampler = Sampler::DpmSolver3;
    r.nfe = 1500;
    r.paths = n as u64;
    r.keep = n as u64;
    r.precision = if ctx.has_f64() {
        Precision::F64
    } else {
        Precision::F32
    };
    let refd = sample::sample(ctx, &r)?;
    let sum: f64 = got.samples[..n * d]
        .iter()
        .zip(&refd.samples)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    Ok((sum / n as f64).sqrt())
}

/// A 2-D picture: the kept samples' counts on a grid, or the counts exact samples would
/// have on average (the target density times the cell's area and the sample count).
fn picture(
    path: &std::path::Path,
    req: &Request,
    samples: &[f64],
    target: bool,
) -> Result<(), Error> {
    let n = samples.len() / 2;
    let (nx, ny) = (200usize, 200usize);
    let range = |c: usize| -> (f64, f64) {
        let v = samples.iter().skip(c).step_by(2);
        let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
        let pad = 0.05 * (hi - lo).max(1e-9);
        (lo - pad, hi + pad)
    };
    let ((x0, x1), (y0, y1)) = (range(0), range(1));
    let mut counts = vec![0u64; nx * ny];
    if target {
        let m = req.model.target.as_ref().expect("checked");
        let (a, s) = req.end_noise()?;
        let (dx, dy) = ((x1 - x0) / nx as f64, (y1 - y0) / ny as f64);
        for j in 0..ny {
            for i in 0..nx {
                let p = [x0 + (i as f64 + 0.5) * dx, y0 + (j as f64 + 0.5) * dy];
                let dens = m.log_density(a, s, &p).exp();
                counts[j * nx + i] = (dens * dx * dy * n as f64).round() as u64;
            }
        }
    } else {
        for p in samples.chunks(2) {
            let i = ((p[0] - x0) / (x1 - x0) * nx as f64) as usize;
            let j = ((p[1] - y0) / (y1 - y0) * ny as f64) as usize;
            if i < nx && j < ny {
                counts[j * nx + i] += 1;
            }
        }
    }
    let axis = |label: &str, lo: f64, hi: f64| throng::plot::Axis {
        label: label.into(),
        lo,
        hi,
    };
    let title = if target {
        format!(
            "{}: exact density at t_end ({n} samples' worth)",
            req.model.name
        )
    } else {
        format!("{}: {n} samples by {}", req.model.name, req.sampler.label())
    };
    throng::plot::density(
        path,
        &counts,
        nx,
        ny,
        &axis("x0", x0, x1),
        &axis("x1", y0, y1),
        &title,
    )
}
