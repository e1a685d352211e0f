//! `throng run`: a request from the flags laid over the spec's `[run]`, checked into a job,
//! integrated on the device (or the CPU twin), and reported.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value as Json};
use throng::spec::RunRequest;
use throng::{cpu, Context, Ensemble, Error, Job, Method, Options, System, TimeGrid};

use super::request::RequestArgs;
use super::{input, AdapterArgs};
use throng::report::Report;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub which: super::SystemArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    out: super::OutArgs,
    /// Report progress on stderr as a line after every chunk (for logs; on a terminal a
    /// progress bar is shown without it)
    #[arg(long)]
    progress: bool,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
    /// With --out: draw the results as pictures beside them (as `throng plot DIR`)
    #[arg(long, requires = "out")]
    plot: bool,
    #[command(flatten)]
    plot_args: super::plot::PlotArgs,
    /// Run on the CPU twin instead of the device
    #[arg(long)]
    cpu: bool,
    /// Print one JSON object as the last line
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub scale: ScaleArgs,
    #[command(flatten)]
    adapter: AdapterArgs,
}

/// Shards and checkpoints.
#[derive(clap::Args, Clone, Default)]
pub struct ScaleArgs {
    /// Run shard I of N (0-based) and write its partials into --out, for `throng merge`.
    /// Without it, a batch system's array index is used (Slurm, Kubernetes with --shards,
    /// AWS Batch, Google Batch)
    #[arg(long, value_name = "I/N", value_parser = parse_shard, conflicts_with = "no_shard")]
    pub shard: Option<throng::Shard>,
    /// The number of shards, where the environment gives an index but no count (Kubernetes
    /// Indexed Jobs: the Job's completions)
    #[arg(long, value_name = "N")]
    pub shards: Option<u64>,
    /// Run the whole job even inside a batch array (do not read the array index)
    #[arg(long)]
    pub no_shard: bool,
    /// Keep the completed chunks' results in FILE while running (atomically replaced), so
    /// that a killed or failed run can be finished with --resume (default with --out:
    /// DIR/.throng-checkpoint)
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints (at chunk ends)
    #[arg(long, value_name = "S", default_value_t = 60.0)]
    pub checkpoint_every: f64,
    /// Continue from the checkpoint if it exists (else start from the beginning)
    #[arg(long)]
    pub resume: bool,
}

fn parse_shard(s: &str) -> Result<throng::Shard, String> {
    let bad = || format!("{s} is not I/N, shard I (0-based) of N");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let shard = throng::Shard {
        index: i.trim().parse().map_err(|_| bad())?,
        count: n.trim().parse().map_err(|_| bad())?,
    };
    shard.check().map_err(|e| e.to_string())?;
    Ok(shard)
}

impl ScaleArgs {
    /// The shard asked for: the flag's, else the environment's (said on stderr).
    pub fn shard(&self) -> Result<Option<throng::Shard>, Error> {
        if self.no_shard {
            return Ok(None);
        }
        if let Some(s) = self.shard {
            if self.shards.is_some_and(|n| n != s.count) {
                return Err(input("--shards", "--shards differs from --shard's count"));
            }
            return Ok(Some(s));
        }
        let found = throng::shard::from_env(self.shards, &|k| std::env::var(k).ok())?;
        match found {
            Some((s, from)) => {
                eprintln!("shard {}/{} (from {from})", s.index, s.count);
                Ok(Some(s))
            }
            None if self.shards.is_some() => Err(input(
                "--shards",
                "--shards N needs a shard index: --shard I/N, or a batch array's index variable",
            )),
            None => Ok(None),
        }
    }
}

/// The checkpoint a run with `--out DIR` keeps in DIR unless `--checkpoint` names another.
pub const CHECKPOINT: &str = ".throng-checkpoint";

/// The exit status of a run interrupted by Ctrl-C (128 + SIGINT, the shell's convention).
pub const INTERRUPTED: u8 = 130;

/// Runs the ensemble and reports it; the status is `INTERRUPTED` if Ctrl-C stopped the run
/// before its last chunk (what was finished is reported and written, marked partial).
pub fn run(args: RunArgs) -> Result<ExitCode, Error> {
    let (job, params, mut opts) = prepare(&args.which, args.request)?;
    let shown = super::progress::Shown::new(args.progress, args.quiet);
    opts.progress = shown.callback.clone();
    opts.shard = args.scale.shard()?;
    if opts.shard.is_some() && args.out.out.is_none() {
        return Err(input(
            "--out",
            "a shard writes its partials into a directory: give --out DIR",
        ));
    }
    opts.fault_at_chunk = std::env::var("THRONG_INJECT_FAULT")
        .ok()
        .and_then(|v| v.parse().ok());
    // Lock and check the output directory before spending time on the run.
    let out = args.out.open()?;
    opts.cancel = Some(interrupt());
    let device_start = Instant::now();
    let ctx = match args.cpu {
        true => None,
        false => Some(Context::new(&args.adapter.choice())?),
    };
    let device_s = device_start.elapsed().as_secs_f64();
    let adapter = ctx
        .as_ref()
        .map_or("cpu twin".to_string(), |c| c.adapter_label());
    let keep = Keep {
        stamp: throng::shard::Partials {
            version: env!("CARGO_PKG_VERSION").into(),
            fingerprint: throng::shard::fingerprint(&job, &opts, &adapter),
            adapter,
            shard: opts.shard,
            paths: job.paths,
            checkpoint: true,
            command: std::env::args().skip(1).collect(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            outcome: Default::default(),
        },
        path: args.scale.checkpoint.clone().or_else(|| {
            // Every run that writes results keeps a checkpoint beside them.
            args.out.out.as_ref().map(|d| d.join(CHECKPOINT))
        }),
    };
    if args.scale.resume && keep.path.is_none() {
        return Err(input(
            "--resume",
            "--resume continues from a checkpoint: give --checkpoint FILE or the run's --out DIR",
        ));
    }
    keep.check_writable()?;
    let prior = match args.scale.resume {
        true => keep.prior()?,
        false => None,
    };
    opts.start = prior.as_ref().map(|p| p.range.1);
    let written = std::cell::Cell::new(0u64);
    let resume = throng::exec::Resume {
        prior,
        checkpoint: keep.path.as_ref().map(|_| {
            let sink: throng::exec::CheckpointSink = Box::new(|o| {
                keep.save(o)?;
                written.set(o.completed);
                Ok(())
            });
            (args.scale.checkpoint_every, sink)
        }),
    };
    let run = match &ctx {
        None => cpu::run(&job, &opts, resume),
        Some(ctx) => throng::solve::run(ctx, &job, &opts, resume),
    }
    .map_err(|e| {
        shown.done();
        keep.failed(e, written.get())
    })?;
    shown.done();
    if run.outcome.partial && !run.outcome.torn {
        // Interrupted between chunks: the completed chunks are a checkpoint to resume from
        // (inside a chunk, the observers may have counted part of it: the last periodic
        // checkpoint stands).
        keep.save(&run.outcome)?;
    }
    if opts.shard.is_some() && !run.outcome.partial {
        let out = out.expect("a shard has --out");
        let partials = keep.finished(run.outcome);
        out.write_shard(&partials.encode(), &throng::shard::manifest(&partials))?;
        eprintln!(
            "{}: {} in {:.2} s, partials in {}",
            partials.describe(),
            partials.adapter,
            run.timing.solve_s,
            args.out.out.as_ref().expect("--out").display()
        );
        keep.remove();
        return Ok(ExitCode::SUCCESS);
    }
    let out = out.filter(|_| opts.shard.is_none());
    // Kept only where results are written: a failed write keeps them in the checkpoint.
    let outcome = out.as_ref().map(|_| run.outcome.clone());
    let sol = run.solution(&job, &opts.save_at);
    report(&job, params, &opts, &sol, device_s, out, args.json).map_err(|e| match &outcome {
        Some(o) => keep.unwritten(e, o),
        None => e,
    })?;
    if args.plot && opts.shard.is_none() {
        if let Some(dir) = &args.out.out {
            super::plot::draw(dir, &args.plot_args)?;
        }
    }
    if !sol.partial {
        keep.remove();
    }
    Ok(if sol.partial {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The job, its parameters as the JSON reports them, and the options that a run's flags
/// ask for (without shards or checkpoints).
pub(crate) fn prepare(
    which: &super::SystemArgs,
    request: RequestArgs,
) -> Result<(Job, Map<String, Json>, Options), Error> {
    throng::request::prepare(&which.system, &which.spec, request.into_request())
}

/// Reports a solution: its files into `out` (the only failure), then the table or the JSON
/// line on stdout, and warnings on stderr.
pub(crate) fn report(
    job: &Job,
    params: Map<String, Json>,
    opts: &Options,
    sol: &throng::Solution,
    device_s: f64,
    out: Option<throng::output::OutDir>,
    json: bool,
) -> Result<(), Error> {
    let report = Report {
        job,
        sol,
        params,
        quantile_levels: &opts.save_at.quantiles,
        device_s,
    };
    let summary = report.json();
    if let Some(out) = out {
        report.write_out(out, &summary)?;
    }
    if json {
        println!("{summary}");
    } else {
        report.print_table();
    }
    // Warnings go to stderr in both output modes.
    report.warn();
    Ok(())
}

/// Ctrl-C: the first sets the flag the run checks between dispatches (the run then stops
/// and reports what it finished); a second ends the process at once, status 130.
fn interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            exit_now();
        }
        eprintln!(
            "interrupted: stopping after the current dispatch to report the finished chunks (Ctrl-C again to exit now)"
        );
    });
    if let Err(e) = installed {
        log::warn!("Ctrl-C will end the run at once: {e}");
    }
    flag
}

/// Ends the process without running exit handlers (a driver's may wait for the device).
fn exit_now() -> ! {
    #[cfg(unix)]
    // SAFETY: _exit ends the process; nothing runs after it.
    unsafe {
        libc::_exit(INTERRUPTED as i32)
    }
    #[cfg(not(unix))]
    std::process::exit(INTERRUPTED as i32)
}

/// What the chaos subcommands need of a request: the system, the request, and the ensemble,
/// method, grid and parameters it asks for.
pub(crate) type Asked = (
    System,
    RunRequest,
    Ensemble,
    Method,
    TimeGrid,
    Map<String, Json>,
);

/// The system named by `which` and the ensemble the flags (over the spec's `[run]`) ask for.
pub(crate) fn asked(which: &super::SystemArgs, flags: RunRequest) -> Result<Asked, Error> {
    let (system, req) = throng::request::load(&which.system, &which.spec, flags)?;
    if req.replicas.is_some() {
        // The chaos tools report each trajectory, with no per-point reduction.
        return Err(input(
            "--replicas",
            "--replicas (statistics per point) applies to `throng run`; the chaos tools give one result per trajectory",
        ));
    }
    let (ens, method, grid, params) = throng::request::ensemble(&system, &req)?;
    Ok((system, req, ens, method, grid, params))
}

/// Where a run keeps its outcome: the checkpoint file (if asked for), stamped with the job.
struct Keep {
    stamp: throng::shard::Partials,
    path: Option<PathBuf>,
}

impl Keep {
    fn with(&self, outcome: &throng::exec::Outcome) -> throng::shard::Partials {
        throng::shard::Partials {
            outcome: outcome.clone(),
            ..self.stamp.clone()
        }
    }

    /// Writes the checkpoint (where one was asked for).
    fn save(&self, outcome: &throng::exec::Outcome) -> Result<(), Error> {
        match &self.path {
            Some(p) => self.with(outcome).write(p),
            None => Ok(()),
        }
    }

    /// Fails now, naming the path, if the checkpoint's directory cannot take it.
    fn check_writable(&self) -> Result<(), Error> {
        match &self.path {
            Some(path) => throng::output::check_writable(path),
            None => Ok(()),
        }
    }

    /// The finished run's partials (a shard's).
    fn finished(&self, outcome: throng::exec::Outcome) -> throng::shard::Partials {
        throng::shard::Partials {
            checkpoint: false,
            outcome,
            ..self.stamp.clone()
        }
    }

    /// The checkpoint to resume from, if its file exists: of this job and shard, or refused.
    fn prior(&self) -> Result<Option<throng::exec::Outcome>, Error> {
        let path = self.path.as_ref().expect("--resume requires --checkpoint");
        if !path.exists() {
            eprintln!(
                "resume: no checkpoint at {} yet; starting from the beginning",
                path.display()
            );
            return Ok(None);
        }
        let p = throng::shard::Partials::read(path)?;
        let refuse = |why: String| {
            Err(input(
                "--resume",
                format!("{} is not this run's checkpoint: {why}", path.display()),
            ))
        };
        if p.fingerprint != self.stamp.fingerprint {
            return refuse(format!(
                "it is of another job or adapter (fingerprint {}…, this run's {}…)",
                &p.fingerprint[..12],
                &self.stamp.fingerprint[..12]
            ));
        }
        if p.shard != self.stamp.shard {
            return refuse(format!("it is of {}", p.describe()));
        }
        eprintln!(
            "resume: {} holds {} trajectories ({}); continuing",
            path.display(),
            p.outcome.completed,
            p.describe()
        );
        Ok(Some(p.outcome))
    }

    /// A failed run's error, saying what was kept.
    fn failed(&self, e: Error, kept: u64) -> Error {
        if !matches!(e, Error::ChunkFailed { .. }) {
            return e;
        }
        let what = match (&self.path, kept) {
            (Some(p), n) if n > 0 => format!(
                "the checkpoint {} keeps {n} trajectories: run again with --resume",
                p.display()
            ),
            (Some(p), _) => format!(
                "no checkpoint was due yet ({} is unchanged); lower --checkpoint-every",
                p.display()
            ),
            (None, _) => {
                "no results kept (--out DIR or --checkpoint FILE keeps the completed chunks)"
                    .to_string()
            }
        };
        input("run", format!("{e}; {what}"))
    }

    /// Writing the results failed: keep them in the checkpoint, if there is one.
    fn unwritten(&self, e: Error, outcome: &throng::exec::Outcome) -> Error {
        let what = match &self.path {
            Some(p) => match self.with(outcome).write(p) {
                Ok(()) => format!(
                    "the results are kept in the checkpoint {}: --resume writes them without recomputing",
                    p.display()
                ),
                Err(e2) => format!("the results could not be kept in the checkpoint either ({e2})"),
            },
            None => "the results are lost (--checkpoint FILE keeps them through such failures)"
                .to_string(),
        };
        input("--out", format!("{e}; {what}"))
    }

    /// The run is complete and written: the checkpoint has served.
    fn remove(&self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}
