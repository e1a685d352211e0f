//! Per-trajectory values from files: NPY (a 1-D array of floats or integers, or one column
//! of a 2-D array) and CSV (a header row, then one row per trajectory).

use std::path::Path;

use crate::error::{Error, Result};

/// Reads one value per trajectory. `column` picks a CSV column by header name (default:
/// the first column) or, for a 2-D NPY array, a column index.
pub fn read(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let what = path.display();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "npy" => read_npy(path, column),
        "csv" => read_csv(path, column),
        _ => Err(unusable(
            path,
            format!("{what}: values must be a .npy or .csv file"),
        )),
    }
}

/// A values file whose content throng cannot use; `message` is the whole line.
fn unusable(path: &Path, message: String) -> Error {
    Error::Input {
        what: path.display().to_string(),
        message,
    }
}

/// A values file that could not be read.
fn unreadable(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what: path.display().to_string(),
        source,
    }
}

/// A CSV reader's error: reading the file, or its content.
fn csv_error(path: &Path, e: csv::Error) -> Error {
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => unreadable(path, source),
        _ => unusable(path, format!("{}: {text}", path.display())),
    }
}

fn read_npy(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let what = path.display();
    let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| unusable(path, format!("{what}: not an NPY file ({e})")))?;
    let shape = npy.shape().to_vec();
    let type_str = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => {
            return Err(unusable(
                path,
                format!("{what}: structured arrays are not supported"),
            ))
        }
    };
    // The bytes are in memory: what fails here is the file's data, cut short or malformed.
    let bad = |e: std::io::Error| unusable(path, format!("{what}: {e}"));
    let flat: Vec<f64> = match &type_str[1..] {
        "f8" => npy.into_vec::<f64>().map_err(bad)?,
        "f4" => npy
            .into_vec::<f32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i8" => npy
            .into_vec::<i64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        "i4" => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        other => {
            return Err(unusable(
                path,
                format!("{what}: dtype {other} is not supported (f4, f8, i4, i8)"),
            ))
        }
    };
    match (shape.as_slice(), column) {
        ([_], None) => Ok(flat),
        ([rows, cols], Some(c)) => {
            let c: u64 = c.parse().map_err(|_| {
                unusable(
                    path,
                    format!("{what}: column `{c}` of a 2-D NPY array must be an index"),
                )
            })?;
            if c >= *cols {
                return Err(unusable(
                    path,
                    format!("{what}: column {c} out of range ({cols} columns)"),
                ));
            }
            Ok((0..*rows).map(|r| flat[(r * cols + c) as usize]).collect())
        }
        (s, _) => Err(unusable(
            path,
            format!("{what}: expected a 1-D array (or a 2-D array and a column), got shape {s:?}"),
        )),
    }
}

fn read_csv(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let what = path.display();
    let mut rd = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    let headers = rd.headers().map_err(|e| csv_error(path, e))?.clone();
    let k = match column {
        None => 0,
        Some(c) => headers.iter().position(|h| h.trim() == c).ok_or_else(|| {
            unusable(
                path,
                format!(
                    "{what}: no column `{c}` (columns: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })?,
    };
    let mut out = Vec::new();
    for (row, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let cell = rec.get(k).unwrap_or("").trim();
        let v: f64 = cell.parse().map_err(|_| {
            unusable(
                path,
                format!("{what}:{}: `{cell}` is not a number", row + 2),
            )
        })?;
        out.push(v);
    }
    Ok(out)
}
