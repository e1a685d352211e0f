//! Property tests over random and mutated input: the spec parser, the WGSL composer (and
//! naga behind it) and the NPY/CSV readers return `Ok` or `Err`, and never panic. The cases
//! are bounded so that CI stays fast; `PROPTEST_CASES` raises them for a longer hunt, and
//! `PROPTEST_RNG_SEED` replays a run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::sample::select;
use throng::kernel::Target;
use throng::shader::{compose, Source};
use throng::{Ensemble, Method, TimeGrid};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A scratch directory shared by this file's tests, and a fresh file name in it.
fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("throng-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn fresh(ext: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    scratch().join(format!("case{}.{ext}", N.fetch_add(1, Ordering::Relaxed)))
}

/// An edit of a text: where (a fraction of its length), what (an index into a pool), and
/// how (0 insert, 1 delete a run of `len` characters, 2 replace a run, 3 duplicate a run,
/// 4 cut the text there).
type Edit = (u16, usize, u8, u8);

fn edits(pool: usize) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u16>(), 0..pool, 0u8..5, 1u8..40), 0..4)
}

fn apply(text: &str, edits: &[Edit], pool: &[&str]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, what, how, len) in edits {
        let i = at as usize * chars.len() / (u16::MAX as usize + 1);
        let j = (i + len as usize).min(chars.len());
        let snippet: Vec<char> = pool[what].chars().collect();
        match how {
            0 => {
                chars.splice(i..i, snippet);
            }
            1 => {
                chars.drain(i..j);
            }
            2 => {
                chars.splice(i..j, snippet);
            }
            3 => {
                let run: Vec<char> = chars[i..j].to_vec();
                chars.splice(i..i, run);
            }
            _ => chars.truncate(i),
        }
    }
    chars.into_iter().collect()
}

const USER_SPEC: &str = r#"name = "fuzzed"
description = "a user SDE with a run table"
state = ["x", "v"]
noise = "additive"
x0 = [1.0, 0.0]
wgsl = '''
fn drift(t: F, x: S, p: Params) -> S {
#for c in 2
    let y$c = x[$c];
#endfor
    return S(y1, -p.delta * y1 + y0 - y0 * y0 * y0);
}

fn diffusion(t: F, x: S, p: Params) -> G {
    return G(R(0.0), R(p.sigma));
}
'''

[params]
delta = 0.2
sigma = 0.3

[run]
method = "em"
steps = 20
t1 = 2.0
seed = 7
grid = { delta = [0.05, 0.5, 4], sigma = "0.1:1:4" }
"#;

const SPEC_POOL: &[&str] = &[
    "=",
    "[",
    "]",
    "{",
    "}",
    "'''",
    "\"",
    "\n",
    ",",
    "#",
    ".",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "-1",
    "0",
    "18446744073709551616",
    "\n[run]\npaths = 0\n",
    "\ntwin = \"gbm\"\n",
    "\nx0 = []\n",
    "\nstate = []\n",
    "\nstate = [\"x\", \"x\"]\n",
    "\nstate = [\"fn\", \"_\"]\n",
    "\nnoise = \"general\"\n",
    "\nchannels = 0\n",
    "\nchannels = 99999999\n",
    "\nnoise = \"correlated\"\ncorrelation = [[nan, 1], [1, 1]]\n",
    "\nwgsl_file = \"missing.wgsl\"\n",
    "\nmethod = \"dopri5\"\n",
    "\nmethod = \"nope\"\n",
    "\ndt = -1\n",
    "\nresizable = true\n",
    "\n#for i in 9999\n",
    "\n#for i in 3\n",
    "\n#endfor\n",
    "\n#ifdef X\n",
    "\n#import philox\n",
    "\nfn drift(t: F, x: S, p: Params) -> S { return x; }\n",
    "\nfn stop(t: F, x: S, p: Params) -> bool { return false; }\n",
    "\u{feff}",
    "\u{e9}\u{1F600}",
    "\0",
    "\\u0000",
    "\nsteps = \"1e30\"\n",
    "\nsweep = { delta = \"0:1\" }\n",
    "\nlogsweep = { delta = \"-1:1\" }\n",
    "\ngrid = { delta = [0, 1, 0] }\n",
    "\nvalues = { delta = \"x.npy\" }\n",
    "\ninit = \"normal:\"\n",
    "\nseed = -1\n",
    "\n[params]\nmu = \"a\"\n",
    "(((((((((((((((((((((((((((((((((",
    " + x[0] + x[0] + x[0] + x[0]",
    "\n    var big: array<R, 1048576>;\n",
];

fn spec_bases() -> Vec<&'static str> {
    let mut bases: Vec<&'static str> = throng::catalog::names()
        .into_iter()
        .filter_map(throng::catalog::spec_text)
        .collect();
    bases.push(USER_SPEC);
    bases
}

/// What a parsed spec leads to: a job, and its integrate kernel composed and parsed by naga.
fn compose_parsed(sys: throng::System) {
    let d = sys.dim();
    let method = sys
        .defaults
        .method
        .unwrap_or_else(|| Method::parse("em").unwrap());
    let Ok(job) = Ensemble::new(sys, 64)
        .x0(&vec![0.5; d])
        .job(method, TimeGrid::new(0.0, 0.01, 4))
    else {
        return;
    };
    let target = Target {
        int64: false,
        lanes: 1,
        segmented: false,
        open_ended: false,
        dense: false,
    };
    let _ = throng::kernel::integrate(&job, target);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_spec_parser_never_panics(
        base in select(spec_bases()),
        edits in edits(SPEC_POOL.len()),
    ) {
        let text = apply(base, &edits, SPEC_POOL);
        if let Ok((sys, _run)) = throng::spec::parse(&text, "fuzz.toml", scratch()) {
            compose_parsed(sys);
        }
    }
}

const WGSL_POOL: &[&str] = &[
    "#ifdef A",
    "#ifdef B",
    "#ifndef A",
    "#else",
    "#endif",
    "#for i in 3",
    "#for j in DIM",
    "#for k in 5000",
    "#for k in 99999999999999999999",
    "#for i in 4096",
    "#for",
    "#for i in",
    "#for i of 3",
    "#endfor",
    "#import a",
    "#import b",
    "#import philox",
    "#import normal",
    "#import nope",
    "#import",
    "#",
    "#pragma once",
    "fn f$i$j(x: f32) -> f32 { return x + $i.0; }",
    "const c$i$j = $j;",
    "var<private> v$i: array<f32, 8>;",
    "var<private> big: array<f32, 9999999>;",
    "var<private> huge: array<array<f32, 65536>, 65536>;",
    "struct T$i { a: f32 }",
    "fn g() -> f32 { var a: array<vec4<f32>, 4096>; return a[0].x; }",
    "fn h(x: f32) -> f32 {",
    "return -(-(-(x)));",
    "return x + x + x + x + x + x + x + x;",
    "let",
    "((((((((((((((((((((((((((((((((",
    "))))))))))))))))",
    "+ x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x",
    "/*",
    "*/",
    "// #endif",
    "}",
    "{",
    "",
    "   ",
    "@compute @workgroup_size(1) fn main() {}",
    "@group(0) @binding(0) var<storage, read_write> out: array<f32>;",
    "loop { }",
    "alias R = f32;",
    "\u{e9}\u{e9} \u{1F600}",
    "$i$j$k",
];

fn wgsl_line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(WGSL_POOL).prop_map(String::from),
        1 => prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
    ]
}

/// Lines of WGSL with directives, mostly well nested (`#for`/`#endfor`, `#ifdef`/`#else`/
/// `#endif` around blocks), so that cases reach naga; the pool adds stray directives.
fn wgsl_lines() -> impl Strategy<Value = Vec<String>> {
    let leaf = prop::collection::vec(wgsl_line(), 0..6);
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            (select(&["3", "DIM", "0", "17", "4097"][..]), inner.clone()).prop_map(|(n, body)| {
                let mut v = vec![format!("#for i in {n}")];
                v.extend(body);
                v.push("#endfor".into());
                v
            }),
            (
                select(&["#ifdef A", "#ifndef A", "#ifdef C"][..]),
                inner.clone(),
                prop::option::of(inner),
            )
                .prop_map(|(open, yes, no)| {
                    let mut v = vec![open.to_string()];
                    v.extend(yes);
                    if let Some(no) = no {
                        v.push("#else".into());
                        v.extend(no);
                    }
                    v.push("#endif".into());
                    v
                }),
        ]
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_composer_and_naga_never_panic(
        root in wgsl_lines(),
        a in wgsl_lines(),
        b in wgsl_lines(),
        flags in prop::collection::vec(select(&["A", "B", "C"][..]), 0..3),
        dim in 0u32..20,
    ) {
        let (root, a, b) = (root.join("\n"), a.join("\n"), b.join("\n"));
        let parts = [Source::new("root", &root)];
        let extra = [Source::new("a", &a), Source::new("b", &b)];
        if let Ok(composed) = compose(&parts, &extra, &flags, &[("DIM", dim)]) {
            let _ = composed.validate(naga::valid::Capabilities::all());
        }
    }
}

const NPY_DESCR: &[&str] = &[
    "'<f8'",
    "'<f4'",
    "'<i4'",
    "'<i8'",
    "'<f8'",
    "'<f4'",
    "'>f8'",
    "'|u1'",
    "'<c16'",
    "'|O'",
    "'<U4'",
    "'|V8'",
    "'|S0'",
    "'<f3'",
    "[('a', '<f8'), ('b', '<i4')]",
    "[('a', '<f8', (4294967296, 4294967296))]",
    "8",
    "'",
];

const WRAPPING_SHAPES: &[&[u64]] = &[
    &[1 << 62, 4],
    &[1 << 63, 2],
    &[1 << 32, 1 << 32],
    &[1 << 61, 8, 1],
    &[0, 1 << 40, 1 << 40],
    &[(1 << 63) + 1, 2],
];

const NPY_DIMS: &[u64] = &[0, 1, 2, 3, 5, 8, 1 << 32, 1 << 62, u64::MAX];

fn npy_file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![12 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8), 1 => any::<u8>()],
        select(NPY_DESCR),
        prop_oneof![4 => select(&["True", "False"][..]), 1 => select(&["1", "None", "x"][..])],
        prop_oneof![
            4 => prop::collection::vec(
                prop_oneof![12 => 0u64..6, 2 => select(NPY_DIMS), 1 => any::<u64>()],
                0..4,
            ),
            // Shapes whose element count wraps around in u64 to a few or none.
            1 => select(WRAPPING_SHAPES).prop_map(<[u64]>::to_vec),
        ],
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..160),
            (0usize..40).prop_map(|n| (0..n).flat_map(|i| (i as f64).to_le_bytes()).collect()),
        ],
        prop::option::weighted(0.2, (any::<u16>(), any::<u8>())),
        prop::option::weighted(0.2, any::<u16>()),
        any::<bool>(),
    )
        .prop_map(|(version, descr, fortran, shape, data, flips, cut, fit)| {
            // Half the cases hold as many bytes as the shape claims.
            let size: u64 = if descr.contains('4') { 4 } else { 8 };
            let data = match shape.iter().try_fold(size, |n, &d| n.checked_mul(d)) {
                Some(n) if fit && n <= 4096 => (0..n).map(|i| i as u8).collect(),
                _ => data,
            };
            let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
            let shape = match dims.len() {
                1 => format!("({},)", dims[0]),
                _ => format!("({})", dims.join(", ")),
            };
            let dict =
                format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}");
            let mut h = dict.into_bytes();
            h.push(b'\n');
            let mut out = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
            if version == 1 {
                out.extend_from_slice(&(h.len() as u16).to_le_bytes());
            } else {
                out.extend_from_slice(&(h.len() as u32).to_le_bytes());
            }
            out.extend_from_slice(&h);
            out.extend_from_slice(&data);
            if let Some((at, byte)) = flips {
                let i = at as usize % out.len();
                out[i] = byte;
            }
            if let Some(cut) = cut {
                out.truncate(cut as usize % (out.len() + 1));
            }
            out
        })
}

/// A well-formed NPY file of 1 or 2 dimensions that throng reads, and a column that fits
/// it (so that the reading itself runs), now and then with one byte changed.
fn valid_npy() -> impl Strategy<Value = (Vec<u8>, Option<&'static str>)> {
    (
        select(&[("<f8", 8usize), ("<f4", 4), ("<i4", 4), ("<i8", 8)][..]),
        any::<bool>(),
        prop::collection::vec(0u64..6, 1..3),
        select(&["0", "1", "2"][..]),
        prop::option::weighted(0.3, (any::<u16>(), any::<u8>())),
    )
        .prop_map(|((descr, size), fortran, shape, column, flip)| {
            let (shape_text, column) = match shape[..] {
                [n] => (format!("({n},)"), None),
                [r, c] => (format!("({r}, {c})"), Some(column)),
                _ => unreachable!(),
            };
            let order = if fortran { "True" } else { "False" };
            let dict = format!(
                "{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_text}, }}"
            );
            let mut h = dict.into_bytes();
            h.push(b'\n');
            let mut out = vec![0x93, b'N', b'U', b'M', b'P', b'Y', 1, 0];
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
            out.extend_from_slice(&h);
            let n = shape.iter().product::<u64>() as usize * size;
            out.extend((0..n).map(|i| i as u8));
            if let Some((at, byte)) = flip {
                let i = at as usize % out.len();
                out[i] = byte;
            }
            (out, column)
        })
}

const CSV_CELLS: &[&str] = &[
    "a",
    "b",
    "",
    " ",
    "1",
    "-2.5",
    "1e-3",
    "nan",
    "inf",
    "1e999",
    "0x10",
    "\"q\"",
    "\"unterminated",
    "\"x,y\"",
    "\u{e9}",
    "\0",
    "\r",
];

fn csv_file() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::collection::vec(select(CSV_CELLS), 0..5).prop_map(|cells| cells.join(",")),
        0..12,
    )
    .prop_map(|rows| rows.join("\n").into_bytes())
}

const COLUMNS: &[Option<&str>] = &[
    None,
    Some("0"),
    Some("1"),
    Some("3"),
    Some("a"),
    Some("b"),
    Some("-1"),
    Some(""),
    Some("18446744073709551615"),
];

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_npy_reader_never_panics(
        (bytes, column) in prop_oneof![
            3 => valid_npy(),
            3 => (npy_file(), select(COLUMNS)),
            1 => (prop::collection::vec(any::<u8>(), 0..128), select(COLUMNS)),
        ],
    ) {
        let path = fresh("npy");
        std::fs::write(&path, &bytes).unwrap();
        let _ = throng::values::read(&path, column);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_csv_reader_never_panics(
        bytes in prop_oneof![
            6 => csv_file(),
            1 => prop::collection::vec(any::<u8>(), 0..128),
        ],
        column in select(COLUMNS),
    ) {
        let path = fresh("csv");
        std::fs::write(&path, &bytes).unwrap();
        let _ = throng::values::read(&path, column);
        let _ = std::fs::remove_file(&path);
    }
}
