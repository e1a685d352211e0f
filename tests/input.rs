//! Bad input that once ran other code, read the wrong values, panicked or aborted: each is
//! now refused with one line (or read correctly).

mod common;

use common::throng;

use std::path::{Path, PathBuf};
use std::process::Output;

use throng::system::Builtin;

/// A fresh scratch directory for one test.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("throng-input-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Exit 1 with one line `error: ...` holding `needle`, and no panic.
fn assert_refused(o: &Output, needle: &str) {
    let full = String::from_utf8_lossy(&o.stderr);
    // The message quotes the line, which may be long: show its start.
    let err: String = full.chars().take(400).collect();
    assert_eq!(full.trim_end().lines().count(), 1, "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in {err}");
}

const USER_SDE: &str = r#"name = "mine"
state = ["s"]
noise = "diagonal"
wgsl = '''
fn drift(t: F, x: S, p: Params) -> S {
    return S(-0.1 * x[0]);
}
fn diffusion(t: F, x: S, p: Params) -> G {
    return G(0.0);
}
'''
"#;

#[test]
fn a_spec_cannot_name_a_rust_twin() {
    let dir = scratch("twin");
    for twin in ["gbm", "lorenz", "nope"] {
        let text = USER_SDE.replace("noise = ", &format!("twin = \"{twin}\"\nnoise = "));
        let e = throng::spec::parse(&text, "mine.toml", &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mine.toml:3:1: unknown field `twin`"), "{e}");
        let path = dir.join(format!("{twin}.toml"));
        std::fs::write(&path, &text).unwrap();
        let p = path.to_str().unwrap();
        let args = [
            "run", "--spec", p, "--paths", "64", "--steps", "4", "--t1", "1",
        ];
        assert_refused(
            &throng(&[&args[..], &["--cpu"]].concat()),
            "unknown field `twin`",
        );
    }
}

#[test]
fn cpu_refuses_a_user_system_and_keeps_the_catalogs_twins() {
    let dir = scratch("cpu");
    let path = dir.join("mine.toml");
    std::fs::write(&path, USER_SDE).unwrap();
    let o = throng(&[
        "run",
        "--spec",
        path.to_str().unwrap(),
        "--paths",
        "64",
        "--steps",
        "4",
        "--t1",
        "1",
        "--x0",
        "1",
        "--cpu",
    ]);
    assert_refused(&o, "system `mine` has no CPU twin");
    // A spec named like a catalog system is still the user's.
    let (sys, _) = throng::spec::parse(&USER_SDE.replace("mine", "gbm"), "gbm.toml", &dir).unwrap();
    assert_eq!(sys.twin, None);
    for (name, twin) in [
        ("gbm", Builtin::Gbm),
        ("ou", Builtin::Ou),
        ("lorenz", Builtin::Lorenz),
        ("linear", Builtin::Linear),
    ] {
        assert_eq!(throng::catalog::get(name).unwrap().twin, Some(twin));
    }
    assert_eq!(throng::catalog::get("lorenz96:8").unwrap().twin, None);
    assert!(throng::catalog::all()
        .iter()
        .filter(|s| s.twin.is_some())
        .all(|s| ["gbm", "ou", "lorenz", "linear"].contains(&s.name.as_str())));
}

/// An NPY file: version 1.0, the header dict as given, then `data`.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = dict.as_bytes().to_vec();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn f8(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn a_fortran_order_npy_is_read_by_column() {
    let dir = scratch("fortran");
    // The 3 x 2 array [[1, 10], [2, 20], [3, 30]], stored column by column.
    let fortran = write(
        &dir,
        "f.npy",
        &npy(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }",
            &f8(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]),
        ),
    );
    let c = write(
        &dir,
        "c.npy",
        &npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }",
            &f8(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0]),
        ),
    );
    for p in [&fortran, &c] {
        assert_eq!(throng::values::read(p, Some("0")).unwrap(), [1.0, 2.0, 3.0]);
        assert_eq!(
            throng::values::read(p, Some("1")).unwrap(),
            [10.0, 20.0, 30.0]
        );
    }
    // 1-D Fortran order is the same as C order.
    let one = write(
        &dir,
        "one.npy",
        &npy(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }",
            &f8(&[1.0, 2.0, 3.0]),
        ),
    );
    assert_eq!(throng::values::read(&one, None).unwrap(), [1.0, 2.0, 3.0]);
    // From the command line: mu from column 1 of the Fortran-order file; one Euler step of
    // dx = mu x dt from x0 = 1 over t1 = 1 ends at 1 + mu.
    let spec = format!("mu={}:1", fortran.display());
    let o = throng(&[
        "run", "--system", "gbm", "--paths", "3", "--steps", "1", "--t1", "1", "--x0", "1",
        "--values", &spec, "--json", "--param", "sigma=0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let mean = v["terminal"]["mean"][0].as_f64().unwrap();
    assert!((mean - 21.0).abs() < 1e-4, "{v}");
}

#[test]
fn an_npy_header_cannot_claim_more_than_its_file_holds() {
    let dir = scratch("huge");
    for (tag, dict, data, needle) in [
        (
            "2d",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 8), }",
            vec![0u8; 64],
            "header claims shape (4611686018427387904, 8) but the file holds 64 bytes",
        ),
        (
            "overflow",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }",
            vec![],
            "header claims shape",
        ),
        (
            "1d",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (100,), }",
            vec![0u8; 100],
            "shape [100] needs 800 bytes of data",
        ),
        (
            "nested",
            &format!(
                "{{'descr': {}'<f8'{}, 'fortran_order': False, 'shape': (1,), }}",
                "[".repeat(5000),
                "]".repeat(5000)
            ),
            vec![0u8; 8],
            "header nests brackets deeper than 32",
        ),
    ] {
        let p = write(&dir, &format!("{tag}.npy"), &npy(dict, &data));
        let e = throng::values::read(&p, Some("0")).unwrap_err().to_string();
        assert!(e.contains(needle), "{tag}: {e}");
        let o = throng(&[
            "run",
            "--system",
            "gbm",
            "--paths",
            "8",
            "--steps",
            "2",
            "--t1",
            "1",
            "--values",
            &format!("mu={}:0", p.display()),
        ]);
        assert_refused(&o, needle);
    }
}

/// A user ODE whose drift body is `body`, written to `dir/NAME.toml`; the body starts on
/// line 6 of the file.
fn drift_spec(dir: &Path, name: &str, body: &str) -> PathBuf {
    let text = format!(
        "name = \"{name}\"\nstate = [\"s\"]\nwgsl = '''\nfn drift(t: F, x: S, p: Params) -> S {{\n    var v = x[0];\n{body}\n    return S(v);\n}}\n'''\n"
    );
    write(dir, &format!("{name}.toml"), text.as_bytes())
}

fn run_spec(path: &Path) -> Output {
    throng(&[
        "run",
        "--spec",
        path.to_str().unwrap(),
        "--paths",
        "8",
        "--steps",
        "1",
        "--t1",
        "1",
        "--x0",
        "1",
    ])
}

#[test]
fn user_wgsl_beyond_the_composers_limits_is_refused_at_its_line() {
    let dir = scratch("wgsl");
    let terms = vec!["x[0]"; 20_000].join(" + ");
    for (name, body, needle) in [
        // Aborted with a stack overflow in naga's front end.
        (
            "chain",
            format!("    v = {terms};"),
            "chain.toml:6:3587: expression nested too deeply: more than 512",
        ),
        // Took minutes and gigabytes to compose.
        (
            "unroll",
            "#for i in 40000\n    v = v + x[0];\n#endfor".to_string(),
            "unroll.toml:6: `#for` runs 40000 times; the limit is 4096",
        ),
        (
            "nested",
            "#for i in 4096\n#for j in 4096\n    v = v + x[0];\n#endfor\n#endfor".to_string(),
            "nested.toml:7: `#for` unrolls more than 65536 lines in all",
        ),
        // Killed the process (SIGSEGV) inside the CPU driver.
        (
            "local",
            "    var big: array<R, 1048576>;\n    big[u32(t)] = v;\n    v = big[1];".to_string(),
            "local.toml:6:5: variable `big` takes",
        ),
    ] {
        let o = run_spec(&drift_spec(&dir, name, &body));
        assert_refused(&o, needle);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("may take at most 16384")
                || name != "local"
        );
    }
}

#[test]
fn a_values_file_that_never_ends_is_refused() {
    let dir = scratch("device");
    for name in ["zero.npy", "zero.csv"] {
        let link = dir.join(name);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = throng::values::read(&link, None).unwrap_err().to_string();
        assert!(e.ends_with(&format!("{name}: not a regular file")), "{e}");
    }
}
