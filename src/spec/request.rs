//! What a run asks for, before it is checked against a system: a spec's `[run]` table and
//! the command line's flags both fill one `RunRequest`, with the same value forms, and the
//! flags' request is laid over the spec's.

use serde::Deserialize;

use super::form::{de, de_table, Axis, Range, Setting, ValuesFile};
use crate::ensemble::Init;
use crate::method::Method;
use crate::precision::Precision;

/// Every field is optional: what is not given falls back to the system's defaults (or is
/// refused later, with the flag to give). Names are the `[run]` keys.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default, deserialize_with = "de")]
    pub method: Option<Method>,
    #[serde(default, deserialize_with = "de")]
    pub precision: Option<Precision>,
    /// dopri5's controller.
    #[serde(default, deserialize_with = "de")]
    pub rtol: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub atol: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub dt_min: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub dt_max: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub max_steps: Option<u32>,
    #[serde(default, deserialize_with = "de")]
    pub paths: Option<u64>,
    /// Trajectories per point (sweep or grid point), with statistics per point; `paths`
    /// then counts points.
    #[serde(default, deserialize_with = "de")]
    pub replicas: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub steps: Option<u64>,
    /// The step, or the end time: one of the two.
    #[serde(default, deserialize_with = "de")]
    pub dt: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub t1: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub t0: Option<f64>,
    #[serde(default, deserialize_with = "de")]
    pub seed: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub x0: Option<Vec<f64>>,
    /// name = value for every trajectory.
    #[serde(default, deserialize_with = "de_table")]
    pub params: Vec<Setting<f64>>,
    /// name = "lo:hi" (or [lo, hi]): linear sweep across the ensemble.
    #[serde(default, deserialize_with = "de_table")]
    pub sweep: Vec<Setting<Range>>,
    /// name = "lo:hi" (or [lo, hi]): geometric sweep (lo, hi > 0).
    #[serde(default, deserialize_with = "de_table")]
    pub logsweep: Vec<Setting<Range>>,
    /// name = "lo:hi:n" (or [lo, hi, n]): a Cartesian grid; the first axis varies fastest.
    #[serde(default, deserialize_with = "de_table")]
    pub grid: Vec<Setting<Axis>>,
    /// name = file: one value per trajectory from NPY or CSV.
    #[serde(default, deserialize_with = "de_table")]
    pub values: Vec<Setting<ValuesFile>>,
    #[serde(default, deserialize_with = "de")]
    pub init: Option<Init>,
    /// Statistics every K steps (and at the end).
    #[serde(default, deserialize_with = "de")]
    pub save_every: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub save_at: Option<Vec<f64>>,
    /// component = "lo:hi:bins" (or [lo, hi, bins]).
    #[serde(default, deserialize_with = "de_table")]
    pub hist: Vec<Setting<Axis>>,
    #[serde(default, deserialize_with = "de")]
    pub quantiles: Option<Vec<f64>>,
    #[serde(default, deserialize_with = "de")]
    pub keep_paths: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub keep_every: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub chunk: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub lanes: Option<u32>,
    #[serde(default, deserialize_with = "de")]
    pub dispatch_steps: Option<u64>,
    #[serde(default, deserialize_with = "de")]
    pub fuse: Option<bool>,
    #[serde(default, deserialize_with = "de")]
    pub brownian: Option<crate::noise::Brownian>,
}

impl RunRequest {
    /// `over` laid over `self`: each value `over` gives wins. The step and the end time are
    /// one choice, taken whole from whichever request makes it. A parameter set in `over`
    /// (as a value, sweep, grid axis or file) replaces every setting of it in `self`, so a
    /// flag can turn a `[run]` grid axis into a constant. Histograms add up.
    pub fn merge(self, over: RunRequest) -> RunRequest {
        let named = over.setting_names();
        let (dt, t1) = if over.dt.is_some() || over.t1.is_some() {
            (over.dt, over.t1)
        } else {
            (self.dt, self.t1)
        };
        RunRequest {
            method: over.method.or(self.method),
            precision: over.precision.or(self.precision),
            rtol: over.rtol.or(self.rtol),
            atol: over.atol.or(self.atol),
            dt_min: over.dt_min.or(self.dt_min),
            dt_max: over.dt_max.or(self.dt_max),
            max_steps: over.max_steps.or(self.max_steps),
            paths: over.paths.or(self.paths),
            replicas: over.replicas.or(self.replicas),
            steps: over.steps.or(self.steps),
            dt,
            t1,
            t0: over.t0.or(self.t0),
            seed: over.seed.or(self.seed),
            x0: over.x0.or(self.x0),
            params: layer(self.params, over.params, &named),
            sweep: layer(self.sweep, over.sweep, &named),
            logsweep: layer(self.logsweep, over.logsweep, &named),
            grid: layer(self.grid, over.grid, &named),
            values: layer(self.values, over.values, &named),
            init: over.init.or(self.init),
            save_every: over.save_every.or(self.save_every),
            save_at: over.save_at.or(self.save_at),
            hist: [self.hist, over.hist].concat(),
            quantiles: over.quantiles.or(self.quantiles),
            keep_paths: over.keep_paths.or(self.keep_paths),
            keep_every: over.keep_every.or(self.keep_every),
            chunk: over.chunk.or(self.chunk),
            lanes: over.lanes.or(self.lanes),
            dispatch_steps: over.dispatch_steps.or(self.dispatch_steps),
            fuse: over.fuse.or(self.fuse),
            brownian: over.brownian.or(self.brownian),
        }
    }

    /// Every parameter (or `x0.NAME`) this request sets.
    fn setting_names(&self) -> Vec<String> {
        fn names<T>(v: &[Setting<T>]) -> impl Iterator<Item = &str> {
            v.iter().map(|s| s.name.as_str())
        }
        names(&self.params)
            .chain(names(&self.sweep))
            .chain(names(&self.logsweep))
            .chain(names(&self.grid))
            .chain(names(&self.values))
            .map(String::from)
            .collect()
    }
}

/// `under` without the names in `named`, then `over`.
fn layer<T>(under: Vec<Setting<T>>, over: Vec<Setting<T>>, named: &[String]) -> Vec<Setting<T>> {
    under
        .into_iter()
        .filter(|s| !named.contains(&s.name))
        .chain(over)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> RunRequest {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_run_table_takes_numbers_lists_and_the_flags_text() {
        let a = run(
            "paths = 1000000\nsteps = 100\ngrid = { delta = [0.05, 0.5, 64] }\n\
                     sweep = { rho = [0, 50] }\nx0 = [1, 0]",
        );
        let b = run(
            "paths = \"1e6\"\nsteps = 1e2\ngrid = { delta = \"0.05:0.5:64\" }\n\
                     sweep = { rho = \"0:50\" }\nx0 = \"1,0\"",
        );
        assert_eq!(a, b);
        assert_eq!(a.paths, Some(1_000_000));
        assert_eq!(a.grid[0].value.n, 64);
        let e = toml::from_str::<RunRequest>("paths = 12.5").unwrap_err();
        assert!(e.message().contains("`12.5` is not a whole number"), "{e}");
        let e = toml::from_str::<RunRequest>("grid = { delta = [0, 1] }").unwrap_err();
        assert!(e.message().contains("delta: expected \"LO:HI:N\""), "{e}");
        assert!(toml::from_str::<RunRequest>("pathz = 1").is_err());
    }

    #[test]
    fn settings_keep_the_order_written() {
        let r = run("grid = { b = [0, 1, 2], a = [0, 1, 3] }");
        let names: Vec<&str> = r.grid.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn flags_win_and_replace_what_they_name() {
        let spec = run("paths = 10\nsteps = 5\nt1 = 2\nseed = 7\n\
                        grid = { delta = [0, 1, 8], sigma = [0, 1, 8] }\nhist = { x = \"0:1:4\" }");
        let flags = run("steps = 9\ndt = 0.1\nparams = { delta = 0.3 }\nhist = { v = \"0:1:4\" }");
        let m = spec.merge(flags);
        assert_eq!((m.paths, m.steps, m.seed), (Some(10), Some(9), Some(7)));
        // The step and the end time are one choice: the flags' dt drops the spec's t1.
        assert_eq!((m.dt, m.t1), (Some(0.1), None));
        // A flag's value for delta replaces the spec's grid axis over it.
        assert_eq!(m.grid.len(), 1);
        assert_eq!(m.grid[0].name, "sigma");
        assert_eq!(m.params[0].name, "delta");
        assert_eq!(m.hist.len(), 2);
    }
}
