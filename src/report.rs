//! How `throng run` shows a solution: the JSON object (`--json`, and `summary.json` under
//! `--out`), the text table, and the warnings on stderr.

use crate::error::Error;
use crate::method::Interpretation;
use crate::output::OutDir;
use crate::{Job, Solution};
use serde_json::{json, Map, Value as Json};

/// A finished run: the job, its solution, and what the report adds.
pub struct Report<'a> {
    pub job: &'a Job,
    pub sol: &'a Solution,
    /// Parameters as given: numbers, or the sweep, grid axis or file behind them.
    pub params: Map<String, Json>,
    pub quantile_levels: &'a [f64],
    /// Seconds opening the device took.
    pub device_s: f64,
}

impl Report<'_> {
    /// Trajectory-steps per second of solve time; for dopri5, the accepted steps of the
    /// finite trajectories.
    fn rate(&self) -> f64 {
        let work = match &self.sol.adaptive {
            Some(a) => a.steps.mean[0] * a.steps.count as f64,
            // The trajectories finished: all of them unless the run was interrupted.
            None => self.sol.completed as f64 * self.job.grid.steps as f64,
        };
        work / self.sol.timing.solve_s
    }

    /// The `--json` object (README, "Output files").
    pub fn json(&self) -> Json {
        let (job, sol) = (self.job, self.sol);
        let st = &sol.stats;
        let grid = &job.grid;
        let method = job.method;
        let adaptive = sol.adaptive.as_ref().map(|a| {
            let s = &a.steps;
            let v = s.var();
            json!({
                "rtol": method.controller().map_or(0.0, |c| c.rtol),
                "atol": method.controller().map_or(0.0, |c| c.atol),
                "max_steps": method.controller().map_or(0, |c| c.max_steps),
                "accepted": {"mean": s.mean[0], "var": v[0], "min": s.min[0], "max": s.max[0]},
                "rejected": {"mean": s.mean[1], "var": v[1], "min": s.min[1], "max": s.max[1]},
                "unfinished": a.unfinished,
                "first_unfinished": a.first_unfinished,
            })
        });
        // Extremes of no finite trajectory are null, not ±inf.
        let extreme = |v: &Vec<f64>| {
            if st.count > 0 {
                json!(v)
            } else {
                json!(vec![Json::Null; st.dim()])
            }
        };
        json!({
            "system": job.system.name,
            "noise": job.system.noise.name(),
            "method": method.name(),
            "interpretation": match method.interpretation() {
                Interpretation::Ito => "ito",
                Interpretation::Stratonovich => "stratonovich",
                Interpretation::None => "ode",
            },
            "precision": job.precision.name(),
            "paths": job.paths,
            "steps": grid.steps,
            "dt": grid.dt,
            "t0": grid.t0,
            "t1": grid.t1(),
            "seed": job.seed,
            "params": Json::Object(self.params.clone()),
            "rows": job.row_names(),
            "quantile_levels": self.quantile_levels,
            "adapter": sol.adapter,
            "terminal": {
                "count": st.count,
                "mean": st.mean,
                "var": st.var(),
                "se": st.var().iter().map(|v| (v / st.count as f64).sqrt()).collect::<Vec<f64>>(),
                "min": extreme(&st.min),
                "max": extreme(&st.max),
            },
            "nonfinite": st.nonfinite,
            "adaptive": adaptive,
            "first_nonfinite": st.first_nonfinite,
            "partial": sol.partial,
            "completed": sol.completed,
            "save_times": sol.saves.len(),
            "chunks": sol.chunks,
            "device_bytes": sol.device_bytes,
            "host_peak_bytes": host_peak_bytes(),
            "chunk_capacity": sol.chunk_capacity,
            "fused": sol.fused,
            "timing": {
                "solve_s": sol.timing.solve_s,
                "setup_s": sol.timing.setup_s,
                "device_s": self.device_s,
            },
            "trajectory_steps_per_s": self.rate(),
            "points": self.points_json(),
        })
    }

    /// The inputs that differ between points (sweeps, grid axes, files), by name.
    fn varying(&self) -> Vec<(usize, String)> {
        let job = self.job;
        let d = job.system.dim();
        job.values
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, crate::Value::Const(_)))
            .map(|(slot, _)| {
                let name = if slot < d {
                    format!("x0.{}", job.system.state[slot])
                } else {
                    job.system.params[slot - d].0.clone()
                };
                (slot, name)
            })
            .collect()
    }

    /// Point p's varying inputs as `name=value, ...`.
    fn point_text(&self, p: usize) -> String {
        let parts: Vec<String> = self
            .varying()
            .iter()
            .map(|(slot, name)| {
                // The point's value without a random initial offset.
                let v = self.job.point_value(*slot, p as u64);
                format!("{name}={v:.6}")
            })
            .collect();
        if parts.is_empty() {
            format!("point {p}")
        } else {
            format!("point {p}: {}", parts.join(", "))
        }
    }

    /// The finite points with the smallest and largest mean of row c.
    fn extremes(&self, c: usize) -> Option<(usize, usize)> {
        let pts = self.sol.points.as_ref()?;
        let mean = |p: usize| pts.mean[p * pts.rows + c];
        let live: Vec<usize> = (0..pts.points as usize)
            .filter(|&p| pts.count[p] > 0)
            .collect();
        let lo = *live.iter().min_by(|&&a, &&b| mean(a).total_cmp(&mean(b)))?;
        let hi = *live.iter().max_by(|&&a, &&b| mean(a).total_cmp(&mean(b)))?;
        Some((lo, hi))
    }

    /// Per-point statistics in the JSON: sizes and, per row, the extreme points (the arrays
    /// go to files under --out).
    fn points_json(&self) -> Json {
        let Some(pts) = &self.sol.points else {
            return Json::Null;
        };
        let names = self.job.row_names();
        let rows: Vec<Json> = (0..pts.rows)
            .map(|c| {
                let ext = self.extremes(c).map(|(lo, hi)| {
                    json!({
                        "lowest_mean": {"point": lo, "mean": pts.mean[lo * pts.rows + c], "var": pts.var(lo, c)},
                        "highest_mean": {"point": hi, "mean": pts.mean[hi * pts.rows + c], "var": pts.var(hi, c)},
                    })
                });
                json!({"row": names[c], "extremes": ext})
            })
            .collect();
        json!({
            "points": pts.points,
            "replicas": self.job.replicas,
            "nonfinite_points": pts.nonfinite.iter().filter(|&&n| n > 0).count(),
            "rows": rows,
        })
    }

    /// The per-point summary: for each state row, the points of lowest and highest mean.
    fn print_points(&self) {
        let Some(pts) = &self.sol.points else {
            return;
        };
        println!(
            "per point: {} points x {} replicas (arrays point_*.npy with --out)",
            pts.points,
            self.job.replicas.unwrap_or(1)
        );
        let names = self.job.row_names();
        let shown = pts.rows.min(self.sol.stats.dim()).min(4);
        for (c, name) in names.iter().enumerate().take(shown) {
            let Some((lo, hi)) = self.extremes(c) else {
                println!("  {name}: no point has a finite trajectory");
                continue;
            };
            let show = |p: usize| {
                // A standard error needs two trajectories.
                let se = if pts.count[p] > 1 {
                    format!(" ± {:.2e}", (pts.var(p, c) / pts.count[p] as f64).sqrt())
                } else {
                    String::new()
                };
                format!(
                    "{:.6e}{se} ({})",
                    pts.mean[p * pts.rows + c],
                    self.point_text(p)
                )
            };
            println!("  {name:<8} lowest mean  {}", show(lo));
            println!("  {:<8} highest mean {}", "", show(hi));
        }
        let bad = pts.nonfinite.iter().filter(|&&n| n > 0).count();
        if bad > 0 {
            println!("  {bad} points have non-finite trajectories (point_nonfinite.npy)");
        }
    }

    /// `--out DIR` (locked and checked by `OutDir::open` before the run): the NPY arrays, and
    /// `summary.json` (the JSON object, its files, its saves) written last.
    pub fn write_out(&self, out: OutDir, summary: &Json) -> Result<(), Error> {
        let sol = self.sol;
        let mut summary = summary.clone();
        summary["saves"] = json!(sol
            .saves
            .iter()
            .map(|s| json!({"step": s.step, "t": s.t, "count": s.stats.count,
                "nonfinite": s.stats.nonfinite, "first_nonfinite": s.stats.first_nonfinite}))
            .collect::<Vec<_>>());
        out.write(sol, self.job.grid.t1(), self.job.grid.steps, summary)
    }

    /// The text report: the run, terminal statistics, save times, steps, timing.
    pub fn print_table(&self) {
        let (job, sol) = (self.job, self.sol);
        let (grid, method) = (&job.grid, job.method);
        let grid_text = if method.is_adaptive() {
            format!(", first step {}", grid.dt)
        } else {
            format!(" x {} steps, dt {}", grid.steps, grid.dt)
        };
        let paths = if sol.partial {
            format!("{} of {} paths (interrupted)", sol.completed, job.paths)
        } else {
            format!("{} paths", job.paths)
        };
        println!(
            "{} with {} ({}): {paths}{grid_text}, t {} -> {}, seed {}",
            job.system.name,
            method.name(),
            job.precision.name(),
            grid.t0,
            grid.t1(),
            job.seed
        );
        println!("adapter: {}", sol.adapter);
        self.print_terminal();
        self.print_points();
        if !sol.saves.is_empty() {
            self.print_saves();
        }
        if let Some(a) = &sol.adaptive {
            let s = &a.steps;
            println!(
                "steps per trajectory: accepted mean {:.1} (min {}, max {}), rejected mean {:.1} (max {})",
                s.mean[0], s.min[0], s.max[0], s.mean[1], s.max[1]
            );
        }
        // A merge of shards has no timing of its own.
        if sol.timing.solve_s > 0.0 {
            println!(
                "setup {:.3} s, solve {:.3} s in {} chunk(s): {:.3e} trajectory-steps/s",
                sol.timing.setup_s,
                sol.timing.solve_s,
                sol.chunks,
                self.rate()
            );
        }
    }

    fn print_terminal(&self) {
        let st = &self.sol.stats;
        println!(
            "{:<10} {:>14} {:>14} {:>14} {:>14}",
            "component", "mean", "var", "min", "max"
        );
        let var = st.var();
        for (c, name) in self.job.row_names().iter().enumerate().take(st.dim()) {
            println!(
                "{:<10} {:>14.6e} {:>14.6e} {:>14.6e} {:>14.6e}   (se of mean {:.2e})",
                name,
                st.mean[c],
                var[c],
                st.min[c],
                st.max[c],
                (var[c] / st.count as f64).sqrt()
            );
        }
        println!(
            "finite trajectories: {}, non-finite: {}",
            st.count, st.nonfinite
        );
    }

    /// Up to 12 save times, evenly picked, with the first three rows; then the quantiles at t1.
    fn print_saves(&self) {
        let saves = &self.sol.saves;
        let names = self.job.row_names();
        let n = saves.len();
        let shown: Vec<usize> = if n <= 12 {
            (0..n).collect()
        } else {
            (0..12).map(|k| k * (n - 1) / 11).collect()
        };
        println!("save times: {n}{}", if n > 12 { " (12 shown)" } else { "" });
        print!("{:>12} {:>10} {:>9}", "t", "count", "nonfinite");
        for name in names.iter().take(3) {
            print!(
                " {:>13} {:>13}",
                format!("mean {name}"),
                format!("var {name}")
            );
        }
        println!();
        for k in shown {
            let sv = &saves[k];
            print!(
                "{:>12.6} {:>10} {:>9}",
                sv.t, sv.stats.count, sv.stats.nonfinite
            );
            for (m, v) in sv.stats.mean.iter().zip(sv.stats.var()).take(3) {
                print!(" {m:>13.6e} {v:>13.6e}");
            }
            println!();
        }
        if let Some(last) = saves.last() {
            for q in &last.quantiles {
                println!(
                    "quantiles of {} at t1 {:?} (within {:.2e}): {:?}",
                    names[q.component], self.quantile_levels, q.resolution, q.values
                );
            }
        }
    }

    /// An interrupted run, unfinished (dopri5) and non-finite trajectories, on stderr.
    pub fn warn(&self) {
        let sol = self.sol;
        if sol.partial {
            eprintln!(
                "warning: partial results: the statistics cover {} of {} trajectories",
                sol.completed, self.job.paths
            );
        }
        if let Some(a) = sol.adaptive.as_ref().filter(|a| a.unfinished > 0) {
            eprintln!(
                "warning: {} trajectories did not reach t1 (first: {}): they ran out of --max-steps, blew up, or their step no longer moved t; their states are NaN and excluded (llvmpipe also stops a trajectory after 65535 trial steps per segment)",
                a.unfinished,
                a.first_unfinished.unwrap_or(0)
            );
        }
        let unfinished = sol.adaptive.as_ref().map_or(0, |a| a.unfinished);
        if sol.stats.nonfinite > unfinished {
            eprintln!(
                "warning: {} trajectories became non-finite and are excluded from the statistics",
                sol.stats.nonfinite - unfinished
            );
        }
    }
}

/// The process's peak resident memory (Linux: VmHWM), None elsewhere.
fn host_peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
