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
        "in `drift`: `+` can't work with `",
        "    return S(x[0] + true);",
    );
    // Types as WGSL writes them, not naga's Rust values or handles.
    let err = run_spec("type_error.toml");
    for dump in ["Scalar {", "Vector {", "[2]", "naga::"] {
        assert!(!err.contains(dump), "{err}");
    }
}

#[test]
fn naga_s_log_stays_out_and_return_types_read_as_wgsl() {
    // run_spec asserts a single line: naga's own ERROR log line came before it.
    expect(
        "return_type.toml",
        "5:5",
        "in `helper`: the value returned is not of the declared return type `f32`",
        "    return a;",
    );
}

#[test]
fn structure_errors_point_at_the_users_braces() {
    expect(
        "missing_brace.toml",
        "11:1",
        "`fn` inside a function: a `}` is missing before it",
        "fn diffusion(t: F, x: S, p: Params) -> G {",
    );
    expect(
        "unclosed.toml",
        "4:38",
        "this `{` is never closed (a `}` is missing)",
        "fn drift(t: F, x: S, p: Params) -> S {",
    );
}

#[test]
fn throng_s_names_bindings_and_discard_are_refused_at_the_users_line() {
    expect(
        "throng_name.toml",
        "8:4",
        "`store_state` is a name throng uses; rename it",
        "fn store_state(v: R) -> R {",
    );
    // Refused in every run, though only noise kernels declare `Words`.
    expect(
        "throng_type.toml",
        "4:8",
        "`Words` is a name throng uses; rename it",
        "struct Words { a: u32 }",
    );
    expect(
        "binding.toml",
        "4:1",
        "`@group`: resource bindings are throng's",
        "@group(0) @binding(7) var<storage, read> table: array<f32>;",
    );
    expect(
        "discard.toml",
        "6:9",
        "`discard` is for fragment shaders",
        "        discard;",
    );
}

#[test]
fn names_and_correlations_are_checked_before_any_shader() {
    let e = run_spec("keyword_param.toml");
    assert!(
        e.contains("system `keyword_param`: parameter `loop` is a WGSL keyword or reserved word"),
        "{e}"
    );
    let e = run_spec("duplicate_state.toml");
    assert!(
        e.contains("system `duplicate_state`: state component `x` given twice"),
        "{e}"
    );
    let e = run_spec("nan_correlation.toml");
    assert!(
        e.contains("correlation entry (0, 1) is NaN; every entry must be a finite number"),
        "{e}"
    );
}

#[test]
fn locations_count_characters_and_follow_toml_strings() {
    let msg = "no definition in scope for identifier: `y`";
    // Two-byte characters before the error: columns count characters.
    expect(
        "wide_chars.toml",
        "5:25",
        msg,
        "    /* é à */ return S(-y);",
    );
    // Code on the `wgsl = '''` line.
    expect(
        "same_line.toml",
        "2:60",
        msg,
        "fn drift(t: F, x: S, p: Params) -> S { return S(-y); }",
    );
    // A one-line basic string with \n and \t escapes.
    expect("escapes.toml", "2:61", msg, "\treturn S(-y);");
    // A line-ending backslash joins two lines of the file into one of the code.
    expect("backslash.toml", "5:15", msg, "    return S(-y);");
}

#[test]
fn values_too_large_for_an_invocation_are_refused_with_the_limit() {
    expect(
        "big_const.toml",
        "4:1",
        "constant `TABLE` holds 800000 bytes per invocation; throng allows at most 65536 bytes",
        "const TABLE = array<f32, 200000>();",
    );
    expect(
        "big_local.toml",
        "5:5",
        "variable `scratch` takes 4000000 bytes; a function-local or private variable may take at most 16384",
        "    var scratch: array<f32, 1000000>;",
    );
}

#[test]
fn functions_named_in_comments_are_not_defined() {
    let path = format!(
        "{}/tests/data/commented_functions.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = Command::new(env!("CARGO_BIN_EXE_throng"))
        .args([
            "run", "--spec", &path, "--paths", "10", "--steps", "2", "--dt", "0.1",
        ])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    for row in ["tau", "hit", "events", "payoff"] {
        assert!(!out.contains(row), "{out}");
    }
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
        "it must return S = array<R, 1>",
        "fn drift(t: f32, x: S, p: Params) -> R {",
    );
    expect(
        "general_shape.toml",
        "10:1",
        "it must return G = array<R, 4>",
        "fn diffusion(t: f32, x: S, p: Params) -> S {",
    );
    // What the function has, in WGSL's words.
    let e = run_spec("wrong_return.toml");
    assert!(e.contains("`drift` returns `"), "{e}");
    expect(
        "wrong_arg.toml",
        "4:1",
        "argument 1 of `drift` is `u32`; it must be `t: F` (f32 here)",
        "fn drift(t: u32, x: S, p: Params) -> S {",
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
