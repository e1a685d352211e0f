//! What to integrate: a system, how many trajectories, their initial states and parameters,
//! the time grid and the seed. `Ensemble::job` checks it all and resolves it into a [`Job`],
//! the plain numbers that kernels and CPU twins both consume.

use crate::error::{Error, Result};
use crate::method::Method;
use crate::system::System;

/// Trajectory indices are u32 in the noise counter; chunks round up to BLOCK.
pub const MAX_PATHS: u64 = (1u64 << 32) - 256;
/// Keeps step * channels / 4 (a Philox block index) inside one 32-bit counter word.
pub const MAX_STEPS: u64 = 1 << 30;

/// A per-trajectory input: a constant, or a linear sweep where trajectory i of N gets
/// lo + (hi - lo) * i / (N - 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Const(f64),
    Linspace { lo: f64, hi: f64 },
}

impl Value {
    /// (base, slope) in f32: trajectory i gets `base + slope * (i as f32)`, the formula the
    /// kernels evaluate (`params_at`, `x0_at`).
    pub fn affine(&self, paths: u64) -> (f32, f32) {
        match *self {
            Value::Const(v) => (v as f32, 0.0),
            Value::Linspace { lo, hi } => {
                let slope = if paths > 1 {
                    (hi - lo) / (paths - 1) as f64
                } else {
                    0.0
                };
                (lo as f32, slope as f32)
            }
        }
    }

    fn finite(&self) -> bool {
        let ok = |v: f64| v.is_finite() && v.abs() <= f32::MAX as f64;
        match *self {
            Value::Const(v) => ok(v),
            Value::Linspace { lo, hi } => ok(lo) && ok(hi),
        }
    }
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
}

/// The f32 step constants, computed once in f64 and rounded, shared by kernels and twins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepConsts {
    pub t0: f32,
    pub dt: f32,
    pub half_dt: f32,
    pub sixth_dt: f32,
    pub sqrt_dt: f32,
}

/// A checked, resolved run.
#[derive(Clone, Debug)]
pub struct Job {
    pub system: System,
    pub method: Method,
    pub paths: u64,
    pub seed: u64,
    pub grid: TimeGrid,
    pub steps: u32,
    pub consts: StepConsts,
    /// Initial state components, each (base, slope) as in [`Value::affine`].
    pub x0: Vec<(f32, f32)>,
    /// Parameters in the system's order, each (base, slope).
    pub params: Vec<(f32, f32)>,
}

impl Job {
    /// Trajectory i's initial state and parameters, as the kernels compute them.
    pub fn inputs_at(&self, i: u64) -> (Vec<f32>, Vec<f32>) {
        let fi = i as u32 as f32;
        let at = |v: &[(f32, f32)]| v.iter().map(|(b, s)| b + s * fi).collect();
        (at(&self.x0), at(&self.params))
    }

    /// Seed as Philox key words.
    pub fn key(&self) -> [u32; 2] {
        [self.seed as u32, (self.seed >> 32) as u32]
    }
}

impl Ensemble {
    /// `paths` trajectories of `system`, default parameters, initial state zero, seed 0.
    pub fn new(system: System, paths: u64) -> Ensemble {
        Ensemble {
            system,
            paths,
            seed: 0,
            x0: None,
            settings: Vec::new(),
        }
    }

    pub fn x0(mut self, x0: &[f64]) -> Self {
        self.x0 = Some(x0.to_vec());
        self
    }

    /// Sets a parameter, or an initial component as `x0.NAME` / `x0.INDEX`, for all paths.
    pub fn set(mut self, name: &str, value: f64) -> Self {
        self.settings.push((name.to_string(), Value::Const(value)));
        self
    }

    /// Sweeps a parameter (or `x0.NAME`) linearly from lo (path 0) to hi (path N-1).
    pub fn sweep(mut self, name: &str, lo: f64, hi: f64) -> Self {
        self.settings
            .push((name.to_string(), Value::Linspace { lo, hi }));
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks everything and resolves the numbers for `method` on `grid`.
    pub fn job(&self, method: Method, grid: TimeGrid) -> Result<Job> {
        let sys = &self.system;
        method.check_fits(sys)?;
        if self.paths == 0 || self.paths > MAX_PATHS {
            return Err(Error::Invalid(format!(
                "paths must be between 1 and {MAX_PATHS}, got {}",
                self.paths
            )));
        }
        if grid.steps == 0 || grid.steps > MAX_STEPS {
            return Err(Error::Invalid(format!(
                "steps must be between 1 and {MAX_STEPS}, got {}",
                grid.steps
            )));
        }
        if !(grid.dt.is_finite() && grid.dt > 0.0 && (grid.dt as f32) > 0.0) {
            return Err(Error::Invalid(format!(
                "the time step must be positive and finite in f32, got {}",
                grid.dt
            )));
        }
        if !grid.t0.is_finite() || !grid.t1().is_finite() || grid.t1().abs() > f32::MAX as f64 {
            return Err(Error::Invalid("the time grid is not finite".into()));
        }
        let dim = sys.dim();
        let x0 = self.x0.clone().unwrap_or_else(|| vec![0.0; dim]);
        if x0.len() != dim {
            return Err(Error::Invalid(format!(
                "system `{}` has {dim} state component{} ({}), but x0 has {}",
                sys.name,
                if dim == 1 { "" } else { "s" },
                sys.state.join(", "),
                x0.len()
            )));
        }
        let mut x0: Vec<Value> = x0.into_iter().map(Value::Const).collect();
        let mut params: Vec<Value> = sys.params.iter().map(|p| Value::Const(p.1)).collect();
        for (name, value) in &self.settings {
            if let Some(comp) = name.strip_prefix("x0.") {
                let k = sys
                    .state
                    .iter()
                    .position(|s| *s == comp)
                    .or_else(|| comp.parse::<usize>().ok().filter(|k| *k < dim))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "`{name}`: system `{}` has state components {} (or indices 0..{})",
                            sys.name,
                            sys.state.join(", "),
                            dim - 1
                        ))
                    })?;
                x0[k] = *value;
            } else {
                params[sys.param_index(name)?] = *value;
            }
        }
        for (i, v) in x0.iter().enumerate() {
            if !v.finite() {
                return Err(Error::Invalid(format!(
                    "initial component {} is not a finite f32",
                    sys.state[i]
                )));
            }
        }
        for (i, v) in params.iter().enumerate() {
            if !v.finite() {
                return Err(Error::Invalid(format!(
                    "parameter {} is not a finite f32",
                    sys.params[i].0
                )));
            }
        }
        let channels = sys.noise_channels() as u64;
        if grid.steps * channels > 4 * (u32::MAX as u64) {
            return Err(Error::Invalid(
                "too many steps for the noise counter".into(),
            ));
        }
        let dt = grid.dt;
        Ok(Job {
            system: sys.clone(),
            method,
            paths: self.paths,
            seed: self.seed,
            grid,
            steps: grid.steps as u32,
            consts: StepConsts {
                t0: grid.t0 as f32,
                dt: dt as f32,
                half_dt: (dt / 2.0) as f32,
                sixth_dt: (dt / 6.0) as f32,
                sqrt_dt: dt.sqrt() as f32,
            },
            x0: x0.iter().map(|v| v.affine(self.paths)).collect(),
            params: params.iter().map(|v| v.affine(self.paths)).collect(),
        })
    }
}
