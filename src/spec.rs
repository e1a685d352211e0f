//! Spec files: a system (and optionally a run) in TOML, the form users write and the form
//! every catalog system is written in. Unknown keys are errors that name the key; WGSL inside
//! the file keeps its line numbers, so compiler errors point into the spec file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::method::Method;
use crate::system::{Builtin, CodeOrigin, Defaults, Noise, System};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: Option<String>,
    description: Option<String>,
    reference: Option<String>,
    state: Vec<String>,
    #[serde(default)]
    params: toml::Table,
    noise: Option<String>,
    channels: Option<usize>,
    correlation: Option<Vec<Vec<f64>>>,
    x0: Option<Vec<f64>>,
    dt: Option<f64>,
    method: Option<String>,
    wgsl: Option<toml::Spanned<String>>,
    wgsl_file: Option<String>,
    twin: Option<String>,
    #[serde(default)]
    resizable: bool,
    run: Option<RunSpec>,
}

/// A file of per-trajectory values: `"rho.npy"`, `"values.csv"` (first column), or
/// `{ file = "values.csv", column = "rho" }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ValuesFile {
    Path(String),
    Column { file: String, column: String },
}

/// Random initial states around x0 from their own Philox stream (README, "Noise").
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    /// "normal" (x0 + scale z) or "uniform" (x0 + scale (2u - 1)).
    pub kind: String,
    /// One scale per state component.
    pub scale: Vec<f64>,
}

/// The `[run]` table: what `throng run --spec FILE` does unless flags say otherwise.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub method: Option<String>,
    /// "f32" or "f64".
    pub precision: Option<String>,
    pub paths: Option<u64>,
    pub steps: Option<u64>,
    pub dt: Option<f64>,
    pub t1: Option<f64>,
    pub t0: Option<f64>,
    pub seed: Option<u64>,
    pub x0: Option<Vec<f64>>,
    /// Parameter values for every trajectory.
    #[serde(default)]
    pub params: toml::Table,
    /// name = [lo, hi]: linear sweep across the ensemble.
    #[serde(default)]
    pub sweep: toml::Table,
    /// name = [lo, hi]: geometric sweep (lo, hi > 0).
    #[serde(default)]
    pub logsweep: toml::Table,
    /// name = [lo, hi, n]: a Cartesian grid; the first axis varies fastest.
    #[serde(default)]
    pub grid: toml::Table,
    /// name = file: one value per trajectory from NPY or CSV.
    #[serde(default)]
    pub values: toml::Table,
    pub init: Option<InitSpec>,
    /// Where the spec file lives (relative value files are resolved from there).
    #[serde(skip)]
    pub dir: PathBuf,
}

fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

fn toml_error(file: &str, text: &str, e: toml::de::Error) -> Error {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            Error::Invalid(format!("{file}:{l}:{c}: {msg}"))
        }
        None => Error::Invalid(format!("{file}: {msg}")),
    }
}

fn numbers(what: &str, table: &toml::Table) -> Result<Vec<(String, f64)>> {
    table
        .iter()
        .map(|(k, v)| match v {
            toml::Value::Float(f) => Ok((k.clone(), *f)),
            toml::Value::Integer(i) => Ok((k.clone(), *i as f64)),
            _ => Err(Error::Invalid(format!("{what}.{k} must be a number"))),
        })
        .collect()
}

/// Parses a spec. `file` names it in errors; `dir` resolves `wgsl_file` and value files.
pub fn parse(text: &str, file: &str, dir: &Path) -> Result<(System, Option<RunSpec>)> {
    let spec: SpecFile = toml::from_str(text).map_err(|e| toml_error(file, text, e))?;
    let name = spec.name.clone().unwrap_or_else(|| {
        Path::new(file)
            .file_stem()
            .map_or("system".into(), |s| s.to_string_lossy().into_owned())
    });
    let (wgsl, origin) = match (&spec.wgsl, &spec.wgsl_file) {
        (Some(code), None) => {
            // The string's span includes its quotes; a newline right after an opening
            // triple quote is not part of the value.
            let span = code.span();
            let raw = &text[span.clone()];
            let mut start = span.start;
            if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
                start += 3;
                if text[start..].starts_with("\r\n") {
                    start += 2;
                } else if text[start..].starts_with('\n') {
                    start += 1;
                }
            } else {
                start += 1;
            }
            let (line, _) = line_col(text, start);
            (
                code.get_ref().clone(),
                CodeOrigin {
                    name: file.to_string(),
                    line_offset: line - 1,
                },
            )
        }
        (None, Some(path)) => {
            let p = dir.join(path);
            let code = std::fs::read_to_string(&p)
                .map_err(|e| Error::Invalid(format!("{file}: wgsl_file `{}`: {e}", p.display())))?;
            (
                code,
                CodeOrigin {
                    name: p.display().to_string(),
                    line_offset: 0,
                },
            )
        }
        (Some(_), Some(_)) => {
            return Err(Error::Invalid(format!(
                "{file}: give `wgsl` or `wgsl_file`, not both"
            )))
        }
        (None, None) => {
            return Err(Error::Invalid(format!(
                "{file}: missing `wgsl` (or `wgsl_file`): the drift and diffusion"
            )))
        }
    };
    let d = spec.state.len();
    let noise = match spec.noise.as_deref() {
        None | Some("none") => Noise::None,
        Some("diagonal") => Noise::Diagonal,
        Some("scalar") => Noise::Scalar,
        Some("additive") => Noise::Additive,
        Some("general") => Noise::General {
            channels: spec
                .channels
                .ok_or_else(|| Error::Invalid(format!("{file}: noise = \"general\" needs `channels`")))?,
        },
        Some("correlated") => {
            let rows = spec
                .correlation
                .as_ref()
                .ok_or_else(|| Error::Invalid(format!("{file}: noise = \"correlated\" needs `correlation`")))?;
            if rows.len() != d || rows.iter().any(|r| r.len() != d) {
                return Err(Error::Invalid(format!(
                    "{file}: `correlation` must be {d} x {d}, one row per state component"
                )));
            }
            Noise::Correlated {
                corr: rows.concat(),
            }
        }
        Some(other) => {
            return Err(Error::Invalid(format!(
                "{file}: unknown noise `{other}` (none, diagonal, scalar, additive, general, correlated)"
            )))
        }
    };
    if spec.channels.is_some() && !matches!(noise, Noise::General { .. }) {
        return Err(Error::Invalid(format!(
            "{file}: `channels` applies to noise = \"general\" only"
        )));
    }
    if spec.correlation.is_some() && !matches!(noise, Noise::Correlated { .. }) {
        return Err(Error::Invalid(format!(
            "{file}: `correlation` applies to noise = \"correlated\" only"
        )));
    }
    let method = spec.method.as_deref().map(Method::parse).transpose()?;
    if let Some(x0) = &spec.x0 {
        if x0.len() != d {
            return Err(Error::Invalid(format!(
                "{file}: `x0` has {} values but `state` has {d} components",
                x0.len()
            )));
        }
    }
    let sys = System {
        name,
        description: spec.description.clone().unwrap_or_default(),
        state: spec.state.clone(),
        params: numbers("params", &spec.params)?,
        noise,
        wgsl,
        origin,
        defaults: Defaults {
            x0: spec.x0.clone(),
            dt: spec.dt,
            method,
        },
        reference: spec.reference.clone().unwrap_or_default(),
        twin: spec.twin.as_deref().and_then(Builtin::parse),
        resizable: spec.resizable,
    };
    sys.check()?;
    let run = spec.run.map(|mut r| {
        r.dir = dir.to_path_buf();
        r
    });
    Ok((sys, run))
}

/// Reads and parses a spec file.
pub fn load(path: &Path) -> Result<(System, Option<RunSpec>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read spec `{}`: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, &path.display().to_string(), dir)
}

impl RunSpec {
    /// Parameter overrides as numbers.
    pub fn param_values(&self) -> Result<Vec<(String, f64)>> {
        numbers("run.params", &self.params)
    }

    /// `name = [a, b, ...]` entries with exactly `n` numbers each.
    pub fn ranges(
        &self,
        what: &str,
        table: &toml::Table,
        n: usize,
    ) -> Result<Vec<(String, Vec<f64>)>> {
        table
            .iter()
            .map(|(k, v)| {
                let arr = v
                    .as_array()
                    .ok_or_else(|| Error::Invalid(format!("run.{what}.{k} must be a list")))?;
                let nums: Option<Vec<f64>> = arr
                    .iter()
                    .map(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64)))
                    .collect();
                match nums {
                    Some(v) if v.len() == n => Ok((k.clone(), v)),
                    _ => Err(Error::Invalid(format!(
                        "run.{what}.{k} must be a list of {n} numbers"
                    ))),
                }
            })
            .collect()
    }

    pub fn value_files(&self) -> Result<Vec<(String, ValuesFile)>> {
        self.values
            .iter()
            .map(|(k, v)| {
                ValuesFile::deserialize(v.clone())
                    .map(|f| (k.clone(), f))
                    .map_err(|_| {
                        Error::Invalid(format!(
                            "run.values.{k} must be a file name or {{ file, column }}"
                        ))
                    })
            })
            .collect()
    }
}
