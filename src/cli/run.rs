//! `throng run`: a request from the flags laid over the spec's `[run]`, checked into a job,
//! integrated on the device (or the CPU twin), and reported.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value as Json};
use throng::spec::RunRequest;
use throng::{
    cpu, Context, Ensemble, Error, Job, Method, Noise, Options, SaveAt, System, TimeGrid, Value,
};

use super::report::Report;
use super::request::RequestArgs;
use super::{input, AdapterArgs};

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
    let outcome = run.outcome.clone();
    let sol = run.solution(&job, &opts.save_at);
    let out = out.filter(|_| opts.shard.is_none());
    report(&job, params, &opts, &sol, device_s, out, args.json)
        .map_err(|e| keep.unwritten(e, &outcome))?;
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
    let (system, req) = load(&which.system, &which.spec, request.into_request())?;
    let (job, params) = job(&system, &req)?;
    let opts = options(&req, &job)?;
    Ok((job, params, opts))
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

/// The system, and the request: the spec's `[run]` with the flags' laid over it.
pub(crate) fn load(
    name: &Option<String>,
    spec: &Option<PathBuf>,
    flags: RunRequest,
) -> Result<(System, RunRequest), Error> {
    let (system, spec_run) = match (name, spec) {
        (Some(name), None) => (System::builtin(name)?, None),
        (None, Some(path)) => throng::spec::load(path)?,
        (Some(_), Some(_)) => {
            return Err(input(
                "--system, --spec",
                "give --system or --spec, not both",
            ))
        }
        (None, None) => {
            return Err(input(
                "--system, --spec",
                "give a system with --system NAME (see `throng systems`) or --spec FILE",
            ))
        }
    };
    Ok((system, spec_run.unwrap_or_default().merge(flags)))
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
    let (system, req) = load(&which.system, &which.spec, flags)?;
    if req.replicas.is_some() {
        // The chaos tools report each trajectory, with no per-point reduction.
        return Err(input(
            "--replicas",
            "--replicas (statistics per point) applies to `throng run`; the chaos tools give one result per trajectory",
        ));
    }
    let (ens, method, grid, params) = ensemble(&system, &req)?;
    Ok((system, req, ens, method, grid, params))
}

/// The checked job, and its parameters as the JSON reports them.
fn job(system: &System, req: &RunRequest) -> Result<(Job, Map<String, Json>), Error> {
    let (ens, method, grid, params) = ensemble(system, req)?;
    Ok((ens.job(method, grid)?, params))
}

/// The ensemble, method and grid a request asks for, and its parameters as the JSON reports
/// them.
pub(crate) fn ensemble(
    system: &System,
    req: &RunRequest,
) -> Result<(Ensemble, Method, TimeGrid, Map<String, Json>), Error> {
    let method = method(system, req)?;
    let grid = time_grid(system, req, &method)?;
    let settings = settings(req)?;
    let paths = paths(req, &settings)?;
    let mut params = Map::new();
    for (n, v) in &system.params {
        params.insert(n.clone(), json!(v));
    }
    let mut ens = Ensemble::new(system.clone(), paths)
        .seed(req.seed.unwrap_or(0))
        .precision(req.precision.unwrap_or_default())
        .brownian(req.brownian.unwrap_or_default());
    if let Some(x0) = &req.x0 {
        ens = ens.x0(x0);
    }
    for (k, v) in settings {
        params.insert(k.clone(), setting_json(&v));
        ens = ens.with(&k, v);
    }
    if let Some(init) = &req.init {
        ens = ens.init(init.clone());
    }
    if let Some(r) = req.replicas {
        ens = ens.replicas(r);
    }
    Ok((ens, method, grid, params))
}

/// The method asked for (or the system's), with dopri5's controller options applied.
fn method(system: &System, req: &RunRequest) -> Result<Method, Error> {
    let mut method = req.method.unwrap_or_else(|| {
        system
            .defaults
            .method
            .unwrap_or(if system.noise == Noise::None {
                Method::Rk4
            } else {
                Method::EulerMaruyama
            })
    });
    if let Some(ctl) = method.controller_mut() {
        ctl.rtol = req.rtol.unwrap_or(ctl.rtol);
        ctl.atol = req.atol.unwrap_or(ctl.atol);
        ctl.dt_min = req.dt_min.unwrap_or(ctl.dt_min);
        ctl.dt_max = req.dt_max.unwrap_or(ctl.dt_max);
        ctl.max_steps = req.max_steps.unwrap_or(ctl.max_steps);
        return Ok(method);
    }
    let given = [
        ("--rtol", req.rtol.is_some()),
        ("--atol", req.atol.is_some()),
        ("--dt-min", req.dt_min.is_some()),
        ("--dt-max", req.dt_max.is_some()),
        ("--max-steps", req.max_steps.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        return Err(Error::MethodDoesNotFit {
            method: method.name(),
            system: system.name.clone(),
            message: format!(
                "{flag} applies to the adaptive method dopri5, not {}",
                method.name()
            ),
        });
    }
    Ok(method)
}

/// Steps from t0, of the step asked for, or up to the end time asked for, or of the
/// system's step.
fn time_grid(system: &System, req: &RunRequest, method: &Method) -> Result<TimeGrid, Error> {
    let steps = match req.steps {
        Some(s) => s,
        None if method.is_adaptive() => 100,
        None => return Err(input("--steps", "give the number of steps with --steps")),
    };
    let t0 = req.t0.unwrap_or(0.0);
    match (req.dt, req.t1, system.defaults.dt) {
        (Some(_), Some(_), _) => Err(input("--dt, --t1", "give either --dt or --t1, not both")),
        (Some(dt), None, _) => Ok(TimeGrid::new(t0, dt, steps)),
        (None, Some(t1), _) if t1 <= t0 => {
            Err(input("--t1", format!("--t1 {t1} must be after --t0 {t0}")))
        }
        (None, Some(t1), _) => Ok(TimeGrid::until(t0, t1, steps)),
        (None, None, Some(dt)) => Ok(TimeGrid::new(t0, dt, steps)),
        (None, None, None) => Err(input(
            "--dt, --t1",
            "give the step with --dt or the end time with --t1",
        )),
    }
}

/// Parameter (and `x0.NAME`) settings in the order they apply: values, sweeps, log sweeps,
/// grid axes (the first varying fastest), files.
fn settings(req: &RunRequest) -> Result<Vec<(String, Value)>, Error> {
    let mut out: Vec<(String, Value)> = vec![];
    for s in &req.params {
        out.push((s.name.clone(), Value::Const(s.value)));
    }
    for s in &req.sweep {
        let r = s.value;
        out.push((s.name.clone(), Value::Linspace { lo: r.lo, hi: r.hi }));
    }
    for s in &req.logsweep {
        let r = s.value;
        out.push((s.name.clone(), Value::Logspace { lo: r.lo, hi: r.hi }));
    }
    for s in &req.grid {
        let a = s.value;
        out.push((
            s.name.clone(),
            Value::Grid {
                lo: a.lo,
                hi: a.hi,
                n: a.n,
            },
        ));
    }
    for s in &req.values {
        let f = &s.value;
        let v = throng::values::read(&f.file, f.column.as_deref())?;
        out.push((s.name.clone(), Value::Table(Arc::new(v))));
    }
    Ok(out)
}

/// The trajectories asked for, or else the grid's cells.
fn paths(req: &RunRequest, settings: &[(String, Value)]) -> Result<u64, Error> {
    let grid_cells = settings
        .iter()
        .filter_map(|(_, v)| match v {
            Value::Grid { n, .. } => Some(*n),
            _ => None,
        })
        .reduce(|a, b| a.saturating_mul(b));
    req.paths
        .or(grid_cells)
        .ok_or_else(|| input("--paths", "give the number of trajectories with --paths"))
}

fn setting_json(v: &Value) -> Json {
    match v {
        Value::Const(c) => json!(c),
        Value::Linspace { lo, hi } => json!({"sweep": [lo, hi]}),
        Value::Logspace { lo, hi } => json!({"logsweep": [lo, hi]}),
        Value::Grid { lo, hi, n } => json!({"grid": [lo, hi, n]}),
        Value::Table(t) => json!({"values": t.len()}),
    }
}

/// What to observe at which times, and how to chunk and dispatch.
fn options(req: &RunRequest, job: &Job) -> Result<Options, Error> {
    let rows = job.row_names();
    let mut save_at = SaveAt {
        every: req.save_every,
        ..Default::default()
    };
    for h in &req.hist {
        let name = &h.name;
        let component = rows
            .iter()
            .position(|s| s == name)
            .or_else(|| name.parse::<usize>().ok())
            .ok_or_else(|| {
                input(
                    "--hist",
                    format!(
                        "--hist {name}: not a state component or functional ({})",
                        rows.join(", ")
                    ),
                )
            })?;
        let bins = u32::try_from(h.value.n).map_err(|_| Error::Limit {
            what: "histogram bins".into(),
            got: h.value.n,
            max: u32::MAX as u64,
            message: format!("--hist {name}: too many bins"),
        })?;
        save_at.hist.push(throng::observe::Histogram {
            component,
            lo: h.value.lo,
            hi: h.value.hi,
            bins,
        });
    }
    if let Some(q) = &req.quantiles {
        save_at.quantiles = q.clone();
    }
    if let Some(k) = req.keep_paths {
        save_at.keep_paths = k;
    }
    if let Some(j) = req.keep_every {
        save_at.keep_every = j;
    }
    if let Some(t) = &req.save_at {
        save_at.times = t.clone();
    }
    Ok(Options {
        chunk: req.chunk,
        keep_states: false,
        lanes: req.lanes,
        save_at,
        dispatch_steps: req.dispatch_steps,
        fuse: req.fuse,
        ..Default::default()
    })
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
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let probe = dir
            .unwrap_or(std::path::Path::new("."))
            .join(format!(".throng-tmp.{}", name.unwrap_or_default()));
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|source| Error::Io {
                what: format!("--checkpoint {}", path.display()),
                source,
            })
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
