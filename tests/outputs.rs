//! What `--out DIR` leaves in a directory (issue 10, item 7) and what Ctrl-C does to a run
//! (item 8): another run's files are refused unless `--force`, which removes the stale ones;
//! `summary.json` is removed before any array is written and written last; a directory is
//! locked for the run; the first SIGINT stops the run between dispatches and reports (and
//! writes) the finished chunks as partial with status 130; a second SIGINT exits at once.

mod common;

use common::{stderr, throng};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value as Json;

/// An empty directory of its own for each test.
fn fresh_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("throng-outputs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A small gbm run into `dir`, with `extra` flags.
fn run_into(dir: &Path, extra: &[&str]) -> Output {
    let base = [
        "run",
        "--system",
        "gbm",
        "--paths",
        "2048",
        "--steps",
        "32",
        "--t1",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ];
    throng(&[&base[..], extra].concat())
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn summary(dir: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The files `summary.json` names, and itself, sorted.
fn named_by_summary(dir: &Path) -> Vec<String> {
    let s = summary(dir);
    let mut v: Vec<String> = s["files"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .chain(["summary.json".to_string()])
        .collect();
    v.sort();
    v
}

/// The one line of a refusal: `error: ...`, status 1.
fn assert_one_line_error(o: &Output, contains: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains(contains),
        "{err}"
    );
}

#[test]
fn another_runs_files_are_refused_without_force_and_replaced_with_it() {
    let dir = fresh_dir("force");
    let first = run_into(
        &dir,
        &[
            "--save-every",
            "8",
            "--hist",
            "x=0:3:10",
            "--quantiles",
            "0.5",
            "--keep-paths",
            "4",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let before = names(&dir);
    assert_eq!(
        before,
        named_by_summary(&dir),
        "no lock or temporary file left"
    );
    let old_summary = std::fs::read(dir.join("summary.json")).unwrap();

    // A plain rerun is refused, and nothing in the directory changes.
    let refused = run_into(&dir, &[]);
    assert_one_line_error(&refused, "--force");
    assert_eq!(names(&dir), before);
    assert_eq!(
        std::fs::read(dir.join("summary.json")).unwrap(),
        old_summary
    );

    // With --force the previous run's files this run does not write are gone, and
    // summary.json names exactly the files there.
    let forced = run_into(&dir, &["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let after = names(&dir);
    for stale in [
        "hist0.npy",
        "quantiles.npy",
        "quantile_resolution.npy",
        "paths.npy",
    ] {
        assert!(before.contains(&stale.to_string()));
        assert!(
            !after.contains(&stale.to_string()),
            "{stale} left: {after:?}"
        );
    }
    assert_eq!(after, named_by_summary(&dir));
    assert_eq!(
        summary(&dir)["files"]["mean"]["shape"],
        serde_json::json!([1, 1])
    );

    // Files that are not a run's stay; a directory holding only them is not refused.
    let other = fresh_dir("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let o = run_into(&other, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(names(&other).contains(&"notes.txt".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn a_rerun_that_fails_while_writing_leaves_no_summary() {
    let dir = fresh_dir("fails");
    let first = run_into(&dir, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    // An obstacle where the rerun must put an array: renaming a file onto a directory fails.
    std::fs::remove_file(dir.join("var.npy")).unwrap();
    std::fs::create_dir(dir.join("var.npy")).unwrap();
    let o = run_into(&dir, &["--force", "--seed", "1"]);
    assert_one_line_error(&o, "var.npy");
    // The results computed are kept, and the line says where.
    assert!(
        stderr(&o).contains("the results are kept in the checkpoint"),
        "{}",
        stderr(&o)
    );
    // The old summary.json (of seed 0) went before the first new array was written:
    // nothing there now claims to describe the arrays beside it.
    let left = names(&dir);
    assert!(!left.contains(&"summary.json".to_string()), "{left:?}");
    assert!(
        left.iter()
            .all(|n| !n.starts_with(".throng") || n == ".throng-checkpoint"),
        "temporary or lock file left: {left:?}"
    );
    // With the obstacle gone, --resume writes them without running again: the arrays of a
    // fresh run of seed 1, and the checkpoint has served.
    std::fs::remove_dir(dir.join("var.npy")).unwrap();
    let o = run_into(&dir, &["--force", "--seed", "1", "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds 2048 trajectories"),
        "{}",
        stderr(&o)
    );
    let fresh = fresh_dir("fails-fresh");
    assert!(run_into(&fresh, &["--seed", "1"]).status.success());
    for name in ["mean.npy", "var.npy", "min.npy", "max.npy", "count.npy"] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(fresh.join(name)).unwrap(),
            "{name}"
        );
    }
    assert!(!names(&dir).contains(&".throng-checkpoint".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&fresh);
}

#[test]
fn a_second_run_into_a_locked_directory_fails_with_one_line() {
    let dir = fresh_dir("lock");
    let held = throng::output::OutDir::open(&dir, false).unwrap();
    // Another holder in this process is refused as well (the lock is not per process).
    assert!(throng::output::OutDir::open(&dir, true).is_err());
    let o = run_into(&dir, &[]);
    assert_one_line_error(&o, "in use by another throng run");
    assert_eq!(names(&dir), [throng::output::LOCK]);
    drop(held);
    assert!(names(&dir).is_empty(), "the lock file goes with the lock");
    let o = run_into(&dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gbm run of 2^22 paths in chunks of `chunk` with `steps` steps, one dispatch per chunk,
/// reporting progress, stderr read line by line.
fn long_run(dir: &Path, chunk: &str, steps: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_throng"))
        .args([
            "run",
            "--system",
            "gbm",
            "--paths",
            "4194304",
            "--steps",
            steps,
            "--t1",
            "1",
            "--chunk",
            chunk,
            "--progress",
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run throng")
}

fn sigint(child: &Child) {
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
}

/// Reads stderr lines until one starts with `prefix`; returns the lines read.
fn wait_for(lines: &mut impl Iterator<Item = String>, prefix: &str) -> Vec<String> {
    let mut seen = vec![];
    for line in lines.by_ref() {
        let found = line.starts_with(prefix);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line starting with `{prefix}`: {seen:?}");
}

#[test]
fn ctrl_c_stops_between_dispatches_and_reports_the_finished_chunks_as_partial() {
    let dir = fresh_dir("sigint");
    let mut child = long_run(&dir, "16384", "1000");
    let mut err = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap);
    // The handler is installed before the first dispatch: wait for a finished chunk.
    wait_for(&mut err, "progress:");
    sigint(&child);
    let rest: Vec<String> = err.collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("interrupted:")),
        "{rest:?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.starts_with("warning: partial results")),
        "{rest:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Json = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["partial"], true);
    let completed = v["completed"].as_u64().unwrap();
    assert!(completed > 0 && completed < 4194304, "{completed}");
    assert_eq!(completed % 16384, 0, "whole chunks only");
    assert_eq!(
        v["terminal"]["count"].as_u64().unwrap() + v["nonfinite"].as_u64().unwrap(),
        completed
    );
    // --out wrote what was finished, marked partial.
    let s = summary(&dir);
    assert_eq!(s["partial"], true);
    assert_eq!(s["completed"], completed);
    // Beside the arrays, at most the checkpoint of the completed chunks (kept when the stop
    // fell between chunks, for --resume).
    let mut arrays = names(&dir);
    arrays.retain(|n| n != ".throng-checkpoint");
    assert_eq!(arrays, named_by_summary(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let dir = fresh_dir("sigint2");
    // Chunks of about a second each: the run cannot finish its dispatch between the two.
    let mut child = long_run(&dir, "16384", "12000");
    let mut err = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap);
    wait_for(&mut err, "progress:");
    sigint(&child);
    wait_for(&mut err, "interrupted:");
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    // It exited at once: before finishing the dispatch, without reporting or writing anything.
    assert!(out.stdout.is_empty());
    assert!(!dir.join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
