//! A run asked for as the command line and the spec's `[run]` table ask for it (a
//! [`RunRequest`], from flags, TOML or Python keyword arguments) turned into the checked
//! [`Job`] and its [`Options`]: the one place that reads a request, for `throng run`,
//! `throng merge`, the chaos subcommands and the Python package.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use crate::ensemble::{Ensemble, Job, TimeGrid, Value};
use crate::error::{Error, Result};
use crate::method::Method;
use crate::observe::SaveAt;
use crate::plan::Options;
use crate::spec::RunRequest;
use crate::system::{Noise, System};

fn input(what: &str, message: impl Into<String>) -> Error {
    Error::Input {
        what: what.into(),
        message: message.into(),
    }
}

/// The job, its parameters as the JSON reports them, and the options the request asks for
/// (without shards or checkpoints): `name` a catalog system or `spec` a spec file, with
/// `flags` laid over the spec's `[run]`.
pub fn prepare(
    name: &Option<String>,
    spec: &Option<PathBuf>,
    flags: RunRequest,
) -> Result<(Job, Map<String, Json>, Options)> {
    let (system, req) = load(name, spec, flags)?;
    let (job, params) = job(&system, &req)?;
    let opts = options(&req, &job)?;
    Ok((job, params, opts))
}

/// The system, and the request: the spec's `[run]` with the flags' laid over it.
pub fn load(
    name: &Option<String>,
    spec: &Option<PathBuf>,
    flags: RunRequest,
) -> Result<(System, RunRequest)> {
    let (system, spec_run) = match (name, spec) {
        (Some(name), None) => (System::builtin(name)?, None),
        (None, Some(path)) => crate::spec::load(path)?,
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

/// The checked job, and its parameters as the JSON reports them.
pub fn job(system: &System, req: &RunRequest) -> Result<(Job, Map<String, Json>)> {
    let (ens, method, grid, params) = ensemble(system, req)?;
    Ok((ens.job(method, grid)?, params))
}

/// The ensemble, method and grid a request asks for, and its parameters as the JSON reports
/// them.
pub fn ensemble(
    system: &System,
    req: &RunRequest,
) -> Result<(Ensemble, Method, TimeGrid, Map<String, Json>)> {
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
fn method(system: &System, req: &RunRequest) -> Result<Method> {
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
fn time_grid(system: &System, req: &RunRequest, method: &Method) -> Result<TimeGrid> {
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
fn settings(req: &RunRequest) -> Result<Vec<(String, Value)>> {
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
        let v = crate::values::read(&f.file, f.column.as_deref())?;
        out.push((s.name.clone(), Value::Table(Arc::new(v))));
    }
    Ok(out)
}

/// The trajectories asked for, or else the grid's cells.
fn paths(req: &RunRequest, settings: &[(String, Value)]) -> Result<u64> {
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
pub fn options(req: &RunRequest, job: &Job) -> Result<Options> {
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
        save_at.hist.push(crate::observe::Histogram {
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
