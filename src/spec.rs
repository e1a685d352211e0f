//! Spec files: a system (and optionally a run) in TOML, the form users write and the form
//! every catalog system is written in. Unknown keys are errors that name the key; WGSL inside
//! the file keeps its line numbers, so compiler errors point into the spec file.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Location, Result};
use crate::method::Method;
use crate::system::{CodeOrigin, Defaults, Noise, System};

pub mod form;
mod request;

pub use form::{Axis, Range, Setting, ValuesFile};
pub use request::RunRequest;

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
    #[serde(default)]
    resizable: bool,
    run: Option<RunRequest>,
}

fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

fn toml_error(file: &str, text: &str, e: toml::de::Error) -> Error {
    let at = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            Location::at(file, l, c)
        }
        None => Location::file(file),
    };
    Error::Spec {
        at,
        message: e.message().trim().to_string(),
    }
}

/// An error in spec `file` as a whole.
fn wrong(file: &str, message: impl Into<String>) -> Error {
    Error::Spec {
        at: Location::file(file),
        message: message.into(),
    }
}

fn numbers(what: &str, table: &toml::Table) -> Result<Vec<(String, f64)>> {
    table
        .iter()
        .map(|(k, v)| match v {
            toml::Value::Float(f) => Ok((k.clone(), *f)),
            toml::Value::Integer(i) => Ok((k.clone(), *i as f64)),
            _ => Err(Error::Input {
                what: format!("{what}.{k}"),
                message: format!("{what}.{k} must be a number"),
            }),
        })
        .collect()
}

/// Parses a spec. `file` names it in errors; `dir` resolves `wgsl_file` and value files.
pub fn parse(text: &str, file: &str, dir: &Path) -> Result<(System, Option<RunRequest>)> {
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
            let code = std::fs::read_to_string(&p).map_err(|source| Error::Io {
                what: format!("{file}: wgsl_file `{}`", p.display()),
                source,
            })?;
            (
                code,
                CodeOrigin {
                    name: p.display().to_string(),
                    line_offset: 0,
                },
            )
        }
        (Some(_), Some(_)) => return Err(wrong(file, "give `wgsl` or `wgsl_file`, not both")),
        (None, None) => {
            return Err(wrong(
                file,
                "missing `wgsl` (or `wgsl_file`): the drift and diffusion",
            ))
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
                .ok_or_else(|| wrong(file, "noise = \"general\" needs `channels`"))?,
        },
        Some("correlated") => {
            let rows = spec
                .correlation
                .as_ref()
                .ok_or_else(|| wrong(file, "noise = \"correlated\" needs `correlation`"))?;
            if rows.len() != d || rows.iter().any(|r| r.len() != d) {
                return Err(wrong(
                    file,
                    format!("`correlation` must be {d} x {d}, one row per state component"),
                ));
            }
            Noise::Correlated {
                corr: rows.concat(),
            }
        }
        Some(other) => {
            return Err(wrong(
                file,
                format!(
                "unknown noise `{other}` (none, diagonal, scalar, additive, general, correlated)"
            ),
            ))
        }
    };
    if spec.channels.is_some() && !matches!(noise, Noise::General { .. }) {
        return Err(wrong(
            file,
            "`channels` applies to noise = \"general\" only",
        ));
    }
    if spec.correlation.is_some() && !matches!(noise, Noise::Correlated { .. }) {
        return Err(wrong(
            file,
            "`correlation` applies to noise = \"correlated\" only",
        ));
    }
    let method = spec.method.as_deref().map(Method::parse).transpose()?;
    if let Some(x0) = &spec.x0 {
        if x0.len() != d {
            return Err(wrong(
                file,
                format!(
                    "`x0` has {} values but `state` has {d} components",
                    x0.len()
                ),
            ));
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
        // Only the catalog attaches a Rust twin (`catalog::get`): a spec cannot name one.
        twin: None,
        resizable: spec.resizable,
    };
    sys.check()?;
    let run = match spec.run {
        Some(r) if r.dt.is_some() && r.t1.is_some() => {
            return Err(wrong(file, "[run] takes `dt` or `t1`, not both"))
        }
        // Value files are named relative to the spec, wherever it is run from.
        Some(mut r) => {
            for v in &mut r.values {
                v.value.file = dir.join(&v.value.file);
            }
            Some(r)
        }
        None => None,
    };
    Ok((sys, run))
}

/// Reads and parses a spec file.
pub fn load(path: &Path) -> Result<(System, Option<RunRequest>)> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: format!("cannot read spec `{}`", path.display()),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, &path.display().to_string(), dir)
}
