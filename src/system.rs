//! Systems: the drift f(t, x, p) and diffusion g(t, x, p) of an ODE or SDE, written in WGSL
//! over the state type `S` (`array<R, DIM>`), the diffusion type `G` and a `Params` struct
//! whose fields are the parameters by name. Built-ins, the catalog and user systems are the
//! same thing: a spec (`spec.rs`) or a `System::wgsl` builder. The four original built-ins
//! also have Rust twins (`cpu::systems`), the oracle of the tests.

use crate::error::{Error, Result};
use crate::method::{Method, METHODS};
pub use crate::noise::Noise;

pub mod wgsl;

/// Largest state dimension (and number of noise channels) kept in registers.
pub const MAX_DIM: usize = 16;

/// Rows of a system throng derives (state, tangent vectors and their sums).
pub const MAX_DERIVED_DIM: usize = 64;

/// The four systems with Rust twins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Gbm,
    Ou,
    Lorenz,
    Linear,
}

impl Builtin {
    pub fn parse(name: &str) -> Option<Builtin> {
        match name {
            "gbm" => Some(Builtin::Gbm),
            "ou" => Some(Builtin::Ou),
            "lorenz" => Some(Builtin::Lorenz),
            "linear" => Some(Builtin::Linear),
            _ => None,
        }
    }
}

/// Where a system's WGSL came from, so errors can name the user's file, line and column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CodeOrigin {
    /// A file name, or a label such as `<drift snippet>`.
    pub name: String,
    /// Lines before the code's first line in that file (code inside a spec file).
    pub line_offset: usize,
    /// Where the code's characters sit in the file when that is not simply `line_offset`
    /// lines down in the same column (code after the opening quotes, escapes such as `\n`
    /// in a TOML basic string, a line-ending backslash): for each line of the code, runs
    /// `(column, file line, file column)`, all 1-based and in characters, each saying that
    /// from `column` on the code's characters are consecutive characters of the file from
    /// that place. Empty when the plain offset says it.
    pub runs: Vec<Vec<(usize, usize, usize)>>,
}

impl CodeOrigin {
    /// The file line and column of 1-based `line` and character `column` of the code.
    pub fn place(&self, line: usize, column: usize) -> (usize, usize) {
        let runs = line.checked_sub(1).and_then(|l| self.runs.get(l));
        match runs.and_then(|r| r.iter().rev().find(|run| run.0 <= column).or(r.first())) {
            Some(&(c, fl, fc)) => (fl, (fc + column).saturating_sub(c).max(1)),
            None => (line + self.line_offset, column),
        }
    }
}

/// What a system suggests when the run does not say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Defaults {
    pub x0: Option<Vec<f64>>,
    pub dt: Option<f64>,
    pub method: Option<Method>,
}

/// Whether a system is a flow (x' = drift, integrated by a step method) or a discrete map
/// (x_{n+1} = map(n, x_n), iterated; n is the grid's time t0 + k dt, dt 1 by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Flow,
    Map,
}

/// A system: names, dimension, parameters with defaults, noise, and its WGSL.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    pub name: String,
    pub description: String,
    /// Names of the state components, in order.
    pub state: Vec<String>,
    /// Parameter names and default values, in the order of the WGSL `Params` struct.
    pub params: Vec<(String, f64)>,
    pub noise: Noise,
    /// WGSL defining `drift` (and `diffusion` unless the noise is `None`).
    pub wgsl: String,
    pub origin: CodeOrigin,
    pub defaults: Defaults,
    /// Literature reference for the equations and defaults.
    pub reference: String,
    /// The Rust twin, for the built-ins that have one.
    pub twin: Option<Builtin>,
    /// The dimension may be chosen (`NAME:N`); the WGSL is written over DIM.
    pub resizable: bool,
    /// A flow (`drift`, `diffusion`) or a discrete map (`map`).
    pub kind: Kind,
    /// Rows kept beside the state but not integrated (systems throng derives): the WGSL's
    /// `project` reads and writes them as `carried[j]`; they start at 0 and sit after every
    /// other row.
    pub carried: Vec<String>,
    /// 64-bit counters the WGSL's `project` may add to on the device (`tally_add(on, idx)`;
    /// `traj_now` is the lanes' trajectory indices), read back as `Solution::tally`.
    pub tally: u32,
    /// Built by throng from another system (the tangent-augmented systems of the chaos
    /// toolkit): its rows may number up to [`MAX_DERIVED_DIM`].
    pub derived: bool,
    /// Named read-only arrays the WGSL reads as `NAME(i)` (a value of the run's precision;
    /// an index past the end reads the last value) with `NAME_LEN` values: mixture
    /// parameters, data points, a sampler's coefficients, small network weights.
    pub tables: Vec<(String, Vec<f64>)>,
}

impl System {
    /// A user system from WGSL code defining `drift` (and `diffusion`), with state component
    /// names and parameters (name, default).
    pub fn wgsl(
        name: &str,
        state: &[&str],
        params: &[(&str, f64)],
        noise: Noise,
        code: &str,
    ) -> Result<System> {
        let sys = System {
            name: name.to_string(),
            description: String::new(),
            state: state.iter().map(|s| s.to_string()).collect(),
            params: params.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            noise,
            wgsl: code.to_string(),
            origin: CodeOrigin {
                name: format!("<{name}>"),
                ..CodeOrigin::default()
            },
            defaults: Defaults::default(),
            reference: String::new(),
            twin: None,
            resizable: false,
            kind: Kind::Flow,
            carried: Vec::new(),
            tally: 0,
            derived: false,
            tables: Vec::new(),
        };
        sys.check()?;
        Ok(sys)
    }

    /// An error in this system's definition.
    fn invalid(&self, message: String) -> Error {
        Error::System {
            system: self.name.clone(),
            message,
        }
    }

    /// Structural checks that need no compiler: names, dimensions, noise shapes.
    pub fn check(&self) -> Result<()> {
        let d = self.dim();
        let max = if self.derived {
            MAX_DERIVED_DIM
        } else {
            MAX_DIM
        };
        if d == 0 || d > max {
            return Err(Error::Limit {
                what: "state components".into(),
                got: d as u64,
                max: max as u64,
                message: format!(
                    "system `{}`: the state has {d} components; throng keeps 1 to {max} in registers",
                    self.name
                ),
            });
        }
        // Parameters become fields of the WGSL `Params` struct; state names name rows,
        // `x0.NAME` and outputs. Both must be WGSL names, and each given once.
        for (what, names) in [
            ("state component", self.state.iter().collect::<Vec<_>>()),
            ("parameter", self.params.iter().map(|p| &p.0).collect()),
        ] {
            let mut seen = std::collections::HashSet::new();
            for n in names {
                if let Some(why) = wgsl::name_problem(n) {
                    return Err(self.invalid(format!("{what} {why}")));
                }
                if !seen.insert(n) {
                    return Err(self.invalid(format!("{what} `{n}` given twice")));
                }
            }
        }
        for (n, v) in &self.params {
            if !v.is_finite() {
                return Err(self.invalid(format!("parameter `{n}` is not finite")));
            }
        }
        if self.kind == Kind::Map && !matches!(self.noise, Noise::None | Noise::General { .. }) {
            return Err(self.invalid(format!(
                "a map has no noise or noise = \"general\" (its `fn map(n, x, p, w)` takes the normals), not {}",
                self.noise.name()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for (name, values) in &self.tables {
            if let Some(why) = wgsl::name_problem(name) {
                return Err(self.invalid(format!("table {why}")));
            }
            if !seen.insert(name) || self.params.iter().any(|p| &p.0 == name) {
                return Err(self.invalid(format!(
                    "table `{name}` is named twice (tables and parameters need distinct names)"
                )));
            }
            if values.is_empty() || values.len() > u32::MAX as usize {
                return Err(self.invalid(format!(
                    "table `{name}` has {} values; give 1 to 2^32 - 1",
                    values.len()
                )));
            }
        }
        match &self.noise {
            Noise::General { channels } if *channels == 0 || *channels > max => {
                return Err(Error::Limit {
                    what: "noise channels".into(),
                    got: *channels as u64,
                    max: max as u64,
                    message: format!(
                        "system `{}`: general noise needs 1 to {max} channels, got {channels}",
                        self.name
                    ),
                })
            }
            Noise::Correlated { corr } => {
                if corr.len() != d * d {
                    return Err(self.invalid(format!(
                        "the correlation matrix must be {d} x {d} (one row per state component), got {} entries",
                        corr.len()
                    )));
                }
                if let Some(k) = corr.iter().position(|v| !v.is_finite()) {
                    return Err(self.invalid(format!(
                        "correlation entry ({}, {}) is {}; every entry must be a finite number",
                        k / d,
                        k % d,
                        corr[k]
                    )));
                }
                cholesky(corr, d).map_err(|e| self.invalid(e))?;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn dim(&self) -> usize {
        self.state.len()
    }

    /// The tables' values one after another, as `Buf::Data` holds them.
    pub fn table_values(&self) -> Vec<f64> {
        self.tables
            .iter()
            .flat_map(|t| t.1.iter().copied())
            .collect()
    }

    /// Number of independent Wiener processes.
    pub fn noise_channels(&self) -> usize {
        match &self.noise {
            Noise::None => 0,
            Noise::Scalar => 1,
            Noise::General { channels } => *channels,
            Noise::Diagonal | Noise::Additive | Noise::Correlated { .. } => self.dim(),
        }
    }

    /// Number of values `diffusion` returns.
    pub fn diffusion_len(&self) -> usize {
        match &self.noise {
            Noise::None => 0,
            Noise::General { channels } => self.dim() * channels,
            _ => self.dim(),
        }
    }

    /// Index of a parameter by name.
    pub fn param_index(&self, name: &str) -> Result<usize> {
        self.params
            .iter()
            .position(|p| p.0 == name)
            .ok_or_else(|| Error::UnknownParameter {
                system: self.name.clone(),
                name: name.to_string(),
                known: self
                    .params
                    .iter()
                    .map(|p| p.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Lower-triangular L with L L^T = a (n x n, row-major), or why a is not positive definite.
pub fn cholesky(a: &[f64], n: usize) -> std::result::Result<Vec<f64>, String> {
    for i in 0..n {
        for j in 0..n {
            if (a[i * n + j] - a[j * n + i]).abs() > 1e-12 {
                return Err(format!(
                    "the correlation matrix is not symmetric at ({i}, {j})"
                ));
            }
        }
        if (a[i * n + i] - 1.0).abs() > 1e-12 {
            return Err(format!(
                "a correlation matrix has ones on its diagonal; entry ({i}, {i}) is {}",
                a[i * n + i]
            ));
        }
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let v = a[i * n + i] - s;
                if v <= 1e-12 {
                    return Err("the correlation matrix is not positive definite".into());
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// Whether WGSL code defines `fn NAME`: outside comments (`wgsl::outline`), as naga reads it.
pub fn defines(code: &str, name: &str) -> bool {
    wgsl::outline(code).defines(name)
}

/// Which per-trajectory functionals a system defines (shaders/functionals.wgsl).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Functionals {
    pub stop: bool,
    pub event: bool,
    pub payoff: bool,
}

impl Functionals {
    pub fn of(sys: &System) -> Functionals {
        let o = wgsl::outline(&sys.wgsl);
        Functionals {
            stop: o.defines("stop"),
            event: o.defines("event"),
            payoff: o.defines("payoff"),
        }
    }

    pub fn any(&self) -> bool {
        self.stop || self.event || self.payoff
    }

    /// Names of the rows they add after the state, in order.
    pub fn rows(&self) -> Vec<&'static str> {
        let mut r = Vec::new();
        if self.stop {
            r.extend(["tau", "hit"]);
        }
        if self.event {
            r.push("events");
        }
        if self.payoff {
            r.push("payoff");
        }
        r
    }
}

/// Whether the system's WGSL defines `fn project`, applied after every step.
pub fn defines_project(code: &str) -> bool {
    defines(code, "project")
}

/// Whether a method fits a system: defined here rather than in `method`, which comes before
/// `system` in the layers (ARCHITECTURE.md), because the answer needs the system.
impl Method {
    /// An error if this method cannot integrate `system`, naming the methods that can.
    pub fn check_fits(self, system: &System) -> Result<()> {
        let Some(why) = self.refusal(system) else {
            return Ok(());
        };
        let fits: Vec<&str> = METHODS
            .iter()
            .filter(|m| m.method.refusal(system).is_none())
            .map(|m| m.name)
            .collect();
        let mut message = format!("method {} {why}", self.name());
        if !fits.is_empty() {
            message += &format!("; use --method {}", or_list(&fits));
        }
        Err(Error::MethodDoesNotFit {
            method: self.name(),
            system: system.name.clone(),
            message,
        })
    }

    /// Why this method cannot integrate `system`, if it cannot.
    fn refusal(self, system: &System) -> Option<String> {
        let info = self.info();
        let name = &system.name;
        let kind = system.noise.name();
        match (system.kind, matches!(self, Method::Iterate)) {
            (Kind::Map, false) => {
                return Some(format!("integrates flows, but `{name}` is a map"));
            }
            (Kind::Flow, true) => {
                return Some(format!(
                    "iterates maps, but `{name}` is a flow (a map has kind = \"map\" and defines `fn map`)"
                ));
            }
            _ => {}
        }
        if info.noise == ["none"] && system.noise != Noise::None {
            return Some(format!("integrates ODEs, but `{name}` is an SDE"));
        }
        if !info.noise.contains(&"none") && system.noise == Noise::None {
            return Some(format!("integrates SDEs, but `{name}` is an ODE"));
        }
        if info.needs_linear && !defines(&system.wgsl, "linear") {
            return Some(format!(
                "needs the linear part: `fn linear(t: F, p: Params) -> S`, the diagonal of A, in `{name}`"
            ));
        }
        if !info.noise.contains(&kind) {
            let kinds: Vec<&str> = info
                .noise
                .iter()
                .copied()
                .filter(|k| *k != "none")
                .collect();
            return Some(format!(
                "needs {} noise; `{name}` has {kind} noise",
                or_list(&kinds)
            ));
        }
        None
    }
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::method::{Method, METHODS};

    #[test]
    fn refusals_name_the_methods_that_fit() {
        let sys = |noise: Noise, linear: bool| {
            let mut code =
                String::from("fn drift(t: F, x: S, p: Params) -> S {\n    return S(-x[0]);\n}\n");
            if noise != Noise::None {
                code += "fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(R(0.1));\n}\n";
            }
            if linear {
                code += "fn linear(t: F, p: Params) -> S {\n    return S(R(-1.0));\n}\n";
            }
            System::wgsl("s", &["x"], &[], noise, &code).unwrap()
        };
        let err = |m: Method, s: &System| m.check_fits(s).unwrap_err().to_string();
        assert_eq!(
            err(Method::Rk4, &sys(Noise::Scalar, false)),
            "method rk4 integrates ODEs, but `s` is an SDE; use --method em, milstein, heun or adaptive-milstein"
        );
        assert_eq!(
            err(Method::Heun, &sys(Noise::None, true)),
            "method heun integrates SDEs, but `s` is an ODE; use --method em, setd1, etdrk2, etdrk4, rk4 or dopri5"
        );
        let mut map = sys(Noise::None, false);
        map.kind = Kind::Map;
        assert_eq!(
            err(Method::Rk4, &map),
            "method rk4 integrates flows, but `s` is a map; use --method iterate"
        );
        assert_eq!(
            err(Method::Iterate, &sys(Noise::None, false)),
            "method iterate iterates maps, but `s` is a flow (a map has kind = \"map\" and defines `fn map`); use --method em, rk4 or dopri5"
        );
        assert!(err(Method::Setd1, &sys(Noise::Diagonal, false))
            .starts_with("method setd1 needs the linear part"));
        assert_eq!(
            err(Method::Etdrk4, &sys(Noise::Scalar, true)),
            "method etdrk4 needs diagonal or additive noise; `s` has scalar noise; use --method em, milstein, heun or adaptive-milstein"
        );
        // Every method fits exactly the noise kinds its row claims.
        let kinds = [
            Noise::None,
            Noise::Diagonal,
            Noise::Scalar,
            Noise::Additive,
            Noise::General { channels: 1 },
            Noise::Correlated { corr: vec![1.0] },
        ];
        for m in METHODS {
            for noise in &kinds {
                // `iterate` takes maps, which have no noise; the flows here are refused.
                let mut s = sys(noise.clone(), true);
                if matches!(m.method, Method::Iterate) {
                    s.kind = Kind::Map;
                }
                let fits = m.method.check_fits(&s).is_ok();
                assert_eq!(
                    fits,
                    m.noise.contains(&noise.name()),
                    "{} {noise:?}",
                    m.name
                );
            }
        }
    }

    use super::*;

    #[test]
    fn names_must_be_wgsl_names_given_once() {
        let code = "fn drift(t: F, x: S, p: Params) -> S {\n    return x;\n}\n";
        let err = |state: &[&str], params: &[(&str, f64)]| {
            System::wgsl("s", state, params, Noise::None, code)
                .unwrap_err()
                .to_string()
        };
        for kw in ["fn", "loop", "self", "_", "override", "Self", "while"] {
            let e = err(&["x"], &[(kw, 1.0)]);
            assert!(
                e.starts_with(&format!("system `s`: parameter `{kw}` is")),
                "{e}"
            );
            let e = err(&[kw], &[]);
            assert!(
                e.starts_with(&format!("system `s`: state component `{kw}` is")),
                "{e}"
            );
        }
        assert_eq!(
            err(&["x", "x"], &[]),
            "system `s`: state component `x` given twice"
        );
        assert_eq!(
            err(&["x"], &[("k", 1.0), ("k", 2.0)]),
            "system `s`: parameter `k` given twice"
        );
        // A state component and a parameter may share a name (`x0.x` and `x` differ).
        System::wgsl("s", &["x"], &[("x", 1.0)], Noise::None, code).unwrap();
    }

    #[test]
    fn non_finite_correlations_are_refused() {
        let code = "fn drift(t: F, x: S, p: Params) -> S {\n    return x;\n}\n\
                    fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(R(1.0), R(1.0));\n}\n";
        for bad in [f64::NAN, f64::INFINITY] {
            let noise = Noise::Correlated {
                corr: vec![1.0, bad, bad, 1.0],
            };
            let e = System::wgsl("s", &["a", "b"], &[], noise, code)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("correlation entry (0, 1) is") && e.contains("finite"),
                "{e}"
            );
        }
    }

    #[test]
    fn functions_in_comments_are_not_defined() {
        let code = "// fn stop(t: F, x: S, p: Params) -> B { return B(true); }\n\
                    /* fn payoff(x: S, p: Params) -> R { return x[0]; }\n */\n\
                    fn drift(t: F, x: S, p: Params) -> S {\n    return x; // fn event\n}\n";
        let sys = System::wgsl("s", &["x"], &[], Noise::None, code).unwrap();
        assert_eq!(Functionals::of(&sys), Functionals::default());
        assert!(defines(code, "drift") && !defines_project(code) && !defines(code, "linear"));
        let code = format!(
            "{code}fn stop(t: F, x: S, p: Params) -> B {{\n    return x[0] > R(1.0);\n}}\n"
        );
        let sys = System::wgsl("s", &["x"], &[], Noise::None, &code).unwrap();
        assert!(Functionals::of(&sys).stop);
    }

    #[test]
    fn cholesky_factors_and_refuses_indefinite_matrices() {
        let a = [1.0, 0.5, 0.2, 0.5, 1.0, 0.3, 0.2, 0.3, 1.0];
        let l = cholesky(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((v - a[i * 3 + j]).abs() < 1e-14);
            }
        }
        assert!(cholesky(&[1.0, 1.5, 1.5, 1.0], 2)
            .unwrap_err()
            .contains("not positive definite"));
        assert!(cholesky(&[1.0, 0.5, 0.4, 1.0], 2)
            .unwrap_err()
            .contains("not symmetric"));
    }
}
