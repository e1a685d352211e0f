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
    // A device or a pipe (`/dev/zero` behind a link) would be read without end.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(unusable(path, format!("{what}: not a regular file")));
    }
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

/// Longest NPY header read, in bytes (numpy writes under 200 for the arrays throng reads).
pub const MAX_NPY_HEADER: usize = 65_536;
/// Deepest nesting of brackets in an NPY header.
const MAX_NPY_NESTING: usize = 32;

/// Checks what an NPY header claims before `npyz` believes it: its length and nesting, and a
/// shape whose element count the file's data can hold (a shape beyond the file's size would
/// overflow or allocate without bound). `Ok(())` also for files that are not NPY at all,
/// which `npyz` then refuses.
fn check_npy_header(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() < 10 || !bytes.starts_with(b"\x93NUMPY") {
        return Ok(());
    }
    let (start, len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        _ if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        _ => return Ok(()),
    };
    if len > MAX_NPY_HEADER {
        return Err(format!(
            "header of {len} bytes is longer than the limit of {MAX_NPY_HEADER}"
        ));
    }
    let Some(header) = bytes.get(start..start + len) else {
        return Ok(());
    };
    let header = String::from_utf8_lossy(header);
    let mut depth = 0usize;
    for c in header.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NPY_NESTING {
            return Err(format!(
                "header nests brackets deeper than {MAX_NPY_NESTING} levels"
            ));
        }
    }
    let data = (bytes.len() - start - len) as u128;
    // The shape tuple: `'shape': (d0, d1, ...)`, the key (not a word in a value); what npyz
    // cannot parse, it refuses itself.
    let Some(rest) = header.match_indices("shape").find_map(|(at, _)| {
        let rest = header[at + 5..].strip_prefix(['\'', '"'])?;
        rest.trim_start().strip_prefix(':').map(str::trim_start)
    }) else {
        return Ok(());
    };
    let Some(inner) = rest
        .strip_prefix(['(', '['])
        .and_then(|r| r.split_once([')', ']']))
        .map(|(inner, _)| inner)
    else {
        return Ok(());
    };
    let (mut count, mut bound) = (1u128, 1u128);
    for d in inner.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let Ok(d) = d.parse::<u128>() else {
            return Ok(());
        };
        count = count.saturating_mul(d);
        bound = bound.saturating_mul(d.max(1));
        if bound > u64::MAX as u128 || count > data {
            return Err(format!(
                "header claims shape ({inner}) but the file holds {data} bytes of data"
            ));
        }
    }
    Ok(())
}

fn read_npy(path: &Path, column: Option<&str>) -> Result<Vec<f64>> {
    let what = path.display();
    let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    check_npy_header(&bytes).map_err(|e| unusable(path, format!("{what}: {e}")))?;
    let mut data = &bytes[..];
    let header = npyz::NpyHeader::from_reader(&mut data)
        .map_err(|e| unusable(path, format!("{what}: not an NPY file ({e})")))?;
    let held = data.len() as u128;
    let npy = npyz::NpyFile::with_header(header, data);
    let shape = npy.shape().to_vec();
    let fortran = npy.order() == npyz::Order::Fortran;
    let type_str = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => {
            return Err(unusable(
                path,
                format!("{what}: structured arrays are not supported"),
            ))
        }
    };
    // The bytes are in memory: the data must hold every element the shape claims.
    let needed = shape
        .iter()
        .try_fold(npy.dtype().num_bytes().unwrap_or(0) as u128, |n, &d| {
            n.checked_mul(u128::from(d))
        });
    if needed.is_none_or(|n| n > held) {
        let needed = needed.map_or("more".into(), |n| n.to_string());
        return Err(unusable(
            path,
            format!("{what}: shape {shape:?} needs {needed} bytes of data; the file holds fewer"),
        ));
    }
    // What fails here is the file's data, cut short or malformed.
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
            // C order keeps a row together; Fortran order (`fortran_order: True`) a column.
            (0..*rows)
                .map(|r| {
                    let i = if fortran { c * rows + r } else { r * cols + c };
                    flat.get(i as usize).copied()
                })
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| {
                    unusable(
                        path,
                        format!("{what}: fewer values than shape {shape:?} claims"),
                    )
                })
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
