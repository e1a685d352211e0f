//! `--out DIR`: a run's statistics over time as NPY arrays (they load with `np.load`) and a
//! JSON summary naming each file and its shape. Layout in README ("Output files").
//!
//! What a directory holds at any moment, even if the process is killed: `OutDir::open` locks
//! the directory for the whole run (a second run into it is refused) and refuses one that
//! holds another run's files unless asked to replace them. `OutDir::write` removes the old
//! `summary.json` first, writes every file under a temporary name and renames it into place,
//! removes the previous run's files that this run does not write, and writes `summary.json`
//! last: a `summary.json` present always describes the arrays beside it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;
use serde_json::{json, Value as Json};

use crate::error::{Error, Result};
use crate::observe::Save;
use crate::solution::Solution;

/// The lock file, present while a run holds the directory.
pub const LOCK: &str = ".throng.lock";
/// Files being written are named with this prefix until they are complete.
const TMP: &str = ".throng-tmp.";
const SUMMARY: &str = "summary.json";
/// A shard's files (`crate::shard::PARTIALS`, `crate::shard::MANIFEST`).
const SHARD_PARTIALS: &str = "partials.bin";
const SHARD_MANIFEST: &str = "shard.json";
/// Draws a picture into the path it is given.
pub type Draw<'a> = &'a dyn Fn(&Path) -> Result<()>;

/// Pictures some run writes.
const PICTURES: [&str; 3] = ["basins.png", "lyapunov.png", "orbit.png"];

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what: path.display().to_string(),
        source,
    }
}

/// Whether `name` is a file some run writes: `summary.json` or one of the arrays.
pub fn is_run_file(name: &str) -> bool {
    const ARRAYS: [&str; 23] = [
        "basins",
        "lyapunov",
        "lyapunov_se",
        "orbit",
        "orbit_counts",
        "orbit_hist",
        "t",
        "count",
        "nonfinite",
        "mean",
        "var",
        "min",
        "max",
        "quantiles",
        "quantile_resolution",
        "paths",
        "point_count",
        "point_nonfinite",
        "point_mean",
        "point_var",
        "point_min",
        "point_max",
        "point_quantiles",
    ];
    if name == SUMMARY
        || PICTURES.contains(&name)
        || name == SHARD_PARTIALS
        || name == SHARD_MANIFEST
        || crate::pictures::is_picture(name)
    {
        return true;
    }
    let Some(stem) = name.strip_suffix(".npy") else {
        return false;
    };
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    };
    ARRAYS.contains(&stem) || numbered("hist") || numbered("point_hist")
}

/// The regular files of a run in `dir`, sorted by name.
fn run_files(dir: &Path) -> Result<Vec<String>> {
    let mut names = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let is_file = entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink());
        if is_file && is_run_file(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path, e)),
        _ => Ok(()),
    }
}

/// An output directory held by this run: locked until dropped.
pub struct OutDir {
    dir: PathBuf,
    /// Locked (unix: `flock`) while open; closed after `drop` removes its file.
    _lock: File,
}

impl OutDir {
    /// Creates `dir` if needed and locks it. Refused if another run holds the lock, or if
    /// `dir` holds another run's files (`summary.json`, `mean.npy`, …) and `replace` is false;
    /// nothing in `dir` is changed then. Temporary files of a run that was killed are removed.
    pub fn open(dir: &Path, replace: bool) -> Result<OutDir> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let out = OutDir {
            dir: dir.to_path_buf(),
            _lock: lock(dir)?,
        };
        let old = run_files(dir)?;
        if !old.is_empty() && !replace {
            let shown = if old.len() > 3 {
                format!("{}, …", old[..3].join(", "))
            } else {
                old.join(", ")
            };
            return Err(Error::Input {
                what: "--out".into(),
                message: format!(
                    "{} holds the files of another run ({shown}); give another directory, or --force to replace them",
                    dir.display()
                ),
            });
        }
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TMP) {
                remove(&entry.path())?;
            }
        }
        Ok(out)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the arrays of `sol` (its save times, or the end alone), then `summary` with
    /// `files` (each array's file and shape) added as `summary.json`. The previous
    /// `summary.json` is removed before any array is written, and the previous run's arrays
    /// that this one does not write are removed before the new `summary.json` appears.
    pub fn write(self, sol: &Solution, t_end: f64, steps: u64, mut summary: Json) -> Result<()> {
        let old = run_files(&self.dir)?;
        remove(&self.dir.join(SUMMARY))?;
        let files = arrays(&mut Files(&self.dir), sol, t_end, steps)?;
        let written: Vec<String> = files
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|f| f["file"].as_str().map(String::from))
            .collect();
        for name in old.iter().filter(|n| !written.contains(n)) {
            remove(&self.dir.join(name))?;
        }
        summary["files"] = files;
        let text = serde_json::to_string_pretty(&summary).expect("JSON values serialize") + "\n";
        put(&self.dir, SUMMARY, |w| w.write_all(text.as_bytes()))
    }
}

impl OutDir {
    /// Writes named f64 arrays (C order, `shape`) and pictures (drawn by `draw` into the path
    /// it is given), each under a temporary name renamed into place, then `summary` with
    /// `files` added, as [`OutDir::write`] does for a run's statistics.
    pub fn write_arrays(
        self,
        arrays: &[(&str, Vec<u64>, &[f64])],
        pictures: &[(&str, Draw)],
        mut summary: Json,
    ) -> Result<()> {
        let old = run_files(&self.dir)?;
        remove(&self.dir.join(SUMMARY))?;
        let mut files = serde_json::Map::new();
        let mut written = Vec::new();
        for (name, shape, data) in arrays {
            let f = write_npy(&self.dir, name, shape, data)?;
            written.push(format!("{name}.npy"));
            files.insert(name.to_string(), f);
        }
        for (name, draw) in pictures {
            let tmp = self.dir.join(format!("{TMP}{name}"));
            let path = self.dir.join(name);
            let drawn =
                draw(&tmp).and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| io(&path, e)));
            if drawn.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            drawn?;
            written.push(name.to_string());
            files.insert(name.to_string(), json!({"file": name}));
        }
        for name in old.iter().filter(|n| !written.contains(n)) {
            remove(&self.dir.join(name))?;
        }
        summary["files"] = Json::Object(files);
        let text = serde_json::to_string_pretty(&summary).expect("JSON values serialize") + "\n";
        put(&self.dir, SUMMARY, |w| w.write_all(text.as_bytes()))
    }
}

impl OutDir {
    /// Writes a shard's partials (already encoded), then its manifest, last, as
    /// `summary.json` is written last for a run: a manifest present describes whole partials.
    /// A previous run's files are removed first.
    pub fn write_shard(self, partials: &[u8], manifest: &Json) -> Result<()> {
        let old = run_files(&self.dir)?;
        remove(&self.dir.join(SHARD_MANIFEST))?;
        put(&self.dir, SHARD_PARTIALS, |w| w.write_all(partials))?;
        for name in old
            .iter()
            .filter(|n| *n != SHARD_PARTIALS && *n != SHARD_MANIFEST)
        {
            remove(&self.dir.join(name))?;
        }
        let text = serde_json::to_string_pretty(manifest).expect("JSON values serialize") + "\n";
        put(&self.dir, SHARD_MANIFEST, |w| w.write_all(text.as_bytes()))
    }
}

impl Drop for OutDir {
    /// Removes the lock file while still holding the lock (the file is closed after this),
    /// so no other run can be holding a lock on the file removed.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(LOCK));
    }
}

/// Opens and locks `dir/.throng.lock`; refused if another run holds it.
#[cfg(unix)]
fn lock(dir: &Path) -> Result<File> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let path = dir.join(LOCK);
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Err(held(dir));
            }
            return Err(io(&path, e));
        }
        // A run that finished between our open and flock removed the file we locked: lock
        // the file now at the path instead.
        let ours = file.metadata().map_err(|e| io(&path, e))?;
        match std::fs::metadata(&path) {
            Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => return Ok(file),
            _ => continue,
        }
    }
}

/// Creates `dir/.throng.lock`; refused if it exists (a killed run leaves it behind: remove
/// it by hand).
#[cfg(not(unix))]
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(held(dir)),
        Err(e) => Err(io(&path, e)),
    }
}

fn held(dir: &Path) -> Error {
    Error::Input {
        what: "--out".into(),
        message: format!(
            "{} is in use by another throng run (it holds {LOCK}); wait for it or give another directory",
            dir.display()
        ),
    }
}

/// Writes `path` atomically: under a temporary name beside it, synced, renamed into place;
/// an error names the path and leaves a previous file whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let (dir, name) = beside(path);
    put(dir, &name, |w| w.write_all(bytes))?;
    // The rename itself survives a crash once the directory is synced.
    let _ = File::open(dir).and_then(|f| f.sync_all());
    Ok(())
}

/// Fails now, naming the path, if [`write_atomic`] could not create its temporary file
/// beside `path` (a missing or read-only directory), so that a run learns it before
/// computing.
pub fn check_writable(path: &Path) -> Result<()> {
    let (dir, name) = beside(path);
    let probe = dir.join(format!("{TMP}{name}"));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| io(path, e))
}

/// The directory a path's file is in (`.` for a bare name) and its name.
fn beside(path: &Path) -> (&Path, String) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    (dir, name)
}

/// Writes `dir/name` through `fill` under a temporary name, then renames it into place.
fn put(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = dir.join(format!("{TMP}{name}"));
    let path = dir.join(name);
    let result = File::create(&tmp)
        .and_then(|file| {
            let mut w = BufWriter::new(file);
            fill(&mut w)?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        })
        .map_err(|e| io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| io(&path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes one C-order array.
/// Where a run's arrays go: NPY files in a directory ([`OutDir`]), or memory (the Python
/// package's NumPy arrays). Returns the array's entry in the summary's `files`.
pub trait Sink {
    fn array(&mut self, name: &str, shape: &[u64], data: Column) -> Result<Json>;
}

/// An array's values.
pub enum Column<'a> {
    F64(&'a [f64]),
    U64(&'a [u64]),
}

/// The element types of a run's arrays.
pub trait Element: Copy {
    fn column(data: &[Self]) -> Column<'_>;
}

impl Element for f64 {
    fn column(data: &[f64]) -> Column<'_> {
        Column::F64(data)
    }
}

impl Element for u64 {
    fn column(data: &[u64]) -> Column<'_> {
        Column::U64(data)
    }
}

fn npy<T: Element>(sink: &mut dyn Sink, name: &str, shape: &[u64], data: &[T]) -> Result<Json> {
    sink.array(name, shape, T::column(data))
}

/// NPY files in a directory.
struct Files<'a>(&'a Path);

impl Sink for Files<'_> {
    fn array(&mut self, name: &str, shape: &[u64], data: Column) -> Result<Json> {
        match data {
            Column::F64(d) => write_npy(self.0, name, shape, d),
            Column::U64(d) => write_npy(self.0, name, shape, d),
        }
    }
}

fn write_npy<T: npyz::AutoSerialize + Copy>(
    dir: &Path,
    name: &str,
    shape: &[u64],
    data: &[T],
) -> Result<Json> {
    let file = format!("{name}.npy");
    put(dir, &file, |w| {
        let mut a = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(w)
            .begin_nd()?;
        a.extend(data.iter().copied())?;
        a.finish()
    })?;
    Ok(json!({"file": file, "shape": shape}))
}

/// Gives the arrays of `sol` (its save times, or the end alone) to `sink` and returns the
/// `files` object of the summary.
pub fn arrays(sink: &mut dyn Sink, sol: &Solution, t_end: f64, steps: u64) -> Result<Json> {
    let dir = sink;
    let end;
    let saves: &[Save] = if sol.saves.is_empty() {
        end = [Save {
            step: steps,
            t: t_end,
            stats: sol.stats.clone(),
            hist: vec![],
            quantiles: vec![],
            paths: vec![],
            points: sol.points.clone(),
            point_hist: vec![],
            point_quantiles: vec![],
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
    // Per point (runs with replicas): [save, point] and [save, point, row], every row.
    if let Some(p0) = &saves[0].points {
        let (np, rows) = (p0.points, p0.rows as u64);
        let pts = |f: &dyn Fn(&crate::reduce::PointStats) -> Vec<f64>| {
            saves
                .iter()
                .flat_map(|v| v.points.as_ref().map(f).unwrap_or_default())
                .collect::<Vec<f64>>()
        };
        let ints = |f: &dyn Fn(&crate::reduce::PointStats) -> Vec<u64>| {
            saves
                .iter()
                .flat_map(|v| v.points.as_ref().map(f).unwrap_or_default())
                .collect::<Vec<u64>>()
        };
        files.insert(
            "point_count".into(),
            npy(dir, "point_count", &[s, np], &ints(&|p| p.count.clone()))?,
        );
        files.insert(
            "point_nonfinite".into(),
            npy(
                dir,
                "point_nonfinite",
                &[s, np],
                &ints(&|p| p.nonfinite.clone()),
            )?,
        );
        let var = |p: &crate::reduce::PointStats| {
            (0..p.points as usize)
                .flat_map(|i| (0..p.rows).map(move |c| (i, c)))
                .map(|(i, c)| p.var(i, c))
                .collect()
        };
        for (name, f) in [
            (
                "point_mean",
                &(|p: &crate::reduce::PointStats| p.mean.clone()) as &dyn Fn(&_) -> _,
            ),
            ("point_var", &var),
            ("point_min", &|p: &crate::reduce::PointStats| p.min.clone()),
            ("point_max", &|p: &crate::reduce::PointStats| p.max.clone()),
        ] {
            files.insert(name.into(), npy(dir, name, &[s, np, rows], &pts(f))?);
        }
        for (k, h) in saves[0].point_hist.iter().enumerate() {
            let all: Vec<u64> = saves
                .iter()
                .flat_map(|v| v.point_hist[k].counts.clone())
                .collect();
            let name = format!("point_hist{k}");
            let mut entry = npy(dir, &name, &[s, np, h.bins as u64 + 2], &all)?;
            entry["component"] = json!(h.component);
            entry["range"] = json!([h.lo, h.hi]);
            files.insert(name, entry);
        }
        if !saves[0].point_quantiles.is_empty() {
            let nr = saves[0].point_quantiles.len();
            let q = saves[0].point_quantiles[0].values.len() as u64 / np;
            // [save, point, row, level]
            let mut vals = Vec::with_capacity(saves.len() * (np * q) as usize * nr);
            for v in saves {
                for p in 0..np as usize {
                    for pq in &v.point_quantiles {
                        vals.extend_from_slice(&pq.values[p * q as usize..][..q as usize]);
                    }
                }
            }
            files.insert(
                "point_quantiles".into(),
                npy(dir, "point_quantiles", &[s, np, nr as u64, q], &vals)?,
            );
        }
    }
    Ok(Json::Object(files))
}
