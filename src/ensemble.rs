//! What to integrate: a system, how many trajectories, their initial states and parameters,
//! the time grid and the seed. `Ensemble::job` checks it all and resolves it into a [`Job`],
//! the plain numbers that kernels and CPU twins both consume.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::method::Method;
use crate::precision::Precision;
use crate::rng::normal::{half_open_unit, normals4};
use crate::rng::philox::philox4x32_10;
use crate::system::System;

/// Trajectory indices are u32 in the noise counter; chunks round up to BLOCK.
pub const MAX_PATHS: u64 = (1u64 << 32) - 256;
/// Keeps step * channels / 4 (a Philox block index) inside one 32-bit counter word.
pub const MAX_STEPS: u64 = 1 << 30;
/// Counter word 3 of the stream that draws random initial states.
pub const STREAM_INIT: u32 = 1;

/// A per-trajectory input (parameter or initial component). Trajectory i of N gets:
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// the same value;
    Const(f64),
    /// lo + (hi - lo) i / (N - 1), computed in f32 as `base + slope * i`;
    Linspace { lo: f64, hi: f64 },
    /// lo (hi / lo)^(i / (N - 1)), lo and hi > 0;
    Logspace { lo: f64, hi: f64 },
    /// lo + (hi - lo) k / (n - 1) with k its index along this axis of a Cartesian grid
    /// (axes in the order given, the first varying fastest: k = (i / stride) mod n);
    Grid { lo: f64, hi: f64, n: u64 },
    /// values[i], e.g. from a file.
    Table(Arc<Vec<f64>>),
}

/// Random initial states around x0, drawn from stream [`STREAM_INIT`].
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// x0_c + scale_c z_c, z_c standard normal.
    Normal(Vec<f64>),
    /// x0_c + scale_c (2 u_c - 1), u_c uniform on [0, 1).
    Uniform(Vec<f64>),
}

/// A fixed-step time grid: `steps` steps of `dt` from `t0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeGrid {
    pub t0: f64,
    pub dt: f64,
    pub steps: u64,
}

impl TimeGrid {
    pub fn new(t0: f64, dt: f64, steps: u64) -> TimeGrid {
        TimeGrid { t0, dt, steps }
    }

    /// `steps` equal steps from `t0` to `t1`.
    pub fn until(t0: f64, t1: f64, steps: u64) -> TimeGrid {
        TimeGrid {
            t0,
            dt: (t1 - t0) / steps.max(1) as f64,
            steps,
        }
    }

    pub fn t1(&self) -> f64 {
        self.t0 + self.dt * self.steps as f64
    }
}

/// An ensemble of trajectories of one system. Setters record; [`Ensemble::job`] checks.
#[derive(Clone, Debug)]
pub struct Ensemble {
    pub system: System,
    pub paths: u64,
    pub seed: u64,
    x0: Option<Vec<f64>>,
    settings: Vec<(String, Value)>,
    init: Option<Init>,
    precision: Precision,
    replicas: Option<u64>,
    brownian: crate::noise::Brownian,
}

/// The f32 step constants, computed once in f64 and rounded, shared by kernels and twins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepConsts<T = f32> {
    pub t0: T,
    pub dt: T,
    pub half_dt: T,
    pub sixth_dt: T,
    pub sqrt_dt: T,
}

impl StepConsts<f64> {
    fn of(grid: &TimeGrid) -> Self {
        StepConsts {
            t0: grid.t0,
            dt: grid.dt,
            half_dt: grid.dt / 2.0,
            sixth_dt: grid.dt / 6.0,
            sqrt_dt: grid.dt.sqrt(),
        }
    }

    /// Each constant rounded once to f32.
    fn to_f32(self) -> StepConsts<f32> {
        StepConsts {
            t0: self.t0 as f32,
            dt: self.dt as f32,
            half_dt: self.half_dt as f32,
            sixth_dt: self.sixth_dt as f32,
            sqrt_dt: self.sqrt_dt as f32,
        }
    }
}

/// How a kernel obtains one input: a formula it evaluates, or a table the host fills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// `base + slope * i`, in the run's precision (values already rounded to it).
    Affine(f64, f64),
    /// Row `k` of the per-chunk input table.
    Table(usize),
}

/// A checked, resolved run.
#[derive(Clone, Debug)]
pub struct Job {
    pub system: System,
    pub method: Method,
    /// Trajectories: points x replicas.
    pub paths: u64,
    /// Trajectories per point, if statistics are reduced per point.
    pub replicas: Option<u64>,
    pub seed: u64,
    pub grid: TimeGrid,
    pub steps: u32,
    pub precision: Precision,
    /// Step constants rounded to f32 (the f32 kernels and twins use these).
    pub consts: StepConsts,
    /// The same in f64.
    pub consts64: StepConsts<f64>,
    /// Initial components then parameters, as the user gave them.
    pub values: Vec<Value>,
    /// Grid strides, parallel to `values` (0 where not a grid axis).
    pub strides: Vec<u64>,
    pub init: Option<Init>,
    /// How the kernel reads each of `values`.
    pub inputs: Vec<Input>,
    /// Number of table rows.
    pub tables: usize,
    /// Where the step normals come from.
    pub brownian: crate::noise::Brownian,
}

impl Job {
    /// The Brownian tree's depth for this run's 2^m steps (`Brownian::Tree`): m.
    pub fn tree_depth(&self) -> u32 {
        self.steps.max(1).trailing_zeros()
    }

    /// The depth of the tree's points an adaptive SDE method steps between: its shortest
    /// step is (t1 − t0) 2^-depth. Set by `dt_min` where given (the least depth whose points
    /// lie no farther apart), else 20; never below the grid's depth, never above 24 (the
    /// positions are u32 and the tree's values f32).
    pub fn leaf_depth(&self) -> u32 {
        let span = self.grid.t1() - self.grid.t0;
        let by_tol = match self.method.controller() {
            Some(c) if c.dt_min > 0.0 => (span / c.dt_min).log2().ceil().max(0.0) as u32,
            _ => 20,
        };
        by_tol.clamp(self.tree_depth(), 24)
    }

    /// Values each trajectory leaves in the states buffer: its state, then for an adaptive
    /// method its accepted and rejected step counts.
    pub fn rows(&self) -> usize {
        self.row_names().len()
    }

    /// Names of the rows: the state components, the functionals' rows (`tau`, `hit`,
    /// `events`, `payoff`, if the system defines them), then for an adaptive method the
    /// controller's rows: `accepted`, `rejected` (step counts), `dt_next` (the next step) and
    /// `err_prev` (its memory of the last error norm, negative after a rejection).
    pub fn row_names(&self) -> Vec<String> {
        let mut r: Vec<String> = self.system.state.clone();
        r.extend(
            crate::system::Functionals::of(&self.system)
                .rows()
                .into_iter()
                .map(String::from),
        );
        if self.method.is_adaptive() {
            r.extend(["accepted", "rejected", "dt_next", "err_prev"].map(String::from));
        }
        r.extend(self.system.carried.iter().cloned());
        r
    }

    /// Index of parameter `k` in `values` / `inputs`.
    fn param_slot(&self, k: usize) -> usize {
        self.system.dim() + k
    }

    /// Parameter points: trajectories / replicas.
    pub fn points(&self) -> u64 {
        self.paths / self.replicas.unwrap_or(1)
    }

    /// Input `slot` of trajectory i, as the kernel sees it (in the run's precision): its
    /// point's value, then (random initial states) the trajectory's own offset.
    pub fn value_at(&self, slot: usize, traj: u64) -> f64 {
        let base = self.point_value(slot, traj / self.replicas.unwrap_or(1));
        match &self.init {
            Some(init) if slot < self.system.dim() => {
                let c = slot;
                let w = philox4x32_10([(c / 4) as u32, 0, traj as u32, STREAM_INIT], self.key());
                // The random offset is an f32 draw in both precisions.
                let offset = match init {
                    Init::Normal(scale) => scale[c] as f32 * normals4(w)[c % 4],
                    Init::Uniform(scale) => {
                        scale[c] as f32 * (2.0 * half_open_unit(w[c % 4]) - 1.0)
                    }
                };
                match self.precision {
                    Precision::F32 => (base as f32 + offset) as f64,
                    Precision::F64 => base + offset as f64,
                }
            }
            _ => base,
        }
    }

    /// Input `slot` of point i before any random initial offset (in the run's precision).
    pub fn point_value(&self, slot: usize, i: u64) -> f64 {
        let n = self.points();
        let r = |v: f64| self.precision.round(v);
        let frac = |i: u64| {
            if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            }
        };
        let affine_at = |b: f64, s: f64| match self.precision {
            Precision::F32 => (b as f32 + s as f32 * (i as u32 as f32)) as f64,
            Precision::F64 => b + s * (i as u32 as f64),
        };
        match &self.values[slot] {
            Value::Const(v) => r(*v),
            Value::Linspace { .. } => match self.inputs[slot] {
                Input::Affine(b, s) => affine_at(b, s),
                // A linspace x0 under random init: same formula, then the table.
                Input::Table(_) => {
                    let (b, s) = affine(&self.values[slot], n, self.precision);
                    affine_at(b, s)
                }
            },
            Value::Logspace { lo, hi } => r(lo * (hi / lo).powf(frac(i))),
            Value::Grid { lo, hi, n: m } => {
                let k = (i / self.strides[slot]) % m;
                let t = if *m > 1 {
                    k as f64 / (*m - 1) as f64
                } else {
                    0.0
                };
                r(lo + (hi - lo) * t)
            }
            Value::Table(v) => r(v[i as usize]),
        }
    }

    /// Trajectory i's initial state and parameters, as the kernels compute them.
    pub fn inputs_at(&self, i: u64) -> (Vec<f64>, Vec<f64>) {
        let d = self.system.dim();
        let x0 = (0..d).map(|c| self.value_at(c, i)).collect();
        let p = (0..self.system.params.len())
            .map(|k| self.value_at(self.param_slot(k), i))
            .collect();
        (x0, p)
    }

    /// The table rows for trajectories `first..first + count`, row-major, each row `cap` long.
    pub fn table_rows(&self, first: u64, count: u64, cap: u64) -> Vec<f64> {
        let mut out = vec![0f64; self.tables * cap as usize];
        for (slot, input) in self.inputs.iter().enumerate() {
            if let Input::Table(k) = *input {
                let row = &mut out[k * cap as usize..][..count as usize];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = self.value_at(slot, first + j as u64);
                }
            }
        }
        out
    }

    /// Seed as Philox key words.
    pub fn key(&self) -> [u32; 2] {
        [self.seed as u32, (self.seed >> 32) as u32]
    }
}

fn affine(v: &Value, paths: u64, precision: Precision) -> (f64, f64) {
    let r = |v: f64| precision.round(v);
    match *v {
        Value::Const(c) => (r(c), 0.0),
        Value::Linspace { lo, hi } => {
            let slope = if paths > 1 {
                (hi - lo) / (paths - 1) as f64
            } else {
                0.0
            };
            (r(lo), r(slope))
        }
        _ => unreachable!("only constants and linear sweeps are affine"),
    }
}

fn check_controller(ctl: &crate::method::Controller, grid: &TimeGrid, p: Precision) -> Result<()> {
    let eps = match p {
        Precision::F32 => f32::EPSILON as f64,
        Precision::F64 => f64::EPSILON,
    };
    let bad = |what: &str, message: String| {
        Err(Error::Input {
            what: what.into(),
            message,
        })
    };
    if !(ctl.rtol.is_finite() && ctl.rtol >= 4.0 * eps) {
        return bad(
            "rtol",
            format!(
                "rtol must be finite and at least {:.1e} in {} (4 ulps), got {}",
                4.0 * eps,
                p.name(),
                ctl.rtol
            ),
        );
    }
    if !(ctl.atol.is_finite() && ctl.atol > 0.0) {
        return bad(
            "atol",
            format!("atol must be positive and finite, got {}", ctl.atol),
        );
    }
    if !(ctl.dt_min >= 0.0 && ctl.dt_min <= grid.dt) {
        return bad(
            "dt_min",
            format!(
                "dt_min must be between 0 and the initial step {}, got {}",
                grid.dt, ctl.dt_min
            ),
        );
    }
    if !(ctl.dt_max == 0.0 || ctl.dt_max >= grid.dt) {
        return bad(
            "dt_max",
            format!(
                "dt_max must be 0 (no limit) or at least the initial step {}, got {}",
                grid.dt, ctl.dt_max
            ),
        );
    }
    // Step counts travel as reals: exact up to 2^24 in f32.
    if ctl.max_steps == 0 || ctl.max_steps > 1 << 24 {
        return Err(Error::Limit {
            what: "max_steps".into(),
            got: ctl.max_steps as u64,
            max: 1 << 24,
            message: format!(
                "max_steps must be between 1 and {}, got {}",
                1u32 << 24,
                ctl.max_steps
            ),
        });
    }
    Ok(())
}

/// A value the user gave that throng cannot use, named by `what`.
fn input(what: &str, message: String) -> Error {
    Error::Input {
        what: what.into(),
        message,
    }
}

fn finite_f32(v: f64) -> bool {
    v.is_finite() && v.abs() <= f32::MAX as f64
}

impl Ensemble {
    /// `paths` trajectories of `system`, default parameters, the system's default initial
    /// state (or zero), seed 0.
    pub fn new(system: System, paths: u64) -> Ensemble {
        Ensemble {
            system,
            paths,
            seed: 0,
            x0: None,
            settings: Vec::new(),
            init: None,
            precision: Precision::F32,
            replicas: None,
            brownian: crate::noise::Brownian::Stream,
        }
    }

    /// Draws the step normals from the Brownian tree (`Brownian::Tree`: one path per
    /// trajectory and channel, whatever the number of steps 2^m) or the stream (default).
    pub fn brownian(mut self, b: crate::noise::Brownian) -> Self {
        self.brownian = b;
        self
    }

    /// `r` trajectories for each of the `paths` points (sweep or grid points): trajectory
    /// `point * r + replica` has the point's parameters and initial state (random initial
    /// states and noise stay keyed by the trajectory), and statistics are also reduced per
    /// point ([`crate::Solution::points`]). The run has `paths * r` trajectories.
    pub fn replicas(mut self, r: u64) -> Self {
        self.replicas = Some(r);
        self
    }

    pub fn x0(mut self, x0: &[f64]) -> Self {
        self.x0 = Some(x0.to_vec());
        self
    }

    /// Sets a parameter, or an initial component as `x0.NAME` / `x0.INDEX`, for all paths.
    pub fn set(self, name: &str, value: f64) -> Self {
        self.with(name, Value::Const(value))
    }

    /// Sweeps a parameter (or `x0.NAME`) linearly from lo (path 0) to hi (path N-1).
    pub fn sweep(self, name: &str, lo: f64, hi: f64) -> Self {
        self.with(name, Value::Linspace { lo, hi })
    }

    /// Sweeps geometrically from lo to hi (both > 0).
    pub fn logsweep(self, name: &str, lo: f64, hi: f64) -> Self {
        self.with(name, Value::Logspace { lo, hi })
    }

    /// Adds an axis of a Cartesian grid: `n` values from lo to hi. Axes vary in the order
    /// added, the first fastest; the number of paths must equal the product of the n's.
    pub fn grid(self, name: &str, lo: f64, hi: f64, n: u64) -> Self {
        self.with(name, Value::Grid { lo, hi, n })
    }

    /// One value per trajectory.
    pub fn values(self, name: &str, values: Vec<f64>) -> Self {
        self.with(name, Value::Table(Arc::new(values)))
    }

    /// Any input by name.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.settings.push((name.to_string(), value));
        self
    }

    /// Random initial states around x0.
    pub fn init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }

    /// Integrates in f64 (needs SHADER_F64 on the device) or f32 (the default).
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same ensemble over `system`, whose first components are this one's and whose
    /// further components start at `extra` (the chaos toolkit's augmented systems): the
    /// settings, sweeps, seed and precision carry over; random initial states spread only
    /// the original components.
    pub fn augmented(&self, system: System, extra: &[f64]) -> Ensemble {
        let d = self.system.dim();
        let mut x0 = self
            .x0
            .clone()
            .or_else(|| self.system.defaults.x0.clone())
            .unwrap_or_else(|| vec![0.0; d]);
        x0.extend_from_slice(extra);
        let widen = |v: &Vec<f64>| {
            let mut w = v.clone();
            w.resize(d + extra.len(), 0.0);
            w
        };
        Ensemble {
            system,
            paths: self.paths,
            seed: self.seed,
            x0: Some(x0),
            settings: self.settings.clone(),
            init: self.init.as_ref().map(|i| match i {
                Init::Normal(s) => Init::Normal(widen(s)),
                Init::Uniform(s) => Init::Uniform(widen(s)),
            }),
            precision: self.precision,
            replicas: self.replicas,
            brownian: self.brownian,
        }
    }

    /// Checks everything and resolves the numbers for `method` on `grid`.
    pub fn job(&self, method: Method, grid: TimeGrid) -> Result<Job> {
        let sys = &self.system;
        sys.check()?;
        method.check_fits(sys)?;
        if self.brownian == crate::noise::Brownian::Tree {
            let why = if sys.noise == crate::system::Noise::None {
                Some(format!("`{}` has no noise", sys.name))
            } else if method.is_adaptive() && !method.is_adaptive_sde() {
                Some(format!("{} is adaptive", method.name()))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(input(
                    "brownian",
                    format!("--brownian tree draws the normals of fixed-step SDE methods; {why}"),
                ));
            }
        }
        if self.replicas == Some(0) {
            return Err(input("replicas", "replicas must be at least 1".into()));
        }
        // The points (one trajectory each without replicas), and all trajectories.
        let points = self.paths;
        let paths = points.saturating_mul(self.replicas.unwrap_or(1));
        if points == 0 || paths > MAX_PATHS {
            return Err(Error::Limit {
                what: "paths".into(),
                got: paths,
                max: MAX_PATHS,
                message: match self.replicas {
                    Some(r) => format!(
                        "{points} points x {r} replicas = {paths} trajectories; the points must be at least 1 and the trajectories at most {MAX_PATHS}"
                    ),
                    None => format!("paths must be between 1 and {MAX_PATHS}, got {paths}"),
                },
            });
        }
        if grid.steps == 0 || grid.steps > MAX_STEPS {
            return Err(Error::Limit {
                what: "steps".into(),
                got: grid.steps,
                max: MAX_STEPS,
                message: format!(
                    "steps must be between 1 and {MAX_STEPS}, got {}",
                    grid.steps
                ),
            });
        }
        if !(grid.dt.is_finite() && grid.dt > 0.0 && (grid.dt as f32) > 0.0) {
            return Err(input(
                "dt",
                format!(
                    "the time step must be positive and finite in f32, got {}",
                    grid.dt
                ),
            ));
        }
        if !grid.t0.is_finite() || !finite_f32(grid.t1()) {
            return Err(input("time grid", "the time grid is not finite".into()));
        }
        if let Some(ctl) = method.controller() {
            check_controller(&ctl, &grid, self.precision)?;
        }
        let dim = sys.dim();
        let x0 = self
            .x0
            .clone()
            .or_else(|| sys.defaults.x0.clone())
            .unwrap_or_else(|| vec![0.0; dim]);
        if x0.len() != dim {
            return Err(input(
                "x0",
                format!(
                    "system `{}` has {dim} state component{} ({}), but x0 has {}",
                    sys.name,
                    if dim == 1 { "" } else { "s" },
                    sys.state.join(", "),
                    x0.len()
                ),
            ));
        }
        let mut values: Vec<Value> = x0.into_iter().map(Value::Const).collect();
        values.extend(sys.params.iter().map(|p| Value::Const(p.1)));
        let mut names: Vec<String> = sys.state.iter().map(|s| format!("x0.{s}")).collect();
        names.extend(sys.params.iter().map(|p| p.0.clone()));
        let mut strides = vec![0u64; values.len()];
        let mut stride = 1u64;
        for (name, value) in &self.settings {
            let slot = if let Some(comp) = name.strip_prefix("x0.") {
                sys.state
                    .iter()
                    .position(|s| s == comp)
                    .or_else(|| comp.parse::<usize>().ok().filter(|k| *k < dim))
                    .ok_or_else(|| {
                        input(
                            name,
                            format!(
                                "`{name}`: system `{}` has state components {} (or indices 0..{})",
                                sys.name,
                                sys.state.join(", "),
                                dim - 1
                            ),
                        )
                    })?
            } else {
                dim + sys.param_index(name)?
            };
            match value {
                Value::Const(v) if !finite_f32(*v) => {
                    return Err(input(name, format!("`{name}`: {v} is not a finite f32")))
                }
                Value::Linspace { lo, hi }
                | Value::Logspace { lo, hi }
                | Value::Grid { lo, hi, .. }
                    if !finite_f32(*lo) || !finite_f32(*hi) =>
                {
                    return Err(input(
                        name,
                        format!("`{name}`: the range is not finite in f32"),
                    ))
                }
                Value::Logspace { lo, hi } if *lo <= 0.0 || *hi <= 0.0 => {
                    return Err(input(
                        name,
                        format!("`{name}`: a log sweep needs lo and hi > 0"),
                    ))
                }
                Value::Grid { n, .. } => {
                    if *n == 0 {
                        return Err(input(
                            name,
                            format!("`{name}`: a grid axis needs at least 1 point"),
                        ));
                    }
                    strides[slot] = stride;
                    stride = stride.saturating_mul(*n);
                }
                Value::Table(v) => {
                    if v.len() as u64 != points {
                        return Err(input(
                            name,
                            format!(
                                "`{name}`: {} values for {points} {}",
                                v.len(),
                                if self.replicas.is_some() {
                                    "points"
                                } else {
                                    "paths"
                                }
                            ),
                        ));
                    }
                    if let Some(bad) = v.iter().position(|x| !finite_f32(*x)) {
                        return Err(input(
                            name,
                            format!("`{name}`: value {bad} is not a finite f32"),
                        ));
                    }
                }
                _ => {}
            }
            values[slot] = value.clone();
        }
        if stride > 1 && stride != points {
            return Err(input(
                "paths",
                format!(
                    "the grid has {stride} cells but the ensemble has {points} {}; they must be equal",
                    if self.replicas.is_some() { "points" } else { "paths" }
                ),
            ));
        }
        for (i, v) in values.iter().enumerate() {
            if let Value::Const(c) = v {
                if !finite_f32(*c) {
                    return Err(input(
                        &names[i],
                        format!("`{}` = {c} is not a finite f32", names[i]),
                    ));
                }
            }
        }
        if let Some(Init::Normal(s) | Init::Uniform(s)) = &self.init {
            if s.len() != dim || s.iter().any(|v| !finite_f32(*v)) {
                return Err(input(
                    "init",
                    format!(
                        "random initial states need {dim} finite scales, one per state component"
                    ),
                ));
            }
        }
        let channels = sys.noise_channels() as u64;
        if grid.steps * channels > 4 * (u32::MAX as u64) {
            return Err(Error::Limit {
                what: "noise draws per trajectory".into(),
                got: grid.steps.saturating_mul(channels),
                max: 4 * (u32::MAX as u64),
                message: "too many steps for the noise counter".into(),
            });
        }
        let mut tables = 0;
        let inputs = values
            .iter()
            .enumerate()
            .map(|(slot, v)| match v {
                Value::Const(_) | Value::Linspace { .. } if self.init.is_none() || slot >= dim => {
                    let (b, s) = affine(v, points, self.precision);
                    Input::Affine(b, s)
                }
                _ => {
                    tables += 1;
                    Input::Table(tables - 1)
                }
            })
            .collect();
        // An adaptive SDE method steps on the tree's dyadic points: it always reads the tree.
        let brownian = if method.is_adaptive_sde() {
            crate::noise::Brownian::Tree
        } else {
            self.brownian
        };
        let top = if method.is_adaptive_sde() {
            1 << 20
        } else {
            1 << 28
        };
        if brownian == crate::noise::Brownian::Tree
            && !(grid.steps.is_power_of_two() && grid.steps <= top)
        {
            return Err(input(
                "brownian",
                format!(
                    "{} needs a power of two steps (at most 2^{}), so that every step ends on the tree's dyadic points; got {}",
                    if method.is_adaptive_sde() {
                        format!("{} (on the Brownian tree; --steps sets its first step)", method.name())
                    } else {
                        "--brownian tree".to_string()
                    },
                    top.trailing_zeros(),
                    grid.steps
                ),
            ));
        }
        let consts64 = StepConsts::of(&grid);
        Ok(Job {
            system: sys.clone(),
            method,
            paths,
            replicas: self.replicas,
            seed: self.seed,
            grid,
            steps: grid.steps as u32,
            precision: self.precision,
            consts: consts64.to_f32(),
            consts64,
            values,
            strides,
            init: self.init.clone(),
            inputs,
            tables,
            brownian,
        })
    }
}
