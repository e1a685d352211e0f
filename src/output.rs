//! `--out DIR`: a run's statistics over time as NPY arrays (they load with `np.load`) and a
//! JSON summary naming each file and its shape. Layout in README ("Output files").

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use npyz::WriterBuilder;
use serde_json::{json, Value as Json};

use crate::error::{Error, Result};
use crate::observe::Save;
use crate::solution::Solution;

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what: path.display().to_string(),
        source,
    }
}

/// Writes one C-order array.
fn npy<T: npyz::AutoSerialize + Copy>(
    dir: &Path,
    name: &str,
    shape: &[u64],
    data: &[T],
) -> Result<Json> {
    let path = dir.join(format!("{name}.npy"));
    let file = File::create(&path).map_err(|e| io(&path, e))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(|e| io(&path, e))?;
    w.extend(data.iter().copied()).map_err(|e| io(&path, e))?;
    w.finish().map_err(|e| io(&path, e))?;
    Ok(json!({"file": format!("{name}.npy"), "shape": shape}))
}

/// Writes the arrays of `sol` (its save times, or the end alone) into `dir` and returns the
/// `files` object of the summary.
pub fn write(dir: &Path, sol: &Solution, t_end: f64, steps: u64) -> Result<Json> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let end;
    let saves: &[Save] = if sol.saves.is_empty() {
        end = [Save {
            step: steps,
            t: t_end,
            stats: sol.stats.clone(),
            hist: vec![],
            quantiles: vec![],
            paths: vec![],
        }];
        &end
    } else {
        &sol.saves
    };
    let s = saves.len() as u64;
    let d = sol.stats.dim() as u64;
    let mut files = serde_json::Map::new();
    let col = |f: &dyn Fn(&Save) -> Vec<f64>| saves.iter().flat_map(f).collect::<Vec<f64>>();
    files.insert("t".into(), npy(dir, "t", &[s], &col(&|v| vec![v.t]))?);
    let counts: Vec<u64> = saves.iter().map(|v| v.stats.count).collect();
    files.insert("count".into(), npy(dir, "count", &[s], &counts)?);
    let bad: Vec<u64> = saves.iter().map(|v| v.stats.nonfinite).collect();
    files.insert("nonfinite".into(), npy(dir, "nonfinite", &[s], &bad)?);
    files.insert(
        "mean".into(),
        npy(dir, "mean", &[s, d], &col(&|v| v.stats.mean.clone()))?,
    );
    files.insert(
        "var".into(),
        npy(dir, "var", &[s, d], &col(&|v| v.stats.var()))?,
    );
    files.insert(
        "min".into(),
        npy(dir, "min", &[s, d], &col(&|v| v.stats.min.clone()))?,
    );
    files.insert(
        "max".into(),
        npy(dir, "max", &[s, d], &col(&|v| v.stats.max.clone()))?,
    );
    let nh = saves[0].hist.len();
    for k in 0..nh {
        let h = &saves[0].hist[k];
        let bins = h.counts.len() as u64;
        let all: Vec<u64> = saves
            .iter()
            .flat_map(|v| v.hist[k].counts.clone())
            .collect();
        let mut entry = npy(dir, &format!("hist{k}"), &[s, bins], &all)?;
        entry["component"] = json!(h.component);
        entry["range"] = json!([h.lo, h.hi]);
        entry["layout"] = json!("[below lo, bins..., at or above hi]");
        files.insert(format!("hist{k}"), entry);
    }
    if !saves[0].quantiles.is_empty() {
        let q = saves[0].quantiles[0].values.len() as u64;
        let vals = col(&|v| v.quantiles.iter().flat_map(|x| x.values.clone()).collect());
        files.insert(
            "quantiles".into(),
            npy(dir, "quantiles", &[s, d, q], &vals)?,
        );
        let res = col(&|v| v.quantiles.iter().map(|x| x.resolution).collect());
        files.insert(
            "quantile_resolution".into(),
            npy(dir, "quantile_resolution", &[s, d], &res)?,
        );
    }
    if !saves[0].paths.is_empty() {
        let k = saves[0].paths.len() as u64 / d;
        files.insert(
            "paths".into(),
            npy(dir, "paths", &[s, k, d], &col(&|v| v.paths.clone()))?,
        );
    }
    Ok(Json::Object(files))
}
