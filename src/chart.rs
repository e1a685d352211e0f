//! Charts of curves: panels stacked one above the other, each with bands (a mean ± sd, a
//! quantile fan), lines (a median, kept paths), bars (a histogram at one time) and points
//! (a scatter), drawn as PNG (plotters' bitmap, the embedded font of [`crate::plot`]) or
//! SVG. The pictures of `throng plot` ([`crate::pictures`]) are made of these and of
//! [`crate::plot`]'s grids.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::plot::{font, write_png, FONT, PALETTE};

/// A shaded region between two curves over the same xs.
#[derive(Clone, Debug)]
pub struct Band {
    pub xs: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    /// Palette index and opacity.
    pub colour: usize,
    pub alpha: f64,
}

/// A curve.
#[derive(Clone, Debug)]
pub struct Line {
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    pub colour: usize,
    pub alpha: f64,
    pub width: u32,
}

/// One chart: its axes' labels and what it shows, drawn in this order: bands, bars, lines,
/// points. Non-finite values are left out.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub x_label: String,
    pub y_label: String,
    pub bands: Vec<Band>,
    pub lines: Vec<Line>,
    /// (left edge, right edge, height).
    pub bars: Vec<(f64, f64, f64)>,
    pub points: Vec<(f64, f64)>,
    /// Legend entries: (palette index, text).
    pub legend: Vec<(usize, String)>,
}

impl Panel {
    /// The finite extent of everything drawn, padded by 4% (a flat range gets ±1).
    fn extent(&self) -> Option<((f64, f64), (f64, f64))> {
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        for b in &self.bands {
            xs.extend(&b.xs);
            ys.extend(b.lo.iter().chain(&b.hi));
        }
        for l in &self.lines {
            xs.extend(&l.xs);
            ys.extend(&l.ys);
        }
        for &(a, b, h) in &self.bars {
            xs.extend([a, b]);
            ys.extend([0.0, h]);
        }
        for &(x, y) in &self.points {
            xs.push(x);
            ys.push(y);
        }
        let span = |v: &[f64]| {
            let f = v.iter().copied().filter(|v| v.is_finite());
            let lo = f.clone().fold(f64::INFINITY, f64::min);
            let hi = f.fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return None;
            }
            let pad = if hi > lo { 0.04 * (hi - lo) } else { 1.0 };
            Some((lo - pad, hi + pad))
        };
        Some((span(&xs)?, span(&ys)?))
    }
}

/// Picture widths and the height of each panel (a scatter's twice that).
const WIDTH: u32 = 900;
const PANEL: u32 = 300;

fn tall(p: &Panel) -> u32 {
    match p.points.is_empty() {
        true => PANEL,
        false => 2 * PANEL,
    }
}
const TITLE_BAND: u32 = 50;

/// Draws `panels` one above the other under `title` into `path`: PNG, or SVG if the name
/// ends in `.svg`. A panel with nothing finite to draw is refused (one line).
pub fn panels(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    font()?;
    if panels.is_empty() {
        return Err(input(format!(
            "plot: {} has no panel to draw",
            path.display()
        )));
    }
    for p in panels {
        if p.extent().is_none() {
            return Err(input(format!(
                "plot: the panel `{}` of {} has no finite value to draw",
                p.y_label,
                path.display()
            )));
        }
    }
    let height = TITLE_BAND + panels.iter().map(tall).sum::<u32>();
    let failed = |e: String| Error::Io {
        what: path.display().to_string(),
        source: std::io::Error::other(format!("could not draw the picture: {e}")),
    };
    if path.extension().is_some_and(|e| e == "svg") {
        let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
        draw(&root, title, panels).map_err(failed)?;
        root.present().map_err(|e| failed(e.to_string()))?;
        return Ok(());
    }
    let mut rgb = vec![255u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        draw(&root, title, panels).map_err(failed)?;
        root.present().map_err(|e| failed(e.to_string()))?;
    }
    write_png(path, &rgb, WIDTH, height)
}

fn input(message: String) -> Error {
    Error::Input {
        what: "plot".into(),
        message,
    }
}

fn colour(k: usize, alpha: f64) -> RGBAColor {
    let c = PALETTE[k % PALETTE.len()];
    RGBAColor(c[0], c[1], c[2], alpha)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (band, rest) = root.split_vertically(TITLE_BAND);
    let style = TextStyle::from((FONT, 24).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    band.draw_text(title, &style, ((WIDTH / 2) as i32, (TITLE_BAND / 2) as i32))
        .map_err(e)?;
    let mut areas = Vec::new();
    let mut below = rest;
    for p in panels {
        let (area, next) = below.split_vertically(tall(p));
        areas.push(area);
        below = next;
    }
    for (area, p) in areas.iter().zip(panels) {
        let ((x0, x1), (y0, y1)) = p.extent().expect("checked");
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(45)
            .y_label_area_size(85)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc(p.x_label.as_str())
            .y_desc(p.y_label.as_str())
            .axis_desc_style((FONT, 17))
            .label_style((FONT, 13))
            .x_labels(8)
            .y_labels(6)
            .draw()
            .map_err(e)?;
        let finite = |x: f64, y: f64| x.is_finite() && y.is_finite();
        for b in &p.bands {
            // One polygon per run of finite points: the upper edge forwards, the lower back.
            let mut run: Vec<(f64, f64, f64)> = Vec::new();
            let pts = b.xs.iter().zip(b.lo.iter().zip(&b.hi));
            for (k, (&x, (&lo, &hi))) in pts.enumerate() {
                let ok = finite(x, lo) && hi.is_finite();
                if ok {
                    run.push((x, lo, hi));
                }
                if (!ok || k + 1 == b.xs.len()) && run.len() > 1 {
                    let mut poly: Vec<(f64, f64)> = run.iter().map(|r| (r.0, r.2)).collect();
                    poly.extend(run.iter().rev().map(|r| (r.0, r.1)));
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            poly,
                            colour(b.colour, b.alpha).filled(),
                        )))
                        .map_err(e)?;
                }
                if !ok {
                    run.clear();
                }
            }
        }
        chart
            .draw_series(
                p.bars
                    .iter()
                    .map(|&(a, b, h)| Rectangle::new([(a, 0.0), (b, h)], colour(0, 0.75).filled())),
            )
            .map_err(e)?;
        for l in &p.lines {
            let pts: Vec<(f64, f64)> =
                l.xs.iter()
                    .zip(&l.ys)
                    .map(|(&x, &y)| (x, y))
                    .filter(|&(x, y)| finite(x, y))
                    .collect();
            chart
                .draw_series(std::iter::once(PathElement::new(
                    pts,
                    colour(l.colour, l.alpha).stroke_width(l.width),
                )))
                .map_err(e)?;
        }
        chart
            .draw_series(
                p.points
                    .iter()
                    .filter(|&&(x, y)| finite(x, y))
                    .map(|&(x, y)| Circle::new((x, y), 3, colour(0, 0.6).filled())),
            )
            .map_err(e)?;
        // The legend in the panel's top left corner.
        let text = TextStyle::from((FONT, 14).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        let plot = chart.plotting_area().strip_coord_spec();
        for (k, (c, name)) in p.legend.iter().enumerate() {
            let y = 14 + 20 * k as i32;
            plot.draw(&Rectangle::new(
                [(10, y - 6), (24, y + 6)],
                colour(*c, 0.8).filled(),
            ))
            .map_err(e)?;
            plot.draw_text(name, &text, (30, y)).map_err(e)?;
        }
    }
    Ok(())
}
