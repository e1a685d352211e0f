//! The Python package, built and tested from `cargo test` so that one command passes every
//! test: a wheel built with maturin (abi3, CPython >= 3.9), installed into a fresh virtual
//! environment with no Rust toolchain on its PATH, then python/tests run by pytest against
//! this build's `throng` binary. Needs python3 with venv and pip, and PyPI (maturin, numpy,
//! pytest); `.ci/run` provides them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(cmd: &mut Command, what: &str) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn venv(dir: &Path) -> PathBuf {
    if !dir.join("bin/python").exists() {
        sh(
            Command::new("python3").args(["-m", "venv"]).arg(dir),
            "python3 -m venv",
        );
    }
    dir.join("bin")
}

#[test]
fn the_python_package_builds_installs_and_passes_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target");
    // The build's tools, kept between runs.
    let tools = venv(&target.join("python-tools"));
    sh(
        Command::new(tools.join("pip")).args(["install", "-q", "maturin==1.16.0"]),
        "pip install maturin",
    );
    let wheels = target.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    // Its own target directory: this test runs while cargo holds the main one.
    sh(
        Command::new(tools.join("maturin"))
            .args(["build", "--release", "-m"])
            .arg(root.join("python/Cargo.toml"))
            .arg("-o")
            .arg(&wheels)
            .env("CARGO_TARGET_DIR", target.join("python-target")),
        "maturin build",
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.contains("-cp39-abi3-"),
        "one wheel for every CPython >= 3.9: {name}"
    );
    // A fresh environment, no Rust on the PATH: pip installs the wheel as it is.
    let fresh = target.join("python-fresh");
    let _ = std::fs::remove_dir_all(&fresh);
    let bin = venv(&fresh);
    sh(
        Command::new(bin.join("pip"))
            .args(["install", "-q"])
            .arg(&wheel)
            .args(["pytest"])
            .env("PATH", "/usr/bin:/bin"),
        "pip install the wheel",
    );
    sh(
        Command::new(bin.join("python"))
            .args(["-m", "pytest", "-q"])
            .arg(root.join("python/tests"))
            .env("THRONG_BIN", env!("CARGO_BIN_EXE_throng"))
            .env("XDG_RUNTIME_DIR", "/tmp")
            .env("PATH", "/usr/bin:/bin")
            .current_dir(std::env::temp_dir()),
        "pytest python/tests",
    );
}
