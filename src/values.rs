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
        _ => Err(Error::Invalid(format!(
            "{what}: values must be a .npy or .csv file"
        ))),
    }
}

fn read_npy(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let what = path.display();
    let bytes = std::fs::read(path).map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| Error::Invalid(format!("{what}: not an NPY file ({e})")))?;
    let shape = npy.shape().to_vec();
    let type_str = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => {
            return Err(Error::Invalid(format!(
                "{what}: structured arrays are not supported"
            )))
        }
    };
    let bad = |e: std::io::Error| Error::Invalid(format!("{what}: {e}"));
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
            return Err(Error::Invalid(format!(
                "{what}: dtype {other} is not supported (f4, f8, i4, i8)"
            )))
        }
    };
    match (shape.as_slice(), column) {
        ([_], None) => Ok(flat),
        ([rows, cols], Some(c)) => {
            let c: u64 = c.parse().map_err(|_| {
                Error::Invalid(format!(
                    "{what}: column `{c}` of a 2-D NPY array must be an index"
                ))
            })?;
            if c >= *cols {
                return Err(Error::Invalid(format!(
                    "{what}: column {c} out of range ({cols} columns)"
                )));
            }
            Ok((0..*rows).map(|r| flat[(r * cols + c) as usize]).collect())
        }
        (s, _) => Err(Error::Invalid(format!(
            "{what}: expected a 1-D array (or a 2-D array and a column), got shape {s:?}"
        ))),
    }
}

fn read_csv(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let what = path.display();
    let mut rd =
        csv::Reader::from_path(path).map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    let headers = rd
        .headers()
        .map_err(|e| Error::Invalid(format!("{what}: {e}")))?
        .clone();
    let k = match column {
        None => 0,
        Some(c) => headers.iter().position(|h| h.trim() == c).ok_or_else(|| {
            Error::Invalid(format!(
                "{what}: no column `{c}` (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })?,
    };
    let mut out = Vec::new();
    for (row, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
        let cell = rec.get(k).unwrap_or("").trim();
        let v: f64 = cell
            .parse()
            .map_err(|_| Error::Invalid(format!("{what}:{}: `{cell}` is not a number", row + 2)))?;
        out.push(v);
    }
    Ok(out)
}
