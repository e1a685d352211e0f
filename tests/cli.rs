//! The `throng` binary: output contracts and one-line errors for bad input.

mod common;

use common::{assert_one_line_error, stderr, stdout, throng};

use std::process::{Command, Output};

const GBM: &[&str] = &[
    "run",
    "--system",
    "gbm",
    "--paths",
    "5000",
    "--steps",
    "64",
    "--t1",
    "1",
    "--x0",
    "1",
    "--param",
    "mu=0.05",
    "--param",
    "sigma=0.2",
    "--seed",
    "3",
];

#[test]
fn run_json_has_the_documented_fields() {
    let o = throng(&[GBM, &["--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    for key in [
        "system",
        "method",
        "paths",
        "steps",
        "dt",
        "seed",
        "adapter",
        "terminal",
        "nonfinite",
        "timing",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    for key in ["mean", "var", "min", "max"] {
        assert_eq!(v["terminal"][key].as_array().unwrap().len(), 1, "{key}");
    }
    assert_eq!(v["system"], "gbm");
    assert_eq!(v["method"], "em");
    assert_eq!(v["paths"], 5000);
    assert_eq!(v["dt"], 1.0 / 64.0);
    assert_eq!(v["nonfinite"], 0);
    assert!(v["timing"]["solve_s"].as_f64().unwrap() > 0.0);
    assert!(v["timing"]["setup_s"].as_f64().is_some());
    let mean = v["terminal"]["mean"][0].as_f64().unwrap();
    let var = v["terminal"]["var"][0].as_f64().unwrap();
    // Exact chain mean 1.0513 with sd 0.21: 5000 paths give SE 0.003; 4 SE.
    assert!((mean - (1.0f64 + 0.05 / 64.0).powi(64)).abs() < 4.0 * (var / 5000.0).sqrt());
}

#[test]
fn run_json_is_the_same_for_any_chunk() {
    let a = stdout(&throng(&[GBM, &["--json"]].concat()));
    let b = stdout(&throng(&[GBM, &["--json", "--chunk", "1000"]].concat()));
    let pick = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s.lines().last().unwrap()).unwrap();
        v["terminal"].clone()
    };
    assert_eq!(pick(&a), pick(&b));
}

#[test]
fn run_prints_a_table_without_json() {
    let o = throng(&[
        "run", "--system", "lorenz", "--paths", "1000", "--steps", "100", "--dt", "0.01", "--x0",
        "1,0,0", "--sweep", "rho=0:50",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("lorenz with rk4"), "{text}");
    for c in ["x ", "y ", "z "] {
        assert!(text.lines().any(|l| l.starts_with(c)), "{text}");
    }
}

#[test]
fn rng_prints_random123_vectors_and_carries_the_counter() {
    for (c, k, want) in common::kat() {
        let key = format!("{:#x},{:#x}", k[0], k[1]);
        let ctr = format!("{},{},{},{}", c[0], c[1], c[2], c[3]);
        let o = throng(&["rng", "--key", &key, "--counter", &ctr, "--blocks", "1"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let line = format!(
            "{:08x} {:08x} {:08x} {:08x}\n",
            want[0], want[1], want[2], want[3]
        );
        assert_eq!(stdout(&o), line);
    }
    let o = throng(&[
        "rng",
        "--key",
        "1,2",
        "--counter",
        "0xffffffff,0xffffffff,0,9",
        "--blocks",
        "3",
    ]);
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3);
    for (i, c) in [[u32::MAX, u32::MAX, 0, 9], [0, 0, 1, 9], [1, 0, 1, 9]]
        .iter()
        .enumerate()
    {
        let w = throng::rng::philox4x32_10(*c, [1, 2]);
        assert_eq!(
            lines[i],
            format!("{:08x} {:08x} {:08x} {:08x}", w[0], w[1], w[2], w[3])
        );
    }
}

#[test]
fn rng_on_the_gpu_prints_the_same_stream() {
    let args = [
        "rng",
        "--key",
        "7,0",
        "--counter",
        "0xfffffff0,0,0,0",
        "--blocks",
        "1000",
    ];
    let cpu = throng(&args);
    let gpu = throng(&[&args[..], &["--gpu"]].concat());
    assert!(gpu.status.success(), "{}", stderr(&gpu));
    assert_eq!(stdout(&cpu).lines().count(), 1000);
    assert_eq!(stdout(&cpu), stdout(&gpu));
}

fn run_with(changes: &[(&str, &str)], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = GBM.iter().map(|s| s.to_string()).collect();
    for (flag, value) in changes {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_string();
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn bad_run_inputs_give_one_line_errors() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            run_with(&[("--system", "nope")], &[]),
            "unknown system `nope`",
        ),
        (
            run_with(&[], &["--method", "leapfrog"]),
            "unknown method `leapfrog`",
        ),
        (run_with(&[], &["--method", "rk4"]), "rk4 integrates ODEs"),
        (
            run_with(&[], &["--param", "kappa=1"]),
            "no parameter `kappa`",
        ),
        (
            run_with(&[], &["--sweep", "kappa=0:1"]),
            "no parameter `kappa`",
        ),
        (run_with(&[("--paths", "0")], &[]), "paths must be between"),
        (run_with(&[("--paths", "1e20")], &[]), "--paths"),
        (
            run_with(&[("--paths", "5000000000")], &[]),
            "paths must be between",
        ),
        (run_with(&[("--paths", "12.5")], &[]), "not a whole number"),
        (run_with(&[("--steps", "0")], &[]), "steps must be between"),
        (
            run_with(&[("--steps", "1e12")], &[]),
            "steps must be between",
        ),
        (run_with(&[("--t1", "abc")], &[]), "`abc` is not a number"),
        (run_with(&[("--t1", "-1")], &[]), "must be after"),
        (run_with(&[("--t1", "inf")], &[]), "not finite"),
        (run_with(&[("--x0", "1,x")], &[]), "`x` is not a number"),
        (run_with(&[("--x0", "1,2")], &[]), "has 1 state component"),
        (run_with(&[("--seed", "-1")], &[]), "--seed"),
        (run_with(&[], &["--param", "mu"]), "expected NAME=VALUE"),
        (
            run_with(&[], &["--param", "mu=fast"]),
            "`fast` is not a number",
        ),
        (run_with(&[], &["--param", "mu=1e39"]), "not a finite f32"),
        (run_with(&[], &["--sweep", "mu=0"]), "expected NAME=LO:HI"),
        (run_with(&[], &["--sweep", "mu=0:x"]), "`x` is not a number"),
        (run_with(&[], &["--chunk", "100"]), "at least 256"),
        (run_with(&[], &["--lanes", "3"]), "lanes must be 1, 2 or 4"),
        (run_with(&[], &["--dt", "0.1"]), "not both"),
        (run_with(&[], &["--frobnicate"]), "--frobnicate"),
        (
            run_with(&[], &["--adapter", "no such adapter anywhere"]),
            "no adapter",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_one_line_error(&args, needle);
    }
    assert_one_line_error(
        &[
            "run", "--system", "heston", "--method", "milstein", "--paths", "10", "--steps", "10",
        ],
        "milstein needs diagonal",
    );
    assert_one_line_error(
        &[
            "run", "--system", "cir", "--method", "setd1", "--paths", "10", "--steps", "10",
        ],
        "needs the linear part",
    );
    let no_dt = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/no_dt.toml");
    assert_one_line_error(
        &["run", "--spec", no_dt, "--paths", "10", "--steps", "10"],
        "--dt",
    );
    assert_one_line_error(
        &[
            "run", "--system", "gbm", "--paths", "10", "--steps", "10", "--dt", "-0.1",
        ],
        "time step must be positive",
    );
    assert_one_line_error(
        &[
            "run", "--system", "lorenz", "--paths", "10", "--steps", "10", "--dt", "0.01",
            "--sweep", "x0.w=0:1",
        ],
        "`x0.w`",
    );
}

#[test]
fn bad_rng_inputs_give_one_line_errors() {
    assert_one_line_error(
        &["rng", "--key", "1", "--counter", "0,0,0,0"],
        "--key takes 2",
    );
    assert_one_line_error(
        &["rng", "--key", "1,2", "--counter", "0,0,0"],
        "--counter takes 4",
    );
    assert_one_line_error(
        &["rng", "--key", "1,2", "--counter", "a,0,0,0"],
        "not a 32-bit word",
    );
    assert_one_line_error(
        &["rng", "--key", "1,4294967296", "--counter", "0,0,0,0"],
        "not a 32-bit word",
    );
    assert_one_line_error(
        &[
            "rng",
            "--key",
            "1,2",
            "--counter",
            "0,0,0,0",
            "--blocks",
            "0",
        ],
        "at least 1",
    );
}

#[test]
fn a_machine_without_a_driver_gets_told_what_to_install() {
    let o = Command::new(env!("CARGO_BIN_EXE_throng"))
        .args(["info"])
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("mesa-vulkan-drivers"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn nonfinite_trajectories_are_reported_in_json() {
    let o = throng(&[
        "run", "--system", "linear", "--paths", "1000", "--steps", "100", "--dt", "0.01", "--x0",
        "1", "--sweep", "a=0:150", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    let bad = v["nonfinite"].as_u64().unwrap();
    assert!(bad > 0);
    assert_eq!(v["terminal"]["count"].as_u64().unwrap() + bad, 1000);
}

#[test]
fn info_describes_the_adapter() {
    let o = throng(&["info"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "adapter:",
        "backend:",
        "device type:",
        "max storage buffer binding:",
        "max buffer size:",
        "max workgroups per dimension:",
        "f64 (SHADER_F64):",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // The reader is gone before throng writes a byte (as with `throng info | head -0`):
    // every write meets a closed pipe, which must end the process without a panic.
    for args in [
        &["info"][..],
        &["systems"][..],
        &["run", "--system", "gbm", "--paths", "100", "--steps", "1"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_throng"))
            .args(args)
            .env("XDG_RUNTIME_DIR", "/tmp")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn dopri5_in_f64_from_the_cli_reports_steps_and_unfinished_trajectories() {
    let o = throng(&[
        "run",
        "--system",
        "lorenz",
        "--method",
        "dopri5",
        "--precision",
        "f64",
        "--t1",
        "10",
        "--paths",
        "512",
        "--x0",
        "1,1,1",
        "--sweep",
        "rho=0.5:28",
        "--rtol",
        "1e-8",
        "--atol",
        "1e-8",
        "--max-steps",
        "400",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(v["precision"], "f64");
    assert_eq!(v["method"], "dopri5");
    let a = &v["adaptive"];
    let unfinished = a["unfinished"].as_u64().unwrap();
    assert!(unfinished > 0 && unfinished < 512, "{a}");
    assert_eq!(v["nonfinite"].as_u64().unwrap(), unfinished);
    assert!(a["accepted"]["max"].as_f64().unwrap() <= 400.0);
    assert!(a["accepted"]["min"].as_f64().unwrap() < a["accepted"]["max"].as_f64().unwrap());
    assert!(stderr(&o).contains("did not reach t1"), "{}", stderr(&o));
}

#[test]
fn adaptive_options_and_precision_are_checked() {
    let o = throng(&[GBM, &["--rtol", "1e-3"]].concat());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--rtol applies to the adaptive method dopri5"),
        "{}",
        stderr(&o)
    );
    let o = throng(&[GBM, &["--precision", "f16"]].concat());
    assert!(
        stderr(&o).contains("unknown precision `f16`"),
        "{}",
        stderr(&o)
    );
    let o = throng(&[
        "run", "--system", "lorenz", "--method", "dopri5", "--t1", "1", "--paths", "10", "--rtol",
        "1e-9",
    ]);
    assert!(
        stderr(&o).contains("rtol must be finite and at least"),
        "{}",
        stderr(&o)
    );
    let o = throng(&[
        "run",
        "--system",
        "kuramoto",
        "--method",
        "rk4",
        "--precision",
        "f64",
        "--steps",
        "10",
        "--paths",
        "256",
    ]);
    assert!(
        stderr(&o).contains("f64 `sin` has no implementation on Vulkan"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o)
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1
    );
}

/// Reads an NPY file's shape and values (as f64) the way numpy would.
fn load_npy(path: &std::path::Path) -> (Vec<u64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let values = match npy.dtype() {
        npyz::DType::Plain(t) if t.to_string() == "<u8" => npy
            .into_vec::<u64>()
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        _ => npy.into_vec::<f64>().unwrap(),
    };
    (shape, values)
}

#[test]
fn out_dir_holds_npy_arrays_over_save_times_and_a_summary() {
    let dir = std::env::temp_dir().join(format!("throng-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = throng(
        &[
            GBM,
            &[
                "--save-every",
                "16",
                "--hist",
                "x=0.5:2:30",
                "--quantiles",
                "0.05,0.5,0.95",
                "--keep-paths",
                "10",
                "--out",
                dir.to_str().unwrap(),
                "--json",
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(v["save_times"], 4);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for (name, file) in summary["files"].as_object().unwrap() {
        let (shape, values) = load_npy(&dir.join(file["file"].as_str().unwrap()));
        let want: Vec<u64> = serde_json::from_value(file["shape"].clone()).unwrap();
        assert_eq!(shape, want, "{name}");
        assert_eq!(values.len() as u64, want.iter().product::<u64>(), "{name}");
    }
    let (_, t) = load_npy(&dir.join("t.npy"));
    assert_eq!(t, [0.25, 0.5, 0.75, 1.0]);
    let (_, mean) = load_npy(&dir.join("mean.npy"));
    assert_eq!(mean[3], v["terminal"]["mean"][0].as_f64().unwrap());
    let (shape, hist) = load_npy(&dir.join("hist0.npy"));
    assert_eq!(shape, [4, 32]);
    for s in 0..4 {
        assert_eq!(hist[s * 32..(s + 1) * 32].iter().sum::<f64>(), 5000.0);
    }
    let (shape, _) = load_npy(&dir.join("quantiles.npy"));
    assert_eq!(shape, [4, 1, 3]);
    let (shape, _) = load_npy(&dir.join("paths.npy"));
    assert_eq!(shape, [4, 10, 1]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copy of examples/specs/duffing_noise.toml with its `[run]` table replaced.
fn duffing_with_run(tag: &str, run: &str) -> std::path::PathBuf {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/specs/duffing_noise.toml"
    );
    let text = std::fs::read_to_string(example).unwrap();
    let system = &text[..text.find("[run]").unwrap()];
    let path = std::env::temp_dir().join(format!("throng-{tag}-{}.toml", std::process::id()));
    std::fs::write(&path, format!("{system}[run]\n{run}\n")).unwrap();
    path
}

fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(stdout(o).lines().last().unwrap()).unwrap()
}

#[test]
fn a_run_table_takes_the_flags_forms() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/specs/duffing_noise.toml"
    );
    let spec = duffing_with_run(
        "forms",
        "method = \"em\"\nsteps = \"2e3\"\nt1 = \"20\"\nseed = 7.0\n\
         grid = { delta = \"0.05:0.5:64\", sigma = [0.1, 1.0, \"64\"] }",
    );
    let spec = spec.to_str().unwrap();
    let a = json_of(&throng(&[
        "run", "--spec", example, "--steps", "50", "--json",
    ]));
    let b = json_of(&throng(&["run", "--spec", spec, "--steps", "50", "--json"]));
    for key in ["paths", "steps", "dt", "seed", "params", "terminal"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(b["paths"], 4096);
    let _ = std::fs::remove_file(spec);
}

#[test]
fn flags_replace_the_run_tables_settings_by_name() {
    // The spec's 64 x 64 grid is gone once both its parameters are set by flags.
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/specs/duffing_noise.toml"
    );
    let v = json_of(&throng(&[
        "run",
        "--spec",
        example,
        "--steps",
        "10",
        "--paths",
        "300",
        "--param",
        "delta=0.3",
        "--sweep",
        "sigma=0:1",
        "--json",
    ]));
    assert_eq!(v["paths"], 300);
    assert_eq!(v["params"]["delta"], 0.3);
    assert_eq!(v["params"]["sigma"]["sweep"], serde_json::json!([0.0, 1.0]));
}

#[test]
fn bad_run_tables_give_one_line_errors_at_the_key() {
    for (tag, run, needle) in [
        ("count", "paths = \"12.5\"", "`12.5` is not a whole number"),
        (
            "range",
            "sweep = { delta = \"0\" }",
            "delta: expected LO:HI",
        ),
        (
            "axis",
            "grid = { delta = [0, 1] }",
            "delta: expected \"LO:HI:N\"",
        ),
        ("both", "dt = 0.1\nt1 = 1", "takes `dt` or `t1`, not both"),
    ] {
        let spec = duffing_with_run(tag, run);
        let path = spec.to_str().unwrap();
        assert_one_line_error(&["run", "--spec", path, "--steps", "10"], needle);
        if tag != "both" {
            // file:line:col of the value.
            assert_one_line_error(&["run", "--spec", path, "--steps", "10"], ".toml:25:");
        }
        let _ = std::fs::remove_file(spec);
    }
}

#[test]
fn bad_values_exit_1_and_unknown_flags_exit_2() {
    let o = throng(
        &run_with(&[("--t1", "abc")], &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim_end(), "error: --t1: `abc` is not a number");
    let o = throng(&[GBM, &["--frobnicate"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = throng(&[
        "run", "--system", "gbm", "--paths", "1e3", "--steps", "2", "--json",
    ]);
    assert_eq!(json_of(&o)["paths"], 1000);
}

/// `--replicas`: paths counts points; the per-point arrays have a point axis (and a save
/// axis), agree with the JSON's extremes, and the text names the extreme points with their
/// parameter values.
#[test]
fn replicas_give_statistics_per_point_in_files_text_and_json() {
    let dir = std::env::temp_dir().join(format!("throng-points-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = [
        "run",
        "--system",
        "gbm",
        "--paths",
        "6",
        "--replicas",
        "500",
        "--sweep",
        "sigma=0.1:0.6",
        "--steps",
        "32",
        "--t1",
        "1",
        "--save-every",
        "16",
    ];
    let o = throng(&[&args[..], &["--out", dir.to_str().unwrap(), "--json"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(v["paths"], 3000);
    assert_eq!(v["points"]["points"], 6);
    assert_eq!(v["points"]["replicas"], 500);
    let (shape, count) = load_npy(&dir.join("point_count.npy"));
    assert_eq!(shape, [2, 6]);
    assert!(count.iter().all(|&c| c == 500.0));
    let (shape, var) = load_npy(&dir.join("point_var.npy"));
    assert_eq!(shape, [2, 6, 1]);
    // GBM's variance grows with sigma: point 5's is the largest at t1.
    assert!(var[6..].windows(2).all(|w| w[0] < w[1]), "{var:?}");
    let (_, mean) = load_npy(&dir.join("point_mean.npy"));
    let lo = v["points"]["rows"][0]["extremes"]["lowest_mean"]["point"]
        .as_u64()
        .unwrap() as usize;
    let lowest = mean[6..].iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(mean[6 + lo], lowest);
    for tool in ["lyapunov", "orbit", "basins"] {
        assert_one_line_error(
            &[
                tool,
                "--system",
                "lorenz",
                "--paths",
                "4",
                "--replicas",
                "2",
                "--steps",
                "10",
            ],
            "--replicas (statistics per point) applies to `throng run`",
        );
    }
    assert_one_line_error(
        &[
            "run",
            "--system",
            "gbm",
            "--paths",
            "6",
            "--replicas",
            "0",
            "--steps",
            "8",
        ],
        "replicas must be at least 1",
    );
    let o = throng(&args);
    let text = stdout(&o);
    assert!(
        text.contains("per point: 6 points x 500 replicas"),
        "{text}"
    );
    assert!(
        text.contains("lowest mean") && text.contains("sigma="),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The adaptive SDE methods from the command line: `--rtol`, `--atol` reach the
/// controller, JSON reports the step counts, and a step count that is not a power of two
/// gets one line saying so.
#[test]
fn adaptive_sde_methods_run_from_the_cli() {
    let base = [
        "run",
        "--system",
        "ou",
        "--paths",
        "2000",
        "--t1",
        "2",
        "--x0",
        "2",
        "--param",
        "theta=3",
        "--param",
        "mu=0.5",
        "--param",
        "sigma=0.3",
        "--seed",
        "4",
        "--json",
    ];
    for method in ["adaptive-heun", "adaptive-sra1"] {
        let o = throng(
            &[
                &base[..],
                &[
                    "--method", method, "--steps", "4", "--rtol", "1e-3", "--atol", "2e-3",
                ],
            ]
            .concat(),
        );
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let v: serde_json::Value =
            serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
        assert_eq!(v["method"], method);
        assert_eq!(v["adaptive"]["rtol"], 1e-3);
        assert_eq!(v["adaptive"]["atol"], 2e-3);
        assert_eq!(v["adaptive"]["unfinished"], 0);
        assert!(
            v["adaptive"]["accepted"]["mean"].as_f64().unwrap() > 4.0,
            "{v}"
        );
        // OU at t = 2: mean 0.5 + 1.5 e^-6, variance 0.015 (4 SE of the mean).
        let mean = v["terminal"]["mean"][0].as_f64().unwrap();
        let m = 0.5 + 1.5 * (-6.0f64).exp();
        assert!(
            (mean - m).abs() < 4.0 * (0.015f64 / 2000.0).sqrt(),
            "{method}: {mean}"
        );
    }
    assert_one_line_error(
        &[&base[..], &["--method", "adaptive-heun", "--steps", "10"]].concat(),
        "power of two",
    );
}

/// The NPY arrays of an --out directory, by name.
fn arrays(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".npy"))
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect();
    v.sort();
    v
}

/// `throng run --shard I/N` in three processes (one from Slurm's variables, one from
/// Kubernetes' with --shards) and `throng merge` write the unsharded run's arrays byte for
/// byte; damaged, foreign and missing shards get one line each.
#[test]
fn shards_run_by_the_cli_merge_into_the_unsharded_arrays() {
    let dir = std::env::temp_dir().join(format!("throng-cli-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = |n: &str| dir.join(n).display().to_string();
    let job = [
        GBM,
        &[
            "--save-every",
            "16",
            "--quantiles",
            "0.1,0.9",
            "--hist",
            "x=0:3:12",
            "--keep-paths",
            "3",
            "--keep-every",
            "2000",
        ],
    ]
    .concat();
    let ok = |o: Output| assert!(o.status.success(), "{}", stderr(&o));
    ok(throng(&[&job[..], &["--out", &d("single")]].concat()));
    ok(throng(
        &[&job[..], &["--shard", "0/3", "--out", &d("s0")]].concat(),
    ));
    let from_env = |vars: &[(&str, &str)], extra: &[&str], out: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_throng"))
            .args([&job[..], extra, &["--out", out]].concat())
            .envs(vars.iter().copied())
            .env("XDG_RUNTIME_DIR", "/tmp")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let said = from_env(
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        &[],
        &d("s1"),
    );
    assert!(
        said.starts_with("shard 1/3 (from SLURM_ARRAY_TASK_ID=1"),
        "{said}"
    );
    from_env(
        &[("JOB_COMPLETION_INDEX", "2")],
        &["--shards", "3"],
        &d("s2"),
    );
    ok(throng(&[
        "merge",
        &d("s2"),
        &d("s0"),
        &d("s1"),
        "--out",
        &d("merged"),
    ]));
    let single = arrays(&dir.join("single"));
    assert!(single.len() >= 10, "{single:?}");
    assert_eq!(arrays(&dir.join("merged")), single);

    assert_one_line_error(
        &["merge", &d("s0"), &d("s2"), "--out", &d("m2")],
        "shards 1 of 3 are missing",
    );
    let bytes = std::fs::read(dir.join("s1/partials.bin")).unwrap();
    std::fs::write(dir.join("cut.bin"), &bytes[..bytes.len() / 2]).unwrap();
    assert_one_line_error(
        &[
            "merge",
            &d("s0"),
            &d("cut.bin"),
            &d("s2"),
            "--out",
            &d("m3"),
        ],
        "cut.bin is not a usable throng partials file",
    );
    // The same job with seed 4 (GBM's only "3" is its seed).
    let seed4: Vec<&str> = GBM
        .iter()
        .map(|&a| if a == "3" { "4" } else { a })
        .collect();
    ok(throng(
        &[&seed4[..], &["--shard", "1/3", "--out", &d("other")]].concat(),
    ));
    assert_one_line_error(
        &["merge", &d("s0"), &d("other"), &d("s2"), "--out", &d("m4")],
        "is of another job than",
    );
    assert_one_line_error(
        &[&job[..], &["--shards", "3", "--out", &d("x")]].concat(),
        "--shards N needs a shard index",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run killed with SIGKILL after some checkpoints, resumed with --resume, writes the
/// uninterrupted run's arrays byte for byte; a checkpoint of another job is refused.
#[test]
fn a_run_killed_with_sigkill_resumes_to_the_same_arrays() {
    let dir = std::env::temp_dir().join(format!("throng-cli-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = |n: &str| dir.join(n).display().to_string();
    let job = [
        "run",
        "--cpu",
        "--system",
        "gbm",
        "--paths",
        "16384",
        "--steps",
        "8192",
        "--t1",
        "1",
        "--chunk",
        "256",
        "--save-every",
        "2048",
        "--hist",
        "x=0:3:12",
        "--seed",
        "9",
    ];
    let ok = |o: Output| assert!(o.status.success(), "{}", stderr(&o));
    ok(throng(&[&job[..], &["--out", &d("whole")]].concat()));
    let ck = d("run.checkpoint");
    let killed = d("killed");
    let resumable = [&job[..], &["--out", &killed, "--checkpoint", &ck]].concat();
    let mut child = Command::new(env!("CARGO_BIN_EXE_throng"))
        .args([&resumable[..], &["--checkpoint-every", "0"]].concat())
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !std::path::Path::new(&ck).exists() {
        assert!(t0.elapsed().as_secs() < 60, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it was killed");
    assert!(!dir.join("killed/summary.json").exists());
    assert_one_line_error(
        &[
            GBM,
            &["--out", &d("other"), "--checkpoint", &ck, "--resume"],
        ]
        .concat(),
        "is not this run's checkpoint: it is of another job",
    );
    let o = throng(&[&resumable[..], &["--resume"]].concat());
    ok(o.clone());
    assert!(stderr(&o).contains("holds"), "{}", stderr(&o));
    assert_eq!(arrays(&dir.join("killed")), arrays(&dir.join("whole")));
    assert!(
        !std::path::Path::new(&ck).exists(),
        "the checkpoint is removed once written"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a terminal (`script` gives the run one) a long run shows a progress bar on stderr —
/// chunks, paths, rate — and clears it before the report; `--quiet` or a stderr that is not
/// a terminal shows none; `--progress` prints lines for logs.
#[test]
fn a_progress_bar_on_a_terminal_only() {
    let bin = env!("CARGO_BIN_EXE_throng");
    let job = "run --system gbm --paths 400000 --steps 256 --t1 1 --chunk 51200";
    let on_tty = |extra: &str| {
        let o = Command::new("script")
            .args(["-qec", &format!("{bin} {job} {extra}"), "/dev/null"])
            .env("XDG_RUNTIME_DIR", "/tmp")
            .env("COLUMNS", "160")
            .output()
            .expect("script (util-linux) runs a command on a terminal");
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = on_tty("");
    assert!(shown.contains("of 4.000e5 paths · chunk "), "{shown}");
    assert!(
        shown.contains("steps/s") && shown.contains("/8 "),
        "{shown}"
    );
    assert!(shown.contains("finite trajectories: 400000"), "{shown}");
    let quiet = on_tty("--quiet");
    assert!(!quiet.contains("paths · chunk"), "{quiet}");
    // Not a terminal: nothing on stderr.
    let args: Vec<&str> = job.split(' ').collect();
    let o = throng(&args);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");
    let lines = throng(&[&args[..], &["--progress"]].concat());
    let text = stderr(&lines);
    assert_eq!(text.lines().count(), 9, "{text}");
    assert!(text.lines().all(|l| l.starts_with("progress: ")), "{text}");
    assert!(
        text.contains("400000 / 400000 trajectories, chunk 8 of 8"),
        "{text}"
    );
}
