//! `throng merge DIR...`: shards' partials joined in shard order into the `--out` layout an
//! unsharded run writes, bit for bit (on the adapter class the shards ran on).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use throng::shard::{Partials, PARTIALS};
use throng::{Error, Timing};

use super::input;
use super::run::RunArgs;

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shards' --out directories (any order)
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    out: super::OutArgs,
    /// Merge the shards present, saying which are missing (the results cover theirs only)
    #[arg(long)]
    partial: bool,
    /// Print one JSON object as the last line
    #[arg(long)]
    json: bool,
    /// With --out: draw the merged results as pictures (as `throng plot DIR`)
    #[arg(long, requires = "out")]
    plot: bool,
    #[command(flatten)]
    plot_args: super::plot::PlotArgs,
}

/// A shard's command line parsed again, to rebuild its job.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct Again {
    #[command(flatten)]
    run: Box<RunArgs>,
}

pub fn merge(args: MergeArgs) -> Result<ExitCode, Error> {
    let mut shards = Vec::new();
    for dir in &args.dirs {
        let file = if dir.is_dir() {
            dir.join(PARTIALS)
        } else {
            dir.clone()
        };
        if !file.exists() {
            return Err(input(
                "merge",
                format!(
                    "{} holds no shard ({PARTIALS} is missing: did the shard finish?)",
                    dir.display()
                ),
            ));
        }
        shards.push((dir.clone(), Partials::read(&file)?));
    }
    let first = shards[0].1.clone();
    let out = args.out.open()?;
    let (job, params, opts) = rebuild(&first)?;
    let fp = throng::shard::fingerprint(&job, &opts, &first.adapter);
    if fp != first.fingerprint {
        return Err(input(
            "merge",
            format!(
                "{} ran a job that differs from what its command line gives here (its spec, \
                 input files or throng's version changed): fingerprint {}…, here {}…",
                shards[0].0.display(),
                &first.fingerprint[..12],
                &fp[..12]
            ),
        ));
    }
    let plan = throng::plan::Plan::new(&job, &opts, &throng::plan::DeviceInfo::cpu())?;
    let merged = throng::shard::merge(shards, &plan, args.partial)?;
    if !merged.missing.is_empty() {
        let list: Vec<String> = merged.missing.iter().map(|i| i.to_string()).collect();
        eprintln!(
            "merge: missing shards {}; the results cover {} of {} trajectories",
            list.join(", "),
            merged.outcome.completed,
            job.paths
        );
    }
    let run = throng::solve::Run {
        plan,
        outcome: merged.outcome,
        timing: Timing::default(),
        adapter: first.adapter,
    };
    let sol = run.solution(&job, &opts.save_at);
    super::run::report(&job, params, &opts, &sol, 0.0, out, args.json)?;
    if let (true, Some(dir)) = (args.plot, &args.out.out) {
        super::plot::draw(dir, &args.plot_args)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The job a shard ran, from its command line, read where it ran (its relative paths are
/// relative to that directory) if that directory is here.
fn rebuild(
    p: &Partials,
) -> Result<
    (
        throng::Job,
        serde_json::Map<String, serde_json::Value>,
        throng::Options,
    ),
    Error,
> {
    let args = match p.command.split_first() {
        Some((run, rest)) if run == "run" => rest,
        _ => {
            return Err(input(
                "merge",
                format!(
                    "the shard's command `{}` is not a throng run",
                    p.command.join(" ")
                ),
            ))
        }
    };
    let again = Again::try_parse_from(args).map_err(|e| {
        input(
            "merge",
            format!("the shard's command line does not parse here: {}", e.kind()),
        )
    })?;
    let here = std::env::current_dir().ok();
    let there = Path::new(&p.cwd);
    if there.is_dir() {
        let _ = std::env::set_current_dir(there);
    }
    let run = *again.run;
    let built = super::run::prepare(&run.which, run.request);
    if let Some(h) = here {
        let _ = std::env::set_current_dir(h);
    }
    built
}
