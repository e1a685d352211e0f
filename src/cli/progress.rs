//! How a long run shows its progress on stderr: a bar on a terminal (indicatif), lines with
//! `--progress` (for logs), nothing otherwise or with `--quiet`. Built on the library's
//! progress callback, which is called after every chunk.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use throng::solve::{Progress, ProgressInfo};

/// What a run shows, and the bar to clear when it ends.
pub struct Shown {
    pub callback: Option<Progress>,
    bar: Option<ProgressBar>,
}

impl Shown {
    /// Lines if asked for; else a bar when stderr is a terminal and not `quiet`.
    pub fn new(lines: bool, quiet: bool) -> Shown {
        if lines {
            let print = |p: &ProgressInfo| {
                eprintln!(
                    "progress: {} / {} trajectories, chunk {} of {}, {:.1} s, eta {:.1} s",
                    p.trajectories, p.of, p.chunk, p.chunks, p.elapsed_s, p.eta_s
                );
            };
            return Shown {
                callback: Some(Progress(Arc::new(print))),
                bar: None,
            };
        }
        if quiet || !std::io::stderr().is_terminal() {
            return Shown {
                callback: None,
                bar: None,
            };
        }
        let bar = ProgressBar::new(1);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:20}] {percent:>3}% {msg} · ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message("setting up (kernels, buffers)");
        // The spinner and the clock move while a chunk computes.
        bar.enable_steady_tick(Duration::from_millis(200));
        let b = bar.clone();
        let update = move |p: &ProgressInfo| {
            b.set_length(p.of);
            b.set_position(p.trajectories);
            let rate = p.trajectory_steps as f64 / p.elapsed_s.max(1e-9);
            b.set_message(format!(
                "{:.3e} of {:.3e} paths · chunk {}/{} · {:.2e} steps/s",
                p.trajectories as f64, p.of as f64, p.chunk, p.chunks, rate
            ));
        };
        Shown {
            callback: Some(Progress(Arc::new(update))),
            bar: Some(bar),
        }
    }

    /// Removes the bar (the report follows on stdout).
    pub fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
