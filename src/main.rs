//! The `throng` command line: run ensembles, audit the RNG, describe the adapter, benchmark.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde_json::{json, Value as Json};
use throng::{
    cpu, rng, AdapterChoice, Context, Ensemble, Error, Method, Options, System, TimeGrid, Value,
};

#[derive(Parser)]
#[command(
    name = "throng",
    version,
    about = "Ensembles of ODE/SDE trajectories on any GPU, or on CPUs through lavapipe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Default)]
struct AdapterArgs {
    /// Use the first adapter whose name contains this text (see `throng info --all`)
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Restrict adapters to one backend: vulkan, metal or dx12
    #[arg(long, global = true)]
    backend: Option<String>,
}

impl AdapterArgs {
    fn choice(&self) -> AdapterChoice {
        AdapterChoice {
            name: self.adapter.clone(),
            backend: self.backend.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Integrate an ensemble and print terminal statistics
    Run(Box<RunArgs>),
    /// Print consecutive Philox4x32-10 blocks (four 8-digit hex words per line)
    Rng(RngArgs),
    /// Describe the adapter: name, backend, type, limits, f64
    Info {
        /// List every adapter instead of the chosen one
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        adapter: AdapterArgs,
    },
    /// List the catalog of systems, or show one (its spec and WGSL)
    Systems {
        /// A system to show
        name: Option<String>,
    },
    /// Measure trajectory-steps/s for the benchmark workloads on the device and the CPU twins
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// A catalog system (`throng systems`), NAME:N for resizable ones
    #[arg(long)]
    system: Option<String>,
    /// A spec file (TOML) with your own system, and optionally a [run] table
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Method: em (Euler–Maruyama, Itô), milstein (Itô), heun (Stratonovich), setd1, etdrk2, etdrk4, rk4 or dopri5 (adaptive, ODEs); default: the system's
    #[arg(long)]
    method: Option<String>,
    /// Precision of states, parameters and arithmetic: f32 (default) or f64 (needs SHADER_F64)
    #[arg(long)]
    precision: Option<String>,
    /// dopri5: relative tolerance (default 1e-6)
    #[arg(long, allow_hyphen_values = true)]
    rtol: Option<String>,
    /// dopri5: absolute tolerance (default 1e-6)
    #[arg(long, allow_hyphen_values = true)]
    atol: Option<String>,
    /// dopri5: smallest step; a step this short is accepted whatever its error (default 0)
    #[arg(long, allow_hyphen_values = true)]
    dt_min: Option<String>,
    /// dopri5: largest step (default: no limit but the interval)
    #[arg(long, allow_hyphen_values = true)]
    dt_max: Option<String>,
    /// dopri5: steps (accepted + rejected) per trajectory before it is reported unfinished (default 100000)
    #[arg(long, allow_hyphen_values = true)]
    max_steps: Option<String>,
    /// Number of trajectories (default: the spec's, or the grid's size)
    #[arg(long, allow_hyphen_values = true)]
    paths: Option<String>,
    /// Number of steps (dopri5: the first step is (t1 - t0) / steps; default 100)
    #[arg(long, allow_hyphen_values = true)]
    steps: Option<String>,
    /// Step size (default: --t1, the spec's, or the system's)
    #[arg(long, allow_hyphen_values = true)]
    dt: Option<String>,
    /// End time; dt = (t1 - t0) / steps
    #[arg(long, allow_hyphen_values = true)]
    t1: Option<String>,
    /// Start time
    #[arg(long, allow_hyphen_values = true)]
    t0: Option<String>,
    /// Initial state, comma-separated (default: the system's)
    #[arg(long, allow_hyphen_values = true)]
    x0: Option<String>,
    /// Parameter value NAME=VALUE (repeatable); x0.NAME sets one initial component
    #[arg(long = "param", allow_hyphen_values = true)]
    params: Vec<String>,
    /// Linear sweep NAME=LO:HI across the ensemble (repeatable)
    #[arg(long = "sweep", allow_hyphen_values = true)]
    sweeps: Vec<String>,
    /// Geometric sweep NAME=LO:HI (LO, HI > 0)
    #[arg(long = "logsweep", allow_hyphen_values = true)]
    logsweeps: Vec<String>,
    /// Grid axis NAME=LO:HI:N (repeatable; the first axis varies fastest; paths = product of N)
    #[arg(long = "grid", allow_hyphen_values = true)]
    grids: Vec<String>,
    /// Per-trajectory values NAME=FILE.npy or NAME=FILE.csv[:COLUMN]
    #[arg(long = "values")]
    values: Vec<String>,
    /// Random initial states around x0: normal:S1,S2,.. or uniform:W1,W2,.. (one per component)
    #[arg(long)]
    init: Option<String>,
    /// Seed of the noise (u64)
    #[arg(long, allow_hyphen_values = true)]
    seed: Option<String>,
    /// At most this many trajectories per chunk (rounded down to a multiple of 256)
    #[arg(long, allow_hyphen_values = true)]
    chunk: Option<String>,
    /// Trajectories per invocation: 1, 2 or 4 (default 4)
    #[arg(long)]
    lanes: Option<u32>,
    /// Statistics every K steps (and at the end), computed on the device
    #[arg(long, allow_hyphen_values = true)]
    save_every: Option<String>,
    /// Also save at these times (comma-separated; each on the step grid)
    #[arg(long, allow_hyphen_values = true)]
    save_at: Option<String>,
    /// Kept paths are trajectories 0, J, 2J, … (default 1)
    #[arg(long, allow_hyphen_values = true)]
    keep_every: Option<String>,
    /// Histogram NAME=LO:HI:BINS of a state component at every save time (repeatable)
    #[arg(long = "hist", allow_hyphen_values = true)]
    hists: Vec<String>,
    /// Quantile levels, comma-separated (e.g. 0.01,0.5,0.99), of every component at every save time
    #[arg(long, allow_hyphen_values = true)]
    quantiles: Option<String>,
    /// Keep the states of the first K trajectories at every save time (for plotting)
    #[arg(long, allow_hyphen_values = true)]
    keep_paths: Option<String>,
    /// At most N steps per dispatch (keeps each dispatch short on a display GPU)
    #[arg(long, allow_hyphen_values = true)]
    dispatch_steps: Option<String>,
    /// Write NPY arrays and summary.json into DIR
    #[arg(long)]
    out: Option<PathBuf>,
    /// Report progress on stderr after every chunk
    #[arg(long)]
    progress: bool,
    /// Run on the CPU twin instead of the device
    #[arg(long)]
    cpu: bool,
    /// Print one JSON object as the last line
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    adapter: AdapterArgs,
}

#[derive(clap::Args)]
struct RngArgs {
    /// Key words K0,K1 (decimal, or hexadecimal with 0x)
    #[arg(long)]
    key: String,
    /// Counter words C0,C1,C2,C3, word 0 least significant (decimal, or hex with 0x)
    #[arg(long)]
    counter: String,
    /// Number of consecutive blocks
    #[arg(long, default_value = "1")]
    blocks: String,
    /// Compute the blocks with the device's kernel instead of the CPU twin
    #[arg(long)]
    gpu: bool,
    #[command(flatten)]
    adapter: AdapterArgs,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Workload: w1 (GBM Euler–Maruyama), w2 (Lorenz RK4) or all
    #[arg(long, default_value = "all")]
    workload: String,
    /// Timed repetitions per measurement (the median is reported)
    #[arg(long, default_value = "5")]
    repeat: usize,
    /// Divide the workload's trajectory count by this (for quick runs)
    #[arg(long, default_value = "1")]
    shrink: u64,
    /// Skip the CPU twins
    #[arg(long)]
    no_cpu: bool,
    /// Trajectories per invocation: 1, 2 or 4 (default: by device type)
    #[arg(long)]
    lanes: Option<u32>,
    #[command(flatten)]
    adapter: AdapterArgs,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

fn parse_f64(what: &str, s: &str) -> Result<f64, Error> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{what}: `{s}` is not a number")))?;
    if !v.is_finite() {
        return Err(invalid(format!("{what}: `{s}` is not finite")));
    }
    Ok(v)
}

/// A count: an integer, or a float with an integral value such as 1e6.
fn parse_count(what: &str, s: &str) -> Result<u64, Error> {
    if let Ok(v) = s.trim().parse::<u64>() {
        return Ok(v);
    }
    let v = parse_f64(what, s)?;
    if v < 0.0 || v.fract() != 0.0 || v >= 1.8e19 {
        return Err(invalid(format!("{what}: `{s}` is not a whole number")));
    }
    Ok(v as u64)
}

fn parse_word(what: &str, s: &str) -> Result<u32, Error> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse::<u32>(),
    };
    r.map_err(|_| {
        invalid(format!(
            "{what}: `{s}` is not a 32-bit word (decimal, or hexadecimal written 0x...)"
        ))
    })
}

fn parse_words<const N: usize>(what: &str, s: &str) -> Result<[u32; N], Error> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != N {
        return Err(invalid(format!(
            "{what} takes {N} comma-separated words, got {}",
            parts.len()
        )));
    }
    let mut out = [0u32; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = parse_word(what, p)?;
    }
    Ok(out)
}

fn split_assign<'a>(what: &str, s: &'a str) -> Result<(&'a str, &'a str), Error> {
    s.split_once('=')
        .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
        .map(|(k, v)| (k.trim(), v.trim()))
        .ok_or_else(|| invalid(format!("{what} `{s}`: expected NAME=VALUE")))
}

fn split_range<const N: usize>(what: &str, s: &str) -> Result<(String, [f64; N]), Error> {
    let (k, range) = split_assign(what, s)?;
    let parts: Vec<&str> = range.split(':').collect();
    let form = ["NAME=VALUE", "NAME=LO:HI", "NAME=LO:HI:N"][N - 1];
    if parts.len() != N {
        return Err(invalid(format!("{what} `{s}`: expected {form}")));
    }
    let mut out = [0.0; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = parse_f64(&format!("{what} {k}"), p)?;
    }
    Ok((k.to_string(), out))
}

fn run(args: RunArgs) -> Result<(), Error> {
    let (system, spec_run) = match (&args.system, &args.spec) {
        (Some(name), None) => (System::builtin(name)?, None),
        (None, Some(path)) => throng::spec::load(path)?,
        (Some(_), Some(_)) => return Err(invalid("give --system or --spec, not both")),
        (None, None) => {
            return Err(invalid(
                "give a system with --system NAME (see `throng systems`) or --spec FILE",
            ))
        }
    };
    let r = spec_run.unwrap_or_default();
    let mut method = match args.method.as_deref().or(r.method.as_deref()) {
        Some(m) => Method::parse(m)?,
        None => system
            .defaults
            .method
            .unwrap_or(if system.noise == throng::Noise::None {
                Method::Rk4
            } else {
                Method::EulerMaruyama
            }),
    };
    if let Method::Dopri5(ctl) = &mut method {
        let opt = |flag: &str, v: &Option<String>| -> Result<Option<f64>, Error> {
            v.as_deref().map(|s| parse_f64(flag, s)).transpose()
        };
        if let Some(v) = opt("--rtol", &args.rtol)? {
            ctl.rtol = v;
        }
        if let Some(v) = opt("--atol", &args.atol)? {
            ctl.atol = v;
        }
        if let Some(v) = opt("--dt-min", &args.dt_min)? {
            ctl.dt_min = v;
        }
        if let Some(v) = opt("--dt-max", &args.dt_max)? {
            ctl.dt_max = v;
        }
        if let Some(v) = &args.max_steps {
            ctl.max_steps = u32::try_from(parse_count("--max-steps", v)?)
                .map_err(|_| invalid("--max-steps is too large"))?;
        }
    } else {
        for (flag, v) in [
            ("--rtol", &args.rtol),
            ("--atol", &args.atol),
            ("--dt-min", &args.dt_min),
            ("--dt-max", &args.dt_max),
            ("--max-steps", &args.max_steps),
        ] {
            if v.is_some() {
                return Err(invalid(format!(
                    "{flag} applies to the adaptive method dopri5, not {}",
                    method.name()
                )));
            }
        }
    }
    let precision = match args.precision.as_deref().or(r.precision.as_deref()) {
        Some(p) => throng::Precision::parse(p)?,
        None => throng::Precision::F32,
    };
    let steps = match (&args.steps, r.steps) {
        (Some(s), _) => parse_count("--steps", s)?,
        (None, Some(s)) => s,
        (None, None) if method.is_adaptive() => 100,
        (None, None) => return Err(invalid("give the number of steps with --steps")),
    };
    let t0 = match (&args.t0, r.t0) {
        (Some(t), _) => parse_f64("--t0", t)?,
        (None, Some(t)) => t,
        (None, None) => 0.0,
    };
    let dt = args
        .dt
        .as_deref()
        .map(|d| parse_f64("--dt", d))
        .transpose()?;
    let t1 = args
        .t1
        .as_deref()
        .map(|t| parse_f64("--t1", t))
        .transpose()?;
    let grid = match (dt, t1) {
        (Some(_), Some(_)) => return Err(invalid("give either --dt or --t1, not both")),
        (Some(dt), None) => TimeGrid::new(t0, dt, steps),
        (None, Some(t1)) => {
            if t1 <= t0 {
                return Err(invalid(format!("--t1 {t1} must be after --t0 {t0}")));
            }
            TimeGrid::until(t0, t1, steps)
        }
        (None, None) => match (r.dt, r.t1, system.defaults.dt) {
            (Some(dt), _, _) => TimeGrid::new(t0, dt, steps),
            (None, Some(t1), _) => TimeGrid::until(t0, t1, steps),
            (None, None, Some(dt)) => TimeGrid::new(t0, dt, steps),
            (None, None, None) => {
                return Err(invalid("give the step with --dt or the end time with --t1"))
            }
        },
    };
    let seed = match (&args.seed, r.seed) {
        (Some(s), _) => parse_count("--seed", s)?,
        (None, Some(s)) => s,
        (None, None) => 0,
    };
    // Inputs: the spec's [run] first, then the command line's, which win.
    let mut settings: Vec<(String, Value)> = vec![];
    let mut param_json = serde_json::Map::new();
    for (n, v) in &system.params {
        param_json.insert(n.clone(), json!(v));
    }
    for (k, v) in r.param_values()? {
        settings.push((k, Value::Const(v)));
    }
    for (k, v) in r.ranges("sweep", &r.sweep, 2)? {
        settings.push((k, Value::Linspace { lo: v[0], hi: v[1] }));
    }
    for (k, v) in r.ranges("logsweep", &r.logsweep, 2)? {
        settings.push((k, Value::Logspace { lo: v[0], hi: v[1] }));
    }
    for (k, v) in r.ranges("grid", &r.grid, 3)? {
        settings.push((k, grid_value(&v)?));
    }
    for (k, f) in r.value_files()? {
        let (file, col) = match f {
            throng::spec::ValuesFile::Path(p) => (p, None),
            throng::spec::ValuesFile::Column { file, column } => (file, Some(column)),
        };
        let v = throng::values::read(&r.dir.join(file), col.as_deref())?;
        settings.push((k, Value::Table(std::sync::Arc::new(v))));
    }
    for p in &args.params {
        let (k, v) = split_range::<1>("--param", p)?;
        settings.push((k, Value::Const(v[0])));
    }
    for s in &args.sweeps {
        let (k, v) = split_range::<2>("--sweep", s)?;
        settings.push((k, Value::Linspace { lo: v[0], hi: v[1] }));
    }
    for s in &args.logsweeps {
        let (k, v) = split_range::<2>("--logsweep", s)?;
        settings.push((k, Value::Logspace { lo: v[0], hi: v[1] }));
    }
    for s in &args.grids {
        let (k, v) = split_range::<3>("--grid", s)?;
        settings.push((k, grid_value(&v)?));
    }
    for s in &args.values {
        let (k, file) = split_assign("--values", s)?;
        let (path, col) = match file.rsplit_once(':') {
            Some((p, c)) if p.ends_with(".csv") || p.ends_with(".npy") => (p, Some(c)),
            _ => (file, None),
        };
        let v = throng::values::read(Path::new(path), col)?;
        settings.push((k.to_string(), Value::Table(std::sync::Arc::new(v))));
    }
    let grid_cells: Option<u64> = settings
        .iter()
        .filter_map(|(_, v)| match v {
            Value::Grid { n, .. } => Some(*n),
            _ => None,
        })
        .reduce(|a, b| a.saturating_mul(b));
    let paths = match (&args.paths, r.paths, grid_cells) {
        (Some(p), _, _) => parse_count("--paths", p)?,
        (None, Some(p), _) => p,
        (None, None, Some(cells)) => cells,
        (None, None, None) => return Err(invalid("give the number of trajectories with --paths")),
    };
    let mut ens = Ensemble::new(system.clone(), paths)
        .seed(seed)
        .precision(precision);
    let x0 = match (&args.x0, &r.x0) {
        (Some(x0), _) => Some(
            x0.split(',')
                .map(|s| parse_f64("--x0", s))
                .collect::<Result<Vec<f64>, _>>()?,
        ),
        (None, Some(x0)) => Some(x0.clone()),
        (None, None) => None,
    };
    if let Some(x0) = &x0 {
        ens = ens.x0(x0);
    }
    for (k, v) in settings {
        param_json.insert(
            k.clone(),
            match &v {
                Value::Const(c) => json!(c),
                Value::Linspace { lo, hi } => json!({"sweep": [lo, hi]}),
                Value::Logspace { lo, hi } => json!({"logsweep": [lo, hi]}),
                Value::Grid { lo, hi, n } => json!({"grid": [lo, hi, n]}),
                Value::Table(t) => json!({"values": t.len()}),
            },
        );
        ens = ens.with(&k, v);
    }
    let init = match (&args.init, &r.init) {
        (Some(s), _) => {
            let (kind, scales) = s.split_once(':').ok_or_else(|| {
                invalid(format!(
                    "--init `{s}`: expected normal:S1,S2,.. or uniform:W1,W2,.."
                ))
            })?;
            let scales: Vec<f64> = scales
                .split(',')
                .map(|v| parse_f64("--init", v))
                .collect::<Result<_, _>>()?;
            Some((kind.to_string(), scales))
        }
        (None, Some(i)) => Some((i.kind.clone(), i.scale.clone())),
        (None, None) => None,
    };
    if let Some((kind, scales)) = init {
        ens = ens.init(match kind.as_str() {
            "normal" => throng::Init::Normal(scales),
            "uniform" => throng::Init::Uniform(scales),
            k => {
                return Err(invalid(format!(
                    "--init: unknown kind `{k}` (normal, uniform)"
                )))
            }
        });
    }
    let chunk = args
        .chunk
        .as_deref()
        .map(|c| parse_count("--chunk", c))
        .transpose()?;
    let job = ens.job(method, grid)?;
    let mut save_at = throng::SaveAt {
        every: args
            .save_every
            .as_deref()
            .map(|k| parse_count("--save-every", k))
            .transpose()?,
        ..Default::default()
    };
    for h in &args.hists {
        let (name, v) = split_range::<3>("--hist", h)?;
        let component = job
            .row_names()
            .iter()
            .position(|s| *s == name)
            .or_else(|| name.parse::<usize>().ok())
            .ok_or_else(|| {
                invalid(format!(
                    "--hist {name}: not a state component or functional ({})",
                    job.row_names().join(", ")
                ))
            })?;
        if v[2] < 1.0 || v[2].fract() != 0.0 {
            return Err(invalid(format!("--hist {h}: BINS must be a whole number")));
        }
        save_at.hist.push(throng::observe::Histogram {
            component,
            lo: v[0],
            hi: v[1],
            bins: v[2] as u32,
        });
    }
    if let Some(q) = &args.quantiles {
        save_at.quantiles = q
            .split(',')
            .map(|v| parse_f64("--quantiles", v))
            .collect::<Result<_, _>>()?;
    }
    if let Some(k) = &args.keep_paths {
        save_at.keep_paths = parse_count("--keep-paths", k)?;
    }
    if let Some(j) = &args.keep_every {
        save_at.keep_every = parse_count("--keep-every", j)?;
    }
    if let Some(t) = &args.save_at {
        save_at.times = t
            .split(',')
            .map(|v| parse_f64("--save-at", v))
            .collect::<Result<_, _>>()?;
    }
    let progress = args.progress.then(|| {
        throng::solve::Progress(std::sync::Arc::new(|p: &throng::solve::ProgressInfo| {
            eprintln!(
                "progress: {} / {} trajectories, {:.1} s, eta {:.1} s",
                p.trajectories, p.of, p.elapsed_s, p.eta_s
            );
        }))
    });
    let opts = Options {
        chunk,
        keep_states: false,
        lanes: args.lanes,
        save_at,
        dispatch_steps: args
            .dispatch_steps
            .as_deref()
            .map(|k| parse_count("--dispatch-steps", k))
            .transpose()?,
        progress,
        ..Default::default()
    };
    let device_start = Instant::now();
    let (sol, device_s) = if args.cpu {
        (cpu::solve(&job, &opts)?, 0.0)
    } else {
        let ctx = Context::new(&args.adapter.choice())?;
        let device_s = device_start.elapsed().as_secs_f64();
        (throng::solve(&ctx, &job, &opts)?, device_s)
    };
    let st = &sol.stats;
    // Adaptive: accepted steps taken by the finite trajectories.
    let work = match &sol.adaptive {
        Some(a) => a.steps.mean[0] * a.steps.count as f64,
        None => paths as f64 * steps as f64,
    };
    let rate = work / sol.timing.solve_s;
    let adaptive_json = sol.adaptive.as_ref().map(|a| {
        let s = &a.steps;
        let v = s.var();
        json!({
            "rtol": match method { Method::Dopri5(c) => c.rtol, _ => 0.0 },
            "atol": match method { Method::Dopri5(c) => c.atol, _ => 0.0 },
            "max_steps": match method { Method::Dopri5(c) => c.max_steps, _ => 0 },
            "accepted": {"mean": s.mean[0], "var": v[0], "min": s.min[0], "max": s.max[0]},
            "rejected": {"mean": s.mean[1], "var": v[1], "min": s.min[1], "max": s.max[1]},
            "unfinished": a.unfinished,
            "first_unfinished": a.first_unfinished,
        })
    });
    let out = json!({
            "system": system.name,
            "noise": system.noise.name(),
            "method": method.name(),
            "interpretation": match method.interpretation() {
                throng::method::Interpretation::Ito => "ito",
                throng::method::Interpretation::Stratonovich => "stratonovich",
                throng::method::Interpretation::None => "ode",
            },
            "precision": precision.name(),
            "paths": paths,
            "steps": steps,
            "dt": grid.dt,
            "t0": grid.t0,
            "t1": grid.t1(),
            "seed": seed,
            "params": Json::Object(param_json),
            "adapter": sol.adapter,
            "terminal": {
                "count": st.count,
                "mean": st.mean,
                "var": st.var(),
                "se": st.var().iter().map(|v| (v / st.count as f64).sqrt()).collect::<Vec<f64>>(),
                "min": if st.count > 0 { json!(st.min) } else { json!(vec![Json::Null; st.dim()]) },
                "max": if st.count > 0 { json!(st.max) } else { json!(vec![Json::Null; st.dim()]) },
            },
            "nonfinite": st.nonfinite,
            "adaptive": adaptive_json,
            "first_nonfinite": st.first_nonfinite,
            "partial": sol.partial,
            "save_times": sol.saves.len(),
            "chunks": sol.chunks,
            "device_bytes": sol.device_bytes,
            "host_peak_bytes": host_peak_bytes(),
            "chunk_capacity": sol.chunk_capacity,
            "timing": {"solve_s": sol.timing.solve_s, "setup_s": sol.timing.setup_s, "device_s": device_s},
            "trajectory_steps_per_s": rate,
    });
    if let Some(dir) = &args.out {
        let mut summary = out.clone();
        summary["files"] = throng::output::write(dir, &sol, grid.t1(), steps)?;
        summary["saves"] = json!(sol
            .saves
            .iter()
            .map(|s| json!({"step": s.step, "t": s.t, "count": s.stats.count,
                "nonfinite": s.stats.nonfinite, "first_nonfinite": s.stats.first_nonfinite}))
            .collect::<Vec<_>>());
        let path = dir.join("summary.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&summary).unwrap() + "\n",
        )
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    }
    if args.json {
        println!("{out}");
    } else {
        let grid_text = if method.is_adaptive() {
            format!(", first step {}", grid.dt)
        } else {
            format!(" x {steps} steps, dt {}", grid.dt)
        };
        println!(
            "{} with {} ({}): {paths} paths{grid_text}, t {} -> {}, seed {seed}",
            system.name,
            method.name(),
            precision.name(),
            grid.t0,
            grid.t1()
        );
        println!("adapter: {}", sol.adapter);
        println!(
            "{:<10} {:>14} {:>14} {:>14} {:>14}",
            "component", "mean", "var", "min", "max"
        );
        let var = st.var();
        for (c, name) in job.row_names().iter().enumerate().take(st.dim()) {
            println!(
                "{:<10} {:>14.6e} {:>14.6e} {:>14.6e} {:>14.6e}   (se of mean {:.2e})",
                name,
                st.mean[c],
                var[c],
                st.min[c],
                st.max[c],
                (var[c] / st.count as f64).sqrt()
            );
        }
        println!(
            "finite trajectories: {}, non-finite: {}",
            st.count, st.nonfinite
        );
        if !sol.saves.is_empty() {
            let n = sol.saves.len();
            let shown: Vec<usize> = if n <= 12 {
                (0..n).collect()
            } else {
                (0..12).map(|k| k * (n - 1) / 11).collect()
            };
            println!("save times: {n}{}", if n > 12 { " (12 shown)" } else { "" });
            print!("{:>12} {:>10} {:>9}", "t", "count", "nonfinite");
            let names = job.row_names();
            for name in names.iter().take(3) {
                print!(
                    " {:>13} {:>13}",
                    format!("mean {name}"),
                    format!("var {name}")
                );
            }
            println!();
            for k in shown {
                let sv = &sol.saves[k];
                print!(
                    "{:>12.6} {:>10} {:>9}",
                    sv.t, sv.stats.count, sv.stats.nonfinite
                );
                for (m, v) in sv.stats.mean.iter().zip(sv.stats.var()).take(3) {
                    print!(" {m:>13.6e} {v:>13.6e}");
                }
                println!();
            }
            if let Some(last) = sol.saves.last() {
                for q in &last.quantiles {
                    println!(
                        "quantiles of {} at t1 {:?} (within {:.2e}): {:?}",
                        job.row_names()[q.component],
                        opts.save_at.quantiles,
                        q.resolution,
                        q.values
                    );
                }
            }
        }
        if let Some(a) = &sol.adaptive {
            let s = &a.steps;
            println!(
                "steps per trajectory: accepted mean {:.1} (min {}, max {}), rejected mean {:.1} (max {})",
                s.mean[0], s.min[0], s.max[0], s.mean[1], s.max[1]
            );
        }
        println!(
            "setup {:.3} s, solve {:.3} s in {} chunk(s): {:.3e} trajectory-steps/s",
            sol.timing.setup_s, sol.timing.solve_s, sol.chunks, rate
        );
    }
    // Warnings go to stderr in both output modes.
    if let Some(a) = sol.adaptive.as_ref().filter(|a| a.unfinished > 0) {
        eprintln!(
            "warning: {} trajectories reached --max-steps before t1 (first: {}); their states are NaN and excluded",
            a.unfinished,
            a.first_unfinished.unwrap_or(0)
        );
    }
    let unfinished = sol.adaptive.as_ref().map_or(0, |a| a.unfinished);
    if st.nonfinite > unfinished {
        eprintln!(
            "warning: {} trajectories became non-finite and are excluded from the statistics",
            st.nonfinite - unfinished
        );
    }
    Ok(())
}

/// The process's peak resident memory (Linux: VmHWM), None elsewhere.
fn host_peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn grid_value(v: &[f64]) -> Result<Value, Error> {
    if v[2] < 1.0 || v[2].fract() != 0.0 {
        return Err(invalid(format!(
            "a grid axis needs a whole number of points, got {}",
            v[2]
        )));
    }
    Ok(Value::Grid {
        lo: v[0],
        hi: v[1],
        n: v[2] as u64,
    })
}

fn rng_cmd(args: RngArgs) -> Result<(), Error> {
    let key = parse_words::<2>("--key", &args.key)?;
    let counter = parse_words::<4>("--counter", &args.counter)?;
    let n = parse_count("--blocks", &args.blocks)?;
    if n == 0 {
        return Err(invalid("--blocks must be at least 1"));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut emit =
        |w: [u32; 4]| writeln!(out, "{:08x} {:08x} {:08x} {:08x}", w[0], w[1], w[2], w[3]);
    if args.gpu {
        let ctx = Context::new(&args.adapter.choice())?;
        let per = 1u64 << 20;
        let mut done = 0u64;
        while done < n {
            let count = per.min(n - done) as u32;
            let (blocks, _) =
                throng::gpu::rng_blocks(&ctx, rng::counter_add(counter, done), key, count, None)?;
            for b in blocks {
                if emit(b).is_err() {
                    return Ok(()); // the reader closed the pipe
                }
            }
            done += count as u64;
        }
    } else {
        for i in 0..n {
            if emit(rng::philox4x32_10(rng::counter_add(counter, i), key)).is_err() {
                return Ok(());
            }
        }
    }
    let _ = out.flush();
    Ok(())
}

fn info(all: bool, adapter: AdapterArgs) -> Result<(), Error> {
    if all {
        let list = throng::context::adapters(&adapter.choice())?;
        if list.is_empty() {
            return Err(Error::NoAdapter {
                detail: String::new(),
            });
        }
        for a in list {
            println!(
                "{} ({:?}, {:?}, driver {} {})",
                a.name, a.backend, a.device_type, a.driver, a.driver_info
            );
        }
        return Ok(());
    }
    let ctx = Context::new(&adapter.choice())?;
    let l = &ctx.limits;
    let i = &ctx.info;
    println!("adapter: {}", i.name);
    println!("backend: {:?}", i.backend);
    println!(
        "device type: {:?}{}",
        i.device_type,
        if i.device_type == wgpu::DeviceType::Cpu {
            " (a CPU: software Vulkan, not a GPU)"
        } else {
            ""
        }
    );
    println!("driver: {} {}", i.driver, i.driver_info);
    println!(
        "max storage buffer binding: {} bytes",
        l.max_storage_buffer_binding_size
    );
    println!("max buffer size: {} bytes", l.max_buffer_size);
    println!(
        "max workgroups per dimension: {}",
        l.max_compute_workgroups_per_dimension
    );
    println!(
        "max invocations per workgroup: {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "f64 (SHADER_F64): {}",
        if ctx.has_f64() { "yes" } else { "no" }
    );
    println!(
        "64-bit integers (SHADER_INT64): {}",
        if ctx.has_int64() { "yes" } else { "no" }
    );
    let plan1 = throng::schedule::plan(u32::MAX as u64 - 255, 1, l.into(), None)?;
    let plan3 = throng::schedule::plan(u32::MAX as u64 - 255, 3, l.into(), None)?;
    println!(
        "trajectories per chunk: {} (dimension 1), {} (dimension 3)",
        plan1.capacity, plan3.capacity
    );
    Ok(())
}

fn systems(name: Option<String>) -> Result<(), Error> {
    if let Some(name) = name {
        let sys = System::builtin(&name)?;
        let base = name.split(':').next().unwrap_or(&name);
        println!("# {}: {}", sys.name, sys.description);
        println!(
            "# dimension {}, noise {}, {} Wiener process(es)",
            sys.dim(),
            sys.noise.name(),
            sys.noise_channels()
        );
        println!("{}", throng::catalog::spec_text(base).unwrap_or(""));
        return Ok(());
    }
    println!(
        "{:<24} {:>3} {:<11} {:<54} description",
        "name", "dim", "noise", "parameters (defaults)"
    );
    for s in throng::catalog::all() {
        let params: Vec<String> = s.params.iter().map(|(n, v)| format!("{n}={v}")).collect();
        println!(
            "{:<24} {:>3} {:<11} {:<54} {}",
            s.name,
            s.dim(),
            s.noise.name(),
            params.join(" "),
            s.description
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench(args: BenchArgs) -> Result<(), Error> {
    if args.repeat == 0 || args.shrink == 0 {
        return Err(invalid("--repeat and --shrink must be at least 1"));
    }
    let mut jobs = vec![];
    let w = args.workload.as_str();
    if w == "w1" || w == "all" {
        let e = Ensemble::new(System::builtin("gbm")?, (1 << 20) / args.shrink)
            .x0(&[1.0])
            .set("mu", 0.05)
            .set("sigma", 0.2)
            .seed(1);
        jobs.push((
            "W1 gbm/em 2^20 x 256",
            e.job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 256))?,
        ));
    }
    if w == "w2" || w == "all" {
        let e = Ensemble::new(System::builtin("lorenz")?, (1 << 18) / args.shrink)
            .x0(&[1.0, 0.0, 0.0])
            .sweep("rho", 0.0, 50.0);
        jobs.push((
            "W2 lorenz/rk4 2^18 x 1000",
            e.job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1000))?,
        ));
    }
    if jobs.is_empty() {
        return Err(invalid(format!("unknown workload `{w}` (w1, w2, all)")));
    }
    let ctx = Context::new(&args.adapter.choice())?;
    let dev_opts = Options {
        lanes: args.lanes,
        ..Options::default()
    };
    println!("adapter: {}", ctx.adapter_label());
    println!(
        "trajectories per invocation: {}",
        args.lanes
            .unwrap_or_else(|| throng::solve::default_lanes(&ctx))
    );
    println!(
        "cpu twin threads: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<28} {:>10} {:>14} {:>14} {:>8}",
        "workload", "engine", "median solve_s", "traj-steps/s", "vs cpu"
    );
    for (name, job) in jobs {
        let work = job.paths as f64 * job.steps as f64;
        // The first solve in a process is reported apart: drivers warm up (memory, threads).
        let cold = throng::solve(&ctx, &job, &dev_opts)?.timing.solve_s;
        let gpu: Vec<f64> = (0..args.repeat)
            .map(|_| throng::solve(&ctx, &job, &dev_opts).map(|s| s.timing.solve_s))
            .collect::<Result<_, _>>()?;
        println!(
            "{:<28} {:>10} {:>14.4} {:>14.3e}",
            name,
            "dev. cold",
            cold,
            work / cold
        );
        let g = median(gpu);
        let c = if args.no_cpu {
            f64::NAN
        } else {
            median(
                (0..args.repeat.min(3))
                    .map(|_| cpu::solve(&job, &Options::default()).map(|s| s.timing.solve_s))
                    .collect::<Result<_, _>>()?,
            )
        };
        println!(
            "{:<28} {:>10} {:>14.4} {:>14.3e} {:>8.2}",
            name,
            "device",
            g,
            work / g,
            c / g
        );
        if !args.no_cpu {
            println!(
                "{:<28} {:>10} {:>14.4} {:>14.3e} {:>8.2}",
                name,
                "cpu twin",
                c,
                work / c,
                1.0
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`throng systems | head`) would
    // panic; a command-line tool should just stop, as `ls | head` does.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Mesa's software driver warns on every start without it.
        std::env::set_var("XDG_RUNTIME_DIR", "/tmp");
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line, without the usage block.
            let text = e.render().to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(a) => run(*a),
        Command::Rng(a) => rng_cmd(a),
        Command::Info { all, adapter } => info(all, adapter),
        Command::Systems { name } => systems(name),
        Command::Bench(a) => bench(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
