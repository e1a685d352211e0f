//! Value forms shared by the command line and a spec's `[run]` table. Each parses from the
//! text a flag takes; in TOML a value may be that same text or TOML's own number, array or
//! table, so `--paths 1e6`, `paths = "1e6"` and `paths = 1000000` mean the same.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::ensemble::Init;
use crate::method::Method;
use crate::precision::Precision;

/// Why a value did not parse. `shape` marks a malformed form (wrong number of parts), so an
/// enclosing `NAME=...` can say which form it expected as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct FormError {
    message: String,
    shape: bool,
}

impl FormError {
    fn new(message: impl Into<String>) -> FormError {
        FormError {
            message: message.into(),
            shape: false,
        }
    }

    fn shape(form: &str, got: &str) -> FormError {
        FormError {
            message: format!("expected {form}, got `{got}`"),
            shape: true,
        }
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FormError {}

/// A value with a written form.
pub trait Form: Sized {
    /// How the value is written on the command line, for messages.
    const FORM: &'static str;

    fn parse(s: &str) -> Result<Self, FormError>;

    /// TOML's own forms (numbers, arrays, tables); TOML strings go through `parse` instead.
    fn from_toml(v: &toml::Value) -> Result<Self, FormError> {
        Err(FormError::new(format!(
            "expected \"{}\", got {v}",
            Self::FORM
        )))
    }
}

/// Parses a flag's value (a clap `value_parser`).
pub fn parse<T: Form>(s: &str) -> Result<T, FormError> {
    T::parse(s)
}

/// Parses a `NAME=VALUE` flag value (a clap `value_parser`).
pub fn setting<T: Form>(s: &str) -> Result<Setting<T>, FormError> {
    Setting::parse(s)
}

fn from_value<T: Form>(v: &toml::Value) -> Result<T, FormError> {
    match v {
        toml::Value::String(s) => T::parse(s),
        v => T::from_toml(v),
    }
}

/// serde `deserialize_with` for an optional field written in a form.
pub(crate) fn de<'de, D: Deserializer<'de>, T: Form>(d: D) -> Result<Option<T>, D::Error> {
    let v = toml::Value::deserialize(d)?;
    from_value(&v).map(Some).map_err(serde::de::Error::custom)
}

/// serde `deserialize_with` for a table `{ name = value, ... }`, in the file's order (the
/// first grid axis varies fastest).
pub(crate) fn de_table<'de, D: Deserializer<'de>, T: Form>(
    d: D,
) -> Result<Vec<Setting<T>>, D::Error> {
    let table = toml::Table::deserialize(d)?;
    table
        .iter()
        .map(|(name, v)| {
            from_value(v)
                .map(|value| Setting {
                    name: name.clone(),
                    value,
                })
                .map_err(|e| serde::de::Error::custom(format!("{name}: {e}")))
        })
        .collect()
}

/// A count: `1000000` or `1e6`, a whole number.
impl Form for u64 {
    const FORM: &'static str = "N";

    fn parse(s: &str) -> Result<u64, FormError> {
        if let Ok(v) = s.trim().parse::<u64>() {
            return Ok(v);
        }
        whole(f64::parse(s)?, s)
    }

    fn from_toml(v: &toml::Value) -> Result<u64, FormError> {
        match v {
            toml::Value::Integer(i) => u64::try_from(*i)
                .map_err(|_| FormError::new(format!("`{i}` is not a whole number"))),
            toml::Value::Float(f) => whole(*f, &f.to_string()),
            _ => Err(FormError::new(format!("expected a whole number, got {v}"))),
        }
    }
}

fn whole(v: f64, s: &str) -> Result<u64, FormError> {
    // 1.8e19 is just below 2^64: larger values would saturate the cast.
    if v < 0.0 || v.fract() != 0.0 || v >= 1.8e19 {
        return Err(FormError::new(format!("`{s}` is not a whole number")));
    }
    Ok(v as u64)
}

/// A switch: `true` or `false` (also `on`/`off`, `yes`/`no`).
impl Form for bool {
    const FORM: &'static str = "true|false";

    fn parse(s: &str) -> Result<bool, FormError> {
        match s.trim() {
            "true" | "on" | "yes" => Ok(true),
            "false" | "off" | "no" => Ok(false),
            other => Err(FormError::new(format!(
                "`{other}` is not a switch: write true or false"
            ))),
        }
    }

    fn from_toml(v: &toml::Value) -> Result<bool, FormError> {
        match v {
            toml::Value::Boolean(b) => Ok(*b),
            _ => Err(FormError::new(format!("expected true or false, got {v}"))),
        }
    }
}

/// A count that fits 32 bits.
impl Form for u32 {
    const FORM: &'static str = "N";

    fn parse(s: &str) -> Result<u32, FormError> {
        narrow(u64::parse(s)?, s)
    }

    fn from_toml(v: &toml::Value) -> Result<u32, FormError> {
        narrow(u64::from_toml(v)?, &v.to_string())
    }
}

fn narrow(v: u64, s: &str) -> Result<u32, FormError> {
    u32::try_from(v).map_err(|_| {
        FormError::new(format!(
            "`{}` is too large (at most {})",
            s.trim(),
            u32::MAX
        ))
    })
}

/// A finite real.
impl Form for f64 {
    const FORM: &'static str = "VALUE";

    fn parse(s: &str) -> Result<f64, FormError> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| FormError::new(format!("`{s}` is not a number")))?;
        finite(v, s)
    }

    fn from_toml(v: &toml::Value) -> Result<f64, FormError> {
        match v {
            toml::Value::Integer(i) => Ok(*i as f64),
            toml::Value::Float(f) => finite(*f, &f.to_string()),
            _ => Err(FormError::new(format!("expected a number, got {v}"))),
        }
    }
}

fn finite(v: f64, s: &str) -> Result<f64, FormError> {
    if !v.is_finite() {
        return Err(FormError::new(format!("`{s}` is not finite")));
    }
    Ok(v)
}

/// Reals: `a,b,c`, or a TOML array.
impl Form for Vec<f64> {
    const FORM: &'static str = "A,B,..";

    fn parse(s: &str) -> Result<Vec<f64>, FormError> {
        s.split(',').map(f64::parse).collect()
    }

    fn from_toml(v: &toml::Value) -> Result<Vec<f64>, FormError> {
        match v {
            toml::Value::Array(a) => a.iter().map(from_value).collect(),
            _ => Err(FormError::new(format!(
                "expected \"A,B,..\" or [A, B, ..], got {v}"
            ))),
        }
    }
}

/// The parts of `s` split at `:`, or a shape error naming `form`.
fn parts<'a, const N: usize>(s: &'a str, form: &str) -> Result<[&'a str; N], FormError> {
    let parts: Vec<&str> = s.split(':').collect();
    parts.try_into().map_err(|_| FormError::shape(form, s))
}

/// The elements of a TOML array of `N`, or an error naming both forms.
fn elements<const N: usize>(v: &toml::Value, form: &str) -> Result<[toml::Value; N], FormError> {
    let err = || {
        FormError::new(format!(
            "expected \"{form}\" or a list of {N} numbers, got {v}"
        ))
    };
    let a = v.as_array().ok_or_else(err)?;
    a.clone().try_into().map_err(|_| err())
}

/// `lo:hi` (a sweep), or `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Form for Range {
    const FORM: &'static str = "LO:HI";

    fn parse(s: &str) -> Result<Range, FormError> {
        let [lo, hi] = parts(s, Self::FORM)?;
        Ok(Range {
            lo: f64::parse(lo)?,
            hi: f64::parse(hi)?,
        })
    }

    fn from_toml(v: &toml::Value) -> Result<Range, FormError> {
        let [lo, hi] = elements(v, Self::FORM)?;
        Ok(Range {
            lo: from_value(&lo)?,
            hi: from_value(&hi)?,
        })
    }
}

/// `lo:hi:n` (a grid axis, or a histogram's range and bins), or `[lo, hi, n]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    /// At least 1.
    pub n: u64,
}

impl Axis {
    fn new(lo: f64, hi: f64, n: u64) -> Result<Axis, FormError> {
        if n == 0 {
            return Err(FormError::new("N must be at least 1"));
        }
        Ok(Axis { lo, hi, n })
    }
}

impl Form for Axis {
    const FORM: &'static str = "LO:HI:N";

    fn parse(s: &str) -> Result<Axis, FormError> {
        let [lo, hi, n] = parts(s, Self::FORM)?;
        Axis::new(f64::parse(lo)?, f64::parse(hi)?, u64::parse(n)?)
    }

    fn from_toml(v: &toml::Value) -> Result<Axis, FormError> {
        let [lo, hi, n] = elements(v, Self::FORM)?;
        Axis::new(from_value(&lo)?, from_value(&hi)?, from_value(&n)?)
    }
}

/// `NAME=VALUE`, with the value in its own form; in TOML, one entry of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting<T> {
    pub name: String,
    pub value: T,
}

impl<T: Form> Setting<T> {
    pub fn parse(s: &str) -> Result<Setting<T>, FormError> {
        let form = format!("NAME={}", T::FORM);
        let (name, value) = s
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| FormError::shape(&form, s))?;
        let value = T::parse(value).map_err(|e| {
            if e.shape {
                FormError::shape(&form, s)
            } else {
                FormError::new(format!("{name}: {e}"))
            }
        })?;
        Ok(Setting {
            name: name.to_string(),
            value,
        })
    }
}

/// Random initial states: `normal:S1,S2,..` or `uniform:W1,W2,..`; in TOML also
/// `{ kind = "normal", scale = [..] }`.
impl Form for Init {
    const FORM: &'static str = "normal:S1,S2,.. or uniform:W1,W2,..";

    fn parse(s: &str) -> Result<Init, FormError> {
        let (kind, scales) = s
            .split_once(':')
            .ok_or_else(|| FormError::shape(Self::FORM, s))?;
        init(kind, Vec::parse(scales)?)
    }

    fn from_toml(v: &toml::Value) -> Result<Init, FormError> {
        let t = v.as_table().ok_or_else(|| {
            FormError::new(format!(
                "expected \"{}\" or {{ kind, scale }}, got {v}",
                Self::FORM
            ))
        })?;
        if let Some(k) = t.keys().find(|k| !["kind", "scale"].contains(&k.as_str())) {
            return Err(FormError::new(format!(
                "unknown field `{k}`, expected `kind` or `scale`"
            )));
        }
        let kind = t
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or_else(|| FormError::new("`kind` must be \"normal\" or \"uniform\""))?;
        let scale = t
            .get("scale")
            .ok_or_else(|| FormError::new("missing field `scale`"))?;
        init(kind, from_value(scale)?)
    }
}

fn init(kind: &str, scales: Vec<f64>) -> Result<Init, FormError> {
    match kind {
        "normal" => Ok(Init::Normal(scales)),
        "uniform" => Ok(Init::Uniform(scales)),
        k => Err(FormError::new(format!(
            "unknown kind `{k}` (normal, uniform)"
        ))),
    }
}

/// A file of per-trajectory values: `FILE.npy`, `FILE.csv` (first column) or
/// `FILE.csv:COLUMN`; in TOML also `{ file = "values.csv", column = "rho" }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ValuesFile {
    pub file: PathBuf,
    pub column: Option<String>,
}

impl Form for ValuesFile {
    const FORM: &'static str = "FILE.npy|FILE.csv[:COLUMN]";

    fn parse(s: &str) -> Result<ValuesFile, FormError> {
        // Split at the last `:` only after a known extension, so other colons stay in paths.
        let (file, column) = match s.rsplit_once(':') {
            Some((p, c)) if p.ends_with(".csv") || p.ends_with(".npy") => (p, Some(c.to_string())),
            _ => (s, None),
        };
        Ok(ValuesFile {
            file: file.into(),
            column,
        })
    }

    fn from_toml(v: &toml::Value) -> Result<ValuesFile, FormError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            file: PathBuf,
            column: Option<String>,
        }
        let t = Table::deserialize(v.clone())
            .map_err(|_| FormError::new("expected a file name or { file, column }".to_string()))?;
        Ok(ValuesFile {
            file: t.file,
            column: t.column,
        })
    }
}

impl Form for Method {
    const FORM: &'static str = "METHOD";

    fn parse(s: &str) -> Result<Method, FormError> {
        Method::parse(s).map_err(|e| FormError::new(e.to_string()))
    }
}

impl Form for Precision {
    const FORM: &'static str = "f32|f64";

    fn parse(s: &str) -> Result<Precision, FormError> {
        Precision::parse(s).map_err(|e| FormError::new(e.to_string()))
    }
}

impl Form for crate::noise::Brownian {
    const FORM: &'static str = "stream|tree";

    fn parse(s: &str) -> Result<crate::noise::Brownian, FormError> {
        match s {
            "stream" => Ok(crate::noise::Brownian::Stream),
            "tree" => Ok(crate::noise::Brownian::Tree),
            _ => Err(FormError::new(format!(
                "unknown Brownian source `{s}` (stream or tree)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml<T: Form>(text: &str) -> Result<T, FormError> {
        let t: toml::Table = toml::from_str(&format!("v = {text}")).unwrap();
        from_value(&t["v"])
    }

    #[test]
    fn counts_are_whole_numbers_however_written() {
        assert_eq!(parse::<u64>("1000000"), Ok(1_000_000));
        assert_eq!(parse::<u64>("1e6"), Ok(1_000_000));
        assert_eq!(toml::<u64>("1e6"), Ok(1_000_000));
        assert_eq!(toml::<u64>("\"1e6\""), Ok(1_000_000));
        assert_eq!(toml::<u64>("1000000"), Ok(1_000_000));
        for bad in ["12.5", "-1", "1e20"] {
            let e = parse::<u64>(bad).unwrap_err().to_string();
            assert!(e.contains("is not a whole number"), "{e}");
        }
        assert!(toml::<u64>("-1").is_err());
        assert!(parse::<u32>("5000000000")
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn reals_are_finite() {
        assert_eq!(parse::<f64>(" 0.5"), Ok(0.5));
        assert_eq!(toml::<f64>("2"), Ok(2.0));
        assert_eq!(toml::<f64>("\"2e-3\""), Ok(2e-3));
        assert_eq!(
            parse::<f64>("abc").unwrap_err().to_string(),
            "`abc` is not a number"
        );
        assert_eq!(
            parse::<f64>("inf").unwrap_err().to_string(),
            "`inf` is not finite"
        );
        assert_eq!(parse::<Vec<f64>>("1, 2,3"), Ok(vec![1.0, 2.0, 3.0]));
        assert_eq!(toml::<Vec<f64>>("[1, 2.5]"), Ok(vec![1.0, 2.5]));
        assert_eq!(toml::<Vec<f64>>("\"1,2.5\""), Ok(vec![1.0, 2.5]));
    }

    #[test]
    fn ranges_and_axes_read_text_or_lists() {
        let r = Range { lo: 0.0, hi: 50.0 };
        assert_eq!(parse::<Range>("0:50"), Ok(r));
        assert_eq!(toml::<Range>("[0, 50]"), Ok(r));
        assert_eq!(toml::<Range>("\"0:50\""), Ok(r));
        let a = Axis {
            lo: 0.05,
            hi: 0.5,
            n: 64,
        };
        assert_eq!(parse::<Axis>("0.05:0.5:64"), Ok(a));
        assert_eq!(toml::<Axis>("[0.05, 0.5, 64]"), Ok(a));
        assert_eq!(toml::<Axis>("\"0.05:0.5:64\""), Ok(a));
        assert!(parse::<Axis>("0:1:0").is_err());
        assert!(parse::<Axis>("0:1:2.5").is_err());
        assert!(toml::<Axis>("[0, 1]").is_err());
        assert!(toml::<Range>("[0, 1, 2]").is_err());
    }

    #[test]
    fn settings_name_the_form_they_expected() {
        let s = setting::<Range>("rho=0:50").unwrap();
        assert_eq!(
            (s.name.as_str(), s.value),
            ("rho", Range { lo: 0.0, hi: 50.0 })
        );
        let e = |s: &str| setting::<Range>(s).unwrap_err().to_string();
        assert_eq!(e("mu=0"), "expected NAME=LO:HI, got `mu=0`");
        assert_eq!(e("mu"), "expected NAME=LO:HI, got `mu`");
        assert_eq!(e("mu=0:x"), "mu: `x` is not a number");
        assert_eq!(
            setting::<f64>("mu").unwrap_err().to_string(),
            "expected NAME=VALUE, got `mu`"
        );
    }

    #[test]
    fn init_and_values_files_read_both_forms() {
        let n = Init::Normal(vec![0.1, 0.2]);
        assert_eq!(parse::<Init>("normal:0.1,0.2"), Ok(n.clone()));
        assert_eq!(toml::<Init>("\"normal:0.1,0.2\""), Ok(n.clone()));
        assert_eq!(
            toml::<Init>("{ kind = \"normal\", scale = [0.1, 0.2] }"),
            Ok(n)
        );
        assert!(parse::<Init>("cauchy:1").is_err());
        assert!(toml::<Init>("{ kind = \"normal\", scales = [1] }").is_err());
        let f = |file: &str, column: Option<&str>| ValuesFile {
            file: file.into(),
            column: column.map(String::from),
        };
        assert_eq!(
            parse::<ValuesFile>("a.csv:rho"),
            Ok(f("a.csv", Some("rho")))
        );
        assert_eq!(parse::<ValuesFile>("a.npy"), Ok(f("a.npy", None)));
        assert_eq!(parse::<ValuesFile>("c:/a.txt"), Ok(f("c:/a.txt", None)));
        assert_eq!(
            toml::<ValuesFile>("{ file = \"a.csv\", column = \"rho\" }"),
            Ok(f("a.csv", Some("rho")))
        );
        assert_eq!(
            toml::<ValuesFile>("\"a.csv:rho\""),
            Ok(f("a.csv", Some("rho")))
        );
    }
}
