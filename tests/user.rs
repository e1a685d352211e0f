//! Errors in a user's system name the user's file (or snippet), line and column, and quote
//! the line; spec mistakes name the key.

mod common;

use std::process::Command;

fn run_spec(file: &str) -> String {
    let path = format!("{}/tests/data/errors/{file}", env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_throng"))
        .args([
            "run", "--spec", &path, "--paths", "10", "--steps", "1", "--dt", "0.1",
        ])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{file} ran");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The message names the file as the user gave it.
    err.replace(&format!("{}/", env!("CARGO_MANIFEST_DIR")), "")
}

fn expect(file: &str, location: &str, message: &str, quoted: &str) {
    let err = run_spec(file);
    assert!(
        err.contains(&format!("tests/data/errors/{file}:{location}: ")),
        "{file}: {err}"
    );
    assert!(err.contains(message), "{file}: {err}");
    assert!(err.contains(&format!("| {quoted}")), "{file}: {err}");
}

#[test]
fn a_syntax_error_points_into_the_spec_file() {
    expect(
        "syntax.toml",
        "6:20",
        "expected expression",
        "    let v = x[0] * ;",
    );
}

#[test]
fn a_type_error_points_at_the_expression() {
    expect(
        "type_error.toml",
        "5:14",
        "Operation Add can't work",
        "    return S(x[0] + true);",
    );
}

#[test]
fn unknown_identifiers_point_at_the_name() {
    expect(
        "unknown_name.toml",
        "5:15",
        "no definition in scope for identifier: `y`",
        "    return S(-y);",
    );
    expect(
        "unknown_param.toml",
        "5:23",
        "invalid field accessor `kappa`",
        "    return S(x[1], -p.kappa * x[0]);",
    );
}

#[test]
fn a_wrong_return_type_points_at_the_function() {
    expect(
        "wrong_return.toml",
        "5:1",
        "`drift` must return S = array<R, 1>",
        "fn drift(t: f32, x: S, p: Params) -> R {",
    );
    expect(
        "general_shape.toml",
        "10:1",
        "`diffusion` must return G = array<R, 4>",
        "fn diffusion(t: f32, x: S, p: Params) -> S {",
    );
    expect(
        "wrong_dim.toml",
        "5:12",
        "Composing expects 3 components but 2 were given",
        "    return S(x[1], x[0]);",
    );
}

#[test]
fn spec_mistakes_name_the_key() {
    let e = run_spec("unknown_key.toml");
    assert!(
        e.contains("tests/data/errors/unknown_key.toml:2:1: unknown field `noize`"),
        "{e}"
    );
    let e = run_spec("x0_mismatch.toml");
    assert!(
        e.contains("`x0` has 3 values but `state` has 2 components"),
        "{e}"
    );
    let e = run_spec("missing_diffusion.toml");
    assert!(
        e.contains("missing_diffusion.toml: `diffusion` is missing"),
        "{e}"
    );
    let e = run_spec("not_pd.toml");
    assert!(
        e.contains("correlation matrix is not positive definite"),
        "{e}"
    );
    let e = run_spec("bad_run_key.toml");
    assert!(e.contains("no parameter `kk`"), "{e}");
}

#[test]
fn errors_in_a_rust_snippet_name_the_snippet() {
    let ctx = common::ctx();
    let sys = throng::System::wgsl(
        "my_sde",
        &["x"],
        &[("k", 1.0)],
        throng::Noise::Diagonal,
        "fn drift(t: f32, x: S, p: Params) -> S {\n    return S(-p.k * x[0]);\n}\n\nfn diffusion(t: f32, x: S, p: Params) -> G {\n    return G(p.sigmaa);\n}\n",
    )
    .unwrap();
    let job = throng::Ensemble::new(sys, 10)
        .job(
            throng::Method::EulerMaruyama,
            throng::TimeGrid::new(0.0, 0.1, 1),
        )
        .unwrap();
    let err = throng::solve(&ctx, &job, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<my_sde>:6:16: invalid field accessor `sigmaa`"),
        "{err}"
    );
    let err = throng::Ensemble::new(throng::System::builtin("lorenz").unwrap(), 10)
        .set("kappa", 1.0)
        .job(throng::Method::Rk4, throng::TimeGrid::new(0.0, 0.1, 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no parameter `kappa`"), "{err}");
    let err = throng::System::wgsl("big", &["a"; 17], &[], throng::Noise::None, "")
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 to 16"), "{err}");
}
