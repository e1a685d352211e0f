//! The chaos toolkit: tangent dynamics derived from the user's own WGSL ([`crate::tangent`])
//! and Lyapunov exponents per trajectory.
//!
//! Lyapunov exponents run as an *augmented system* that throng writes and then solves like any
//! other: its rows are the state x, k tangent vectors q_1..q_k, and per exponent a log sum, its
//! compensation (Kahan) and a sum of squares, then a step counter. Its drift is
//! (f(x), J(x) q_1, .., J(x) q_k, 0..) from the derived `d_drift`; for an SDE its diffusion
//! (general noise, the system's own channels) is (g(x), ∂g·q_1, ..), so the tangents see the
//! same Wiener increments as the state; its `project`, applied after every step, counts the
//! step and every `renorm` steps re-orthonormalises the q's by modified Gram–Schmidt and,
//! after the transient, adds log ‖q_j‖ to the sums. The method integrates the tangents with
//! the state (RK4 with them, EM/Heun for SDEs), so the exponents are those of the method's
//! own discrete flow. Under dopri5 the tangents are integrated rows like the state, so they
//! are in its error norm and steer its steps; `project` then runs after accepted steps only,
//! counts those, and times each block by the controller's clock (`throng_t`), since
//! adaptive blocks differ in length.

use crate::ensemble::{Ensemble, Job, TimeGrid};
use crate::error::{Error, Result};
use crate::kernel::{self, Target};
use crate::method::Method;
use crate::plan::{Options, DEFAULT_LANES};
use crate::precision::Precision;
use crate::shader::{self, Composed, Source};
use crate::system::{CodeOrigin, Noise, System};
use crate::tangent;

/// The user's code composed with its run's prelude, parsed and validated: what the tangent
/// transform reads.
pub fn analysis(
    job: &Job,
    lanes: u32,
) -> Result<(Composed, naga::Module, naga::valid::ModuleInfo)> {
    let target = Target {
        int64: false,
        lanes,
        segmented: true,
        open_ended: false,
        dense: false,
    };
    let sys = &job.system;
    let pre = kernel::prelude(job, target);
    let consts = [
        ("DIM", sys.dim() as u32),
        ("NOISE", sys.noise_channels().max(1) as u32),
    ];
    let flags = kernel::base_flags(job, target);
    let mut sources = vec![
        Source::new("prelude", &pre),
        Source::new("analysis", "#import state\n"),
    ];
    sources.extend(kernel::system_sources(sys));
    let composed = shader::compose(&sources, &[], &flags, &consts)?;
    let module = composed.parse()?;
    let mut caps = naga::valid::Capabilities::empty();
    if job.precision == Precision::F64 {
        caps |= naga::valid::Capabilities::FLOAT64;
    }
    let info = composed.check(&module, caps)?;
    Ok((composed, module, info))
}

/// WGSL of the derived `d_drift` (and `d_diffusion` for an SDE) of a job's system, with
/// `lanes` trajectories per invocation: `d_drift(t, x, p, dt, dx, dp)` returns
/// `Dual_drift(f, ∂f·(dt, dx, dp))`.
pub fn derivatives(job: &Job, lanes: u32) -> Result<String> {
    derivatives_with(job, lanes, &[], false)
}

/// [`derivatives`], and those of `more` of the system's functions. A system that gives
/// `fn jacobian(t, x, p)` (row-major ∂f_i/∂x_c) is not differentiated: its functions are
/// written for their values only, with `d_jacobian`.
fn derivatives_with(job: &Job, lanes: u32, more: &[&str], values_only: bool) -> Result<String> {
    derivatives_along(job, lanes, more, values_only, &[1])
}

/// [`derivatives_with`] along the roots' arguments `active` (1: the state, 2: the parameters).
fn derivatives_along(
    job: &Job,
    lanes: u32,
    more: &[&str],
    values_only: bool,
    active: &[u32],
) -> Result<String> {
    derive_roots(job, lanes, more, values_only, active, true)
}

/// The transform behind the `derivatives` family. `for_run`: for an augmented system that
/// will run, where a system's `fn jacobian` replaces differentiation and its own `project`
/// is derived too (`d_project`, applied by [`own_project`]); probes (not `for_run`)
/// differentiate regardless, to check.
fn derive_roots(
    job: &Job,
    lanes: u32,
    more: &[&str],
    values_only: bool,
    active: &[u32],
    for_run: bool,
) -> Result<String> {
    let (composed, module, info) = analysis(job, lanes)?;
    let project = for_run
        && module
            .functions
            .iter()
            .any(|(_, f)| f.name.as_deref() == Some("project"));
    let mut roots = vec!["drift"];
    if job.system.noise != Noise::None {
        roots.push("diffusion");
    }
    roots.extend_from_slice(more);
    let jacobian = for_run && has_jacobian(&module) && !values_only;
    let primal = jacobian || values_only;
    if project {
        if jacobian {
            // Written for values only, `project` would pass tangents through unprojected.
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: job.system.name.clone(),
                message: "a system with both `fn jacobian` and `project` cannot have its tangents projected; remove `fn jacobian` to derive both".into(),
            });
        }
        roots.push("project");
    }
    if jacobian {
        if job.system.noise != Noise::None {
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: job.system.name.clone(),
                message: "`fn jacobian` serves ODEs and maps; an SDE's tangents are derived from its WGSL".into(),
            });
        }
        roots.push("jacobian");
    }
    let structs: Vec<String> = crate::system::wgsl::outline(&job.system.wgsl)
        .decls
        .into_iter()
        .filter(|d| d.kind == crate::system::wgsl::Kind::Struct)
        .map(|d| d.name)
        .collect();
    tangent::derive(
        &composed,
        &module,
        &info,
        &roots,
        Some(active),
        primal,
        &structs,
    )
}

/// Whether the system's code defines `jacobian`.
fn has_jacobian(module: &naga::Module) -> bool {
    module
        .functions
        .iter()
        .any(|(_, f)| f.name.as_deref() == Some("jacobian"))
}

/// Trajectories per invocation for tangent systems unless asked: one. Their state and
/// tangents fill the registers, so lanes only add spills: on llvmpipe λ1 of Lorenz took
/// 1.89 s with 1 lane and 2.35 s with 4 (BENCHMARKS.md, issue 12).
pub const TANGENT_LANES: u32 = 1;

/// How to compute Lyapunov exponents.
#[derive(Clone, Debug)]
pub struct LyapunovOptions {
    /// How many exponents (1 ..= dim), the largest first.
    pub exponents: usize,
    /// Re-orthonormalise every this many steps (an adaptive method's accepted steps).
    pub renorm: u64,
    /// Steps before the log-stretches count (rounded up to a multiple of `renorm`; an
    /// adaptive method's accepted steps); the tangents are re-orthonormalised during it too.
    pub transient: u64,
    /// Trajectories per invocation (default [`TANGENT_LANES`]).
    pub lanes: Option<u32>,
    /// `Some(d0)`: λ1 by the two-trajectory method (Benettin) instead of tangents: a
    /// neighbour at distance d0 (in the state's units; choose it for the precision: 1e-9 is
    /// below f32's resolution), pulled back to d0 every `renorm` steps. For systems whose
    /// drift cannot be differentiated; it needs only the drift's values.
    pub separation: Option<f64>,
}

impl Default for LyapunovOptions {
    fn default() -> Self {
        LyapunovOptions {
            exponents: 1,
            renorm: 10,
            transient: 1000,
            lanes: None,
            separation: None,
        }
    }
}

/// Lyapunov exponents of every trajectory.
#[derive(Clone, Debug)]
pub struct Lyapunov {
    pub paths: u64,
    /// Exponents per trajectory.
    pub k: usize,
    /// `exponents[i * k + j]`: λ_{j+1} of trajectory i: its log-stretches summed over its
    /// counted blocks, over their time. NaN if it left the finite numbers, and under an
    /// adaptive method if it ran out of steps ([`Lyapunov::unfinished`]) or took too few
    /// accepted steps for one block after the transient (its `counts[i]` is 0).
    pub exponents: Vec<f64>,
    /// A convergence estimate per exponent: the standard error of the mean of the block
    /// estimates (the rates log-stretch / block time, blocks of `renorm` steps) as if they
    /// were independent. Successive blocks are correlated, so read it as an order of
    /// magnitude (for Lorenz it is about 8x the spread seen across trajectories). An
    /// adaptive method's blocks differ in length: their rates are weighted by it, as the
    /// exponent weights them, and the count of blocks stands for the sample size.
    pub stderr: Vec<f64>,
    /// The time the exponents average over: every trajectory's under a fixed-step method;
    /// under an adaptive one the mean of [`Lyapunov::times`] over trajectories with a block.
    pub time: f64,
    /// Blocks of `renorm` steps averaged: every trajectory's under a fixed-step method;
    /// under an adaptive one the fewest any trajectory counted.
    pub blocks: u64,
    /// Per trajectory: the time its exponents average over (under an adaptive method, from
    /// the controller's clock at the start of its first counted block to the end of its
    /// last; 0 without a block).
    pub times: Vec<f64>,
    /// Per trajectory: the blocks averaged.
    pub counts: Vec<u64>,
    /// Trajectories that ran out of an adaptive method's step budget (`max_steps`).
    pub unfinished: u64,
    /// The state of each trajectory at the end, `states[c * paths + i]`.
    pub states: Vec<f64>,
    pub adapter: String,
    pub timing: crate::Timing,
}

impl Lyapunov {
    /// λ_{j+1} of every trajectory.
    pub fn exponent(&self, j: usize) -> Vec<f64> {
        (0..self.paths as usize)
            .map(|i| self.exponents[i * self.k + j])
            .collect()
    }
}

/// Where the augmented system keeps its rows.
#[derive(Clone, Copy, Debug)]
struct Rows {
    d: usize,
    k: usize,
    /// An adaptive method: blocks are counted and timed on the device.
    adaptive: bool,
}

/// Where value `i` of a system's G goes in general noise: (row, channel).
fn place(sys: &System, i: usize) -> (usize, usize) {
    match sys.noise {
        Noise::General { channels } => (i / channels, i % channels),
        Noise::Scalar => (i, 0),
        _ => (i, i),
    }
}

/// The integrated rows (state, then tangents) and the carried ones (`carried[..]`: log
/// sums, their Kahan terms, sums of squares, the step counter, and for an adaptive method
/// the blocks counted and the clock where they start and end), which follow them (and an
/// adaptive method's controller rows) in the states buffer.
impl Rows {
    fn q(&self, j: usize, c: usize) -> usize {
        self.d + j * self.d + c
    }
    /// Integrated rows.
    fn integrated(&self) -> usize {
        self.d + self.k * self.d
    }
    fn sum(&self, j: usize) -> usize {
        j
    }
    fn comp(&self, j: usize) -> usize {
        self.k + j
    }
    fn sq(&self, j: usize) -> usize {
        2 * self.k + j
    }
    fn steps(&self) -> usize {
        3 * self.k
    }
    /// Blocks counted (adaptive).
    fn blocks(&self) -> usize {
        3 * self.k + 1
    }
    /// The clock at the start of the first counted block (adaptive).
    fn t_first(&self) -> usize {
        3 * self.k + 2
    }
    /// The clock at the latest renormalisation (adaptive).
    fn t_last(&self) -> usize {
        3 * self.k + 3
    }
    fn carried(&self) -> usize {
        if self.adaptive {
            self.t_last() + 1
        } else {
            self.steps() + 1
        }
    }
}

/// The augmented system's WGSL: the derived functions, then drift, diffusion and project.
/// The derived functions, then an augmented system's `drift` and `diffusion`: the state's
/// rows 0..d follow the system, the k tangent vectors at rows `q(j, c)` follow J q (and for
/// an SDE ∂g·q on the same channels, as general noise); every other row stays. With
/// `neighbour`, rows from there hold a neighbour's offset w instead of tangents, following
/// f(x + w) − f(x) (and g(x + w) − g(x) on the same channels).
fn glue(
    sys: &System,
    derived: &str,
    d: usize,
    k: usize,
    q: &dyn Fn(usize, usize) -> usize,
    neighbour: Option<usize>,
) -> String {
    let mut s = String::from(derived);
    let xo = |f: &dyn Fn(usize) -> usize| {
        let parts: Vec<String> = (0..d).map(|c| format!("x[{}]", f(c))).collect();
        format!("Sd({})", parts.join(", "))
    };
    // Directions: the tangents, or one zero direction for the state alone.
    let dirs: Vec<String> = if k == 0 {
        vec!["Sd()".into()]
    } else {
        (0..k).map(|j| xo(&|c| q(j, c))).collect()
    };
    // A map's augmented system is a map too: its next state, under the name maps use.
    let name = if sys.kind == crate::system::Kind::Map {
        "map"
    } else {
        "drift"
    };
    // A flow's other rows have zero derivative; a map's keep their values.
    let init = if name == "map" { " = x" } else { ": S" };
    s += &format!("fn {name}(t: F, x: S, p: Params) -> S {{\n    var out{init};\n");
    s += &format!("    let y = {};\n", xo(&|c| c));
    if let Some(offset) = neighbour {
        // The neighbour x + w: its offset w follows f(x + w) - f(x).
        let z: Vec<String> = (0..d)
            .map(|c| format!("x[{c}] + x[{}]", offset + c))
            .collect();
        s += &format!(
            "    let r0 = d_drift(t, y, p, F(0.0), Sd(), Params());\n    let r1 = d_drift(t, Sd({}), p, F(0.0), Sd(), Params());\n",
            z.join(", ")
        );
        for c in 0..d {
            s += &format!(
                "    out[{c}] = r0.v[{c}];\n    out[{}] = r1.v[{c}] - r0.v[{c}];\n",
                offset + c
            );
        }
        s += "    return out;\n}\n";
        if sys.noise != Noise::None {
            let m = sys.noise_channels();
            s += &format!(
                "fn diffusion(t: F, x: S, p: Params) -> G {{\n    var g: G;\n    let g0 = d_diffusion(t, y_of(x), p, F(0.0), Sd(), Params());\n    let g1 = d_diffusion(t, Sd({}), p, F(0.0), Sd(), Params());\n",
                z.join(", ")
            );
            for i in 0..sys.diffusion_len() {
                let (r, ch) = place(sys, i);
                s += &format!(
                    "    g[{}] = g0.v[{i}];\n    g[{}] = g1.v[{i}] - g0.v[{i}];\n",
                    r * m + ch,
                    (offset + r) * m + ch
                );
            }
            s += &format!(
                "    return g;\n}}\nfn y_of(x: S) -> Sd {{\n    return {};\n}}\n",
                xo(&|c| c)
            );
        }
        return s;
    }
    if derived.contains("fn d_jacobian(") {
        // The system's own Jacobian, row-major: J q_j row by row.
        s += "    let r0 = d_drift(t, y, p, F(0.0), Sd(), Params());\n";
        for c in 0..d {
            s += &format!("    out[{c}] = r0.v[{c}];\n");
        }
        if k > 0 {
            s += "    let jm = d_jacobian(t, y, p, F(0.0), Sd(), Params()).v;\n";
        }
        for j in 0..k {
            for i in 0..d {
                let terms: Vec<String> = (0..d)
                    .map(|c| format!("jm[{}] * x[{}]", i * d + c, q(j, c)))
                    .collect();
                s += &format!("    out[{}] = {};\n", q(j, i), terms.join(" + "));
            }
        }
        s += "    return out;\n}\n";
        return s;
    }
    for (j, dir) in dirs.iter().enumerate() {
        s += &format!("    let r{j} = d_drift(t, y, p, F(0.0), {dir}, Params());\n");
        if j == 0 {
            for c in 0..d {
                s += &format!("    out[{c}] = r0.v[{c}];\n");
            }
        }
        if k > 0 {
            for c in 0..d {
                s += &format!("    out[{}] = r{j}.d[{c}];\n", q(j, c));
            }
        }
    }
    s += "    return out;\n}\n";
    if sys.noise != Noise::None {
        let m = sys.noise_channels();
        let place = |i: usize| place(sys, i);
        s += "fn diffusion(t: F, x: S, p: Params) -> G {\n    var g: G;\n";
        s += &format!("    let y = {};\n", xo(&|c| c));
        for (j, dir) in dirs.iter().enumerate() {
            s += &format!("    let g{j} = d_diffusion(t, y, p, F(0.0), {dir}, Params());\n");
            for i in 0..sys.diffusion_len() {
                let (r, ch) = place(i);
                if j == 0 {
                    s += &format!("    g[{}] = g0.v[{i}];\n", r * m + ch);
                }
                if k > 0 {
                    s += &format!("    g[{}] = g{j}.d[{i}];\n", (q(j, r)) * m + ch);
                }
            }
        }
        s += "    return g;\n}\n";
    }
    s
}

/// The start of an augmented `project` (after `var x = x_in;`): the system's own `project`,
/// when it has one (`d_project` in `derived`), applied to the state's rows 0..d, and its
/// derivative to each direction in `dirs` (rows of tangents, or a neighbour's offset), as
/// the chain rule through the projected step asks.
fn own_project(derived: &str, d: usize, dirs: &[Vec<usize>]) -> String {
    if !derived.contains("fn d_project(") {
        return String::new();
    }
    let sd = |rows: &mut dyn Iterator<Item = usize>| {
        let parts: Vec<String> = rows.map(|r| format!("x[{r}]")).collect();
        format!("Sd({})", parts.join(", "))
    };
    let mut s = format!("    let y_own = {};\n", sd(&mut (0..d)));
    let first = dirs
        .first()
        .map_or("Sd()".to_string(), |q| sd(&mut q.iter().copied()));
    s += &format!("    let own0 = d_project(y_own, p, {first}, Params());\n");
    for (j, q) in dirs.iter().enumerate().skip(1) {
        s += &format!(
            "    let own{j} = d_project(y_own, p, {}, Params());\n",
            sd(&mut q.iter().copied())
        );
    }
    for c in 0..d {
        s += &format!("    x[{c}] = own0.v[{c}];\n");
    }
    for (j, q) in dirs.iter().enumerate() {
        for (c, r) in q.iter().enumerate() {
            s += &format!("    x[{r}] = own{j}.d[{c}];\n");
        }
    }
    s
}

/// The Lyapunov system's WGSL: the glue, and a `project` that counts the step and every
/// `renorm` steps re-orthonormalises and sums (for an adaptive method, also counts the
/// block and reads the clock).
fn augmented_wgsl(sys: &System, derived: &str, rows: Rows, opts: &LyapunovOptions) -> String {
    let (d, k) = (rows.d, rows.k);
    let neighbour = opts.separation.map(|_| rows.q(0, 0));
    let mut s = glue(sys, derived, d, k, &|j, c| rows.q(j, c), neighbour);
    // project: count the step; every `renorm` steps, modified Gram–Schmidt and the sums.
    let n = rows.steps();
    s += "fn project(x_in: S, p: Params) -> S {\n    var x = x_in;\n";
    let dirs: Vec<Vec<usize>> = (0..k)
        .map(|j| (0..d).map(|c| rows.q(j, c)).collect())
        .collect();
    s += &own_project(derived, d, &dirs);
    s += &format!("    carried[{n}] = carried[{n}] + R(1.0);\n");
    s += &format!(
        "    let n = carried[{n}];\n    let q = n / R({r}.0);\n    if (any(abs(q - round(q)) > R({h:?}))) {{\n        return x;\n    }}\n",
        r = opts.renorm,
        // Multiples of renorm give whole quotients (to WGSL's 2.5 ulp), others differ by 1/r.
        h = 0.5 / opts.renorm as f64
    );
    s += &format!("    let on = n > R({}.0);\n", opts.transient);
    if rows.adaptive {
        // Blocks of `renorm` accepted steps span their own times: keep the clock (the
        // controller's, at the end of the step) where the counted blocks start and where
        // the latest ends, and this block's length for the weighted squares.
        s += &format!(
            "    let t_prev = select(carried[{tl}], R(T0), n == R({r}.0));\n    let tb = throng_t - t_prev;\n    carried[{tf}] = select(carried[{tf}], t_prev, on & (carried[{b}] == R(0.0)));\n    carried[{tl}] = throng_t;\n    carried[{b}] = carried[{b}] + select(R(0.0), R(1.0), on);\n",
            tl = rows.t_last(),
            tf = rows.t_first(),
            b = rows.blocks(),
            r = opts.renorm,
        );
    }
    // The squares: of the block's log, or for unequal blocks log² / length (their
    // length-weighted mean is that of the squared rates, see `lyapunov`).
    let sq_term = |j: usize| {
        if rows.adaptive {
            format!("l{j} * l{j} / tb")
        } else {
            format!("l{j} * l{j}")
        }
    };
    for j in 0..k {
        for i in 0..j {
            let dot: Vec<String> = (0..d)
                .map(|c| format!("x[{}] * x[{}]", rows.q(i, c), rows.q(j, c)))
                .collect();
            s += &format!("    let h{i}_{j} = {};\n", dot.join(" + "));
            for c in 0..d {
                s += &format!(
                    "    x[{qj}] = x[{qj}] - h{i}_{j} * x[{qi}];\n",
                    qj = rows.q(j, c),
                    qi = rows.q(i, c)
                );
            }
        }
        let sq: Vec<String> = (0..d)
            .map(|c| format!("x[{q}] * x[{q}]", q = rows.q(j, c)))
            .collect();
        s += &format!("    let n{j} = sqrt({});\n", sq.join(" + "));
        for c in 0..d {
            s += &match opts.separation {
                // The neighbour's offset back to d0.
                Some(d0) => format!(
                    "    x[{q}] = x[{q}] * (R({d0:?}) / n{j});\n",
                    q = rows.q(j, c)
                ),
                None => format!("    x[{q}] = x[{q}] / n{j};\n", q = rows.q(j, c)),
            };
        }
        // log in f32 (f64 has no log on Vulkan); sums in the run's precision, compensated.
        s += &format!(
            "    let l{j} = R(log(R32(n{j} / R({scale:?}))));\n    let y{j} = select(R(0.0), l{j} - carried[{c}], on);\n    let s{j} = carried[{sm}] + y{j};\n    carried[{c}] = select(carried[{c}], (s{j} - carried[{sm}]) - y{j}, on);\n    carried[{sm}] = s{j};\n    carried[{q}] = carried[{q}] + select(R(0.0), {sqt}, on);\n",
            c = rows.comp(j),
            sm = rows.sum(j),
            q = rows.sq(j),
            scale = opts.separation.unwrap_or(1.0),
            sqt = sq_term(j)
        );
    }
    s += "    return x;\n}\n";
    s
}

/// The Lyapunov system of a job: its rows, the rows added to the state, their start, and
/// its WGSL.
struct Augmented {
    job: Job,
    rows: Rows,
    extra: Vec<String>,
    carried: Vec<String>,
    start: Vec<f64>,
    wgsl: String,
}

/// The augmented system for the Lyapunov exponents of `ens` under `method` on `grid`.
fn augmented_job(
    ens: &Ensemble,
    method: Method,
    grid: TimeGrid,
    opts: &LyapunovOptions,
    lanes: u32,
) -> Result<Augmented> {
    let job = ens.job(method, grid)?;
    let sys = &job.system;
    let d = sys.dim();
    let k = opts.exponents;
    let input = |message: String| Error::Input {
        what: "lyapunov".into(),
        message,
    };
    if k == 0 || k > d {
        return Err(input(format!(
            "exponents must be between 1 and the dimension {d}, got {k}"
        )));
    }
    if opts.renorm == 0 {
        return Err(input("renorm must be at least 1 step".into()));
    }
    if matches!(sys.noise, Noise::Correlated { .. }) {
        return Err(Error::MethodDoesNotFit {
            method: method.name(),
            system: sys.name.clone(),
            message: "Lyapunov exponents of correlated noise are not supported; write the noise as general".into(),
        });
    }
    // The most steps the counter sees: an adaptive method's accepted steps are at most its
    // step budget (how many it takes is known only after the run).
    let (most, steps_are) = match method.controller() {
        Some(ctl) => (ctl.max_steps as u64, "accepted steps (max_steps)"),
        None => (job.steps as u64, "steps"),
    };
    if job.precision == Precision::F32 && most > 1 << 24 {
        return Err(input(format!(
            "at most 2^24 {steps_are} in f32 (the step counter is exact up to there), got {most}"
        )));
    }
    let transient = opts.transient.div_ceil(opts.renorm) * opts.renorm;
    if transient + opts.renorm > most {
        return Err(input(format!(
            "the transient ({transient} steps) leaves no block of {} steps of the {most} {steps_are} to average over",
            opts.renorm
        )));
    }
    let rows = Rows {
        d,
        k,
        adaptive: method.is_adaptive(),
    };
    if opts
        .separation
        .is_some_and(|d0| !(d0 > 0.0 && d0.is_finite()))
        || (opts.separation.is_some() && k != 1)
    {
        return Err(input(
            "the two-trajectory method gives λ1 alone, from a separation d0 > 0".into(),
        ));
    }
    let derived = derivatives_with(&job, lanes, &[], opts.separation.is_some())?;
    let opts = LyapunovOptions {
        transient,
        ..opts.clone()
    };
    let wgsl = augmented_wgsl(sys, &derived, rows, &opts);
    let mut extra = Vec::new();
    for j in 0..k {
        for c in 0..d {
            extra.push(format!("tan{}_{}", j + 1, sys.state[c]));
        }
    }
    let mut carried = Vec::new();
    for what in ["lsum", "lcomp", "lsq"] {
        for j in 0..k {
            carried.push(format!("{what}{}", j + 1));
        }
    }
    carried.push("steps_done".into());
    if rows.adaptive {
        carried.extend(["blocks_done", "t_first", "t_last"].map(String::from));
    }
    debug_assert_eq!(carried.len(), rows.carried());
    // The tangent vectors start as the first k unit vectors.
    let mut start = vec![0.0; rows.integrated() - d];
    for j in 0..k {
        // A neighbour starts at its separation; tangents are unit vectors.
        start[rows.q(j, j) - d] = opts.separation.unwrap_or(1.0);
    }
    Ok(Augmented {
        job,
        rows,
        extra,
        carried,
        start,
        wgsl,
    })
}

/// Lyapunov exponents of every trajectory of `ens` (its sweeps and grids included) on the
/// device.
pub fn lyapunov(
    ctx: &crate::Context,
    ens: &Ensemble,
    method: Method,
    grid: TimeGrid,
    opts: &LyapunovOptions,
) -> Result<Lyapunov> {
    let lanes = opts.lanes.unwrap_or(TANGENT_LANES);
    let Augmented {
        job,
        rows,
        extra,
        carried,
        start,
        wgsl,
    } = augmented_job(ens, method, grid, opts, lanes)?;
    let k = rows.k;
    let sol = solve_augmented(
        ctx,
        ens,
        method,
        grid,
        lanes,
        (
            "tangents",
            &format!("with {k} tangent vectors (Lyapunov exponents)"),
        ),
        (extra, carried),
        &start,
        wgsl,
        0,
    )?;
    let states = sol.states.expect("states are kept");
    let n = job.paths as usize;
    // The carried rows come last, after an adaptive method's controller rows.
    let crow = states.len() / n - rows.carried();
    let at = |c: usize, i: usize| states[(crow + c) * n + i];
    let transient = opts.transient.div_ceil(opts.renorm) * opts.renorm;
    let fixed_blocks = (job.steps as u64).saturating_sub(transient) / opts.renorm;
    let block_t = opts.renorm as f64 * job.grid.dt;
    let (times, counts): (Vec<f64>, Vec<u64>) = if rows.adaptive {
        (0..n)
            .map(|i| {
                let b = at(rows.blocks(), i);
                let b = if b.is_finite() { b as u64 } else { 0 };
                let t = if b > 0 {
                    at(rows.t_last(), i) - at(rows.t_first(), i)
                } else {
                    0.0
                };
                (t, b)
            })
            .unzip()
    } else {
        (
            vec![fixed_blocks as f64 * block_t; n],
            vec![fixed_blocks; n],
        )
    };
    let unfinished = sol.adaptive.as_ref().map_or(0, |a| a.unfinished);
    if rows.adaptive && counts.iter().all(|&b| b == 0) {
        // The first controller row: accepted steps.
        let most = (0..n)
            .map(|i| states[rows.integrated() * n + i])
            .fold(0.0f64, f64::max);
        return Err(Error::Input {
            what: "lyapunov".into(),
            message: format!(
                "no trajectory took enough accepted steps for one block: the transient is {transient} accepted steps and a block {}, but the most any took was {most}{}; lengthen the time span or shorten the transient",
                opts.renorm,
                if unfinished > 0 {
                    format!(" ({unfinished} ran out of steps)")
                } else {
                    String::new()
                }
            ),
        });
    }
    let mut exponents = vec![0.0; n * k];
    let mut stderr = vec![0.0; n * k];
    for i in 0..n {
        let b = counts[i] as f64;
        // An adaptive trajectory out of steps has a NaN state and unfinished blocks.
        let lost = rows.adaptive
            && (counts[i] == 0 || !(0..rows.d).all(|c| states[c * n + i].is_finite()));
        for j in 0..k {
            let sum = at(rows.sum(j), i);
            let sq = at(rows.sq(j), i);
            let lambda = sum / times[i];
            // The variance of the block rates r = log / length, each weighted by its block's
            // length (the exponent is their weighted mean): Σ(log²/length) / time − λ²; for
            // equal blocks, the plain variance of the logs over length².
            let var = if rows.adaptive {
                sq / times[i] - lambda * lambda
            } else {
                let mean = sum / b;
                (sq / b - mean * mean) / (block_t * block_t)
            };
            exponents[i * k + j] = if lost { f64::NAN } else { lambda };
            stderr[i * k + j] = if lost {
                f64::NAN
            } else {
                (var.max(0.0) / b).sqrt()
            };
        }
    }
    let (time, blocks) = if rows.adaptive {
        let with: Vec<f64> = (0..n)
            .filter(|&i| counts[i] > 0)
            .map(|i| times[i])
            .collect();
        (
            with.iter().sum::<f64>() / with.len() as f64,
            counts.iter().copied().min().unwrap_or(0),
        )
    } else {
        (fixed_blocks as f64 * block_t, fixed_blocks)
    };
    let mut x = states;
    x.truncate(rows.d * n);
    Ok(Lyapunov {
        paths: job.paths,
        k,
        exponents,
        stderr,
        time,
        blocks,
        times,
        counts,
        unfinished,
        states: x,
        adapter: sol.adapter,
        timing: sol.timing,
    })
}

/// Values of `drift` and of J·v at given points, computed on the device by the derived
/// WGSL, with the drift at x ± h v for central differences: the tangent transform's check.
#[derive(Clone, Debug)]
pub struct Probe {
    pub f: Vec<f64>,
    pub jv: Vec<f64>,
    pub f_plus: Vec<f64>,
    pub f_minus: Vec<f64>,
}

/// Evaluates at `points` (each t, x, v, h; x and v of the system's dimension) with the job's
/// default parameters (no per-trajectory tables).
pub fn probe(
    ctx: &crate::Context,
    job: &Job,
    points: &[(f64, Vec<f64>, Vec<f64>, f64)],
) -> Result<Vec<Probe>> {
    probe_along(ctx, job, points, None)
}

/// Sensitivities: ∂f/∂p for the parameter `name` at points (t, x, h) by the derived WGSL
/// (`Probe::jv`), with the drift at p ± h for central differences (`f_plus`, `f_minus`).
pub fn probe_param(
    ctx: &crate::Context,
    job: &Job,
    name: &str,
    points: &[(f64, Vec<f64>, f64)],
) -> Result<Vec<Probe>> {
    job.system.param_index(name)?;
    let d = job.system.dim();
    let pts: Vec<(f64, Vec<f64>, Vec<f64>, f64)> = points
        .iter()
        .map(|(t, x, h)| (*t, x.clone(), vec![0.0; d], *h))
        .collect();
    probe_along(ctx, job, &pts, Some(name))
}

fn probe_along(
    ctx: &crate::Context,
    job: &Job,
    points: &[(f64, Vec<f64>, Vec<f64>, f64)],
    param: Option<&str>,
) -> Result<Vec<Probe>> {
    let d = job.system.dim();
    if job.tables > 0 {
        return Err(Error::Input {
            what: "probe".into(),
            message: "probes use the system's parameters: give no per-trajectory tables".into(),
        });
    }
    let active: &[u32] = match param {
        None => &[1],
        Some(_) => &[1, 2],
    };
    let derived = derive_roots(job, 1, &[], false, active, false)?;
    let target = Target {
        int64: false,
        lanes: 1,
        segmented: true,
        open_ended: false,
        dense: false,
    };
    let pre = kernel::prelude(job, target);
    let entry = "@group(0) @binding(0) var<storage, read> pts: array<F>;
@group(0) @binding(1) var<storage, read_write> outs: array<F>;
@compute @workgroup_size(1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let b = i * (2u * DIM + 2u);
    let o = i * 4u * DIM;
    let t = pts[b];
    let h = pts[b + 1u + 2u * DIM];
    var x: Sd;
    var v: Sd;
    var xp: S;
    var xm: S;
#for c in DIM
    x[$c] = pts[b + 1u + $cu];
    v[$c] = pts[b + 1u + DIM + $cu];
    xp[$c] = x[$c] + h * v[$c];
    xm[$c] = x[$c] - h * v[$c];
#endfor
    let p = params_at(R(0.0), 0u);
    let r = d_drift(t, x, p, F(0.0), v, DP);
    let fp = drift(t, xp, PP);
    let fm = drift(t, xm, PM);
#for c in DIM
    outs[o + $cu] = r.v[$c];
    outs[o + DIM + $cu] = r.d[$c];
    outs[o + 2u * DIM + $cu] = fp[$c];
    outs[o + 3u * DIM + $cu] = fm[$c];
#endfor
}
";
    let sys = &job.system;
    let consts = [
        ("DIM", d as u32),
        ("NOISE", sys.noise_channels().max(1) as u32),
    ];
    let flags = kernel::base_flags(job, target);
    // Along the state (DP zero, p fixed), or along one parameter (DP its unit vector, p ± h).
    let entry = match param {
        None => entry
            .replace("DP", "Params()")
            .replace("PP", "p")
            .replace("PM", "p"),
        Some(name) => entry
            .replace(
                "    let r = d_drift",
                &format!("    var dp = Params();\n    dp.{name} = R(1.0);\n    var pp = p;\n    pp.{name} = pp.{name} + h;\n    var pm = p;\n    pm.{name} = pm.{name} - h;\n    let r = d_drift"),
            )
            .replace("DP", "dp")
            .replace("PP", "pp")
            .replace("PM", "pm"),
    };
    let mut sources = vec![
        Source::new("prelude", &pre),
        Source::new("analysis", "#import state\n"),
    ];
    sources.extend(kernel::system_sources(sys));
    sources.push(Source::new("derived", &derived));
    sources.push(Source::new("probe", &entry));
    let composed = shader::compose(&sources, &[], &flags, &consts)?;
    let mut input = Vec::new();
    for (t, x, v, h) in points {
        if x.len() != d || v.len() != d {
            return Err(Error::Input {
                what: "probe".into(),
                message: format!("points need {d} components"),
            });
        }
        input.push(*t);
        input.extend_from_slice(x);
        input.extend_from_slice(v);
        input.push(*h);
    }
    let out = crate::gpu::run_simple(
        ctx,
        &composed,
        &crate::exec::real_bytes(&input, job.precision),
        (points.len() * 4 * d) as u64 * job.precision.bytes(),
        points.len() as u32,
    )?;
    let vals = crate::exec::reals(&out, job.precision);
    Ok(vals
        .chunks(4 * d)
        .map(|c| Probe {
            f: c[..d].to_vec(),
            jv: c[d..2 * d].to_vec(),
            f_plus: c[2 * d..3 * d].to_vec(),
            f_minus: c[3 * d..].to_vec(),
        })
        .collect())
}

/// What an orbit diagram records of each trajectory, after the transient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrbitMode {
    /// Every step's value (for maps: every iterate).
    Every,
    /// Local maxima of the component, refined by the parabola through the last three values.
    Maxima,
    /// Upward crossings of `x[component] = value`, the recorded component interpolated
    /// linearly to the crossing.
    Section { component: usize, value: f64 },
}

/// How to record an orbit diagram.
#[derive(Clone, Debug)]
pub struct OrbitOptions {
    /// The component recorded.
    pub component: usize,
    pub mode: OrbitMode,
    /// At most this many values kept per trajectory (0: none, with a histogram).
    pub values: usize,
    /// Steps before recording starts.
    pub transient: u64,
    pub lanes: Option<u32>,
    /// Count every recorded value into a (value bin × trajectory bin) histogram on the
    /// device, however many there are.
    pub histogram: Option<OrbitBins>,
}

/// The bins of an orbit diagram's histogram: `bins` value bins over [lo, hi), and columns
/// of `per` consecutive trajectories (a sweep's parameter), `per` the least that makes at
/// most `columns` of them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrbitBins {
    pub columns: u64,
    pub bins: usize,
    pub lo: f64,
    pub hi: f64,
}

/// An orbit diagram's histogram: `counts[b * columns + c]` values in value bin `b` (the
/// lowest first) from trajectories `c * per ..` (c + 1) * per; values below `lo` and at or
/// above `hi` counted apart (NaN nowhere).
#[derive(Clone, Debug, PartialEq)]
pub struct OrbitHistogram {
    pub per: u64,
    pub columns: usize,
    pub bins: usize,
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    pub below: u64,
    pub above: u64,
}

impl OrbitBins {
    /// Trajectories per column and the number of columns, for `paths` trajectories.
    pub fn columns_of(&self, paths: u64) -> (u64, usize) {
        let per = paths.div_ceil(self.columns.max(1)).max(1);
        (per, paths.div_ceil(per) as usize)
    }

    /// Value bins per unit, in the run's precision (the device's and the host's factor).
    fn scale(&self) -> f64 {
        self.bins as f64 / (self.hi - self.lo)
    }

    fn check(&self) -> Result<()> {
        let bad = |message: String| {
            Err(Error::Input {
                what: "orbit".into(),
                message,
            })
        };
        if !(self.lo < self.hi && self.lo.is_finite() && self.hi.is_finite()) {
            return bad(format!(
                "the histogram's range needs finite lo < hi, got {}:{}",
                self.lo, self.hi
            ));
        }
        if self.bins == 0 || self.columns == 0 {
            return bad("the histogram needs at least one bin and one column".into());
        }
        Ok(())
    }
}

/// The values an orbit diagram is made of: trajectory i recorded `counts[i]` values, the
/// first `kept(i)` of them in `values[i * m ..]` in the order they were met (NaN after);
/// `histogram` counts all of them, if asked for.
#[derive(Clone, Debug)]
pub struct Orbit {
    pub paths: u64,
    pub m: usize,
    pub values: Vec<f64>,
    pub counts: Vec<u64>,
    pub histogram: Option<OrbitHistogram>,
    pub precision: Precision,
    pub adapter: String,
    pub timing: crate::Timing,
}

impl Orbit {
    /// How many of trajectory i's values are kept.
    pub fn kept(&self, i: usize) -> usize {
        (self.counts[i] as usize).min(self.m)
    }

    /// The histogram of the kept values, made on the host with the device's arithmetic
    /// (so it equals the device's when every value was kept).
    pub fn histogram_of_kept(&self, bins: &OrbitBins) -> Result<OrbitHistogram> {
        bins.check()?;
        let (per, columns) = bins.columns_of(self.paths);
        let mut h = OrbitHistogram {
            per,
            columns,
            bins: bins.bins,
            lo: bins.lo,
            hi: bins.hi,
            counts: vec![0; columns * bins.bins],
            below: 0,
            above: 0,
        };
        let (lo, scale) = (bins.lo, bins.scale());
        for i in 0..self.paths as usize {
            let col = i / per as usize;
            for &v in &self.values[i * self.m..][..self.kept(i)] {
                // (v - lo) * scale, rounded as the device rounds it.
                let b = match self.precision {
                    Precision::F32 => ((v as f32 - lo as f32) * scale as f32) as f64,
                    Precision::F64 => (v - lo) * scale,
                };
                if b.is_nan() {
                    continue;
                } else if b < 0.0 {
                    h.below += 1;
                } else if b >= bins.bins as f64 {
                    h.above += 1;
                } else {
                    h.counts[b as usize * columns + col] += 1;
                }
            }
        }
        Ok(h)
    }
}

/// Records orbit values of every trajectory of `ens` on the device: an augmented system
/// whose `project` watches the component after each step and keeps the first `values`
/// values it meets.
pub fn orbit(
    ctx: &crate::Context,
    ens: &Ensemble,
    method: Method,
    grid: TimeGrid,
    opts: &OrbitOptions,
) -> Result<Orbit> {
    let job = ens.job(method, grid)?;
    let sys = &job.system;
    let d = sys.dim();
    let m = opts.values;
    let input = |message: String| Error::Input {
        what: "orbit".into(),
        message,
    };
    let max = crate::system::MAX_DERIVED_DIM - d - 4;
    let least = opts.histogram.is_none() as usize;
    if m < least || m > max {
        return Err(input(format!(
            "values (points) kept per trajectory must be between {least} and {max}, got {m}"
        )));
    }
    if let Some(b) = &opts.histogram {
        b.check()?;
    }
    let section = match opts.mode {
        OrbitMode::Section { component, value } => Some((component, value)),
        _ => None,
    };
    for c in [Some(opts.component), section.map(|s| s.0)]
        .into_iter()
        .flatten()
    {
        if c >= d {
            return Err(input(format!(
                "component {c} is not one of `{}`'s {d}",
                sys.name
            )));
        }
    }
    if method.is_adaptive() && opts.mode == OrbitMode::Maxima {
        // Under an adaptive method `project` sees accepted steps of unequal lengths.
        return Err(Error::MethodDoesNotFit {
            method: method.name(),
            system: sys.name.clone(),
            message: "maxima are refined by a parabola through three equally spaced values; under dopri5 use a section (--section), or a fixed-step method".into(),
        });
    }
    if job.precision == Precision::F32 && job.steps as u64 > 1 << 24 {
        return Err(input(format!(
            "at most 2^24 steps in f32 (the step counter is exact up to there), got {}",
            job.steps
        )));
    }
    // An adaptive method runs one trajectory per invocation.
    let lanes = opts.lanes.unwrap_or(if method.is_adaptive() {
        1
    } else {
        DEFAULT_LANES
    });
    // The drift's values alone: nothing needs to be differentiable.
    let derived = derivatives_with(&job, lanes, &[], true)?;
    // Carried rows (after the state): the values kept, the count of all values recorded,
    // the step counter, two remembered values.
    let (rec, count, steps, prev1, prev2) = (0, m, m + 1, m + 2, m + 3);
    let mut s = glue(sys, &derived, d, 0, &|_, _| 0, None);
    let lit = |v: f64| format!("R({v:?})");
    s += "fn project(x_in: S, p: Params) -> S {\n    var x = x_in;\n";
    s += &own_project(&derived, d, &[]);
    s += &format!("    carried[{steps}] = carried[{steps}] + R(1.0);\n");
    s += &format!("    let on = carried[{steps}] > R({}.0);\n", opts.transient);
    s += &format!("    let v = x[{}];\n", opts.component);
    match opts.mode {
        OrbitMode::Every => s += "    let fire = on;\n    let value = v;\n",
        OrbitMode::Maxima => {
            s += &format!(
                "    let a = carried[{prev2}];\n    let b = carried[{prev1}];\n    let fire = on & (carried[{steps}] > R(2.0)) & (b > a) & (b >= v);\n    let den = a - R(2.0) * b + v;\n    let shift = select(R(0.0), (a - v) / (R(2.0) * den), den != R(0.0));\n    let value = b - R(0.25) * (a - v) * shift;\n    carried[{prev2}] = b;\n    carried[{prev1}] = v;\n"
            );
        }
        OrbitMode::Section { component, value } => {
            s += &format!(
                "    let sv = x[{component}] - {};\n    let sp = carried[{prev1}];\n    let fire = on & (carried[{steps}] > R(1.0)) & (sp < R(0.0)) & (sv >= R(0.0));\n    let frac = select(R(0.0), sp / (sp - sv), sp != sv);\n    let value = carried[{prev2}] + frac * (v - carried[{prev2}]);\n    carried[{prev1}] = sv;\n    carried[{prev2}] = v;\n",
                lit(value)
            );
        }
    }
    for i in 0..m {
        s += &format!(
            "    carried[{r}] = select(carried[{r}], value, fire & (carried[{count}] == R({i}.0)));\n",
            r = rec + i
        );
    }
    s += &format!("    carried[{count}] = carried[{count}] + select(R(0.0), R(1.0), fire);\n");
    // Every value into its (value bin, column) counter, or below / above (NaN nowhere):
    // the same arithmetic as `Orbit::histogram_of_kept`.
    let mut tally = 0;
    if let Some(b) = &opts.histogram {
        let (per, columns) = b.columns_of(job.paths);
        let cells = columns as u64 * b.bins as u64;
        if cells + 2 > u32::MAX as u64 / 2 {
            return Err(input(format!(
                "{cells} histogram cells are too many for one buffer of 64-bit counters"
            )));
        }
        tally = cells as u32 + 2;
        s += &format!(
            "    let hb = (value - {lo}) * {scale};\n    let inside = (hb >= R(0.0)) & (hb < R({bins}.0));\n    let cell = U(clamp(hb, R(0.0), R({last}.0))) * U({columns}u) + traj_now / U({per}u);\n    let outside = select(U({above}u), U({below}u), hb < R(0.0));\n    tally_add(fire & (value == value), select(outside, cell, inside));\n",
            lo = lit(b.lo),
            scale = lit(b.scale()),
            bins = b.bins,
            last = b.bins - 1,
            below = cells,
            above = cells + 1,
        );
    }
    s += "    return x;\n}\n";
    let mut carried: Vec<String> = (0..m).map(|i| format!("orbit{i}")).collect();
    carried.extend(["orbit_count", "steps_done", "orbit_prev1", "orbit_prev2"].map(String::from));
    let sol = solve_augmented(
        ctx,
        ens,
        method,
        grid,
        lanes,
        ("orbit", "recording an orbit diagram"),
        (vec![], carried),
        &[],
        s,
        tally,
    )?;
    let states = sol.states.expect("states are kept");
    let n = job.paths as usize;
    // The carried rows are the last ones (an adaptive method's controller rows come first).
    let base = states.len() / n - (m + 4);
    let mut values = vec![f64::NAN; n * m];
    let mut counts = vec![0u64; n];
    for i in 0..n {
        let c = states[(base + count) * n + i];
        counts[i] = if c.is_finite() { c as u64 } else { 0 };
        for j in 0..(counts[i] as usize).min(m) {
            values[i * m + j] = states[(base + rec + j) * n + i];
        }
    }
    let histogram = opts.histogram.map(|b| {
        let (per, columns) = b.columns_of(job.paths);
        let cells = columns * b.bins;
        OrbitHistogram {
            per,
            columns,
            bins: b.bins,
            lo: b.lo,
            hi: b.hi,
            counts: sol.tally[..cells].to_vec(),
            below: sol.tally[cells],
            above: sol.tally[cells + 1],
        }
    });
    Ok(Orbit {
        paths: job.paths,
        m,
        values,
        counts,
        histogram,
        precision: job.precision,
        adapter: sol.adapter,
        timing: sol.timing,
    })
}

/// How [`basins`] labels each trajectory's final state.
#[derive(Clone, Debug)]
pub enum Labels {
    /// The index of the nearest of these points (Euclidean, in the state's units), if it
    /// is within `radius`.
    Nearest { points: Vec<Vec<f64>>, radius: f64 },
    /// The system's own `fn label(x: S, p: Params) -> U`, evaluated on the device at the end.
    Wgsl,
}

/// Final states and their labels: basins of attraction over a grid of initial states.
#[derive(Clone, Debug)]
pub struct Basins {
    pub paths: u64,
    /// Per trajectory; `u32::MAX` where unlabelled (not finite, or near no point).
    pub labels: Vec<u32>,
    /// The final states, `states[c * paths + i]`.
    pub states: Vec<f64>,
    pub adapter: String,
    pub timing: crate::Timing,
}

/// Integrates every trajectory of `ens` (typically a grid over initial components,
/// `x0.NAME`) and labels where it ends.
pub fn basins(
    ctx: &crate::Context,
    ens: &Ensemble,
    method: Method,
    grid: TimeGrid,
    labels: &Labels,
    lanes: Option<u32>,
) -> Result<Basins> {
    let job = ens.job(method, grid)?;
    let sys = &job.system;
    let d = sys.dim();
    let n = job.paths as usize;
    let lanes = lanes.unwrap_or(if method.is_adaptive() {
        1
    } else {
        DEFAULT_LANES
    });
    let run = Options {
        keep_states: true,
        lanes: Some(lanes),
        ..Default::default()
    };
    match labels {
        Labels::Nearest { points, radius } => {
            if points.is_empty() || points.iter().any(|p| p.len() != d) {
                return Err(Error::Input {
                    what: "basins".into(),
                    message: format!("give one or more points of {d} components each"),
                });
            }
            let sol = crate::solve(ctx, &job, &run)?;
            let states = sol.states.expect("states are kept");
            let labels = (0..n)
                .map(|i| {
                    let x: Vec<f64> = (0..d).map(|c| states[c * n + i]).collect();
                    if !x.iter().all(|v| v.is_finite()) {
                        return u32::MAX;
                    }
                    let (k, dist) = points
                        .iter()
                        .enumerate()
                        .map(|(k, p)| {
                            let d2: f64 = p.iter().zip(&x).map(|(a, b)| (a - b).powi(2)).sum();
                            (k, d2.sqrt())
                        })
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .expect("points is not empty");
                    if dist <= *radius {
                        k as u32
                    } else {
                        u32::MAX
                    }
                })
                .collect();
            let mut x = states;
            x.truncate(d * n);
            Ok(Basins {
                paths: job.paths,
                labels,
                states: x,
                adapter: sol.adapter,
                timing: sol.timing,
            })
        }
        Labels::Wgsl => {
            if method.is_adaptive() {
                return Err(Error::MethodDoesNotFit {
                    method: method.name(),
                    system: sys.name.clone(),
                    message: "labels from `fn label` need a fixed-step method".into(),
                });
            }
            if job.precision == Precision::F32 && job.steps as u64 > 1 << 24 {
                return Err(Error::Input {
                    what: "basins".into(),
                    message: format!(
                        "at most 2^24 steps in f32 (the step counter is exact up to there), got {}",
                        job.steps
                    ),
                });
            }
            let derived = derivatives_with(&job, lanes, &["label"], true)?;
            // Carried rows: the step counter, the label (set at the last step).
            let (steps, label) = (0, 1);
            let mut s = glue(sys, &derived, d, 0, &|_, _| 0, None);
            let xs: Vec<String> = (0..d).map(|c| format!("x[{c}]")).collect();
            s += &format!(
                "fn project(x_in: S, p: Params) -> S {{\n    var x = x_in;\n{}    carried[{steps}] = carried[{steps}] + R(1.0);\n    if (all(carried[{steps}] == R({}.0))) {{\n        carried[{label}] = R(d_label(Sd({}), p, Sd(), Params()));\n    }}\n    return x;\n}}\n",
                own_project(&derived, d, &[]),
                job.steps,
                xs.join(", ")
            );
            let sol = solve_augmented(
                ctx,
                ens,
                method,
                grid,
                lanes,
                ("labels", "labelling its final state"),
                (
                    vec![],
                    ["steps_done", "basin_label"].map(String::from).to_vec(),
                ),
                &[],
                s,
                0,
            )?;
            let states = sol.states.expect("states are kept");
            let labels = (0..n)
                .map(|i| {
                    let l = states[(d + label) * n + i];
                    let finite = (0..d).all(|c| states[c * n + i].is_finite());
                    if finite && l.is_finite() && l >= 0.0 {
                        l as u32
                    } else {
                        u32::MAX
                    }
                })
                .collect();
            let mut x = states;
            x.truncate(d * n);
            Ok(Basins {
                paths: job.paths,
                labels,
                states: x,
                adapter: sol.adapter,
                timing: sol.timing,
            })
        }
    }
}

/// Solves the augmented system `wgsl` over `sys` with extra rows `extra` (each starting at
/// `start`), keeping every row: `suffix` and `what` name it in messages.
#[allow(clippy::too_many_arguments)]
fn solve_augmented(
    ctx: &crate::Context,
    ens: &Ensemble,
    method: Method,
    grid: TimeGrid,
    lanes: u32,
    (suffix, what): (&str, &str),
    (extra, carried): (Vec<String>, Vec<String>),
    start: &[f64],
    wgsl: String,
    tally: u32,
) -> Result<crate::Solution> {
    let sys = &ens.system;
    let mut state = sys.state.clone();
    state.extend(extra);
    let aug = System {
        name: format!("{}+{suffix}", sys.name),
        description: format!("{} {what}", sys.name),
        state,
        params: sys.params.clone(),
        // The tangents (if any) share the system's own channels: general noise.
        noise: match sys.noise {
            Noise::None => Noise::None,
            _ => Noise::General {
                channels: sys.noise_channels(),
            },
        },
        wgsl,
        origin: CodeOrigin {
            name: format!("<{suffix} of {}>", sys.name),
            ..CodeOrigin::default()
        },
        defaults: Default::default(),
        reference: sys.reference.clone(),
        twin: None,
        resizable: false,
        kind: sys.kind,
        carried,
        tally,
        derived: true,
        tables: sys.tables.clone(),
    };
    aug.check()?;
    let job = ens.augmented(aug, start).job(method, grid)?;
    let run = Options {
        keep_states: true,
        lanes: Some(lanes),
        ..Default::default()
    };
    crate::solve(ctx, &job, &run)
}
