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
    /// "flow" (the default) or "map".
    kind: Option<String>,
    /// Named arrays the WGSL reads (`NAME(i)`): a file (NPY or CSV, resolved beside the
    /// spec) or the numbers inline.
    #[serde(default)]
    tables: toml::Table,
    run: Option<RunRequest>,
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let mut byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |p| p + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Where the characters of the TOML string at `span` of `text` sit in the file: reads the
/// string as TOML does (quotes, a newline after opening triple quotes, escapes, a
/// line-ending backslash) and keeps each character's place, so that errors in code written
/// on the `wgsl = '''` line, in a one-line string with `\n` escapes or across a line-ending
/// backslash point where the code is. `value` is the string TOML read; should this reading
/// disagree with it, the code is placed by its first line only.
/// Where WGSL given as the TOML string at `span` of `text` sits in `file`.
pub fn code_origin(
    text: &str,
    span: std::ops::Range<usize>,
    value: &str,
    file: &str,
) -> CodeOrigin {
    let raw = &text[span.clone()];
    let quotes = if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let basic = raw.starts_with('"');
    let mut start = span.start + quotes;
    if quotes == 3 {
        if text[start..].starts_with("\r\n") {
            start += 2;
        } else if text[start..].starts_with('\n') {
            start += 1;
        }
    }
    let end = span.end.saturating_sub(quotes).max(start);
    let (line0, col0) = line_col(text, start);
    let plain = CodeOrigin {
        name: file.to_string(),
        line_offset: line0 - 1,
        runs: Vec::new(),
    };
    // Each character of the value and its (line, column) in the file.
    let mut chars: Vec<(char, usize, usize)> = Vec::new();
    let body: Vec<char> = text[start..end].chars().collect();
    let (mut line, mut col) = (line0, col0);
    let step = |c: char, line: &mut usize, col: &mut usize| {
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if basic && c == '\\' {
            let next = body.get(i + 1).copied();
            let simple = match next {
                Some('b') => Some('\u{8}'),
                Some('t') => Some('\t'),
                Some('n') => Some('\n'),
                Some('f') => Some('\u{c}'),
                Some('r') => Some('\r'),
                Some('e') => Some('\u{1b}'),
                Some('"') => Some('"'),
                Some('\\') => Some('\\'),
                _ => None,
            };
            let hex = match next {
                Some('x') => 2,
                Some('u') => 4,
                Some('U') => 8,
                _ => 0,
            };
            if let Some(v) = simple {
                chars.push((v, line, col));
                col += 2;
                i += 2;
            } else if hex > 0 {
                let digits: String = body.iter().skip(i + 2).take(hex).collect();
                match u32::from_str_radix(&digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(v) => chars.push((v, line, col)),
                    None => return plain,
                }
                col += 2 + hex;
                i += 2 + hex;
            } else {
                // A line-ending backslash: it, the newline and the whitespace after vanish.
                let mut j = i + 1;
                while j < body.len() && matches!(body[j], ' ' | '\t') {
                    j += 1;
                }
                if !matches!(body.get(j), Some('\n') | Some('\r')) {
                    return plain;
                }
                for &w in &body[i..j] {
                    step(w, &mut line, &mut col);
                }
                while j < body.len() && body[j].is_whitespace() {
                    step(body[j], &mut line, &mut col);
                    j += 1;
                }
                i = j;
            }
            continue;
        }
        chars.push((c, line, col));
        step(c, &mut line, &mut col);
        i += 1;
    }
    if chars.iter().map(|c| c.0).collect::<String>() != value {
        return plain;
    }
    // Runs per line of the code, with the newline that ends a line (so that an empty line
    // and the end of a line have a place too).
    let mut runs: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new()];
    let mut column = 1;
    let mut prev: Option<(usize, usize)> = None;
    for &(c, l, k) in &chars {
        let current = runs.last_mut().expect("one line at least");
        if current.is_empty() || prev != Some((l, k.wrapping_sub(1))) {
            current.push((column, l, k));
        }
        prev = Some((l, k));
        column += 1;
        if c == '\n' {
            runs.push(Vec::new());
            column = 1;
            prev = None;
        }
    }
    let trivial = runs
        .iter()
        .enumerate()
        .all(|(n, r)| r.is_empty() || (r.len() == 1 && r[0] == (1, line0 + n, 1)));
    CodeOrigin {
        runs: if trivial { Vec::new() } else { runs },
        ..plain
    }
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

/// The spec's `[tables]`: each a file (NPY or CSV beside the spec) or numbers inline.
pub fn tables(file: &str, dir: &Path, table: &toml::Table) -> Result<Vec<(String, Vec<f64>)>> {
    let mut out = Vec::new();
    for (name, v) in table {
        if let Some(why) = crate::system::wgsl::name_problem(name) {
            return Err(wrong(file, format!("table {why}")));
        }
        let values = match v {
            toml::Value::String(path) => crate::values::read(&dir.join(path), None)?,
            toml::Value::Array(items) => items
                .iter()
                .map(|x| match x {
                    toml::Value::Float(f) => Ok(*f),
                    toml::Value::Integer(i) => Ok(*i as f64),
                    _ => Err(wrong(file, format!("table `{name}` must hold numbers"))),
                })
                .collect::<Result<Vec<f64>>>()?,
            _ => {
                return Err(wrong(
                    file,
                    format!("table `{name}` is a file name (NPY or CSV) or an array of numbers"),
                ))
            }
        };
        if values.is_empty() || values.iter().any(|x| !x.is_finite()) {
            return Err(wrong(
                file,
                format!("table `{name}` must hold at least one value, all finite"),
            ));
        }
        out.push((name.clone(), values));
    }
    Ok(out)
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
        (Some(code), None) => (
            code.get_ref().clone(),
            code_origin(text, code.span(), code.get_ref(), file),
        ),
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
                    ..CodeOrigin::default()
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
    let kind = match spec.kind.as_deref() {
        None | Some("flow") => crate::system::Kind::Flow,
        Some("map") if matches!(noise, Noise::None | Noise::General { .. }) => {
            crate::system::Kind::Map
        }
        Some("map") => {
            return Err(wrong(
                file,
                "a map (kind = \"map\") has no noise or noise = \"general\" (`fn map(n, x, p, w)`, w one normal per channel)",
            ))
        }
        Some(other) => return Err(wrong(file, format!("unknown kind `{other}` (flow or map)"))),
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
    let tables = tables(file, dir, &spec.tables)?;
    let sys = System {
        name,
        description: spec.description.clone().unwrap_or_default(),
        state: spec.state.clone(),
        params: numbers("params", &spec.params)?,
        noise,
        wgsl,
        origin,
        // A map steps by `iterate`, one time unit per iterate, unless the spec says otherwise.
        defaults: Defaults {
            x0: spec.x0.clone(),
            dt: spec
                .dt
                .or((kind == crate::system::Kind::Map).then_some(1.0)),
            method: method.or((kind == crate::system::Kind::Map).then_some(Method::Iterate)),
        },
        reference: spec.reference.clone().unwrap_or_default(),
        // Only the catalog attaches a Rust twin (`catalog::get`): a spec cannot name one.
        twin: None,
        resizable: spec.resizable,
        kind,
        carried: Vec::new(),
        tally: 0,
        derived: false,
        tables,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The file place of each code line's first character and of `y`, through `parse`.
    fn places(spec: &str) -> ((usize, usize), (usize, usize)) {
        let (sys, _) = parse(spec, "s.toml", Path::new(".")).unwrap();
        let y = sys.wgsl.lines().position(|l| l.contains('y')).unwrap();
        let col = sys
            .wgsl
            .lines()
            .nth(y)
            .unwrap()
            .chars()
            .position(|c| c == 'y')
            .unwrap();
        (sys.origin.place(1, 1), sys.origin.place(y + 1, col + 1))
    }

    #[test]
    fn code_is_placed_where_the_spec_file_has_it() {
        let body = "fn drift(t: F, x: S, p: Params) -> S {\n    return S(-y);\n}\n";
        // Triple quotes, code on the next line: a plain line offset.
        let spec = format!("state = [\"x\"]\nwgsl = '''\n{body}'''\n");
        let (sys, _) = parse(&spec, "s.toml", Path::new(".")).unwrap();
        assert!(sys.origin.runs.is_empty());
        assert_eq!(places(&spec), ((3, 1), (4, 15)));
        // Code on the opening line.
        let spec = format!("state = [\"x\"]\nwgsl = '''{body}'''\n");
        assert_eq!(places(&spec), ((2, 11), (3, 15)));
        // A one-line basic string: escapes are two characters in the file.
        let spec = "state = [\"x\"]\nwgsl = \"fn drift(t: F, x: S, p: Params) -> S {\\n\\treturn S(-y);\\n}\"\n";
        assert_eq!(places(spec), ((2, 9), (2, 61)));
        // \u escapes and a line-ending backslash.
        let spec = "state = [\"x\"]\nwgsl = \"\"\"\nfn drift(t: F, x: S, p: Params) \\\n   -> S {\n  /* \\u00e9 */ return S(-y);\n}\n\"\"\"\n";
        assert_eq!(places(spec), ((3, 1), (5, 26)));
        // Windows line ends.
        let spec = format!(
            "state = [\"x\"]\r\nwgsl = '''\r\n{}'''\r\n",
            body.replace('\n', "\r\n")
        );
        assert_eq!(places(&spec).1, (4, 15));
    }

    #[test]
    fn toml_errors_count_columns_in_characters() {
        let e = parse("state = [\"é\"]\nnoize = 1\n", "s.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2:1: unknown field `noize`"), "{e}");
        let e = parse("# é\nstate = [\"x\"] x\n", "s.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:2:15:"), "{e}");
    }
}
