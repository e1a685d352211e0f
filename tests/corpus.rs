//! A corpus of bad inputs (flags, spec files, WGSL, value files, subcommands): each must end
//! with one line `error: ...` that names what was wrong, and a non-zero exit status (1 for a
//! bad value, 2 for a malformed command line), never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One bad input: the arguments, the exit status it must give, and words of which the
/// message must contain at least one (what was wrong, in the user's terms).
struct Case {
    args: Vec<String>,
    status: i32,
    words: Vec<String>,
}

fn case(args: &[&str], status: i32, words: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        status,
        words: words.iter().map(|s| s.to_lowercase()).collect(),
    }
}

const BASE: &[(&str, &str)] = &[
    ("--system", "gbm"),
    ("--paths", "1000"),
    ("--steps", "10"),
    ("--t1", "1"),
    ("--x0", "1"),
];

const ADAPTIVE: &[(&str, &str)] = &[
    ("--system", "lorenz"),
    ("--method", "dopri5"),
    ("--paths", "256"),
    ("--steps", "10"),
    ("--t1", "0.1"),
    ("--x0", "1,1,1"),
];

/// `run` with `base`, `flag` set to `value` (replacing the base's setting of that flag).
fn run_with(base: &[(&str, &str)], flag: &str, value: &str) -> Vec<String> {
    let mut args = vec!["run".to_string()];
    let mut set = false;
    for (f, v) in base {
        let v = if *f == flag {
            set = true;
            value
        } else {
            v
        };
        // --dt replaces --t1: they are one choice.
        if flag == "--dt" && *f == "--t1" {
            continue;
        }
        args.extend([f.to_string(), v.to_string()]);
    }
    if !set {
        args.extend([flag.to_string(), value.to_string()]);
    }
    args
}

fn flag_cases() -> Vec<Case> {
    let counts = [
        "abc", "-1", "1.5", "1e400", "nan", "inf", "", "0", "1e30", "12abc",
    ];
    let mut out = Vec::new();
    for flag in ["--paths", "--steps", "--save-every", "--dispatch-steps"] {
        for v in counts {
            out.push(Case {
                args: run_with(BASE, flag, v),
                status: 1,
                words: vec![
                    flag.trim_start_matches('-').replace('-', " "),
                    flag.into(),
                    v.into(),
                ]
                .into_iter()
                .filter(|w| !w.is_empty())
                .map(|w| w.to_lowercase())
                .collect(),
            });
        }
    }
    let table: &[(&str, &[&str], &[&str])] = &[
        (
            "--chunk",
            &["abc", "-1", "1.5", "0", "100", "1e30"],
            &["chunk"],
        ),
        (
            "--max-steps",
            &["abc", "-1", "0", "5e9"],
            &["max-steps", "max steps", "max_steps"],
        ),
        ("--lanes", &["3", "0", "abc", "16", "8"], &["lanes"]),
        (
            "--keep-paths",
            &["abc", "-1", "1.5", "1e30", "5000"],
            &["keep"],
        ),
        (
            "--keep-every",
            &["abc", "-1", "1.5"],
            &["keep-every", "keep"],
        ),
        (
            "--t1",
            &["abc", "nan", "inf", "-1", "0", "", "1e400"],
            &["t1", "dt", "step"],
        ),
        (
            "--dt",
            &["abc", "nan", "inf", "-1", "0", "", "1e400"],
            &["dt", "step"],
        ),
        ("--t0", &["abc", "nan", "inf", ""], &["t0"]),
        ("--seed", &["abc", "-1", "1.5", "1e30"], &["seed"]),
        (
            "--x0",
            &["abc", "1,2", "", "nan", "1,,2", "inf"],
            &["x0", "initial"],
        ),
        (
            "--param",
            &["mu", "mu=", "=1", "mu=abc", "nope=1", "mu=nan", "mu=inf"],
            &["param", "mu", "nope"],
        ),
        (
            "--sweep",
            &["mu", "mu=1", "mu=1:abc", "nope=0:1", "mu=nan:1", "mu=0:1:5"],
            &["sweep", "nope", "mu"],
        ),
        (
            "--logsweep",
            &["mu=0:1", "mu=-1:1", "mu=abc", "mu=1"],
            &["logsweep", "log sweep", "mu"],
        ),
        (
            "--grid",
            &[
                "mu=0:1",
                "mu=0:1:0",
                "mu=0:1:abc",
                "mu=0:1:1.5",
                "nope=0:1:4",
                "mu=0:1:7",
            ],
            &["grid", "nope", "cells"],
        ),
        (
            "--values",
            &["mu=/nonexistent.npy", "mu=", "mu", "nope=/nonexistent.csv"],
            &["values", "nonexistent", "nope"],
        ),
        (
            "--init",
            &[
                "normal",
                "normal:abc",
                "gauss:1",
                "uniform:",
                "normal:1,2",
                "normal:nan",
            ],
            &["init", "random initial", "scale"],
        ),
        ("--method", &["nope", "", "rk4", "dopri5"], &["method"]),
        ("--precision", &["f16", "", "F128"], &["precision"]),
        ("--save-at", &["abc", "0.55", "2", "-1", ""], &["save"]),
        (
            "--hist",
            &[
                "x",
                "x=0:1",
                "x=1:0:10",
                "x=0:1:0",
                "y=0:1:10",
                "x=nan:1:10",
            ],
            &["hist"],
        ),
        (
            "--quantiles",
            &["0", "1", "abc", "1.5", "-0.1", ""],
            &["quantile"],
        ),
        ("--backend", &["opengl", ""], &["backend"]),
        ("--adapter", &["no-such-adapter-xyz"], &["adapter"]),
        (
            "--system",
            &["nope", "", "lorenz96:0", "lorenz96:99", "lorenz96:abc"],
            &["system", "lorenz96"],
        ),
    ];
    for (flag, values, words) in table {
        for v in *values {
            out.push(case(
                &run_with(BASE, flag, v)
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
                1,
                words,
            ));
        }
    }
    let adaptive: &[(&str, &[&str], &[&str])] = &[
        ("--rtol", &["abc", "0", "-1", "nan", "1e-20"], &["rtol"]),
        ("--atol", &["abc", "0", "-1", "nan"], &["atol"]),
        (
            "--dt-min",
            &["abc", "-1", "nan"],
            &["dt-min", "dt_min", "dt min"],
        ),
        (
            "--dt-max",
            &["abc", "-1", "nan"],
            &["dt-max", "dt_max", "dt max"],
        ),
        // (Lanes are refused only for a drift that needs one time: tests/adaptive.rs.)
        ("--dispatch-steps", &["5"], &["dispatch-steps"]),
    ];
    for (flag, values, words) in adaptive {
        for v in *values {
            out.push(case(
                &run_with(ADAPTIVE, flag, v)
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
                1,
                words,
            ));
        }
    }
    // Malformed command lines: clap's status 2.
    out.push(case(&["run", "--system", "gbm", "--nope"], 2, &["--nope"]));
    out.push(case(
        &["run", "--system", "gbm", "--paths"],
        2,
        &["--paths"],
    ));
    out.push(case(&["nope"], 2, &["nope"]));
    out.push(case(
        &["run", "--spec", "/nonexistent.toml"],
        1,
        &["nonexistent"],
    ));
    out.push(case(
        &["run", "--system", "gbm", "--spec", "/nonexistent.toml"],
        1,
        &["spec"],
    ));
    // Other subcommands.
    out.push(case(
        &["rng", "--key", "abc", "--counter", "0,0,0,0"],
        1,
        &["key"],
    ));
    out.push(case(
        &["rng", "--key", "1,2", "--counter", "1,2"],
        1,
        &["counter"],
    ));
    out.push(case(
        &[
            "rng",
            "--key",
            "1,2",
            "--counter",
            "0,0,0,0",
            "--blocks",
            "0",
        ],
        1,
        &["blocks"],
    ));
    out.push(case(
        &[
            "rng",
            "--key",
            "1,2",
            "--counter",
            "0,0,0,0",
            "--blocks",
            "abc",
        ],
        1,
        &["blocks"],
    ));
    out.push(case(&["systems", "nope"], 1, &["nope"]));
    out.push(case(&["bench", "--workload", "w9"], 1, &["workload", "w9"]));
    out.push(case(
        &["bench", "--workload", "accuracy", "--shrink", "100000"],
        1,
        &["--shrink", "100000"],
    ));
    out
}

/// A valid spec, then ways to break it.
const SPEC: &str = r#"name = "decay"
state = ["x"]
noise = "diagonal"
x0 = [1.0]
wgsl = '''
fn drift(t: F, x: S, p: Params) -> S {
    return S(-p.k * x[0]);
}
fn diffusion(t: F, x: S, p: Params) -> G {
    return G(R(p.s));
}
'''

[params]
k = 1.0
s = 0.1

[run]
method = "em"
steps = 10
t1 = 1.0
paths = 1000
"#;

fn spec_cases(dir: &Path) -> Vec<Case> {
    let edits: &[(&str, &str, &str, &[&str])] = &[
        ("bad_name", "name = \"decay\"", "name = 3", &["name", "invalid type"]),
        ("no_state", "state = [\"x\"]\n", "", &["state"]),
        ("empty_state", "state = [\"x\"]", "state = []", &["state", "component"]),
        ("state_number", "state = [\"x\"]", "state = [1]", &["state", "string", "invalid type"]),
        ("bad_state_name", "state = [\"x\"]", "state = [\"1x\"]", &["1x", "name"]),
        ("noise_weird", "noise = \"diagonal\"", "noise = \"weird\"", &["noise", "weird"]),
        ("noise_number", "noise = \"diagonal\"", "noise = 1", &["noise", "invalid type"]),
        ("x0_string", "x0 = [1.0]", "x0 = [\"a\"]", &["x0", "invalid type"]),
        ("x0_length", "x0 = [1.0]", "x0 = [1.0, 2.0]", &["x0", "component"]),
        ("param_string", "k = 1.0", "k = \"abc\"", &["k", "number"]),
        ("param_nan", "k = 1.0", "k = nan", &["k", "finite"]),
        ("param_bad_name", "k = 1.0", "1k = 1.0", &["1k", "name"]),
        ("unknown_key", "x0 = [1.0]", "x0 = [1.0]\nnoize = 1", &["noize"]),
        ("no_wgsl", "wgsl = '''", "code = '''", &["wgsl", "code"]),
        ("empty_wgsl", "fn drift(t: F, x: S, p: Params) -> S {\n    return S(-p.k * x[0]);\n}\n", "", &["drift"]),
        ("syntax", "return S(-p.k * x[0]);", "return S(-p.k * x[0];", &["expected", "decay", "toml"]),
        ("unknown_name", "return S(-p.k * x[0]);", "return S(-p.k * y[0]);", &["y", "toml"]),
        ("unknown_field", "return S(-p.k * x[0]);", "return S(-p.kk * x[0]);", &["kk", "toml"]),
        ("wrong_return", "-> S {\n    return S(-p.k", "-> F {\n    return F(-p.k", &["drift", "return"]),
        ("no_diffusion", "fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(R(p.s));\n}\n", "", &["diffusion"]),
        ("channels_not_general", "noise = \"diagonal\"", "noise = \"diagonal\"\nchannels = 2", &["channels"]),
        ("general_no_channels", "noise = \"diagonal\"", "noise = \"general\"", &["channels", "general"]),
        ("correlation_not_pd", "noise = \"diagonal\"", "noise = \"correlated\"\ncorrelation = [[1.0, 0.5], [0.5, 1.0]]", &["correlation"]),
        ("run_paths_string", "paths = 1000", "paths = \"abc\"", &["paths", "abc"]),
        ("run_method", "method = \"em\"", "method = \"nope\"", &["method", "nope"]),
        ("run_unknown", "paths = 1000", "paths = 1000\npathz = 1", &["pathz"]),
        ("run_dt_and_t1", "t1 = 1.0", "t1 = 1.0\ndt = 0.1", &["dt", "t1"]),
        ("run_steps_zero", "steps = 10", "steps = 0", &["steps"]),
        ("wgsl_file_missing", "wgsl = '''", "wgsl_file = \"nonexistent.wgsl\"\nwgsl_old = '''", &["nonexistent", "wgsl_old"]),
        ("toml_syntax", "[params]", "[params", &["toml", "expected", "decay"]),
        ("loop", "return S(-p.k * x[0]);", "loop { }\n    return S(-p.k * x[0]);", &["loop"]),
        ("while", "return S(-p.k * x[0]);", "var i = 0;\n    while (i < 3) { i++; }\n    return S(-p.k * x[0]);", &["while"]),
        ("seventeen", "state = [\"x\"]", "state = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k2\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]", &["17", "16", "component"]),
        ("run_grid_bad", "paths = 1000", "paths = 1000\ngrid = { k = \"0:1\" }", &["grid", "k"]),
        ("run_init_bad", "paths = 1000", "paths = 1000\ninit = \"gauss:1\"", &["init", "gauss"]),
    ];
    edits
        .iter()
        .map(|(name, from, to, words)| {
            assert!(SPEC.contains(from), "{name}: the base spec lacks {from:?}");
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(&path, SPEC.replacen(from, to, 1)).unwrap();
            let p = path.to_string_lossy().into_owned();
            case(&["run", "--spec", &p], 1, words)
        })
        .collect()
}

fn value_cases(dir: &Path) -> Vec<Case> {
    let files: &[(&str, &[u8], &[&str])] = &[
        ("empty.csv", b"", &["empty", "csv", "value"]),
        ("header_only.csv", b"k\n", &["value", "row", "1000"]),
        ("text.csv", b"k\nabc\n", &["abc", "number"]),
        ("short.csv", b"k\n1\n2\n", &["2", "1000"]),
        ("nan.csv", b"k\nnan\n", &["finite", "nan", "1000"]),
        ("garbage.npy", b"not an npy file at all", &["npy"]),
        ("truncated.npy", b"\x93NUMPY\x01\x00", &["npy"]),
    ];
    files
        .iter()
        .map(|(name, bytes, words)| {
            let path: PathBuf = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let v = format!("mu={}", path.display());
            case(
                &run_with(BASE, "--values", &v)
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
                1,
                words,
            )
        })
        .collect()
}

/// Output directories that cannot take a run's files.
fn out_cases(dir: &Path) -> Vec<Case> {
    let file = dir.join("a_file");
    std::fs::write(&file, b"x").unwrap();
    let stale = dir.join("stale");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("summary.json"), b"{}").unwrap();
    let with = |v: &Path| run_with(BASE, "--out", &v.to_string_lossy());
    let mut force_only = run_with(BASE, "--seed", "1");
    force_only.push("--force".into());
    vec![
        Case {
            args: with(&file),
            status: 1,
            words: vec!["a_file".into()],
        },
        Case {
            args: with(&stale),
            status: 1,
            words: vec!["--force".into(), "another run".into()],
        },
        Case {
            args: with(Path::new("/proc/throng-out")),
            status: 1,
            words: vec!["/proc/throng-out".into()],
        },
        Case {
            args: force_only,
            status: 2,
            words: vec!["--force".into(), "--out".into()],
        },
    ]
}

#[test]
fn every_bad_input_gets_one_line_and_a_nonzero_status() {
    let dir = std::env::temp_dir().join(format!("throng-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = flag_cases();
    cases.extend(spec_cases(&dir));
    cases.extend(value_cases(&dir));
    cases.extend(out_cases(&dir));
    assert!(cases.len() >= 200, "a corpus of {} cases", cases.len());
    let mut bad = Vec::new();
    for c in &cases {
        let o = Command::new(env!("CARGO_BIN_EXE_throng"))
            .args(&c.args)
            .env("XDG_RUNTIME_DIR", "/tmp")
            .env_remove("RUST_LOG")
            .output()
            .expect("run throng");
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        // A shader error may show the offending source line after `  |`.
        let one_line = lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("  |"));
        let first = lines.first().copied().unwrap_or("").to_lowercase();
        let named = c
            .words
            .iter()
            .any(|w| !w.is_empty() && first.contains(w.as_str()));
        let ok = o.status.code() == Some(c.status)
            && one_line
            && first.starts_with("error: ")
            && named
            && !err.contains("panicked");
        if !ok {
            bad.push(format!(
                "throng {:?}: status {:?} (want {}), stderr {:?} (want one line naming one of {:?})",
                c.args,
                o.status.code(),
                c.status,
                err,
                c.words
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        bad.is_empty(),
        "{} of {} cases:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}
