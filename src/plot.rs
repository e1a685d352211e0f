//! PNG pictures of 2-D grids for the chaos toolkit: a diverging heatmap centred on 0 (say a
//! Lyapunov exponent over two parameters), a log-scaled density of counts, and categorical
//! labels (basins, clusters).
//!
//! Values are row-major with row 0 at the bottom: cell `(ix, iy)` is `values[iy * nx + ix]`,
//! `x` growing to the right and `y` upwards. The grid is drawn as one bitmap the size of the
//! plot area (each pixel takes the cell under its centre), so a picture costs about the same
//! for 10 × 10 cells as for 4096 × 4096. Text is drawn with DejaVu Sans, embedded in the
//! library (`assets/fonts`, with its licence): no system font is read. Pictures are 900 × 800
//! pixels on white.
//!
//! Errors: [`Error::Input`] (`what` is `"plot"`) when the data do not fill `nx` × `ny` cells,
//! either is 0, or an axis does not run from a finite `lo` up to a finite `hi`;
//! [`Error::Io`] naming the file when it cannot be written (or, never expected, the drawing
//! fails).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::error::{Error, Result};

/// One axis of a picture: its label and the values at its two ends (the outer edges of the
/// first and last cells).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    pub lo: f64,
    pub hi: f64,
}

/// A diverging heatmap centred on 0: blue below, white at 0, red above, over the symmetric
/// range ±max|v| of the finite values; a non-finite cell is grey. Axes with their labels and
/// tick values, a colour bar labelled `bar_label`, and `title` above.
#[allow(clippy::too_many_arguments)]
pub fn heatmap(
    path: &Path,
    values: &[f64],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
    bar_label: &str,
) -> Result<()> {
    draw_heatmap(path, values, nx, ny, x, y, title, bar_label).map(|_| ())
}

/// Values on a sequential scale (viridis from the least finite value to the most; a
/// non-finite cell is grey), with axes, a colour bar labelled `bar_label`, and `title`.
#[allow(clippy::too_many_arguments)]
pub fn sequential(
    path: &Path,
    values: &[f64],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
    bar_label: &str,
) -> Result<()> {
    check(values.len(), nx, ny, x, y)?;
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = match (lo.is_finite(), hi > lo) {
        (true, true) => (lo, hi),
        (true, false) => (lo - 1.0, lo + 1.0),
        _ => (0.0, 1.0),
    };
    let shade = |v: f64| match v.is_finite() {
        true => along(&VIRIDIS, (v - lo) / (hi - lo)),
        false => NOT_FINITE,
    };
    picture(path, title, |area| {
        let (main, strip) = area.split_horizontally(WIDTH - BAR_STRIP);
        grid(&main, nx, ny, x, y, |i| shade(values[i]))?;
        colour_bar(&strip, lo..hi, bar_label, None, |f| {
            shade(lo + f * (hi - lo))
        })?;
        Ok(())
    })
}

/// Counts as a log-scaled density: a cell's shade is ln c / ln max on viridis (the darkest
/// for 1, the brightest for the most), and a cell with no count is black. Axes, a colour bar
/// of counts on a log scale, and `title`.
pub fn density(
    path: &Path,
    counts: &[u64],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
) -> Result<()> {
    draw_density(path, counts, nx, ny, x, y, title).map(|_| ())
}

/// Categorical labels in distinct colours (a palette of ten, cycled: label `l` has colour
/// `l % 10`); `u32::MAX` means unlabelled and is black. Axes, a legend of the labels
/// present (label `l` named `names[l]`, or "label l" past the names' end; at most
/// [`LEGEND_ROWS`] rows), and `title`.
#[allow(clippy::too_many_arguments)]
pub fn categorical(
    path: &Path,
    labels: &[u32],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
    names: &[String],
) -> Result<()> {
    draw_categorical(path, labels, nx, ny, x, y, title, names).map(|_| ())
}

/// Rows of a categorical picture's legend; labels past them are summed in a last row.
pub const LEGEND_ROWS: usize = 24;

/// The picture's size in pixels.
const WIDTH: u32 = 900;
const HEIGHT: u32 = 800;
/// The band at the top that holds the title.
const TITLE_BAND: u32 = 50;
/// The strip on the right that holds a heatmap's colour bar, its ticks and its label.
const BAR_STRIP: u32 = 150;
pub(crate) const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 26;
const DESC_SIZE: u32 = 20;
const TICK_SIZE: u32 = 15;

/// Grey for a heatmap's non-finite cells.
const NOT_FINITE: [u8; 3] = [128, 128, 128];
/// Black for a density's empty cells and for unlabelled cells.
const NOTHING: [u8; 3] = [0, 0, 0];

/// Blue, white at 0, red (after ColorBrewer's RdBu, with pure white in the middle), for t in
/// [-1, 1].
const DIVERGING: [(f64, [u8; 3]); 7] = [
    (-1.0, [5, 48, 97]),
    (-2.0 / 3.0, [33, 102, 172]),
    (-1.0 / 3.0, [146, 197, 222]),
    (0.0, [255, 255, 255]),
    (1.0 / 3.0, [244, 165, 130]),
    (2.0 / 3.0, [178, 24, 43]),
    (1.0, [103, 0, 31]),
];

/// Viridis, for t in [0, 1].
const VIRIDIS: [(f64, [u8; 3]); 9] = [
    (0.0, [68, 1, 84]),
    (0.125, [71, 44, 122]),
    (0.25, [59, 81, 139]),
    (0.375, [44, 113, 142]),
    (0.5, [33, 144, 141]),
    (0.625, [39, 173, 129]),
    (0.75, [92, 200, 99]),
    (0.875, [170, 220, 50]),
    (1.0, [253, 231, 37]),
];

/// Tableau 10.
pub(crate) const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The colour at `t` along `stops` (sorted by position), clamped at both ends.
fn along(stops: &[(f64, [u8; 3])], t: f64) -> [u8; 3] {
    let (first, last) = (stops[0], stops[stops.len() - 1]);
    if t.is_nan() || t <= first.0 {
        return first.1;
    }
    if t >= last.0 {
        return last.1;
    }
    let i = stops
        .iter()
        .position(|s| s.0 > t)
        .unwrap_or(stops.len() - 1);
    let ((t0, c0), (t1, c1)) = (stops[i - 1], stops[i]);
    let f = (t - t0) / (t1 - t0);
    std::array::from_fn(|k| {
        (f64::from(c0[k]) + f * (f64::from(c1[k]) - f64::from(c0[k]))).round() as u8
    })
}

/// A value's colour on the diverging map of range ±`max`.
fn diverging(v: f64, max: f64) -> [u8; 3] {
    if !v.is_finite() {
        NOT_FINITE
    } else if max > 0.0 {
        along(&DIVERGING, v / max)
    } else {
        along(&DIVERGING, 0.0)
    }
}

/// The plot area of a picture, in pixels of the whole picture: columns `x0..x1`, rows
/// `y0..y1` (row 0 at the top). Tests sample the picture through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    x0: u32,
    x1: u32,
    y0: u32,
    y1: u32,
}

impl Frame {
    fn of(area: &Area) -> Frame {
        let (xs, ys) = area.get_pixel_range();
        Frame {
            x0: xs.start.max(0) as u32,
            x1: xs.end.max(0) as u32,
            y0: ys.start.max(0) as u32,
            y1: ys.end.max(0) as u32,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_heatmap(
    path: &Path,
    values: &[f64],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
    bar_label: &str,
) -> Result<(Frame, Frame)> {
    check(values.len(), nx, ny, x, y)?;
    let max = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    let range = if max > 0.0 { max } else { 1.0 };
    picture(path, title, |area| {
        let (main, strip) = area.split_horizontally(WIDTH - BAR_STRIP);
        let frame = grid(&main, nx, ny, x, y, |i| diverging(values[i], max))?;
        let bar = colour_bar(&strip, -range..range, bar_label, None, |f| {
            diverging(range * (2.0 * f - 1.0), max)
        })?;
        Ok((frame, bar))
    })
}

fn draw_density(
    path: &Path,
    counts: &[u64],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
) -> Result<(Frame, Frame)> {
    check(counts.len(), nx, ny, x, y)?;
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    // ln c / ln max, the brightest for every count when the most is 1.
    let shade = |c: f64| {
        if max > 1.0 {
            c.ln() / max.ln()
        } else {
            1.0
        }
    };
    picture(path, title, |area| {
        let (main, strip) = area.split_horizontally(WIDTH - BAR_STRIP);
        let frame = grid(&main, nx, ny, x, y, |i| match counts[i] {
            0 => NOTHING,
            c => along(&VIRIDIS, shade(c as f64)),
        })?;
        // The bar runs over counts 1 ..= max on a log scale (to 10 when the most is 1, so the
        // scale has a length).
        let top = if max > 1.0 { max } else { 10.0 };
        // Counts are whole: ticks without decimals.
        let whole = |v: &f64| format!("{}", v.round() as u64);
        let bar = colour_bar(&strip, (1.0..top).log_scale(), "count", Some(&whole), |f| {
            along(&VIRIDIS, shade(top.powf(f)))
        })?;
        Ok((frame, bar))
    })
}

#[allow(clippy::too_many_arguments)]
fn draw_categorical(
    path: &Path,
    labels: &[u32],
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    title: &str,
    names: &[String],
) -> Result<(Frame, Frame)> {
    check(labels.len(), nx, ny, x, y)?;
    let colour = |l: u32| match l {
        u32::MAX => NOTHING,
        l => PALETTE[l as usize % PALETTE.len()],
    };
    let mut present: Vec<u32> = labels.to_vec();
    present.sort_unstable();
    present.dedup();
    let mut rows: Vec<([u8; 3], String)> = present
        .iter()
        .map(|&l| {
            let name = match (l, names.get(l as usize)) {
                (u32::MAX, _) => "unlabelled".to_string(),
                (_, Some(n)) => n.clone(),
                (l, None) => format!("label {l}"),
            };
            (colour(l), name)
        })
        .collect();
    if rows.len() > LEGEND_ROWS {
        let more = rows.len() - (LEGEND_ROWS - 1);
        rows.truncate(LEGEND_ROWS - 1);
        rows.push(([255, 255, 255], format!("… {more} more")));
    }
    picture(path, title, |area| {
        let (main, strip) = area.split_horizontally(WIDTH - BAR_STRIP);
        let frame = grid(&main, nx, ny, x, y, |i| colour(labels[i]))?;
        let legend = legend(&strip, &rows)?;
        Ok((frame, legend))
    })
}

/// A legend over `area`: a swatch and a name per row, from the top of the plot area down.
/// Returns the swatches' column span and rows' span.
fn legend(area: &Area, rows: &[([u8; 3], String)]) -> std::result::Result<Frame, Drawn> {
    const TOP: i32 = 15;
    const STEP: i32 = 24;
    const SWATCH: i32 = 16;
    let style = TextStyle::from((FONT, TICK_SIZE).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, (c, name)) in rows.iter().enumerate() {
        let y = TOP + k as i32 * STEP;
        area.draw(&Rectangle::new(
            [(10, y), (10 + SWATCH, y + SWATCH)],
            RGBColor(c[0], c[1], c[2]).filled(),
        ))?;
        area.draw(&Rectangle::new(
            [(10, y), (10 + SWATCH, y + SWATCH)],
            BLACK.stroke_width(1),
        ))?;
        area.draw_text(name, &style, (10 + SWATCH + 8, y + SWATCH / 2))?;
    }
    let (xs, ys) = area.get_pixel_range();
    Ok(Frame {
        x0: (xs.start + 10) as u32,
        x1: (xs.start + 10 + SWATCH) as u32,
        y0: (ys.start + TOP) as u32,
        y1: (ys.start + TOP + rows.len() as i32 * STEP) as u32,
    })
}

fn input(message: String) -> Error {
    Error::Input {
        what: "plot".into(),
        message,
    }
}

/// The grid's shape against its data, and the axes' ranges.
fn check(len: usize, nx: usize, ny: usize, x: &Axis, y: &Axis) -> Result<()> {
    if nx == 0 || ny == 0 {
        return Err(input(format!(
            "plot: a grid of {nx} x {ny} cells has nothing to draw"
        )));
    }
    match nx.checked_mul(ny) {
        Some(n) if n == len => {}
        _ => {
            return Err(input(format!(
                "plot: {len} values do not fill a grid of {nx} x {ny} cells"
            )))
        }
    }
    for (name, a) in [("x", x), ("y", y)] {
        if !(a.lo.is_finite() && a.hi.is_finite() && a.lo < a.hi) {
            return Err(input(format!(
                "plot: the {name} axis `{}` runs from {} to {}; it needs finite ends with lo < hi",
                a.label, a.lo, a.hi
            )));
        }
    }
    Ok(())
}

/// The embedded font, registered once for the whole process.
pub(crate) fn font() -> Result<()> {
    static REGISTER: Once = Once::new();
    static OK: AtomicBool = AtomicBool::new(false);
    REGISTER.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
        let ok = register_font(FONT, FontStyle::Normal, bytes).is_ok();
        OK.store(ok, Ordering::Release);
    });
    if OK.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err(input(
            "plot: the embedded font DejaVuSans.ttf could not be read".into(),
        ))
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws a picture into memory (white, `title` in the band at the top, the rest by `body`)
/// and writes it to `path` as a PNG. Returns what `body` returns (where it drew).
fn picture<T, F>(path: &Path, title: &str, body: F) -> Result<T>
where
    F: FnOnce(&Area) -> std::result::Result<T, Drawn>,
{
    font()?;
    let mut rgb = vec![255u8; WIDTH as usize * HEIGHT as usize * 3];
    let frame = {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = (|| -> std::result::Result<T, Drawn> {
            root.fill(&WHITE)?;
            let (band, rest) = root.split_vertically(TITLE_BAND);
            let style = TextStyle::from((FONT, TITLE_SIZE).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            band.draw_text(title, &style, ((WIDTH / 2) as i32, (TITLE_BAND / 2) as i32))?;
            let frame = body(&rest)?;
            root.present()?;
            Ok(frame)
        })();
        drawn.map_err(|e| Error::Io {
            what: path.display().to_string(),
            source: io::Error::other(format!("could not draw the picture: {}", e.0)),
        })?
    };
    write_png(path, &rgb, WIDTH, HEIGHT)?;
    Ok(frame)
}

/// A drawing error from plotters, as text (its type borrows the backend).
#[derive(Debug)]
struct Drawn(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for Drawn {
    fn from(e: DrawingAreaErrorKind<E>) -> Drawn {
        Drawn(e.to_string())
    }
}

/// Axes over `area` and the grid as one bitmap filling the plot area; `colour(i)` is cell
/// `i`'s colour.
fn grid(
    area: &Area,
    nx: usize,
    ny: usize,
    x: &Axis,
    y: &Axis,
    colour: impl Fn(usize) -> [u8; 3],
) -> std::result::Result<Frame, Drawn> {
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .margin_right(30)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(x.lo..x.hi, y.lo..y.hi)?;
    let plot = chart.plotting_area().strip_coord_spec();
    let (w, h) = plot.dim_in_pixel();
    // The cell under each column's and each row's centre (row 0 of the picture is the top).
    let columns: Vec<usize> = (0..w as usize)
        .map(|px| ((2 * px + 1) * nx / (2 * w as usize)).min(nx - 1))
        .collect();
    let rows: Vec<usize> = (0..h as usize)
        .map(|py| ny - 1 - ((2 * py + 1) * ny / (2 * h as usize)).min(ny - 1))
        .collect();
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    for &iy in &rows {
        for &ix in &columns {
            pixels.extend_from_slice(&colour(iy * nx + ix));
        }
    }
    blit(&plot, (w, h), pixels)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x.label.as_str())
        .y_desc(y.label.as_str())
        .axis_desc_style((FONT, DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .x_labels(8)
        .y_labels(8)
        .draw()?;
    Ok(Frame::of(&plot))
}

/// A colour bar over `area`: the scale `ys` upwards with its ticks and `label` on the right;
/// `colour(f)` is the colour a fraction `f` of the way up the bar.
fn colour_bar<Y>(
    area: &Area,
    ys: Y,
    label: &str,
    ticks: Option<&dyn Fn(&f64) -> String>,
    colour: impl Fn(f64) -> [u8; 3],
) -> std::result::Result<Frame, Drawn>
where
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    // The same top and bottom as the grid's chart, so that the bar stands beside the grid.
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(55)
        .set_label_area_size(LabelAreaPosition::Right, 95)
        .build_cartesian_2d(0.0..1.0, ys)?;
    let plot = chart.plotting_area().strip_coord_spec();
    let (w, h) = plot.dim_in_pixel();
    let mut pixels = Vec::with_capacity(w as usize * h as usize * 3);
    for py in 0..h {
        let c = colour(1.0 - (f64::from(py) + 0.5) / f64::from(h));
        for _ in 0..w {
            pixels.extend_from_slice(&c);
        }
    }
    blit(&plot, (w, h), pixels)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .axis_desc_style((FONT, DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .y_labels(9);
    if let Some(f) = ticks {
        mesh.y_label_formatter(f);
    }
    mesh.draw()?;
    Ok(Frame::of(&plot))
}

/// Copies `pixels` (RGB, rows from the top) onto `area` at its top left corner.
fn blit(area: &Area, size: (u32, u32), pixels: Vec<u8>) -> std::result::Result<(), Drawn> {
    if size.0 == 0 || size.1 == 0 {
        return Err(Drawn("the plot area has no room".into()));
    }
    let bitmap = BitMapElement::with_owned_buffer((0, 0), size, pixels)
        .ok_or_else(|| Drawn("the bitmap does not fill the plot area".into()))?;
    area.draw(&bitmap)?;
    Ok(())
}

/// Writes an RGB picture to `path` as a PNG.
pub(crate) fn write_png(path: &Path, rgb: &[u8], width: u32, height: u32) -> Result<()> {
    let io_error = |source: io::Error| Error::Io {
        what: path.display().to_string(),
        source,
    };
    let png_error = |e: png::EncodingError| match e {
        png::EncodingError::IoError(e) => io_error(e),
        e => io_error(io::Error::other(e.to_string())),
    };
    let file = File::create(path).map_err(io_error)?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(rgb).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh directory for this test's pictures.
    fn dir(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("throng-plot-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    struct Picture {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    }

    impl Picture {
        fn read(path: &Path) -> Picture {
            let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
            let mut reader = decoder.read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut buf).unwrap();
            assert_eq!(info.color_type, png::ColorType::Rgb);
            assert_eq!(info.bit_depth, png::BitDepth::Eight);
            buf.truncate(info.buffer_size());
            Picture {
                width: info.width,
                height: info.height,
                rgb: buf,
            }
        }

        fn at(&self, x: u32, y: u32) -> [u8; 3] {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
        }

        /// The pixel at the centre of cell (ix, iy) of an nx × ny grid (row 0 at the bottom).
        fn cell(&self, f: Frame, nx: u32, ny: u32, ix: u32, iy: u32) -> [u8; 3] {
            let (w, h) = (f.x1 - f.x0, f.y1 - f.y0);
            let x = f.x0 + (2 * ix + 1) * w / (2 * nx);
            let y = f.y1 - 1 - (2 * iy + 1) * h / (2 * ny);
            self.at(x, y)
        }

        /// Pixels darker than mid-grey in columns `xs`, rows `ys`.
        fn dark(&self, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> usize {
            let mut n = 0;
            for y in ys {
                for x in xs.clone() {
                    let [r, g, b] = self.at(x, y);
                    n += usize::from(u32::from(r) + u32::from(g) + u32::from(b) < 3 * 100);
                }
            }
            n
        }
    }

    /// Clearly more red than blue.
    fn red(c: [u8; 3]) -> bool {
        i32::from(c[0]) > i32::from(c[2]) + 50
    }

    /// Clearly more blue than red.
    fn blue(c: [u8; 3]) -> bool {
        i32::from(c[2]) > i32::from(c[0]) + 50
    }

    fn axes() -> (Axis, Axis) {
        (
            Axis {
                label: "a".into(),
                lo: 0.0,
                hi: 4.0,
            },
            Axis {
                label: "b".into(),
                lo: -1.0,
                hi: 1.0,
            },
        )
    }

    /// A plausible plot area: inside the picture, below the title band, most of the picture.
    fn plausible(f: Frame) {
        assert!(
            f.x0 < f.x1 && f.x1 <= WIDTH && f.y0 < f.y1 && f.y1 <= HEIGHT,
            "{f:?}"
        );
        assert!(f.y0 >= TITLE_BAND, "{f:?}");
        assert!(f.x1 - f.x0 > WIDTH / 2 && f.y1 - f.y0 > HEIGHT / 2, "{f:?}");
    }

    #[test]
    fn heatmap_is_blue_below_zero_red_above_white_at_zero_grey_where_not_finite() {
        let d = dir("heatmap");
        let path = d.join("h.png");
        let (x, y) = axes();
        // 4 × 2, row 0 at the bottom.
        let values = [
            -2.0,
            -2.0,
            0.0,
            f64::NAN, // bottom row
            2.0,
            1.0,
            0.0,
            f64::INFINITY, // top row
        ];
        let (f, bar) =
            draw_heatmap(&path, &values, 4, 2, &x, &y, "Lyapunov exponent", "λ").unwrap();
        plausible(f);
        // The bar stands right of the grid, as tall: red at the top, white halfway, blue below.
        assert!(
            bar.x0 > f.x1 && bar.x1 < WIDTH && (bar.y0, bar.y1) == (f.y0, f.y1),
            "{bar:?}"
        );
        let p = Picture::read(&path);
        assert_eq!((p.width, p.height), (WIDTH, HEIGHT));

        let low = p.cell(f, 4, 2, 0, 0);
        assert!(blue(low), "-max should be blue: {low:?}");
        let high = p.cell(f, 4, 2, 0, 1);
        assert!(red(high), "+max should be red: {high:?}");
        // Half the range is a lighter red than the maximum.
        let half = p.cell(f, 4, 2, 1, 1);
        assert!(red(half) && half[1] > high[1], "{half:?} vs {high:?}");
        for iy in 0..2 {
            let c = p.cell(f, 4, 2, 2, iy);
            assert!(c.iter().all(|&v| v >= 245), "0 should be white: {c:?}");
            let [r, g, b] = p.cell(f, 4, 2, 3, iy);
            assert!(
                r.abs_diff(g) <= 8 && g.abs_diff(b) <= 8 && (60..=200).contains(&r),
                "not finite should be grey: {:?}",
                [r, g, b]
            );
        }
        let mid = (bar.x0 + bar.x1) / 2;
        let top = p.at(mid, bar.y0 + 1);
        assert!(red(top), "bar top {top:?}");
        let bottom = p.at(mid, bar.y1 - 2);
        assert!(blue(bottom), "bar bottom {bottom:?}");
        let c = p.at(mid, (bar.y0 + bar.y1) / 2);
        assert!(c.iter().all(|&v| v >= 240), "bar middle {c:?}");
    }

    #[test]
    fn heatmap_draws_its_title_and_labels_on_white() {
        let d = dir("text");
        let (x, y) = axes();
        let values = [0.0; 8];
        let titled = d.join("titled.png");
        let untitled = d.join("untitled.png");
        let (f, bar) = draw_heatmap(&titled, &values, 4, 2, &x, &y, "A title", "bar").unwrap();
        let layout = draw_heatmap(&untitled, &values, 4, 2, &x, &y, "", "bar").unwrap();
        assert_eq!((f, bar), layout);
        let (p, q) = (Picture::read(&titled), Picture::read(&untitled));
        for pic in [&p, &q] {
            for (cx, cy) in [
                (0, 0),
                (WIDTH - 1, 0),
                (0, HEIGHT - 1),
                (WIDTH - 1, HEIGHT - 1),
            ] {
                assert_eq!(pic.at(cx, cy), [255, 255, 255], "corner ({cx}, {cy})");
            }
        }
        // The title is text in the band above the plot area; without it the band is blank.
        let band = 0..TITLE_BAND;
        assert!(
            p.dark(0..WIDTH, band.clone()) > 100,
            "{}",
            p.dark(0..WIDTH, band.clone())
        );
        assert_eq!(q.dark(0..WIDTH, band.clone()), 0);
        // Tick values and the axis label left of the plot area, and below it.
        assert!(p.dark(0..f.x0 - 2, f.y0..f.y1) > 100);
        assert!(p.dark(f.x0..f.x1, f.y1 + 2..HEIGHT) > 100);
        // The colour bar's ticks and label, right of the bar.
        assert!(p.dark(bar.x1 + 2..WIDTH, bar.y0..bar.y1) > 100);
    }

    #[test]
    fn density_is_black_where_empty_and_bright_at_the_most() {
        let d = dir("density");
        let path = d.join("d.png");
        let (x, y) = axes();
        let counts = [0, 1, 10, 1000, 0, 0, 5, 100];
        let (f, bar) = draw_density(&path, &counts, 4, 2, &x, &y, "density").unwrap();
        plausible(f);
        let p = Picture::read(&path);
        assert_eq!((p.width, p.height), (WIDTH, HEIGHT));
        assert_eq!(p.cell(f, 4, 2, 0, 0), [0, 0, 0]);
        assert_eq!(p.cell(f, 4, 2, 0, 1), [0, 0, 0]);
        let most = p.cell(f, 4, 2, 3, 0);
        assert!(
            most[0] > 200 && most[1] > 200,
            "the max should be bright: {most:?}"
        );
        // Counts rise in brightness (green channel along viridis), 1 is not black.
        let luma = |c: [u8; 3]| u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2]);
        let (one, ten, hundred) = (
            p.cell(f, 4, 2, 1, 0),
            p.cell(f, 4, 2, 2, 0),
            p.cell(f, 4, 2, 3, 1),
        );
        assert!(luma(one) > 30, "{one:?}");
        assert!(one[1] < ten[1] && ten[1] < hundred[1] && hundred[1] < most[1]);
        // The colour bar: the most at its top, a count of 1 at its bottom, 10 a third of the
        // way up (log scale to 1000), and its ticks right of it.
        let mid = (bar.x0 + bar.x1) / 2;
        // (a pixel row is a fraction 1/h of the bar: a step of at most 2 along viridis)
        let close = |a: [u8; 3], b: [u8; 3]| (0..3).all(|k| a[k].abs_diff(b[k]) <= 2);
        assert!(close(p.at(mid, bar.y0), most), "{:?}", p.at(mid, bar.y0));
        assert!(
            close(p.at(mid, bar.y1 - 1), one),
            "{:?}",
            p.at(mid, bar.y1 - 1)
        );
        let third = bar.y1 - (bar.y1 - bar.y0) / 3;
        let c = p.at(mid, third);
        assert!(c[1].abs_diff(ten[1]) < 8, "{c:?} against {ten:?}");
        assert!(p.dark(bar.x1 + 2..WIDTH, bar.y0..bar.y1) > 100);
    }

    #[test]
    fn categorical_gives_labels_distinct_colours_and_unlabelled_black() {
        let d = dir("categorical");
        let path = d.join("c.png");
        let (x, y) = axes();
        let labels = [0, 1, 2, u32::MAX, 0, 1, 10, 3];
        let names = ["left".to_string(), "right".to_string()];
        let (f, legend) = draw_categorical(&path, &labels, 4, 2, &x, &y, "basins", &names).unwrap();
        plausible(f);
        let p = Picture::read(&path);
        assert_eq!((p.width, p.height), (WIDTH, HEIGHT));
        let c = |ix, iy| p.cell(f, 4, 2, ix, iy);
        assert_ne!(c(0, 0), c(1, 0));
        assert_ne!(c(1, 0), c(2, 0));
        assert_ne!(c(0, 0), c(2, 0));
        assert_ne!(c(3, 1), c(0, 0));
        assert_eq!(c(0, 0), c(0, 1), "one label, one colour");
        assert_eq!(c(1, 0), c(1, 1));
        assert_eq!(c(2, 1), c(0, 0), "the palette cycles after ten");
        assert_eq!(c(3, 0), [0, 0, 0]);
        assert_ne!(c(0, 0), [255, 255, 255]);
        // The legend: one row per label present (0, 1, 2, 3, 10, unlabelled), in order,
        // each swatch in its label's colour, with its name beside it.
        let rows = 6;
        assert_eq!(legend.y1 - legend.y0, rows * 24);
        let swatch = |k: u32| p.at((legend.x0 + legend.x1) / 2, legend.y0 + k * 24 + 8);
        assert_eq!(swatch(0), c(0, 0));
        assert_eq!(swatch(1), c(1, 0));
        assert_eq!(swatch(2), c(2, 0));
        assert_eq!(swatch(4), c(2, 1));
        assert_eq!(swatch(5), [0, 0, 0]);
        for k in 0..rows {
            let y = legend.y0 + k * 24;
            assert!(
                p.dark(legend.x1 + 6..WIDTH, y..y + 16) > 10,
                "row {k} has a name"
            );
        }
    }

    #[test]
    fn wrong_shapes_and_ranges_are_input_errors() {
        let d = dir("errors");
        let path = d.join("never.png");
        let (x, y) = axes();
        let cases: Vec<Result<()>> = vec![
            heatmap(&path, &[0.0; 5], 2, 3, &x, &y, "t", "v"),
            heatmap(&path, &[], 0, 3, &x, &y, "t", "v"),
            density(&path, &[0; 3], 3, 0, &x, &y, "t"),
            density(&path, &[0; 7], 2, 3, &x, &y, "t"),
            categorical(&path, &[0; 4], 5, 1, &x, &y, "t", &[]),
            categorical(&path, &[0; 4], usize::MAX, 2, &x, &y, "t", &[]),
            heatmap(
                &path,
                &[0.0; 4],
                2,
                2,
                &Axis {
                    label: "a".into(),
                    lo: 1.0,
                    hi: 1.0,
                },
                &y,
                "t",
                "v",
            ),
            density(
                &path,
                &[0; 4],
                2,
                2,
                &x,
                &Axis {
                    label: "b".into(),
                    lo: 0.0,
                    hi: f64::NAN,
                },
                "t",
            ),
        ];
        for (i, r) in cases.into_iter().enumerate() {
            match r {
                Err(Error::Input { what, message }) => {
                    assert_eq!(what, "plot");
                    assert!(
                        message.starts_with("plot: ") && !message.contains('\n'),
                        "{message}"
                    );
                }
                other => panic!("case {i}: expected an input error, got {other:?}"),
            }
        }
        assert!(!path.exists());
    }

    #[test]
    fn an_unwritable_path_is_an_io_error_naming_it() {
        let d = dir("io");
        let path = d.join("no such directory").join("p.png");
        let (x, y) = axes();
        match categorical(&path, &[0; 8], 4, 2, &x, &y, "t", &[]) {
            Err(Error::Io { what, source }) => {
                assert_eq!(what, path.display().to_string());
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }

    #[test]
    fn a_million_cells_plot_in_one_bitmap() {
        let d = dir("large");
        let path = d.join("large.png");
        let n = 1024;
        let values: Vec<f64> = (0..n * n)
            .map(|i| ((i % n) as f64 / n as f64 - 0.5) * ((i / n) as f64 / n as f64))
            .collect();
        let x = Axis {
            label: "r".into(),
            lo: 2.5,
            hi: 4.0,
        };
        let y = Axis {
            label: "s".into(),
            lo: 0.0,
            hi: 1.0,
        };
        let (f, _) = draw_heatmap(&path, &values, n, n, &x, &y, "1024 x 1024", "λ").unwrap();
        let p = Picture::read(&path);
        assert_eq!((p.width, p.height), (WIDTH, HEIGHT));
        // The bottom row is 0 (white); the top right corner is the maximum (red), the top left
        // the minimum (blue).
        let (top_right, top_left) = (p.at(f.x1 - 2, f.y0 + 1), p.at(f.x0 + 1, f.y0 + 1));
        assert!(red(top_right), "{top_right:?}");
        assert!(blue(top_left), "{top_left:?}");
        for x in [f.x0 + 1, f.x1 - 2] {
            let c = p.at(x, f.y1 - 2);
            assert!(c.iter().all(|&v| v >= 245), "bottom {c:?}");
        }
    }
}
