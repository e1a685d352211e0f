//! `throng plot DIR` and `run --plot`: every kind of picture drawn from small runs' `--out`
//! directories, each a PNG that decodes and is not blank (or an SVG), and one-line errors.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_error, stderr, throng};

fn fresh(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("throng-plots-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The picture decodes as a PNG of a plausible size whose pixels are not all one colour:
/// at least 2% of them are not white and there are at least 8 distinct colours.
fn assert_drawn(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert!(
        info.width >= 600 && info.height >= 300,
        "{}",
        path.display()
    );
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    let inked = px.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        inked * 50 > px.len(),
        "{}: {inked} of {} pixels drawn",
        path.display(),
        px.len()
    );
    let mut colours: Vec<&[u8]> = px.clone();
    colours.sort();
    colours.dedup();
    assert!(
        colours.len() >= 8,
        "{}: {} colours",
        path.display(),
        colours.len()
    );
}

fn run(dir: &Path, args: &[&str]) {
    let o = throng(&[&["run", "-q", "--out", dir.to_str().unwrap()], args].concat());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn every_kind_of_picture_is_drawn() {
    // Statistics over time with a quantile fan, a histogram over time and at one time, kept
    // paths and a scatter.
    let a = fresh("observers");
    run(
        &a,
        &[
            "--system",
            "stochastic_lorenz",
            "--paths",
            "20000",
            "--steps",
            "200",
            "--dt",
            "0.01",
            "--save-every",
            "10",
            "--hist",
            "x=-25:25:40",
            "--quantiles",
            "0.05,0.5,0.95",
            "--keep-paths",
            "40",
            "--keep-every",
            "101",
        ],
    );
    let o = throng(&[
        "plot",
        a.to_str().unwrap(),
        "--svg",
        "--at",
        "1",
        "--xy",
        "0,2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["stats", "hist0", "hist0_at", "paths", "scatter"] {
        assert_drawn(&a.join(format!("{name}.png")));
    }
    for name in ["stats", "hist0_at", "paths", "scatter"] {
        let svg = std::fs::read_to_string(a.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg")
                && svg.contains("<polygon") | svg.contains("<polyline") | svg.contains("<circle"),
            "{name}.svg"
        );
    }
    let listed = stderr(&o);
    assert_eq!(listed.lines().count(), 9, "{listed}");

    // A sweep with replicas: terminal statistics against the parameter, drawn by run --plot.
    let b = fresh("sweep");
    run(
        &b,
        &[
            "--system",
            "lorenz",
            "--paths",
            "24",
            "--replicas",
            "32",
            "--sweep",
            "rho=0:40",
            "--steps",
            "500",
            "--save-every",
            "100",
            "--init",
            "normal:1,1,1",
            "--plot",
        ],
    );
    assert_drawn(&b.join("sweep.png"));
    assert_drawn(&b.join("stats.png"));

    // A grid with replicas: a row's terminal mean over the two axes.
    let c = fresh("grid");
    run(
        &c,
        &[
            "--system",
            "lorenz",
            "--grid",
            "rho=0:40:8",
            "--grid",
            "sigma=5:15:6",
            "--replicas",
            "32",
            "--steps",
            "300",
            "--init",
            "normal:1,1,1",
            "--plot",
        ],
    );
    for row in ["x", "y", "z"] {
        assert_drawn(&c.join(format!("grid_{row}.png")));
    }
    // A rerun into the directory replaces the pictures it does not draw.
    run(
        &c,
        &[
            "--system", "gbm", "--paths", "1000", "--steps", "16", "--t1", "1", "--force",
        ],
    );
    assert!(!c.join("grid_z.png").exists());
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn plot_errors_are_one_line() {
    let d = fresh("none");
    assert_one_line_error(
        &["plot", d.to_str().unwrap()],
        "holds no finished run to draw",
    );
    let e = fresh("xy");
    run(
        &e,
        &[
            "--system",
            "gbm",
            "--paths",
            "2000",
            "--steps",
            "16",
            "--t1",
            "1",
            "--save-every",
            "4",
            "--keep-paths",
            "3",
        ],
    );
    assert_one_line_error(
        &["plot", e.to_str().unwrap(), "--xy", "0,1"],
        "--xy 0,1: the state has components 0 to 0",
    );
    let _ = std::fs::remove_dir_all(e);
}
