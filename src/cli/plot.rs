//! `throng plot DIR`: pictures of a run's `--out` directory, written beside its arrays.

use std::path::PathBuf;

use throng::pictures::{render, PictureOptions};
use throng::Error;

#[derive(clap::Args, Clone, Default)]
pub struct PlotArgs {
    /// Also write the charts as SVG
    #[arg(long)]
    pub svg: bool,
    /// The save time of the histogram bars and the scatter (the nearest; default the last)
    #[arg(long, value_name = "T")]
    pub at: Option<f64>,
    /// The two components of the scatter, by index (default 0,1)
    #[arg(long, value_name = "A,B", value_parser = parse_xy)]
    pub xy: Option<(usize, usize)>,
}

fn parse_xy(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("{s} is not A,B: two component indices");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

impl PlotArgs {
    pub fn options(&self) -> PictureOptions {
        PictureOptions {
            svg: self.svg,
            at: self.at,
            xy: self.xy,
        }
    }
}

/// Draws `dir`'s pictures and names them on stderr.
pub fn draw(dir: &std::path::Path, args: &PlotArgs) -> Result<(), Error> {
    let written = render(dir, &args.options())?;
    if written.is_empty() {
        eprintln!(
            "plot: nothing to draw in {} (a run with one save time and no observers)",
            dir.display()
        );
    }
    for p in written {
        eprintln!("plot: {}", p.display());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct PlotCommand {
    /// A `throng run --out` directory
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    args: PlotArgs,
}

pub fn plot(c: PlotCommand) -> Result<(), Error> {
    draw(&c.dir, &c.args)
}
