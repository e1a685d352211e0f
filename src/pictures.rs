//! Pictures of an `--out` directory (`throng plot DIR`, `throng run --plot`): everything the
//! run wrote, read back from its NPY files and `summary.json`, drawn beside them.
//!
//! - `stats.png`: per row, over time, the mean with ±1 sd, the min–max range and the
//!   quantile fan (nested bands between symmetric quantile levels, the median as a line);
//! - `histK.png`: histogram K over time as a density (time × value, log counts), and
//!   `histK_at.png`: its bars at one save time (the last, or `at`);
//! - `paths.png`: the kept paths, per state component, translucent;
//! - `scatter.png`: two components of the kept paths at one save time;
//! - with `--replicas` over a sweep or a grid: `sweep.png` (each row's terminal mean ± sd
//!   against the swept parameter) or `grid_ROW.png` (a row's terminal mean over two grid
//!   axes).
//!
//! Axis labels come from the run (row names, the swept parameter); titles name the system,
//! method, paths and seed. With `svg`, the charts are also written as SVG.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::chart::{self, Band, Line, Panel};
use crate::error::{Error, Result};
use crate::plot::{self, Axis};

/// What to draw besides the defaults.
#[derive(Clone, Debug, Default)]
pub struct PictureOptions {
    /// Also write the charts as SVG.
    pub svg: bool,
    /// The save time of the histogram bars and the scatter (the nearest; default the last).
    pub at: Option<f64>,
    /// The components of the scatter (default the first two).
    pub xy: Option<(usize, usize)>,
}

/// Most rows drawn in one picture, and most kept paths drawn.
const MAX_ROWS: usize = 8;
const MAX_PATHS: usize = 300;

/// Whether `name` is a picture `render` writes (so a rerun into the directory replaces it).
pub fn is_picture(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix(".png")
        .or_else(|| name.strip_suffix(".svg"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    matches!(stem, "stats" | "paths" | "scatter" | "sweep")
        || stem
            .strip_prefix("hist")
            .is_some_and(|k| digits(k) || k.strip_suffix("_at").is_some_and(digits))
        || stem.starts_with("grid_")
}

fn input(message: String) -> Error {
    Error::Input {
        what: "plot".into(),
        message,
    }
}

/// An NPY array of the directory: its shape and values.
struct Array<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

fn read<T: npyz::Deserialize>(dir: &Path, name: &str) -> Result<Option<Array<T>>> {
    let path = dir.join(format!("{name}.npy"));
    if !path.exists() {
        return Ok(None);
    }
    let io = |e: std::io::Error| Error::Io {
        what: path.display().to_string(),
        source: e,
    };
    let bytes = std::fs::read(&path).map_err(io)?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(io)?;
    let shape = npy.shape().iter().map(|&s| s as usize).collect();
    let data = npy.into_vec::<T>().map_err(io)?;
    Ok(Some(Array { shape, data }))
}

/// Draws every picture the directory's files allow; returns the files written.
pub fn render(dir: &Path, opts: &PictureOptions) -> Result<Vec<PathBuf>> {
    let summary_path = dir.join("summary.json");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        input(format!(
            "{} holds no finished run to draw ({}: {e})",
            dir.display(),
            summary_path.display()
        ))
    })?;
    let summary: Json = serde_json::from_str(&text)
        .map_err(|e| input(format!("{}: not JSON: {e}", summary_path.display())))?;
    let Some(t) = read::<f64>(dir, "t")? else {
        return Err(input(format!(
            "{} has no t.npy: only `throng run --out` directories can be drawn",
            dir.display()
        )));
    };
    let ctx = Context::new(dir, &summary, t.data, opts);
    let mut written = Vec::new();
    ctx.stats(&mut written)?;
    ctx.histograms(&mut written)?;
    ctx.paths(&mut written)?;
    ctx.points(&mut written)?;
    Ok(written)
}

struct Context<'a> {
    dir: &'a Path,
    summary: &'a Json,
    t: Vec<f64>,
    opts: &'a PictureOptions,
    title: String,
    rows: Vec<String>,
}

impl<'a> Context<'a> {
    fn new(dir: &'a Path, summary: &'a Json, t: Vec<f64>, opts: &'a PictureOptions) -> Self {
        let s = |k: &str| summary[k].to_string().trim_matches('"').to_string();
        let title = format!(
            "{} · {} · {} paths · seed {}",
            s("system"),
            s("method"),
            s("paths"),
            s("seed")
        );
        let rows = summary["rows"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Context {
            dir,
            summary,
            t,
            opts,
            title,
            rows,
        }
    }

    fn row(&self, c: usize) -> String {
        self.rows.get(c).cloned().unwrap_or(format!("row {c}"))
    }

    /// The save time drawn at one time: the nearest to `at`, else the last.
    fn save(&self) -> usize {
        let last = self.t.len() - 1;
        match self.opts.at {
            None => last,
            Some(at) => (0..self.t.len())
                .min_by(|&a, &b| {
                    (self.t[a] - at)
                        .abs()
                        .partial_cmp(&(self.t[b] - at).abs())
                        .expect("finite times")
                })
                .unwrap_or(last),
        }
    }

    /// Writes a chart (and its SVG twin if asked).
    fn chart(
        &self,
        name: &str,
        title: &str,
        panels: &[Panel],
        out: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let png = self.dir.join(format!("{name}.png"));
        chart::panels(&png, title, panels)?;
        out.push(png);
        if self.opts.svg {
            let svg = self.dir.join(format!("{name}.svg"));
            chart::panels(&svg, title, panels)?;
            out.push(svg);
        }
        Ok(())
    }

    fn stats(&self, out: &mut Vec<PathBuf>) -> Result<()> {
        let s_n = self.t.len();
        let (Some(mean), Some(var)) = (
            read::<f64>(self.dir, "mean")?,
            read::<f64>(self.dir, "var")?,
        ) else {
            return Ok(());
        };
        if s_n < 2 {
            return Ok(());
        }
        let r_n = mean.shape[1];
        let lo = read::<f64>(self.dir, "min")?;
        let hi = read::<f64>(self.dir, "max")?;
        let q = read::<f64>(self.dir, "quantiles")?;
        let levels: Vec<f64> = self.summary["quantile_levels"]
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_f64).collect())
            .unwrap_or_default();
        let at = |a: &Array<f64>, c: usize| -> Vec<f64> {
            (0..s_n).map(|s| a.data[s * r_n + c]).collect()
        };
        let mut panels = Vec::new();
        for c in 0..r_n.min(MAX_ROWS) {
            let m = at(&mean, c);
            let sd: Vec<f64> = at(&var, c).iter().map(|v| v.sqrt()).collect();
            let mut p = Panel {
                x_label: "t".into(),
                y_label: self.row(c),
                ..Default::default()
            };
            if let (Some(lo), Some(hi)) = (&lo, &hi) {
                p.bands.push(Band {
                    xs: self.t.clone(),
                    lo: at(lo, c),
                    hi: at(hi, c),
                    colour: 7,
                    alpha: 0.15,
                });
                p.legend.push((7, "min – max".into()));
            }
            if let Some(q) = &q {
                let nq = q.shape[2];
                let qv = |k: usize| -> Vec<f64> {
                    (0..s_n).map(|s| q.data[(s * r_n + c) * nq + k]).collect()
                };
                for k in 0..nq / 2 {
                    p.bands.push(Band {
                        xs: self.t.clone(),
                        lo: qv(k),
                        hi: qv(nq - 1 - k),
                        colour: 1,
                        alpha: 0.25,
                    });
                }
                if nq >= 2 {
                    let name = match (levels.first(), levels.last()) {
                        (Some(a), Some(b)) => format!("quantiles {a} – {b}"),
                        _ => "quantiles".into(),
                    };
                    p.legend.push((1, name));
                }
                if let Some(k) = levels.iter().position(|&l| l == 0.5) {
                    p.lines.push(Line {
                        xs: self.t.clone(),
                        ys: qv(k),
                        colour: 1,
                        alpha: 1.0,
                        width: 2,
                    });
                    p.legend.push((1, "median".into()));
                }
            }
            p.bands.push(Band {
                xs: self.t.clone(),
                lo: m.iter().zip(&sd).map(|(m, s)| m - s).collect(),
                hi: m.iter().zip(&sd).map(|(m, s)| m + s).collect(),
                colour: 0,
                alpha: 0.3,
            });
            p.lines.push(Line {
                xs: self.t.clone(),
                ys: m,
                colour: 0,
                alpha: 1.0,
                width: 2,
            });
            p.legend.push((0, "mean ± 1 sd".into()));
            panels.push(p);
        }
        self.chart("stats", &self.title, &panels, out)
    }

    fn histograms(&self, out: &mut Vec<PathBuf>) -> Result<()> {
        let files = &self.summary["files"];
        for k in 0.. {
            let name = format!("hist{k}");
            let Some(h) = read::<u64>(self.dir, &name)? else {
                break;
            };
            let info = &files[&name];
            let c = info["component"].as_u64().unwrap_or(0) as usize;
            let (lo, hi) = match info["range"]
                .as_array()
                .map(|r| (r[0].as_f64(), r[1].as_f64()))
            {
                Some((Some(lo), Some(hi))) => (lo, hi),
                _ => continue,
            };
            let (s_n, w) = (h.shape[0], h.shape[1]);
            let bins = w - 2;
            let value = Axis {
                label: self.row(c),
                lo,
                hi,
            };
            if s_n >= 2 {
                // Time across, values up: cell (s, b) is bin b at save time s.
                let mut grid = vec![0u64; s_n * bins];
                for s in 0..s_n {
                    for b in 0..bins {
                        grid[b * s_n + s] = h.data[s * w + 1 + b];
                    }
                }
                let half = (self.t[s_n - 1] - self.t[0]) / (2 * (s_n - 1)) as f64;
                let time = Axis {
                    label: "t".into(),
                    lo: self.t[0] - half,
                    hi: self.t[s_n - 1] + half,
                };
                let path = self.dir.join(format!("{name}.png"));
                let title = format!("{} · histogram of {}", self.title, self.row(c));
                plot::density(&path, &grid, s_n, bins, &time, &value, &title)?;
                out.push(path);
            }
            let s = self.save();
            let row = &h.data[s * w..(s + 1) * w];
            let total: u64 = row.iter().sum();
            let width = (hi - lo) / bins as f64;
            let bars = (0..bins)
                .map(|b| {
                    let a = lo + width * b as f64;
                    (
                        a,
                        a + width,
                        row[1 + b] as f64 / (total.max(1) as f64 * width),
                    )
                })
                .collect();
            let outside = row[0] + row[w - 1];
            let panel = Panel {
                x_label: self.row(c),
                y_label: "density".into(),
                bars,
                legend: vec![(
                    0,
                    format!(
                        "t = {} · {} of {} outside the range",
                        self.t[s], outside, total
                    ),
                )],
                ..Default::default()
            };
            self.chart(&format!("{name}_at"), &self.title, &[panel], out)?;
        }
        Ok(())
    }

    fn paths(&self, out: &mut Vec<PathBuf>) -> Result<()> {
        let Some(paths) = read::<f64>(self.dir, "paths")? else {
            if self.opts.xy.is_some() {
                return Err(input(
                    "--xy: the scatter is of kept paths, and this run kept none (--keep-paths K)"
                        .into(),
                ));
            }
            return Ok(());
        };
        let (s_n, k_n, d) = (paths.shape[0], paths.shape[1], paths.shape[2]);
        if k_n == 0 {
            return Ok(());
        }
        let v = |s: usize, k: usize, c: usize| paths.data[(s * k_n + k) * d + c];
        if s_n >= 2 {
            let shown = k_n.min(MAX_PATHS);
            let panels: Vec<Panel> = (0..d.min(MAX_ROWS))
                .map(|c| Panel {
                    x_label: "t".into(),
                    y_label: self.row(c),
                    lines: (0..shown)
                        .map(|k| Line {
                            xs: self.t.clone(),
                            ys: (0..s_n).map(|s| v(s, k, c)).collect(),
                            colour: k,
                            alpha: 0.35,
                            width: 1,
                        })
                        .collect(),
                    legend: vec![(0, format!("{shown} kept paths"))],
                    ..Default::default()
                })
                .collect();
            self.chart("paths", &self.title, &panels, out)?;
        }
        if let Some((a, b)) = self.opts.xy.filter(|&(a, b)| a.max(b) >= d) {
            return Err(input(format!(
                "--xy {a},{b}: the state has components 0 to {}",
                d - 1
            )));
        }
        if d >= 2 && k_n >= 2 {
            let (a, b) = self.opts.xy.unwrap_or((0, 1));
            if a >= d || b >= d {
                return Err(input(format!(
                    "--xy {a},{b}: the state has components 0 to {}",
                    d - 1
                )));
            }
            let s = self.save();
            let panel = Panel {
                x_label: self.row(a),
                y_label: self.row(b),
                points: (0..k_n).map(|k| (v(s, k, a), v(s, k, b))).collect(),
                legend: vec![(0, format!("{k_n} kept paths at t = {}", self.t[s]))],
                ..Default::default()
            };
            self.chart("scatter", &self.title, &[panel], out)?;
        }
        Ok(())
    }

    /// Terminal statistics per point against the swept parameter or over two grid axes.
    fn points(&self, out: &mut Vec<PathBuf>) -> Result<()> {
        let (Some(mean), Some(var)) = (
            read::<f64>(self.dir, "point_mean")?,
            read::<f64>(self.dir, "point_var")?,
        ) else {
            return Ok(());
        };
        let (s_n, p_n, r_n) = (mean.shape[0], mean.shape[1], mean.shape[2]);
        let last = (s_n - 1) * p_n * r_n;
        let m = |p: usize, c: usize| mean.data[last + p * r_n + c];
        let sd = |p: usize, c: usize| var.data[last + p * r_n + c].sqrt();
        // The inputs that vary between points, in the order they apply.
        let mut sweeps = Vec::new();
        let mut grids = Vec::new();
        if let Some(params) = self.summary["params"].as_object() {
            for (name, v) in params {
                let pair = |k: &str| {
                    v[k].as_array()
                        .map(|a| a.iter().filter_map(Json::as_f64).collect::<Vec<f64>>())
                };
                if let Some(r) = pair("sweep") {
                    sweeps.push((name.clone(), r[0], r[1], false));
                } else if let Some(r) = pair("logsweep") {
                    sweeps.push((name.clone(), r[0], r[1], true));
                } else if let Some(g) = pair("grid") {
                    grids.push((name.clone(), g[0], g[1], g[2] as usize));
                }
            }
        }
        let along = |lo: f64, hi: f64, log: bool, p: usize, n: usize| {
            let f = if n > 1 {
                p as f64 / (n - 1) as f64
            } else {
                0.0
            };
            if log {
                lo * (hi / lo).powf(f)
            } else {
                lo + (hi - lo) * f
            }
        };
        let axis1 = match (sweeps.as_slice(), grids.as_slice()) {
            ([(name, lo, hi, log)], []) => Some((name.clone(), *lo, *hi, *log)),
            ([], [(name, lo, hi, n)]) if *n == p_n => Some((name.clone(), *lo, *hi, false)),
            _ => None,
        };
        if let Some((name, lo, hi, log)) = axis1 {
            let xs: Vec<f64> = (0..p_n).map(|p| along(lo, hi, log, p, p_n)).collect();
            let panels: Vec<Panel> = (0..r_n.min(MAX_ROWS))
                .map(|c| {
                    let ms: Vec<f64> = (0..p_n).map(|p| m(p, c)).collect();
                    Panel {
                        x_label: name.clone(),
                        y_label: format!("{} at t = {}", self.row(c), self.t[s_n - 1]),
                        bands: vec![Band {
                            xs: xs.clone(),
                            lo: (0..p_n).map(|p| m(p, c) - sd(p, c)).collect(),
                            hi: (0..p_n).map(|p| m(p, c) + sd(p, c)).collect(),
                            colour: 0,
                            alpha: 0.3,
                        }],
                        lines: vec![Line {
                            xs: xs.clone(),
                            ys: ms,
                            colour: 0,
                            alpha: 1.0,
                            width: 2,
                        }],
                        legend: vec![(0, "mean ± 1 sd per point".into())],
                        ..Default::default()
                    }
                })
                .collect();
            return self.chart("sweep", &self.title, &panels, out);
        }
        if let (true, [(xn, xlo, xhi, nx), (yn, ylo, yhi, ny)]) =
            (sweeps.is_empty(), grids.as_slice())
        {
            if nx * ny != p_n || *nx < 2 || *ny < 2 {
                return Ok(());
            }
            // Cells are centred on the grid's values.
            let edge = |lo: f64, hi: f64, n: usize, label: &str| {
                let h = (hi - lo) / (2 * (n - 1)) as f64;
                Axis {
                    label: label.into(),
                    lo: lo - h,
                    hi: hi + h,
                }
            };
            let (x, y) = (edge(*xlo, *xhi, *nx, xn), edge(*ylo, *yhi, *ny, yn));
            for c in 0..r_n.min(4) {
                let values: Vec<f64> = (0..p_n).map(|p| m(p, c)).collect();
                let path = self.dir.join(format!("grid_{}.png", self.row(c)));
                let title = format!(
                    "{} · mean {} at t = {}",
                    self.title,
                    self.row(c),
                    self.t[s_n - 1]
                );
                plot::sequential(&path, &values, *nx, *ny, &x, &y, &title, &self.row(c))?;
                out.push(path);
            }
        }
        Ok(())
    }
}
