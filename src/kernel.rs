//! Builds the WGSL of each kernel: a generated prelude of run constants (lane types, sizes,
//! step constants, seed, the `Params` struct named after the system's parameters, each
//! trajectory's parameters and initial state), the system's WGSL, the method's step
//! (`shaders/methods/`) and its driver, composed by `shader`. Pure text: testable without a device.

use crate::ensemble::{Input, Job};
use crate::error::{Error, Location, Result};
use crate::precision::Precision;
use crate::shader::{self, compose, Composed, Source};
use crate::system::{cholesky, wgsl, Noise, System};

pub use crate::reduce::{partial_words, BLOCK};

/// Mirror of `Chunk` in shaders/chunk.wgsl: the uniform of one dispatch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ChunkUniform {
    pub first: u32,
    pub count: u32,
    pub stride: u32,
    pub step0: u32,
    pub steps: u32,
    pub save: u32,
    pub blocks: u32,
    pub save_index: u32,
    /// Fused observers: whether to count histograms and keep paths (not in the pilot).
    pub observe: u32,
    pub pad: [u32; 3],
}

/// What the observers fused into the integration kernel do at each save time
/// (shaders/fused.wgsl): reduce `rows` rows, count histograms `(row, bins, offset)` into
/// `hist_words` counters per save time (per point with `points` = (replicas, points)), keep
/// `keep` trajectories' states, every `keep_every`-th.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    pub rows: usize,
    pub hists: Vec<(usize, u32, u32)>,
    pub hist_words: u32,
    pub keep: u64,
    pub keep_every: u64,
    pub points: Option<(u64, u64)>,
    /// Save steps every `.0` steps and at the last, `.1` (computed in the kernel: a load
    /// from the save-step buffer per save time costs as much as a step on llvmpipe); None:
    /// read from the buffer.
    pub every: Option<(u64, u64)>,
}

impl Fused {
    /// Save steps `k, 2k, ..., n` (n the last, not necessarily a multiple of k): `(k, n)`.
    pub fn regular(save_steps: &[u64]) -> Option<(u64, u64)> {
        let (&n, &k) = (save_steps.last()?, save_steps.first()?);
        let body = &save_steps[..save_steps.len() - 1];
        let regular = body
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i as u64 + 1) * k)
            && n <= (body.len() as u64 + 1) * k;
        regular.then_some((k, n))
    }

    /// Constants and lane helpers of the fused observers, after the prelude.
    fn prelude(&self, lanes: u32) -> String {
        let list = |f: &dyn Fn(&(usize, u32, u32)) -> u32| {
            let items: Vec<String> = self.hists.iter().map(|h| format!("{}u", f(h))).collect();
            if items.is_empty() {
                "0u".to_string()
            } else {
                items.join(", ")
            }
        };
        let n = self.hists.len().max(1);
        let mut s = format!(
            "const ROWS: u32 = {}u;
const throng_nhist: u32 = {}u;
             const throng_hist_words: u32 = {}u;
const throng_keep: u32 = {}u;
             const throng_keep_every: u32 = {}u;
             const throng_hist_component = array<u32, {n}>({});
             const throng_hist_bins = array<u32, {n}>({});
             const throng_hist_offset = array<u32, {n}>({});
",
            self.rows,
            self.hists.len(),
            self.hist_words,
            self.keep,
            self.keep_every.max(1),
            list(&|h| h.0 as u32),
            list(&|h| h.1),
            list(&|h| h.2),
        );
        if let Some((_, p)) = self.points {
            s += &format!("const throng_points: u32 = {p}u;\n");
        }
        if let Some((k, n)) = self.every {
            s += &format!("const throng_every: u32 = {k}u;\nconst throng_last: u32 = {n}u;\n");
        }
        // Sums, minima and maxima over an invocation's lanes: the first levels of the
        // reduction's pairwise tree.
        let (sum, min, max, lane) = match lanes {
            1 => ("v", "v", "v", "v"),
            2 => ("v.x + v.y", "min(v.x, v.y)", "max(v.x, v.y)", "v[l]"),
            _ => (
                "(v.x + v.y) + (v.z + v.w)",
                "min(min(v.x, v.y), min(v.z, v.w))",
                "max(max(v.x, v.y), max(v.z, v.w))",
                "v[l]",
            ),
        };
        for (name, arg, out, body) in [
            ("throng_hsum", "R", "F", sum),
            ("throng_hmin", "R", "F", min),
            ("throng_hmax", "R", "F", max),
            ("throng_hsum_u", "U", "u32", sum),
            ("throng_hmin_u", "U", "u32", min),
        ] {
            s += &format!(
                "fn {name}(v: {arg}) -> {out} {{
    return {body};
}}
"
            );
        }
        s += &format!(
            "fn throng_lane(v: R, l: u32) -> F {{
    return {lane};
}}
"
        );
        s
    }

    fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec!["FUSED"];
        if !self.hists.is_empty() {
            flags.push("FUSED_HIST");
        }
        if self.keep > 0 {
            flags.push("FUSED_KEEP");
        }
        if self.keep_every > 1 {
            flags.push("FUSED_KEEP_STRIDED");
        }
        if self.points.is_some() {
            flags.push("FUSED_POINTS");
        }
        if self.every.is_some() {
            flags.push("FUSED_EVERY");
        }
        flags
    }
}

/// How kernels are shaped for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Philox's high product from one u64 multiply (needs SHADER_INT64).
    pub int64: bool,
    /// Trajectories per invocation, 1, 2 or 4 (vector lanes). Independent work per
    /// invocation is what pays on SIMD CPUs (lavapipe: 4).
    pub lanes: u32,
    /// Whether the run is cut into segments (save times, a dispatch bound). A run in one
    /// piece gets a kernel whose step loop has constant bounds, which compiles to faster code.
    pub segmented: bool,
    /// A stepper's kernel ([`crate::stepper`]): segments go on without end (no last segment
    /// at the grid's end), and an adaptive method's step budget applies to each segment.
    pub open_ended: bool,
    /// An adaptive method reaches interior save times by its continuous extension instead
    /// of cutting steps there; its last step's data lives in [`dense_rows`] rows after the
    /// job's rows.
    pub dense: bool,
}

/// Rows an adaptive trajectory keeps for dense output after the job's rows: its true state
/// and time, the start time, state and first stage of its last accepted step, and that
/// step's h Σ d_i k_i (Hairer's rcont5).
pub fn dense_rows(dim: usize) -> usize {
    4 * dim + 2
}

/// f64 built-ins with no Vulkan implementation: SPIR-V's GLSL.std.450 defines them for
/// 16- and 32-bit floats only (llvmpipe compiles f64 `exp` and returns garbage).
const NO_F64: &[(naga::MathFunction, &str)] = {
    use naga::MathFunction as M;
    &[
        (M::Exp, "exp"),
        (M::Exp2, "exp2"),
        (M::Log, "log"),
        (M::Log2, "log2"),
        (M::Pow, "pow"),
        (M::Sin, "sin"),
        (M::Cos, "cos"),
        (M::Tan, "tan"),
        (M::Asin, "asin"),
        (M::Acos, "acos"),
        (M::Atan, "atan"),
        (M::Atan2, "atan2"),
        (M::Sinh, "sinh"),
        (M::Cosh, "cosh"),
        (M::Tanh, "tanh"),
        (M::Asinh, "asinh"),
        (M::Acosh, "acosh"),
        (M::Atanh, "atanh"),
        (M::Radians, "radians"),
        (M::Degrees, "degrees"),
    ]
};

impl Target {
    /// Invocations per workgroup of the integration kernels: one block of trajectories.
    pub fn workgroup(&self) -> u32 {
        BLOCK / self.lanes
    }
}

/// A WGSL f32 literal that parses back to exactly `v`.
pub fn f32_lit(v: f32) -> String {
    format!("{v:?}f")
}

fn lane_types(lanes: u32, target: Target, precision: Precision) -> String {
    let f = precision.name();
    let mut s = format!("alias F = {f};\n");
    s += &if lanes == 1 {
        "alias R = F;\nalias R32 = f32;\nalias U = u32;\nalias I = i32;\nconst LANE_OFFSETS: U = 0u;\n".to_string()
    } else {
        format!(
            "alias R = vec{lanes}<F>;\nalias R32 = vec{lanes}<f32>;\nalias U = vec{lanes}<u32>;\nalias I = vec{lanes}<i32>;\nconst LANE_OFFSETS: U = U({});\n",
            (0..lanes).map(|i| format!("{i}u")).collect::<Vec<_>>().join(", ")
        )
    };
    if target.int64 {
        s += &if lanes == 1 {
            "alias U64 = u64;\n".to_string()
        } else {
            format!("alias U64 = vec{lanes}<u64>;\n")
        };
    }
    s += &format!("const LANES: u32 = {lanes}u;\n");
    s += &if lanes == 1 {
        "alias B = bool;\n".to_string()
    } else {
        format!("alias B = vec{lanes}<bool>;\n")
    };
    s += &if lanes == 1 {
        "fn lane_u(v: U, l: u32) -> u32 {\n    return v;\n}\n".to_string()
    } else {
        "fn lane_u(v: U, l: u32) -> u32 {\n    return v[l];\n}\n".to_string()
    };
    s
}

fn input_expr(input: Input, precision: Precision) -> String {
    let lit = |v: f64| precision.literal(v);
    match input {
        Input::Affine(base, 0.0) => format!("R({})", lit(base)),
        Input::Affine(base, slope) => format!("(R({}) + {} * fi)", lit(base), lit(slope)),
        Input::Table(k) => format!("input({k}u, inv)"),
    }
}

/// The generated prelude for a job.
pub fn prelude(job: &Job, target: Target) -> String {
    let sys = &job.system;
    let prec = job.precision;
    let lit = |v: f64| prec.literal(v);
    let c = job.consts64;
    let d = sys.dim();
    let [k0, k1] = job.key();
    let mut s = String::from("// Generated by throng for one run: constants of the run.\n");
    s += &lane_types(target.lanes, target, prec);
    s += "#import math\n";
    s += &format!("const WORKGROUP: u32 = {}u;\n", target.workgroup());
    s += &format!("const DIM: u32 = {d}u;\n");
    // Where an adaptive method's dense-output rows start (after every row the run returns).
    s += &format!("const DENSE_ROW: u32 = {}u;\n", job.rows());
    s += &format!("const NOISE: u32 = {}u;\n", sys.noise_channels().max(1));
    let depth = job.tree_depth();
    s += &format!(
        "const NOISE_BLOCKS: u32 = {}u;\nconst TREE_DEPTH: u32 = {depth}u;\nconst TREE_TOP: u32 = {}u;\nconst TREE_SUB: u32 = {}u;\nconst TREE_QTOP: u32 = {}u;\n",
        sys.noise_channels().max(1).div_ceil(4),
        tree_top(depth),
        depth - tree_top(depth),
        tree_top(depth).saturating_sub(2)
    );
    s += &format!("alias G = array<R, {}u>;\n", sys.diffusion_len().max(1));
    s += &format!("const T0: F = {};\n", lit(c.t0));
    s += &format!("const DT: F = {};\n", lit(c.dt));
    s += &format!("const HALF_DT: F = {};\n", lit(c.half_dt));
    s += &format!("const SIXTH_DT: F = {};\n", lit(c.sixth_dt));
    s += &format!("const SQRT_DT: F = {};\n", lit(c.sqrt_dt));
    s += &format!("const SEED: vec2<u32> = vec2<u32>({k0}u, {k1}u);\n");
    s += &format!("const T_END: F = {};\n", lit(job.grid.t1()));
    s += &format!("const STEPS: u32 = {}u;\n", job.steps);
    if let Some(ctl) = job.method.controller() {
        let span = job.grid.t1() - job.grid.t0;
        let dt_max = if ctl.dt_max > 0.0 { ctl.dt_max } else { span };
        s += &format!("const T1: F = {};\n", lit(job.grid.t1()));
        s += &format!("const TOTAL_STEPS: u32 = {}u;\n", job.steps);
        s += &format!("const RTOL: F = {};\n", lit(ctl.rtol));
        s += &format!("const ATOL: F = {};\n", lit(ctl.atol));
        s += &format!("const DT_MIN: F = {};\n", lit(ctl.dt_min));
        s += &format!("const DT_MAX: F = {};\n", lit(dt_max));
        s += &format!("const MAX_STEPS: u32 = {}u;\n", ctl.max_steps);
        s += &format!(
            "const EXP_ERR2: f32 = {};\nconst EXP_PREV2: f32 = {};\n",
            f32_lit(crate::method::EXP_ERR2),
            f32_lit(crate::method::EXP_PREV2)
        );
        if job.method.is_adaptive_sde() {
            // Steps run between the tree's points of depth TREE_LEAF, 2^-TREE_LEAF of the span
            // apart; W = sqrt(span) B.
            let d = job.leaf_depth();
            s += &format!("const TREE_LEAF: u32 = {d}u;\n");
            s += &format!("const LEAF_DT: F = {};\n", lit(span / (1u64 << d) as f64));
            s += &format!(
                "const LEAF_PER_STEP: u32 = {}u;\n",
                1u64 << (d - job.tree_depth())
            );
            s += &format!("const SQRT_SPAN: f32 = {};\n", f32_lit(span.sqrt() as f32));
            s += &format!(
                "const SPAN_3_2: f32 = {};\n",
                f32_lit(span.powf(1.5) as f32)
            );
            s += &format!(
                "const LEAF_FRAC: f32 = {};\n",
                f32_lit((0.5f64).powi(d as i32) as f32)
            );
            s += &format!(
                "const ERR_EXP: f32 = {};\n",
                f32_lit(job.method.error_exponent())
            );
        }
    }
    s += "struct Params {\n";
    for (name, _) in &sys.params {
        s += &format!("    {name}: R,\n");
    }
    if sys.params.is_empty() {
        s += "    unused: R,\n";
    }
    s += "}\n";
    let carried = sys.carried.len();
    if carried > 0 {
        s += &format!(
            "const CARRIED: u32 = {carried}u;\nconst CROW: u32 = {}u;\nvar<private> carried: array<R, {carried}>;\n",
            job.rows() - carried
        );
    }
    if sys.tally > 0 {
        s += &format!("const TALLY: u32 = {}u;\n", sys.tally);
    }
    if let Some(r) = job.replicas.filter(|&r| r > 1) {
        // Trajectory point * r + replica takes the point's inputs.
        s += &format!("const REPLICAS: u32 = {r}u;\n");
    }
    if job.tables > 0 {
        s += "#import chunk\n@group(0) @binding(2) var<storage, read> inputs: array<R>;\n";
        s += "fn input(k: u32, inv: u32) -> R {\n    return inputs[k * chunk.stride + inv];\n}\n";
    }
    let ps: Vec<String> = job.inputs[d..]
        .iter()
        .map(|i| input_expr(*i, prec))
        .collect();
    let ps = if ps.is_empty() {
        "R(0.0)".to_string()
    } else {
        ps.join(", ")
    };
    s += &format!("fn params_at(fi: R, inv: u32) -> Params {{\n    return Params({ps});\n}}\n");
    let xs: Vec<String> = job.inputs[..d]
        .iter()
        .map(|i| input_expr(*i, prec))
        .collect();
    s += &format!(
        "fn x0_at(fi: R, inv: u32) -> S {{\n    return S({});\n}}\n",
        xs.join(", ")
    );
    if let Noise::Correlated { corr } = &sys.noise {
        // dW = L dZ with L L^T = corr, L lower triangular.
        let l = cholesky(corr, d).expect("checked by System::check");
        let rows: Vec<String> = (0..d)
            .map(|i| {
                (0..=i)
                    .map(|j| format!("{} * z[{j}]", lit(l[i * d + j])))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect();
        s += &format!(
            "fn correlate(z: array<R, NOISE>) -> array<R, NOISE> {{\n    return array<R, NOISE>({});\n}}\n",
            rows.join(", ")
        );
    }
    s
}

fn noise_flag(noise: &Noise) -> Option<&'static str> {
    match noise {
        Noise::None => None,
        Noise::Scalar => Some("SCALAR"),
        Noise::General { .. } => Some("GENERAL"),
        Noise::Correlated { .. } => Some("CORRELATED"),
        Noise::Diagonal | Noise::Additive => Some("DIAGONAL"),
    }
}

/// Names the generated prelude may declare (`prelude`, `lane_types`), in any run.
pub const PRELUDE_NAMES: &[&str] = &[
    "F",
    "R",
    "R32",
    "U",
    "I",
    "U64",
    "B",
    "G",
    "LANE_OFFSETS",
    "LANES",
    "lane_u",
    "WORKGROUP",
    "DIM",
    "DENSE_ROW",
    "drift_t",
    "NOISE",
    "NOISE_BLOCKS",
    "TREE_DEPTH",
    "TREE_TOP",
    "TREE_SUB",
    "TREE_QTOP",
    "T0",
    "DT",
    "HALF_DT",
    "SIXTH_DT",
    "SQRT_DT",
    "SEED",
    "T_END",
    "STEPS",
    "T1",
    "TOTAL_STEPS",
    "RTOL",
    "ATOL",
    "DT_MIN",
    "DT_MAX",
    "MAX_STEPS",
    "TREE_LEAF",
    "LEAF_DT",
    "LEAF_PER_STEP",
    "SQRT_SPAN",
    "SPAN_3_2",
    "LEAF_FRAC",
    "ERR_EXP",
    "diffusion_t",
    "EXP_ERR2",
    "EXP_PREV2",
    "Params",
    "inputs",
    "input",
    "params_at",
    "x0_at",
    "correlate",
    "CARRIED",
    "CROW",
    "carried",
    "TALLY",
    "REPLICAS",
];

/// Every top-level name throng's kernels may declare: the prelude's and those of every
/// built-in module (all branches of their `#ifdef`s), so that a name refused for one run is
/// refused for all. A name of a `#for` body (`noise_term_$c`) stands for its copies.
fn throng_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = PRELUDE_NAMES.iter().map(|n| n.to_string()).collect();
        for (_, text) in shader::MODULES {
            names.extend(wgsl::outline(text).decls.into_iter().map(|d| d.name));
        }
        names.sort();
        names.dedup();
        names
    })
}

/// The prefix reserved for throng's own names, present and future.
pub const RESERVED_PREFIX: &str = "throng_";

/// Whether a user's top-level `name` is one throng's kernels use (or may use).
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
        || throng_names().iter().any(|t| match t.split_once('$') {
            Some((head, _)) => name
                .strip_prefix(head)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())),
            None => t == name,
        })
}

/// Flags for `#ifdef` that do not depend on what the user's code defines.
pub fn base_flags(job: &Job, target: Target) -> Vec<&'static str> {
    let sys = &job.system;
    let info = job.method.info();
    let mut flags: Vec<&str> = Vec::new();
    if target.int64 {
        flags.push("INT64");
    }
    if job.precision == Precision::F64 {
        flags.push("F64");
    }
    if !target.segmented {
        flags.push("ONE_SEGMENT");
    }
    if target.open_ended {
        flags.push("OPEN_ENDED");
    }
    if target.dense {
        flags.push("DENSE");
    }
    if info.adaptive {
        flags.push("ADAPTIVE");
    }
    if job.method.is_adaptive_sde() {
        flags.push(if job.method.uses_area() {
            "TREE_AREA"
        } else {
            "TREE_LEAF_WALK"
        });
    }
    if sys.noise != Noise::None {
        flags.push("STOCHASTIC");
    }
    if job.brownian == crate::noise::Brownian::Tree {
        flags.push("TREE_NOISE");
    }
    if (job.brownian == crate::noise::Brownian::Tree || job.method.is_adaptive_sde())
        && crate::rng::tree::Layout::of(sys.noise_channels()) == crate::rng::tree::Layout::Packed
    {
        flags.push("TREE_PACKED");
        let top = tree_top(job.tree_depth());
        if job.brownian == crate::noise::Brownian::Tree && top >= 2 && top.is_multiple_of(2) {
            flags.push("TREE_QUAD");
        }
    }
    flags.extend(noise_flag(&sys.noise));
    if job.tables > 0 {
        flags.push("TABLES");
    }
    if !sys.carried.is_empty() {
        flags.push("CARRIED");
    }
    if sys.tally > 0 {
        flags.push("TALLY");
    }
    if job.replicas.is_some_and(|r| r > 1) {
        flags.push("REPLICAS");
    }
    flags
}

/// The user's code as this run composes it (its `#ifdef`s and `#for`s expanded), read for
/// what it declares; refuses, at the user's line, what the code may not contain (a `{` never
/// closed, bindings, entry points, `discard`) and names throng uses.
fn user_outline(job: &Job, flags: &[&str], consts: &[(&str, u32)]) -> Result<wgsl::Outline> {
    let sys = &job.system;
    let user = compose(&[Source::code(&sys.wgsl, &sys.origin)], &[], flags, consts)?
        .only(&sys.origin.name);
    let outline = wgsl::outline(&user.source);
    if let Some(p) = &outline.problem {
        return Err(user.error_at_offset(p.at, &p.message));
    }
    for d in &outline.decls {
        if is_reserved(&d.name) {
            return Err(user.error_at_offset(
                d.at,
                &format!(
                    "`{}` is a name throng uses; rename it (throng reserves the names its \
                     kernels declare and every name starting with `{RESERVED_PREFIX}`)",
                    d.name
                ),
            ));
        }
    }
    // Which optional functions the code defines must not depend on the run: the rows of a
    // job are known before its kernel is composed.
    let raw = Functionals::of(sys);
    let now = Functionals {
        stop: outline.defines("stop"),
        event: outline.defines("event"),
        payoff: outline.defines("payoff"),
    };
    if raw != now || defines_project(&sys.wgsl) != outline.defines("project") {
        return Err(Error::Shader {
            at: Some(Location::file(&sys.origin.name)),
            message: "`stop`, `event`, `payoff` and `project` are defined under an `#ifdef`; \
                      define each for every run or for none"
                .into(),
            code: None,
        });
    }
    Ok(outline)
}

/// For a discrete map: the `drift` the drivers call, x_{n+1} = map(n, x_n) (the method
/// `iterate` steps to it).
pub const MAP_DRIFT: &str = "fn drift(t: F, x: S, p: Params) -> S {\n    return map(t, x, p);\n}\n";

/// A map's signature: a random map (noise = "general") also takes the step's normals.
fn map_signature(sys: &crate::system::System) -> &'static str {
    if sys.noise == Noise::None {
        "(n: F, x: S, p: Params)"
    } else {
        "(n: F, x: S, p: Params, w: W)"
    }
}

/// The system's tables (`System::tables`), all in one read-only buffer at binding 10 of the
/// integration kernel (`Buf::Data`), each read through `fn NAME(i: u32) -> F`, clamped to
/// its last value so no index reads outside it, with its length `NAME_LEN`.
pub fn data_tables(sys: &crate::system::System) -> String {
    if sys.tables.is_empty() {
        return String::new();
    }
    let mut s = String::from("@group(0) @binding(10) var<storage, read> throng_data: array<F>;\n");
    let mut off = 0;
    for (name, values) in &sys.tables {
        let len = values.len();
        s += &format!(
            "const {name}_LEN: u32 = {len}u;\nfn {name}(i: u32) -> F {{\n    return throng_data[{off}u + min(i, {}u)];\n}}\n",
            len - 1
        );
        off += len;
    }
    s
}

/// The sources of a system's own functions: its code, and for a map the `drift` over `map`.
pub fn system_sources(sys: &crate::system::System) -> Vec<Source<'_>> {
    let mut v = vec![Source::code(&sys.wgsl, &sys.origin)];
    // A random map's `map` takes the step's normals, which only `iterate` has.
    if sys.kind == crate::system::Kind::Map && sys.noise == Noise::None {
        v.push(Source::new("map", MAP_DRIFT));
    }
    v
}

/// How an adaptive kernel gives its lanes' times, which differ, to the drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneTime {
    /// One lane: the drift takes `t` as one value (it does not compile with `t: R`), or the
    /// system defines `project`, which is written for one trajectory.
    One,
    /// The drift never reads `t` (autonomous): any lane's time will do.
    Unused,
    /// The drift compiles with `t: R`, one time per lane.
    Vector,
}

/// Which [`LaneTime`] a job's system allows: the drift's first parameter read from its code,
/// and if it is used, the drift composed with that parameter's type `F` replaced by `R` and
/// validated with four lanes.
pub fn lane_time(job: &Job) -> LaneTime {
    let sys = &job.system;
    if defines_project(&sys.wgsl) || sys.kind == crate::system::Kind::Map {
        return LaneTime::One;
    }
    let Some(first) = wgsl::first_param(&sys.wgsl, "drift") else {
        return LaneTime::One;
    };
    if sys.noise != Noise::None {
        // The adaptive SDE methods: lanes where neither function reads t.
        let g = wgsl::first_param(&sys.wgsl, "diffusion");
        return match (first.used, g.is_some_and(|g| !g.used)) {
            (false, true) => LaneTime::Unused,
            _ => LaneTime::One,
        };
    }
    if !first.used {
        return LaneTime::Unused;
    }
    if first.ty != "F" {
        return LaneTime::One;
    }
    let target = Target {
        int64: false,
        lanes: 4,
        segmented: true,
        open_ended: false,
        dense: false,
    };
    let pre = prelude(job, target) + &data_tables(sys);
    let code = vector_time(&sys.wgsl, first.ty_at);
    let composed = compose(
        &[
            Source::new("prelude", &pre),
            Source::new("lane_time", "#import state\n"),
            Source::code(&code, &sys.origin),
        ],
        &[],
        &base_flags(job, target),
        &integrate_consts(job),
    );
    match composed.and_then(|c| c.validate(naga::valid::Capabilities::all())) {
        Ok(_) => LaneTime::Vector,
        Err(_) => LaneTime::One,
    }
}

/// The system's code with the drift's time typed `R` (one per lane) instead of `F`: the same
/// length, so every line and column stays where the user wrote it.
fn vector_time(code: &str, ty_at: usize) -> String {
    let mut s = code.to_string();
    s.replace_range(ty_at..ty_at + 1, "R");
    s
}

/// `NAME_t`, the system's `NAME` (drift, returning S, or diffusion, returning G) at each
/// lane's own time, which the adaptive drivers and their methods call: with `any_lane` the
/// function never reads t and gets lane 0's (`lane_time`), else t itself (one lane, or the
/// drift retyped to `t: R`).
fn at_lane_time(name: &str, ret: &str, any_lane: bool) -> String {
    let t = if any_lane { "t[0]" } else { "t" };
    format!("fn {name}_t(t: R, x: S, p: Params) -> {ret} {{\n    return {name}({t}, x, p);\n}}\n")
}

/// The level of the tree's nodes that `tree_steps` walks to: each spans 16 steps (the
/// whole run when it has fewer).
fn tree_top(depth: u32) -> u32 {
    depth.saturating_sub(4)
}

/// The constants the integration kernel's `#for`s may name.
fn integrate_consts(job: &Job) -> Vec<(&'static str, u32)> {
    let sys = &job.system;
    vec![
        ("DIM", sys.dim() as u32),
        ("NOISE", sys.noise_channels().max(1) as u32),
        (
            "NOISE_BLOCKS",
            sys.noise_channels().max(1).div_ceil(4) as u32,
        ),
        ("TREE_TOP", tree_top(job.tree_depth())),
        ("TREE_QTOP", tree_top(job.tree_depth()).saturating_sub(2)),
        (
            "TREE_LEAF",
            if job.method.is_adaptive_sde() {
                job.leaf_depth()
            } else {
                0
            },
        ),
        ("CARRIED", sys.carried.len() as u32),
    ]
}

/// The integration kernel of a job, with the user's functions checked.
pub fn integrate(job: &Job, target: Target) -> Result<Composed> {
    integrate_fused(job, target, None)
}

/// The integration kernel with the observers fused into it (`fused`), or without (None).
pub fn integrate_fused(job: &Job, target: Target, fused: Option<&Fused>) -> Result<Composed> {
    let mut pre = prelude(job, target);
    if let Some(f) = fused {
        pre += &f.prelude(target.lanes);
    }
    let sys = &job.system;
    pre += &data_tables(sys);
    let mut consts = integrate_consts(job);
    let mut flags = base_flags(job, target);
    let outline = user_outline(job, &flags, &consts)?;
    if let Some(f) = fused {
        flags.extend(f.flags());
        consts.push(("ROWS", f.rows as u32));
        consts.push(("NHIST", f.hists.len() as u32));
    }
    // A missing function would otherwise surface inside a kernel that calls it.
    let signature = "(t: F, x: S, p: Params)";
    let is_map = sys.kind == crate::system::Kind::Map;
    if is_map {
        let (want, not) = ("map", "drift");
        if !outline.defines(want) || outline.defines(not) {
            return Err(Error::Shader {
                at: Some(Location::file(&sys.origin.name)),
                message: format!(
                    "a map (kind = \"map\") defines `fn map{} -> S`, the next state, and no `drift`",
                    map_signature(sys)
                ),
                code: None,
            });
        }
    } else if !outline.defines("drift") {
        return Err(Error::Shader {
            at: Some(Location::file(&sys.origin.name)),
            message: format!("`drift` is missing: every system needs `fn drift{signature} -> S`"),
            code: None,
        });
    }
    if !is_map && sys.noise != Noise::None && !outline.defines("diffusion") {
        return Err(Error::Shader {
            at: Some(Location::file(&sys.origin.name)),
            message: format!(
                "`diffusion` is missing: noise = \"{}\" needs `fn diffusion{signature} -> G`",
                sys.noise.name()
            ),
            code: None,
        });
    }
    // The method's step and the driver that calls it, both from the method's row.
    let info = job.method.info();
    let driver = if job.method.is_adaptive_sde() {
        "sde_controller"
    } else if info.adaptive {
        "controller"
    } else {
        "fixed"
    };
    let text = |name| shader::module(name).expect("shader::MODULES has every method and driver");
    if outline.defines("project") {
        flags.push("PROJECT");
    }
    let f = Functionals::of(sys);
    if f.any() {
        if job.method.is_adaptive() {
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: sys.name.clone(),
                message: format!(
                    "`stop`, `event` and `payoff` need a fixed-step method; {} chooses its own steps",
                    job.method.name()
                ),
            });
        }
        flags.push("FUNCTIONALS");
    }
    if f.stop {
        flags.push("STOP");
    }
    if f.event {
        flags.push("EVENT");
    }
    if f.payoff {
        flags.push("PAYOFF");
    }
    // Throng's own modules parse; an error naga cannot place comes from the user's code.
    let parse = |composed: &Composed| {
        composed.parse().map_err(|e| match e {
            Error::Shader {
                at: None,
                message,
                code,
            } => Error::Shader {
                at: Some(Location::file(&sys.origin.name)),
                message,
                code,
            },
            e => e,
        })
    };
    if sys.kind == crate::system::Kind::Map {
        let alone = compose(
            &[
                Source::new("prelude", &pre),
                Source::new(
                    "analysis",
                    match (sys.tally > 0, sys.noise != Noise::None) {
                        (true, false) => "#import state\n#import tally\n",
                        (false, false) => "#import state\n",
                        (true, true) => {
                            "#import state\n#import tally\nalias W = array<R, NOISE>;\n"
                        }
                        (false, true) => "#import state\nalias W = array<R, NOISE>;\n",
                    },
                ),
                Source::code(&sys.wgsl, &sys.origin),
            ],
            &[],
            &flags,
            &consts,
        )?;
        check_user_functions(&alone, &parse(&alone)?, sys, job.precision, false)?;
    }
    let mut sources = vec![Source::new("prelude", &pre)];
    // Adaptive lanes have their own times: a drift that reads t reads it per lane (the plan
    // gives lanes only where `lane_time` allows).
    let first = wgsl::first_param(&sys.wgsl, "drift");
    let time_used = first.as_ref().is_none_or(|f| f.used);
    let retyped;
    let time_lanes = first
        .as_ref()
        .is_some_and(|f| f.used && info.adaptive && target.lanes > 1);
    match first.filter(|_| time_lanes) {
        Some(f) => {
            retyped = vector_time(&sys.wgsl, f.ty_at);
            sources.push(Source::code(&retyped, &sys.origin));
        }
        None => sources.extend(system_sources(sys)),
    }
    let drift_t = at_lane_time("drift", "S", target.lanes > 1 && !time_used);
    // The SDE methods have lanes only where neither function reads t (`lane_time`).
    let diffusion_t = at_lane_time("diffusion", "G", target.lanes > 1);
    if info.adaptive {
        sources.push(Source::new("drift_t", &drift_t));
    }
    if job.method.is_adaptive_sde() {
        sources.push(Source::new("diffusion_t", &diffusion_t));
    }
    sources.push(Source::new(info.shader, text(info.shader)));
    sources.push(Source::new(driver, text(driver)));
    let composed = compose(&sources, &[], &flags, &consts)?;
    let module = parse(&composed)?;
    check_user_functions(&composed, &module, sys, job.precision, time_lanes)?;
    check_memory(&composed, &module)?;
    if job.precision == Precision::F64 {
        check_f64_builtins(&composed, &module)?;
    }
    Ok(composed)
}

/// The most bytes one array, struct or constant of a kernel may hold in an invocation's own
/// memory. Drivers keep such values per invocation (lavapipe on its threads' stacks, where
/// a few MB crash the process; GPUs in scarce local memory).
pub const MAX_VALUE_BYTES: u64 = 64 * 1024;

/// Bytes of a value of type `ty` (at least its size; 0 for a runtime-sized array).
fn type_bytes(module: &naga::Module, ty: naga::Handle<naga::Type>) -> u64 {
    use naga::TypeInner as T;
    match &module.types[ty].inner {
        T::Scalar(s) => s.width as u64,
        T::Vector { size, scalar } => *size as u64 * scalar.width as u64,
        T::Matrix {
            columns,
            rows,
            scalar,
        } => *columns as u64 * *rows as u64 * scalar.width as u64,
        T::Array {
            base,
            size: naga::ArraySize::Constant(n),
            ..
        } => n.get() as u64 * type_bytes(module, *base).max(1),
        T::Struct { members, span } => members
            .iter()
            .map(|m| type_bytes(module, m.ty))
            .sum::<u64>()
            .max(*span as u64),
        _ => 0,
    }
}

/// Refuses a constant, private variable or function-local variable larger than
/// `MAX_VALUE_BYTES`, at its declaration, naming the limit. Without this a driver refuses
/// the pipeline with no reason, or crashes.
fn check_memory(composed: &Composed, module: &naga::Module) -> Result<()> {
    let too_big = |bytes: u64, what: String, span: naga::Span| -> Result<()> {
        if bytes <= MAX_VALUE_BYTES {
            return Ok(());
        }
        Err(composed.error_at(
            span,
            &format!(
                "{what} holds {bytes} bytes per invocation; throng allows at most \
                 {MAX_VALUE_BYTES} bytes in one value (each invocation keeps its own copy). \
                 Use a smaller table, or pass the values as parameters (--values)"
            ),
        ))
    };
    for (h, c) in module.constants.iter() {
        let name = c.name.as_deref().unwrap_or("a constant");
        too_big(
            type_bytes(module, c.ty),
            format!("constant `{name}`"),
            module.constants.get_span(h),
        )?;
    }
    for (h, g) in module.global_variables.iter() {
        if g.space == naga::AddressSpace::Private {
            let name = g.name.as_deref().unwrap_or("a variable");
            too_big(
                type_bytes(module, g.ty),
                format!("`{name}`"),
                module.global_variables.get_span(h),
            )?;
        }
    }
    for (_, f) in module.functions.iter() {
        for (h, v) in f.local_variables.iter() {
            let name = v.name.as_deref().unwrap_or("a local variable");
            too_big(
                type_bytes(module, v.ty),
                format!("`{name}`"),
                f.local_variables.get_span(h),
            )?;
        }
        for (e, expr) in f.expressions.iter() {
            if let naga::Expression::Compose { ty, .. } | naga::Expression::ZeroValue(ty) = expr {
                too_big(
                    type_bytes(module, *ty),
                    format!("`{}`", shader::type_name(module, *ty)),
                    f.expressions.get_span(e),
                )?;
            }
        }
    }
    Ok(())
}

/// Refuses f64 calls of built-ins that have no f64 implementation on Vulkan (`NO_F64`), at
/// the caller's line: they would compile and return garbage.
fn check_f64_builtins(composed: &Composed, module: &naga::Module) -> Result<()> {
    let info = composed.check(module, naga::valid::Capabilities::all())?;
    for (handle, f) in module.functions.iter() {
        let finfo = &info[handle];
        for (e, expr) in f.expressions.iter() {
            let naga::Expression::Math { fun, arg, .. } = *expr else {
                continue;
            };
            let Some((_, name)) = NO_F64.iter().find(|(m, _)| *m == fun) else {
                continue;
            };
            let scalar = finfo[arg].ty.inner_with(&module.types).scalar();
            if scalar.is_some_and(|s| s == naga::Scalar::F64) {
                return Err(composed.error_at(
                    f.expressions.get_span(e),
                    &format!(
                        "f64 `{name}` has no implementation on Vulkan (GLSL.std.450 defines it for \
                         16/32-bit floats only; llvmpipe returns garbage). Use exp_r for exp, \
                         compute this term in f32 (`F({name}(f32(..)))`), or run in f32"
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub use crate::system::{defines, defines_project, Functionals};

/// Checks that the user's `drift` (and `diffusion`) have the signatures the kernels call,
/// so that a mistake is reported at the user's function, not inside a kernel.
fn check_user_functions(
    composed: &Composed,
    module: &naga::Module,
    sys: &System,
    job_precision: Precision,
    time_lanes: bool,
) -> Result<()> {
    let find = |name: &str| {
        module
            .functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(name))
    };
    let (_, x0_fn) = find("x0_at").expect("the prelude defines x0_at");
    let (_, params_fn) = find("params_at").expect("the prelude defines params_at");
    let s_ty = x0_fn.result.as_ref().unwrap().ty;
    let params_ty = params_fn.result.as_ref().unwrap().ty;
    let r_ty = match module.types[s_ty].inner {
        naga::TypeInner::Array { base, .. } => base,
        _ => unreachable!("S is an array"),
    };
    let d = sys.dim();
    let scalar = match job_precision {
        Precision::F32 => naga::Scalar::F32,
        Precision::F64 => naga::Scalar::F64,
    };
    // A map's kernels call `drift` over the user's `map` (MAP_DRIFT): its signature is
    // checked on the user's code alone, before the wrapper's call could fail inside.
    let is_map = sys.kind == crate::system::Kind::Map;
    let signature = if is_map {
        map_signature(sys)
    } else {
        "(t: F, x: S, p: Params)"
    };
    // A random map's fourth argument: the step's normals.
    let random = is_map && sys.noise != Noise::None;
    let mut wanted = vec![(if is_map { "map" } else { "drift" }, "S", d)];
    if !is_map && sys.noise != Noise::None {
        wanted.push(("diffusion", "G", sys.diffusion_len()));
    }
    for (name, ret, len) in wanted {
        let Some((handle, f)) = find(name) else {
            let need = if name == "drift" || name == "map" {
                "every system needs".to_string()
            } else {
                format!("noise = \"{}\" needs", sys.noise.name())
            };
            return Err(Error::Shader {
                at: Some(Location::file(&sys.origin.name)),
                message: format!("`{name}` is missing: {need} `fn {name}{signature} -> {ret}`"),
                code: None,
            });
        };
        let span = module.functions.get_span(handle);
        let at = |msg: String| composed.error_at(span, &msg);
        let wants_w = random && name == "map";
        if f.arguments.len() != 3 + wants_w as usize {
            return Err(at(format!(
                "`{name}` takes {} argument(s); it must be `fn {name}{signature} -> {ret}`",
                f.arguments.len()
            )));
        }
        let arg_ok = [
            matches!(module.types[f.arguments[0].ty].inner, naga::TypeInner::Scalar(s) if s == scalar)
                // An adaptive kernel's lanes: the drift retyped to one time per lane.
                || (time_lanes && f.arguments[0].ty == r_ty),
            f.arguments[1].ty == s_ty,
            f.arguments[2].ty == params_ty,
            !wants_w
                || matches!(module.types[f.arguments[3].ty].inner,
                    naga::TypeInner::Array { base, size: naga::ArraySize::Constant(n), .. }
                        if base == r_ty && n.get() as usize == sys.noise_channels()),
        ];
        if let Some(k) = arg_ok.iter().position(|ok| !ok) {
            let what = [
                if is_map { "n: F" } else { "t: F" },
                "x: S",
                "p: Params",
                "w: W",
            ][k];
            return Err(at(format!(
                "argument {} of `{name}` is `{}`; it must be `{what}` ({} here); the signature is `fn {name}{signature} -> {ret}`",
                k + 1,
                shader::type_name(module, f.arguments[k].ty),
                [
                    job_precision.name().to_string(),
                    shader::type_name(module, s_ty),
                    "Params".to_string(),
                    format!("array<R, {}>, one normal per channel", sys.noise_channels()),
                ][k],
            )));
        }
        let ret_ok = f.result.as_ref().is_some_and(|r| {
            matches!(module.types[r.ty].inner,
                naga::TypeInner::Array { base, size: naga::ArraySize::Constant(n), .. }
                    if base == r_ty && n.get() as usize == len)
        });
        if !ret_ok {
            let shape = if ret == "S" {
                format!("S = array<R, {d}>, one value per state component")
            } else if let Noise::General { channels } = sys.noise {
                format!("G = array<R, {len}>, the {d} x {channels} matrix g row-major")
            } else {
                format!("G = array<R, {len}>, one value per state component")
            };
            let got = f.result.as_ref().map_or("nothing".to_string(), |r| {
                format!("`{}`", shader::type_name(module, r.ty))
            });
            return Err(at(format!(
                "`{name}` returns {got}; it must return {shape}"
            )));
        }
    }
    if let Some((handle, f)) = find("linear") {
        let ok = f.arguments.len() == 2
            && matches!(module.types[f.arguments[0].ty].inner, naga::TypeInner::Scalar(s) if s == scalar)
            && f.arguments[1].ty == params_ty
            && f.result.as_ref().is_some_and(|r| r.ty == s_ty);
        if !ok {
            return Err(composed.error_at(
                module.functions.get_span(handle),
                "`linear` must be `fn linear(t: F, p: Params) -> S` (the diagonal of A; F is the run's f32 or f64)",
            ));
        }
    }
    for name in ["stop", "event"] {
        if let Some((handle, f)) = find(name) {
            let ok = f.arguments.len() == 3
                && matches!(module.types[f.arguments[0].ty].inner, naga::TypeInner::Scalar(s) if s == scalar)
                && f.arguments[1].ty == s_ty
                && f.arguments[2].ty == params_ty
                && f.result.as_ref().is_some_and(|r| {
                    matches!(module.types[r.ty].inner,
                        naga::TypeInner::Scalar(s) | naga::TypeInner::Vector { scalar: s, .. }
                            if s.kind == naga::ScalarKind::Bool)
                });
            if !ok {
                return Err(composed.error_at(
                    module.functions.get_span(handle),
                    &format!("`{name}` must be `fn {name}(t: F, x: S, p: Params) -> B` (B: one bool per trajectory)"),
                ));
            }
        }
    }
    if let Some((handle, f)) = find("payoff") {
        let ok = f.arguments.len() == 2
            && f.arguments[0].ty == s_ty
            && f.arguments[1].ty == params_ty
            && f.result
                .as_ref()
                .is_some_and(|r| module.types[r.ty].inner == module.types[r_ty].inner);
        if !ok {
            return Err(composed.error_at(
                module.functions.get_span(handle),
                "`payoff` must be `fn payoff(x: S, p: Params) -> R`",
            ));
        }
    }
    if let Some((handle, f)) = find("project") {
        let ok = f.arguments.len() == 2
            && f.arguments[0].ty == s_ty
            && f.arguments[1].ty == params_ty
            && f.result.as_ref().is_some_and(|r| r.ty == s_ty);
        if !ok {
            return Err(composed.error_at(
                module.functions.get_span(handle),
                "`project` must be `fn project(x: S, p: Params) -> S`",
            ));
        }
    }
    Ok(())
}

/// The reduction kernel for `dim` values per trajectory in `precision`; with `replicas`,
/// one partial per (group, point segment) (`reduce::segments_per_group` of them per group).
pub fn reduce(
    dim: usize,
    lanes: u32,
    precision: Precision,
    replicas: Option<u64>,
) -> Result<Composed> {
    let mut pre = format!("const LANES: u32 = {lanes}u;\nconst DIM: u32 = {dim}u;\n");
    let mut flags: Vec<&str> = match precision {
        Precision::F32 => vec![],
        Precision::F64 => vec!["F64"],
    };
    if let Some(r) = replicas {
        pre += &format!(
            "const REPLICAS: u32 = {r}u;\nconst SEGS: u32 = {}u;\n",
            crate::reduce::segments_per_group(replicas)
        );
        flags.push("POINTS");
    }
    let flags = &flags[..];
    compose(
        &[
            Source::new("prelude", &pre),
            Source::new("reduce", include_str!("../shaders/reduce.wgsl")),
        ],
        &[],
        flags,
        &[("DIM", dim as u32)],
    )
}

/// The combining kernel (combine.wgsl): block partials of `slots` save times from group
/// partials.
pub fn combine(dim: usize, precision: Precision, slots: u64) -> Result<Composed> {
    let pre = format!("const DIM: u32 = {dim}u;\nconst SLOTS: u32 = {slots}u;\n");
    let flags: &[&str] = match precision {
        Precision::F32 => &[],
        Precision::F64 => &["F64"],
    };
    compose(
        &[
            Source::new("prelude", &pre),
            Source::new("combine", include_str!("../shaders/combine.wgsl")),
        ],
        &[],
        flags,
        &[("DIM", dim as u32)],
    )
}

/// The observer kernel (observe.wgsl): histograms `(component, bins, offset)` with
/// `hist_words` counters per save time, and the first `keep` trajectories' states.
#[allow(clippy::too_many_arguments)]
pub fn observe(
    dim: usize,
    lanes: u32,
    precision: Precision,
    hists: &[(usize, u32, u32)],
    hist_words: u32,
    keep: u64,
    keep_every: u64,
    points: Option<(u64, u64)>,
) -> Result<Composed> {
    let list = |f: &dyn Fn(&(usize, u32, u32)) -> u32| {
        if hists.is_empty() {
            "0u".to_string()
        } else {
            hists
                .iter()
                .map(|h| format!("{}u", f(h)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let n = hists.len().max(1);
    let big = match precision {
        Precision::F32 => "3.4028234663852886e38f",
        Precision::F64 => "1.7976931348623157e308lf",
    };
    let mut pre = format!(
        "const LANES: u32 = {lanes}u;\nconst DIM: u32 = {dim}u;\nconst NHIST: u32 = {}u;\n\
         const HIST_WORDS: u32 = {hist_words}u;\nconst KEEP: u32 = {keep}u;\nconst KEEP_EVERY: u32 = {}u;\nconst BIG = {big};\n\
         const HIST_COMPONENT = array<u32, {n}>({});\nconst HIST_BINS = array<u32, {n}>({});\n\
         const HIST_OFFSET = array<u32, {n}>({});\n",
        hists.len(),
        keep_every.max(1),
        list(&|h| h.0 as u32),
        list(&|h| h.1),
        list(&|h| h.2),
    );
    let mut flags: Vec<&str> = Vec::new();
    if let Some((r, p)) = points {
        // Histograms per point: replicas r, points p.
        pre += &format!("const REPLICAS: u32 = {r}u;\nconst POINTS: u32 = {p}u;\n");
        flags.push("POINTS");
    }
    if precision == Precision::F64 {
        flags.push("F64");
    }
    if keep > 0 {
        flags.push("KEEP_PATHS");
    }
    if keep_every > 1 {
        flags.push("KEEP_STRIDED");
    }
    compose(
        &[
            Source::new("prelude", &pre),
            Source::new("observe", include_str!("../shaders/observe.wgsl")),
        ],
        &[],
        &flags,
        &[("NHIST", hists.len() as u32), ("DIM", dim as u32)],
    )
}

/// The RNG audit kernel (one Philox block and its four normals per invocation).
pub fn rng(target: Target) -> Result<Composed> {
    let pre = lane_types(1, Target { lanes: 1, ..target }, Precision::F32);
    let flags: &[&str] = if target.int64 { &["INT64"] } else { &[] };
    compose(
        &[
            Source::new("prelude", &pre),
            Source::new("rng", include_str!("../shaders/rng.wgsl")),
        ],
        &[],
        flags,
        &[],
    )
}

#[cfg(test)]
mod tests {
    use crate::method::Method;

    #[test]
    fn every_method_s_shader_is_its_file_on_disk() {
        for m in crate::method::METHODS {
            let file = format!("{}/shaders/{}.wgsl", env!("CARGO_MANIFEST_DIR"), m.shader);
            let on_disk = std::fs::read_to_string(&file).unwrap();
            assert_eq!(
                crate::shader::module(m.shader),
                Some(on_disk.as_str()),
                "{file}"
            );
        }
    }

    #[test]
    fn chunk_uniform_matches_the_wgsl_layout() {
        let root = Source::new(
            "root",
            "#import chunk\n@compute @workgroup_size(1) fn main() { _ = chunk.first; }\n",
        );
        let module = compose(&[root], &[], &[], &[])
            .unwrap()
            .validate(naga::valid::Capabilities::empty())
            .unwrap();
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Chunk"))
            .unwrap();
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("Chunk is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<super::ChunkUniform>());
        let offsets: Vec<u32> = members.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44]);
    }
    use super::*;
    use crate::ensemble::{Ensemble, TimeGrid};
    use naga::valid::Capabilities;

    fn caps(t: Target) -> Capabilities {
        if t.int64 {
            Capabilities::SHADER_INT64
        } else {
            Capabilities::empty()
        }
    }

    const TARGETS: [Target; 4] = [
        Target {
            int64: false,
            lanes: 4,
            segmented: false,
            open_ended: false,
            dense: false,
        },
        Target {
            int64: true,
            lanes: 4,
            segmented: true,
            open_ended: false,
            dense: false,
        },
        Target {
            int64: true,
            lanes: 2,
            segmented: false,
            open_ended: false,
            dense: false,
        },
        Target {
            int64: false,
            lanes: 1,
            segmented: true,
            open_ended: false,
            dense: false,
        },
    ];

    #[test]
    fn every_kernel_composes_and_validates_with_naga() {
        for t in TARGETS {
            for sys in crate::catalog::all() {
                for method in [
                    Method::EulerMaruyama,
                    Method::Milstein,
                    Method::Heun,
                    Method::Rk4,
                    Method::Setd1,
                    Method::Etdrk2,
                    Method::Etdrk4,
                    Method::Dopri5(Default::default()),
                ] {
                    for precision in [Precision::F32, Precision::F64] {
                        let ens = Ensemble::new(sys.clone(), 1000)
                            .sweep(&format!("x0.{}", sys.state[0]), 0.0, 1.0)
                            .seed(0x1234_5678_9abc)
                            .precision(precision);
                        let Ok(job) = ens.job(method, TimeGrid::new(0.0, 0.01, 10)) else {
                            continue; // refused before composition (e.g. rk4 on an SDE)
                        };
                        let t = if method.is_adaptive() {
                            Target { lanes: 1, ..t }
                        } else {
                            t
                        };
                        let k = match integrate(&job, t) {
                            Ok(k) => k,
                            // Systems calling sin, cos, ... cannot run in f64; say so.
                            Err(e)
                                if precision == Precision::F64
                                    && e.to_string()
                                        .contains("has no implementation on Vulkan") =>
                            {
                                continue
                            }
                            Err(e) => panic!("{} {method:?} {precision:?}: {e}", sys.name),
                        };
                        let caps = caps(t) | Capabilities::FLOAT64;
                        if let Err(e) = k.validate(caps) {
                            panic!("{} {:?} {t:?}: {e}\n{}", sys.name, method, k.source);
                        }
                    }
                }
                for precision in [Precision::F32, Precision::F64] {
                    for replicas in [None, Some(1), Some(100), Some(1000)] {
                        reduce(sys.dim(), t.lanes, precision, replicas)
                            .unwrap()
                            .validate(caps(t) | Capabilities::FLOAT64)
                            .unwrap();
                    }
                    for hists in [&[][..], &[(0, 10, 0), (sys.dim() - 1, 4096, 12)][..]] {
                        for points in [None, Some((100, 37))] {
                            observe(sys.dim(), t.lanes, precision, hists, 4110, 7, 3, points)
                                .unwrap()
                                .validate(caps(t) | Capabilities::FLOAT64)
                                .unwrap();
                        }
                    }
                }
            }
            rng(t).unwrap().validate(caps(t)).unwrap();
        }
    }

    #[test]
    fn every_method_composes_for_each_noise_kind_it_fits() {
        let kinds = [
            Noise::None,
            Noise::Diagonal,
            Noise::Scalar,
            Noise::Additive,
            Noise::General { channels: 3 },
            Noise::Correlated {
                corr: vec![1.0, 0.5, 0.5, 1.0],
            },
        ];
        for noise in kinds {
            let g = match noise {
                Noise::None => "",
                Noise::General { .. } => {
                    "fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(x[0], R(0.1), x[1], x[1], R(0.2), x[0]);\n}\n"
                }
                _ => "fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(p.s * x[0], R(0.1));\n}\n",
            };
            // Polynomial only, so that f64 is allowed too.
            let code = format!(
                "fn drift(t: F, x: S, p: Params) -> S {{\n    return S(-x[0] + x[1] * x[1], -p.s * x[1]);\n}}\n\
                 fn linear(t: F, p: Params) -> S {{\n    return S(R(-1.0), -p.s);\n}}\n{g}"
            );
            let sys = System::wgsl("k", &["x", "y"], &[("s", 0.5)], noise.clone(), &code).unwrap();
            for m in crate::method::METHODS {
                // `iterate` takes maps (the catalog's maps compose in tests/systems.rs).
                if !m.noise.contains(&noise.name()) || matches!(m.method, Method::Iterate) {
                    continue;
                }
                for precision in [Precision::F32, Precision::F64] {
                    let job = Ensemble::new(sys.clone(), 1000)
                        .precision(precision)
                        // (The adaptive SDE methods step on the tree: 2^m first steps.)
                        .job(m.method, TimeGrid::new(0.0, 0.01, 8))
                        .unwrap();
                    for t in TARGETS {
                        let t = if m.adaptive {
                            Target { lanes: 1, ..t }
                        } else {
                            t
                        };
                        let k = integrate(&job, t).unwrap();
                        assert!(k.origins.iter().any(|o| o.module == m.shader));
                        if let Err(e) = k.validate(caps(t) | Capabilities::FLOAT64) {
                            panic!(
                                "{} {noise:?} {precision:?} {t:?}: {e}\n{}",
                                m.name, k.source
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn f64_transcendentals_are_refused_at_the_users_line() {
        let sys = System::wgsl(
            "pendulum",
            &["theta", "omega"],
            &[("g", 9.81)],
            Noise::None,
            "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], -p.g * sin(x[0]));\n}\n",
        )
        .unwrap();
        let ens = Ensemble::new(sys, 256).precision(Precision::F64);
        let job = ens.job(Method::Rk4, TimeGrid::new(0.0, 0.01, 10)).unwrap();
        let err = integrate(&job, TARGETS[1]).unwrap_err().to_string();
        assert!(err.contains("<pendulum>:2:27"), "{err}");
        assert!(err.contains("f64 `sin`"), "{err}");
        // The same system is fine in f32.
        let job = Ensemble::new(job.system.clone(), 256)
            .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 10))
            .unwrap();
        integrate(&job, TARGETS[1]).unwrap();
    }

    #[test]
    fn throng_s_names_are_reserved_and_the_prelude_list_is_complete() {
        for name in [
            "main",
            "S",
            "F",
            "Params",
            "philox4x32_10",
            "box_muller",
            "Words",
            "store_state",
            "noise_term_3",
            "correlate",
            "T1",
            "throng_helper",
        ] {
            assert!(is_reserved(name), "{name}");
        }
        for name in [
            "drift",
            "diffusion",
            "stop",
            "helper",
            "sq",
            "noise_term_",
            "Word",
        ] {
            assert!(!is_reserved(name), "{name}");
        }
        // Every name any prelude declares is in PRELUDE_NAMES.
        let corr = Noise::Correlated {
            corr: vec![1.0, 0.5, 0.5, 1.0],
        };
        let code = "fn drift(t: F, x: S, p: Params) -> S {\n    return x;\n}\n\
                    fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(R(0.1), R(0.1));\n}\n";
        let sde = System::wgsl("k", &["x", "y"], &[("s", 0.5)], corr, code).unwrap();
        let ode = System::wgsl("k", &["x", "y"], &[("s", 0.5)], Noise::None, code).unwrap();
        for (sys, method) in [
            (sde, Method::EulerMaruyama),
            (ode, Method::Dopri5(Default::default())),
        ] {
            let job = Ensemble::new(sys, 3)
                .values("s", vec![1.0, 2.0, 3.0])
                .precision(Precision::F64)
                .job(method, TimeGrid::new(0.0, 0.01, 10))
                .unwrap();
            assert!(job.tables > 0);
            for t in TARGETS {
                for d in wgsl::outline(&prelude(&job, t)).decls {
                    assert!(PRELUDE_NAMES.contains(&d.name.as_str()), "{}", d.name);
                }
            }
        }
    }

    #[test]
    fn f32_literals_round_trip() {
        for v in [0.1f32, 1e-7, 8.0 / 3.0, -2.5e30, 16777217.0, 1.0] {
            let lit = f32_lit(v);
            let back: f32 = lit.trim_end_matches('f').parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{lit}");
        }
    }
}
