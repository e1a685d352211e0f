//! Sampling diffusion models on the device: a denoiser (user WGSL, or the exact denoiser of
//! a Gaussian mixture) and a sampler (`sampler`) become a *random map* that throng iterates
//! like any other system, so chunking, lanes, f32/f64, fused statistics, histograms and kept
//! paths all apply:
//!
//! - step 0 draws x_T: exactly from p_T when the target is a mixture (the component by one
//!   normal against the weights' normal quantiles, then α_T μ_k + √(α_T² S_k + σ_T²) z),
//!   else σ_T z;
//! - step k ≥ 1 is sampler step k − 1, from row k − 1 of the coefficient table (a system
//!   table, `smp_coef`), with the multistep history in rows after the state;
//! - the last step also fills the metric rows the run's reductions turn into metrics: the
//!   second moments x_i x_j, projections on fixed unit directions (histogrammed, for the
//!   sliced Wasserstein-1 distance against the exact projected mixture CDFs) and the
//!   responsibilities r_k(x) of the target's components at the end time, whose mean is
//!   exactly w_k under the target (the per-mode mass).
//!
//! The noise is the documented stream: step k's normals are `rng::noise(key, traj, k, c)`,
//! so samples do not depend on chunking, lanes or device. The twin of the map is
//! `cpu::sampler::tabled` with [`Target::draw`].

use std::path::Path;

use serde::Serialize;

use crate::diffusion::{times, Grid, Mixture, Schedule};
use crate::ensemble::{Ensemble, TimeGrid};
use crate::error::{Error, Result};
use crate::method::Method;
use crate::observe::{Histogram, SaveAt};
use crate::plan::Options;
use crate::precision::Precision;
use crate::sampler::{Quantity, Sampler, SamplerInfo};
use crate::system::{CodeOrigin, Kind, Noise, System, MAX_DERIVED_DIM};

/// What a user's `denoise` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// The noise ε̂.
    Eps,
    /// The data x̂₀.
    X0,
    /// The score ∇ log p_t = −ε̂/σ.
    Score,
    /// v = α ε̂ − σ x̂₀ (variance-preserving schedules).
    V,
}

impl Prediction {
    pub fn parse(s: &str) -> Result<Prediction> {
        match s {
            "eps" | "epsilon" | "noise" => Ok(Prediction::Eps),
            "x0" | "sample" | "data" => Ok(Prediction::X0),
            "score" => Ok(Prediction::Score),
            "v" | "v_prediction" => Ok(Prediction::V),
            _ => Err(Error::Input {
                what: "prediction".into(),
                message: format!("unknown prediction `{s}` (eps, x0, score or v)"),
            }),
        }
    }

    /// The WGSL expression of the sampler's quantity from the model's output `m` at x, in
    /// terms of the stage's α `a` and σ `s`.
    fn to(self, q: Quantity) -> &'static str {
        match (self, q) {
            (Prediction::X0, Quantity::X0) | (Prediction::Eps, Quantity::Eps) => "m[c]",
            (Prediction::Eps, Quantity::X0) => "(x[c] - s * m[c]) / a",
            (Prediction::Score, Quantity::X0) => "(x[c] + s * s * m[c]) / a",
            (Prediction::V, Quantity::X0) => "a * x[c] - s * m[c]",
            (Prediction::X0, Quantity::Eps) => "(x[c] - a * m[c]) / s",
            (Prediction::Score, Quantity::Eps) => "-s * m[c]",
            (Prediction::V, Quantity::Eps) => "s * x[c] + a * m[c]",
        }
    }
}

/// The denoiser a model samples with.
#[derive(Clone, Debug, PartialEq)]
pub enum Denoiser {
    /// The exact x̂₀ of the target mixture's noised marginal.
    Exact,
    /// User WGSL defining `fn denoise(t: F, x: X, p: Params) -> X` (X = array<R, dim>) and,
    /// with `guidance` w, `fn denoise_uncond` too: the model is w·denoise + (1 − w)·uncond.
    Wgsl {
        code: String,
        origin: CodeOrigin,
        prediction: Prediction,
        guidance: Option<f64>,
        params: Vec<(String, f64)>,
        tables: Vec<(String, Vec<f64>)>,
    },
}

/// A diffusion model: dimension, schedule, denoiser, and the target it is measured against.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: String,
    pub dim: usize,
    pub schedule: Schedule,
    pub denoiser: Denoiser,
    /// The exact data law (a Gaussian mixture), if known: the exact x_T draw and the metrics.
    pub target: Option<Mixture>,
}

impl Model {
    /// The exact denoiser of `mixture` under `schedule`.
    pub fn mixture(name: &str, mixture: Mixture, schedule: Schedule) -> Model {
        Model {
            name: name.into(),
            dim: mixture.dim(),
            schedule,
            denoiser: Denoiser::Exact,
            target: Some(mixture),
        }
    }

    /// A built-in model by name: `ring8` (8 equal components on a circle of radius 4 in 2-D)
    /// or `skew3` (3 components of unequal weights and shapes in 2-D), linear VP.
    pub fn builtin(name: &str) -> Option<Model> {
        let m = match name {
            "ring8" => {
                let means: Vec<Vec<f64>> = (0..8)
                    .map(|k| {
                        let a = std::f64::consts::TAU * k as f64 / 8.0;
                        vec![4.0 * a.cos(), 4.0 * a.sin()]
                    })
                    .collect();
                Mixture::new(&[1.0; 8], &means, &vec![vec![0.09, 0.09]; 8]).ok()?
            }
            "skew3" => Mixture::new(
                &[0.6, 0.3, 0.1],
                &[vec![-2.0, 0.0], vec![1.5, 1.5], vec![2.0, -2.5]],
                &[vec![0.5, 0.05], vec![0.1, 0.3], vec![0.02, 0.02]],
            )
            .ok()?,
            _ => return None,
        };
        Some(Model::mixture(name, m, Schedule::VP_LINEAR))
    }

    /// A model spec (TOML): `schedule`, an optional `[mixture]` (weights, means, vars: the
    /// target, and the denoiser unless `wgsl` is given), `wgsl`/`wgsl_file` with `denoise`,
    /// `prediction`, `guidance`, `[params]`, `[tables]`.
    pub fn from_spec(text: &str, file: &str, dir: &Path) -> Result<Model> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct MixtureSpec {
            weights: Vec<f64>,
            means: Vec<Vec<f64>>,
            vars: Vec<Vec<f64>>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ModelSpec {
            name: Option<String>,
            dim: Option<usize>,
            schedule: Option<String>,
            mixture: Option<MixtureSpec>,
            wgsl: Option<toml::Spanned<String>>,
            wgsl_file: Option<String>,
            prediction: Option<String>,
            guidance: Option<f64>,
            #[serde(default)]
            params: toml::Table,
            #[serde(default)]
            tables: toml::Table,
        }
        let bad = |message: String| Error::Spec {
            at: crate::error::Location::file(file),
            message,
        };
        let spec: ModelSpec = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let name = spec.name.clone().unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned())
        });
        let schedule = match spec.schedule.as_deref() {
            None => Schedule::VP_LINEAR,
            Some(s) => parse_schedule(s)?,
        };
        let target = spec
            .mixture
            .map(|m| Mixture::new(&m.weights, &m.means, &m.vars))
            .transpose()?;
        let code = match (&spec.wgsl, &spec.wgsl_file) {
            (Some(c), None) => Some((
                c.get_ref().clone(),
                crate::spec::code_origin(text, c.span(), c.get_ref(), file),
            )),
            (None, Some(p)) => {
                let p = dir.join(p);
                let c = std::fs::read_to_string(&p).map_err(|source| Error::Io {
                    what: format!("{file}: wgsl_file `{}`", p.display()),
                    source,
                })?;
                let origin = CodeOrigin {
                    name: p.display().to_string(),
                    ..CodeOrigin::default()
                };
                Some((c, origin))
            }
            (None, None) => None,
            (Some(_), Some(_)) => return Err(bad("give `wgsl` or `wgsl_file`, not both".into())),
        };
        let denoiser = match code {
            None => {
                if target.is_none() {
                    return Err(bad(
                        "a model needs `wgsl` (fn denoise) or a `[mixture]` to denoise exactly"
                            .into(),
                    ));
                }
                Denoiser::Exact
            }
            Some((code, origin)) => {
                let params = spec
                    .params
                    .iter()
                    .map(|(k, v)| match v {
                        toml::Value::Float(f) => Ok((k.clone(), *f)),
                        toml::Value::Integer(i) => Ok((k.clone(), *i as f64)),
                        _ => Err(bad(format!("params.{k} must be a number"))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Denoiser::Wgsl {
                    code,
                    origin,
                    prediction: Prediction::parse(spec.prediction.as_deref().unwrap_or("eps"))?,
                    guidance: spec.guidance,
                    params,
                    tables: crate::spec::tables(file, dir, &spec.tables)?,
                }
            }
        };
        let dim = match (spec.dim, &target) {
            (Some(d), Some(m)) if d != m.dim() => {
                return Err(bad(format!(
                    "dim = {d} but the mixture's means have {} components",
                    m.dim()
                )))
            }
            (Some(d), _) => d,
            (None, Some(m)) => m.dim(),
            (None, None) => return Err(bad("give `dim`, the data's dimension".into())),
        };
        if !(1..=crate::system::MAX_DIM).contains(&dim) {
            return Err(bad(format!(
                "dim = {dim}: the data's dimension must be 1 to 16"
            )));
        }
        Ok(Model {
            name,
            dim,
            schedule,
            denoiser,
            target,
        })
    }
}

/// A schedule by name: `vp-linear`, `vp-cosine`, `ve` (σ 0.01 to 50) or `edm`.
pub fn parse_schedule(s: &str) -> Result<Schedule> {
    match s {
        "vp-linear" | "vp" | "linear" => Ok(Schedule::VP_LINEAR),
        "vp-cosine" | "cosine" => Ok(Schedule::VP_COSINE),
        "ve" => Ok(Schedule::Ve {
            sigma_min: 0.01,
            sigma_max: 50.0,
        }),
        "edm" => Ok(Schedule::EDM),
        _ => Err(Error::Input {
            what: "schedule".into(),
            message: format!("unknown schedule `{s}` (vp-linear, vp-cosine, ve, edm)"),
        }),
    }
}

/// A step grid by name: `lambda` (uniform in λ, the default), `t`, `quadratic`, `karras`.
pub fn parse_grid(s: &str) -> Result<Grid> {
    match s {
        "lambda" | "logsnr" | "uniform-lambda" => Ok(Grid::UniformLambda),
        "t" | "uniform-t" | "time" => Ok(Grid::UniformT),
        "quadratic" => Ok(Grid::Quadratic),
        "karras" => Ok(Grid::Karras { rho: 7.0 }),
        _ => Err(Error::Input {
            what: "grid".into(),
            message: format!("unknown grid `{s}` (lambda, t, quadratic, karras)"),
        }),
    }
}

/// A sampling run.
#[derive(Clone, Debug)]
pub struct Request {
    pub model: Model,
    pub sampler: Sampler,
    /// Denoiser evaluations: a multiple of the sampler's calls a step (×2 with guidance).
    pub nfe: usize,
    pub grid: Grid,
    /// Start and end times (None: the schedule's range).
    pub t_start: Option<f64>,
    pub t_end: Option<f64>,
    pub paths: u64,
    pub seed: u64,
    pub precision: Precision,
    /// Samples kept (the first ones).
    pub keep: u64,
    /// Directions of the sliced Wasserstein distance (at most 8).
    pub directions: usize,
    /// Measure against the target (metric rows in the state); off: the samples only.
    pub metrics: bool,
    /// Bins of each projection's histogram.
    pub bins: u32,
    pub lanes: Option<u32>,
    pub chunk: Option<u64>,
}

impl Request {
    pub fn new(model: Model, sampler: Sampler, nfe: usize, paths: u64) -> Request {
        Request {
            model,
            sampler,
            nfe,
            grid: Grid::UniformLambda,
            t_start: None,
            t_end: None,
            paths,
            seed: 0,
            precision: Precision::F32,
            keep: 0,
            directions: 8,
            metrics: true,
            bins: 2048,
            lanes: None,
            chunk: None,
        }
    }

    /// The sampler's steps and the denoiser calls each takes.
    pub fn steps(&self) -> Result<(usize, usize)> {
        let info = self.sampler.info();
        let per = info.stages * if self.guided() { 2 } else { 1 };
        if self.nfe == 0 || !self.nfe.is_multiple_of(per) {
            return Err(Error::Input {
                what: "nfe".into(),
                message: format!(
                    "{} takes {per} denoiser call(s) a step{}: give an NFE that is a positive multiple of {per}, got {}",
                    info.name,
                    if self.guided() { " (guidance doubles them)" } else { "" },
                    self.nfe
                ),
            });
        }
        Ok((self.nfe / per, per))
    }

    fn guided(&self) -> bool {
        matches!(
            self.model.denoiser,
            Denoiser::Wgsl {
                guidance: Some(_),
                ..
            }
        )
    }

    /// (α, σ) at the run's end time, where the samples are measured against p_{t_end}.
    pub fn end_noise(&self) -> Result<(f64, f64)> {
        let times = self.times()?;
        let end = times[times.len() - 1];
        Ok((
            self.model.schedule.alpha(end),
            self.model.schedule.sigma(end),
        ))
    }

    /// The step times, t_start down to t_end.
    pub fn times(&self) -> Result<Vec<f64>> {
        let (end, start) = self.model.schedule.t_range();
        let (steps, _) = self.steps()?;
        times(
            &self.model.schedule,
            self.grid,
            self.t_start.unwrap_or(start),
            self.t_end.unwrap_or(end),
            steps,
        )
    }
}

/// Where the rows of the sampling system sit.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub dim: usize,
    pub history: usize,
    /// First row of the second moments x_i x_j (i ≤ j, row-major), if they fit.
    pub moments: Option<usize>,
    /// First projection row and the unit directions (each `dim` long).
    pub projections: Option<(usize, Vec<Vec<f64>>)>,
    /// First responsibility row (one per target component), if they fit.
    pub responsibilities: Option<usize>,
    pub rows: usize,
}

impl Layout {
    fn new(dim: usize, history: usize, target: Option<&Mixture>, directions: usize) -> Layout {
        let mut rows = dim * (1 + history);
        let mut take = |n: usize| {
            (n > 0 && rows + n <= MAX_DERIVED_DIM).then(|| {
                rows += n;
                rows - n
            })
        };
        let (mut moments, mut projections, mut responsibilities) = (None, None, None);
        if let Some(m) = target {
            moments = take(dim * (dim + 1) / 2);
            let dirs = unit_directions(dim, directions.min(8));
            projections = take(dirs.len()).map(|r| (r, dirs));
            responsibilities = take(m.weights.len());
        }
        Layout {
            dim,
            history,
            moments,
            projections,
            responsibilities,
            rows,
        }
    }
}

/// `n` fixed unit directions in `dim` dimensions: in 2-D evenly spaced angles in [0, π);
/// otherwise the axes, then normalised pseudo-random normals (Philox, key 0) for the rest.
pub fn unit_directions(dim: usize, n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|k| {
            if dim == 1 {
                vec![1.0]
            } else if dim == 2 {
                let a = std::f64::consts::PI * k as f64 / n as f64;
                vec![a.cos(), a.sin()]
            } else if k < dim {
                (0..dim).map(|c| (c == k) as u8 as f64).collect()
            } else {
                let v: Vec<f64> = (0..dim)
                    .map(|c| crate::rng::noise([0, 0], k as u32, 0, c as u32, dim as u32) as f64)
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.iter().map(|x| x / norm).collect()
            }
        })
        .take(if dim == 1 { 1 } else { n })
        .collect()
}

/// Φ(x), the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹(p) by bisection (to a few ulps; only a handful are needed per run).
pub fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The exact draw of x_T (the twin of the map's step 0): by the mixture when there is one.
pub struct Target<'a> {
    pub mixture: Option<&'a Mixture>,
    /// α and σ at t_start.
    pub alpha: f64,
    pub sigma: f64,
}

impl Target<'_> {
    /// The weights' normal quantiles: component k is chosen when exactly k of them lie
    /// below the draw's extra normal.
    pub fn thresholds(mixture: &Mixture) -> Vec<f64> {
        let mut acc = 0.0;
        let k = mixture.weights.len();
        mixture.weights[..k - 1]
            .iter()
            .map(|w| {
                acc += w;
                normal_quantile(acc.min(1.0))
            })
            .collect()
    }

    /// x_T from the step's normals `z` (dim + 1 of them; the last picks the component).
    pub fn draw(&self, z: &[f64]) -> Vec<f64> {
        let d = z.len() - 1;
        match self.mixture {
            None => z[..d].iter().map(|z| self.sigma * z).collect(),
            Some(m) => {
                let k = Target::thresholds(m).iter().filter(|&&t| z[d] > t).count();
                (0..d)
                    .map(|c| {
                        let sd = (self.alpha * self.alpha * m.vars[k][c] + self.sigma * self.sigma)
                            .sqrt();
                        self.alpha * m.means[k][c] + sd * z[c]
                    })
                    .collect()
            }
        }
    }
}

/// Unrolls `for (var i = 0u; i < N; i++) {` … `}` into `#for i in N` (a system's code may
/// not loop): each pass in its own braces, `i` in the body as the literal `$iu`.
fn unroll(text: &str) -> String {
    let header = |t: &str| -> Option<(String, String)> {
        let rest = t.strip_prefix("for (var ")?;
        let (var, rest) = rest.split_once(" = 0u; ")?;
        let (_, rest) = rest.split_once(" < ")?;
        let (n, rest) = rest.split_once("u; ")?;
        (rest == format!("{var}++) {{")).then(|| (var.to_string(), n.to_string()))
    };
    let (mut out, mut stack, mut depth) = (String::new(), Vec::<(String, i32)>::new(), 0i32);
    for line in text.lines() {
        let t = line.trim();
        if let Some((var, n)) = header(t) {
            out += &format!("#for {var} in {n}\n{{\n");
            depth += 1;
            stack.push((var, depth));
            continue;
        }
        if t == "}" && stack.last().is_some_and(|s| s.1 == depth) {
            stack.pop();
            depth -= 1;
            out += "}\n#endfor\n";
            continue;
        }
        depth += t.matches('{').count() as i32 - t.matches('}').count() as i32;
        // The loop variables, as whole identifiers.
        let mut word = String::new();
        for ch in line.chars().chain(std::iter::once('\n')) {
            if ch.is_ascii_alphanumeric() || ch == '_' {
                word.push(ch);
                continue;
            }
            if stack.iter().any(|s| s.0 == word) {
                out += &format!("${word}u");
            } else {
                out += &word;
            }
            word.clear();
            out.push(ch);
        }
    }
    out
}

/// The WGSL of the sampling map (see the module comment) and the system's tables.
fn map_wgsl(req: &Request, layout: &Layout, info: &SamplerInfo, steps: usize) -> Result<String> {
    let p = req.precision;
    let lit = |v: f64| p.literal(v);
    let d = layout.dim;
    let s = info.stages;
    let h = info.history;
    let w = crate::sampler::width(info);
    let sched = &req.model.schedule;
    let t_start = req.times()?[0];
    let (a_t, s_t) = (sched.alpha(t_start), sched.sigma(t_start));
    let mut out = format!(
        "// Written by throng (sample.rs): {} with {} steps.\nconst SMP_D: u32 = {d}u;\nalias X = array<R, {d}u>;\n",
        info.name, steps
    );
    // The target's responsibilities (the exact denoiser and the per-mode masses use them).
    if let Some(m) = &req.model.target {
        let k = m.weights.len();
        out += &format!(
            "
// The target's responsibilities at (a, s): softmax over k of log w_k − ½ Σ log v − ½ Σ r²/v.
fn smp_resp(a: F, s: F, x: X) -> array<R, {k}u> {{
    var e: array<R, {k}u>;
    var pre: array<F, {k}u>;
    for (var k = 0u; k < {k}u; k++) {{
        var q = R({zero});
        var prod = F({one});
        for (var c = 0u; c < SMP_D; c++) {{
            let v = a * a * smp_gmm(k * {stride}u + 1u + SMP_D + c) + s * s;
            let r = x[c] - a * smp_gmm(k * {stride}u + 1u + c);
            q += r * r / v;
            prod *= v;
        }}
        e[k] = F({mhalf}) * q;
        pre[k] = smp_gmm(k * {stride}u) / sqrt(prod);
    }}
    var top = e[0];
    for (var k = 0u; k < {k}u; k++) {{
        top = max(top, e[k]);
    }}
    var sum = R({zero});
    for (var k = 0u; k < {k}u; k++) {{
        e[k] = pre[k] * exp_r(e[k] - top);
        sum += e[k];
    }}
    for (var k = 0u; k < {k}u; k++) {{
        e[k] = e[k] / sum;
    }}
    return e;
}}

",
            zero = lit(0.0),
            one = lit(1.0),
            mhalf = lit(-0.5),
            stride = 1 + 2 * d,
        );
    }
    // The model: the exact mixture's x̂₀ or the user's denoise (with guidance).
    let model_expr = match &req.model.denoiser {
        Denoiser::Exact => {
            let k = req.model.target.as_ref().expect("checked").weights.len();
            out += &format!(
                "
// The exact x̂₀ = Σ_k r_k [μ_k + a S_k / (a² S_k + s²) (x − a μ_k)].
fn smp_model(t: F, a: F, s: F, x: X, p: Params) -> X {{
    let r = smp_resp(a, s, x);
    var m: X;
    for (var k = 0u; k < {k}u; k++) {{
        for (var c = 0u; c < SMP_D; c++) {{
            let mu = smp_gmm(k * {stride}u + 1u + c);
            let sk = smp_gmm(k * {stride}u + 1u + SMP_D + c);
            m[c] += r[k] * (mu + a * sk / (a * a * sk + s * s) * (x[c] - a * mu));
        }}
    }}
    return m;
}}
",
                stride = 1 + 2 * d,
            );
            Prediction::X0
        }
        Denoiser::Wgsl {
            prediction,
            guidance,
            ..
        } => {
            let body = match guidance {
                None => "    return denoise(t, x, p);\n".to_string(),
                Some(g) => format!(
                    "    let cond = denoise(t, x, p);\n    let unc = denoise_uncond(t, x, p);\n    var m: X;\n    for (var i = 0u; i < SMP_D; i++) {{\n        m[i] = {} * cond[i] + {} * unc[i];\n    }}\n    return m;\n",
                    lit(*g),
                    lit(1.0 - g)
                ),
            };
            out += &format!(
                "\n// The user's model (classifier-free guidance: w·denoise + (1 − w)·denoise_uncond).\nfn smp_model(t: F, a: F, s: F, x: X, p: Params) -> X {{\n{body}}}\n"
            );
            *prediction
        }
    };
    out += &format!(
        "
// α_t and σ_t of the model's current call, for a user's denoise.
var<private> smp_alpha: F;
var<private> smp_sigma: F;
fn schedule_alpha() -> F {{
    return smp_alpha;
}}
fn schedule_sigma() -> F {{
    return smp_sigma;
}}

// The sampler's quantity ({q:?}) from the model's output.
fn smp_q(i: u32, x: X, p: Params) -> X {{
    let t = smp_coef(i);
    let a = smp_coef(i + 1u);
    let s = smp_coef(i + 2u);
    smp_alpha = a;
    smp_sigma = s;
    let m = smp_model(t, a, s, x, p);
    var q: X;
    for (var c = 0u; c < SMP_D; c++) {{
        q[c] = {expr};
    }}
    return q;
}}
",
        q = info.quantity,
        expr = model_expr.to(info.quantity)
    );
    // The map.
    let stage_w = 3 + s;
    let fin = s * stage_w;
    let mut body = String::new();
    body += "    let base = (k - 1u) * SMP_WIDTH;\n    var x: X;\n    for (var c = 0u; c < SMP_D; c++) {\n        x[c] = y[c];\n    }\n    let q0 = smp_q(base, x, p);\n";
    for i in 1..s {
        body += &format!(
            "    var u{i}: X;\n    for (var c = 0u; c < SMP_D; c++) {{\n        var v = smp_coef(base + {}u) * x[c];\n",
            i * stage_w + 3
        );
        for j in 0..i {
            body += &format!(
                "        v += smp_coef(base + {}u) * q{j}[c];\n",
                i * stage_w + 4 + j
            );
        }
        body += &format!(
            "        u{i}[c] = v;\n    }}\n    let q{i} = smp_q(base + {}u, u{i}, p);\n",
            i * stage_w
        );
    }
    body += &format!("    for (var c = 0u; c < SMP_D; c++) {{\n        var v = smp_coef(base + {fin}u) * x[c];\n");
    for i in 0..s {
        body += &format!(
            "        v += smp_coef(base + {}u) * q{i}[c];\n",
            fin + 1 + i
        );
    }
    for j in 0..h {
        body += &format!(
            "        v += smp_coef(base + {}u) * y[{}u + c];\n",
            fin + 1 + s + j,
            d * (1 + j)
        );
    }
    if info.stochastic {
        body += &format!(
            "        v += smp_coef(base + {}u) * w[c];\n",
            fin + 1 + s + h
        );
    }
    body += "        out[c] = v;\n";
    // History: newest first.
    for j in (1..h).rev() {
        body += &format!("        out[{}u + c] = y[{}u + c];\n", d * (1 + j), d * j);
    }
    if h > 0 {
        body += &format!("        out[{d}u + c] = q0[c];\n");
    }
    body += "    }\n";
    // Metrics at the last step.
    let mut metrics = String::new();
    if let Some(r) = layout.moments {
        let mut row = r;
        for i in 0..d {
            for j in i..d {
                metrics += &format!("        out[{row}u] = out[{i}u] * out[{j}u];\n");
                row += 1;
            }
        }
    }
    if let Some((r, dirs)) = &layout.projections {
        for (k, u) in dirs.iter().enumerate() {
            let terms: Vec<String> = u
                .iter()
                .enumerate()
                .map(|(c, v)| format!("{} * out[{c}u]", lit(*v)))
                .collect();
            metrics += &format!("        out[{}u] = {};\n", r + k, terms.join(" + "));
        }
    }
    if let (Some(r), Some(m)) = (layout.responsibilities, &req.model.target) {
        let (a_end, s_end) = req.end_noise()?;
        metrics += &format!(
            "        var xe: X;\n        for (var c = 0u; c < SMP_D; c++) {{\n            xe[c] = out[c];\n        }}\n        let resp = smp_resp({}, {}, xe);\n",
            lit(a_end),
            lit(s_end)
        );
        for k in 0..m.weights.len() {
            metrics += &format!("        out[{}u] = resp[{k}u];\n", r + k);
        }
    }
    // Step 0: x_T.
    let draw = match &req.model.target {
        Some(m) => {
            let thr = Target::thresholds(m);
            let mut s = format!(
                "        let z = w[SMP_D];\n        for (var c = 0u; c < SMP_D; c++) {{\n            var mean = R({} * smp_gmm(1u + c));\n            var sd = R(sqrt({} * smp_gmm(1u + SMP_D + c) + {}));\n",
                lit(a_t),
                lit(a_t * a_t),
                lit(s_t * s_t)
            );
            for (k, t) in thr.iter().enumerate() {
                let k = k + 1;
                s += &format!(
                    "            let pick{k} = z > R({});\n            mean = select(mean, R({} * smp_gmm({}u + c)), pick{k});\n            sd = select(sd, R(sqrt({} * smp_gmm({}u + SMP_D + c) + {})), pick{k});\n",
                    lit(*t),
                    lit(a_t),
                    k * (1 + 2 * d) + 1,
                    lit(a_t * a_t),
                    k * (1 + 2 * d) + 1,
                    lit(s_t * s_t)
                );
            }
            s += "            out[c] = mean + sd * w[c];\n        }\n";
            s
        }
        _ => format!(
            "        for (var c = 0u; c < SMP_D; c++) {{\n            out[c] = {} * w[c];\n        }}\n",
            lit(s_t)
        ),
    };
    out += &format!(
        "
const SMP_WIDTH: u32 = {w}u;
const SMP_LAST: u32 = {steps}u;

// Step 0 draws x_T; step k >= 1 is the sampler's step k − 1; the last also fills the
// metric rows.
fn map(n: F, y: S, p: Params, w: W) -> S {{
    let k = u32(n + {half});
    var out = y;
    if (k == 0u) {{
{draw}        return out;
    }}
{body}    if (k == SMP_LAST) {{
{metrics}    }}
    return out;
}}
",
        half = lit(0.5)
    );
    Ok(unroll(&out.replace(" < SMP_D; ", &format!(" < {d}u; "))))
}

/// The sampling system and its ensemble.
pub fn system(req: &Request) -> Result<(System, Layout)> {
    let info = req.sampler.info();
    let (steps, _) = req.steps()?;
    let model = &req.model;
    if let (Prediction::V, false) = (
        match &model.denoiser {
            Denoiser::Wgsl { prediction, .. } => *prediction,
            Denoiser::Exact => Prediction::X0,
        },
        matches!(
            model.schedule,
            Schedule::VpLinear { .. } | Schedule::VpCosine { .. }
        ),
    ) {
        return Err(Error::Input {
            what: "prediction".into(),
            message:
                "prediction = \"v\" needs a variance-preserving schedule (vp-linear or vp-cosine)"
                    .into(),
        });
    }
    if req.paths == 0 {
        return Err(Error::Input {
            what: "paths".into(),
            message: "paths must be at least 1".into(),
        });
    }
    let layout = Layout::new(
        model.dim,
        info.history,
        model.target.as_ref().filter(|_| req.metrics),
        req.directions,
    );
    let d = model.dim;
    let mut state: Vec<String> = (0..d).map(|c| format!("x{c}")).collect();
    for j in 0..info.history {
        state.extend((0..d).map(|c| format!("h{j}_{c}")));
    }
    if let Some(r) = layout.moments {
        let mut n = 0;
        for i in 0..d {
            for j in i..d {
                state.push(format!("x{i}x{j}"));
                n += 1;
            }
        }
        debug_assert_eq!(r + n, state.len());
    }
    if let Some((_, dirs)) = &layout.projections {
        state.extend((0..dirs.len()).map(|k| format!("proj{k}")));
    }
    if let (Some(_), Some(m)) = (layout.responsibilities, &model.target) {
        state.extend((0..m.weights.len()).map(|k| format!("mode{k}")));
    }
    let table = crate::sampler::table(req.sampler, &model.schedule, &req.times()?);
    let mut tables = vec![(
        "smp_coef".to_string(),
        crate::sampler::flatten(info, &table),
    )];
    if let Some(m) = &model.target {
        let mut g = Vec::new();
        for k in 0..m.weights.len() {
            g.push(m.weights[k]);
            g.extend(&m.means[k]);
            g.extend(&m.vars[k]);
        }
        tables.push(("smp_gmm".to_string(), g));
    }
    let (mut code, mut params, mut origin) = (String::new(), Vec::new(), CodeOrigin::default());
    if let Denoiser::Wgsl {
        code: user,
        origin: o,
        params: ps,
        tables: ts,
        ..
    } = &model.denoiser
    {
        code = user.clone();
        origin = o.clone();
        params = ps.clone();
        tables.extend(ts.iter().cloned());
    }
    let generated = map_wgsl(req, &layout, info, steps)?;
    // The user's code first, so its lines keep their numbers in messages.
    let wgsl = if code.is_empty() {
        generated
    } else {
        format!("{code}\n{generated}")
    };
    if origin.name.is_empty() {
        origin.name = format!("<sampler {} for {}>", info.name, model.name);
    }
    let sys = System {
        name: format!("{}+{}", model.name, info.name),
        description: format!("{} sampled by {}", model.name, info.name),
        state,
        params,
        noise: Noise::General { channels: d + 1 },
        wgsl,
        origin,
        defaults: Default::default(),
        reference: String::new(),
        twin: None,
        resizable: false,
        kind: Kind::Map,
        carried: Vec::new(),
        tally: 0,
        derived: true,
        tables,
    };
    sys.check()?;
    Ok((sys, layout))
}

/// Metrics of a sample against the exact target.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// Per component: sample mean − exact mean, and that in standard errors.
    pub mean_error: Vec<f64>,
    pub mean_z: Vec<f64>,
    /// Frobenius norm of (sample covariance − exact covariance).
    pub cov_error: f64,
    /// Largest |z| of the second moments E[x_i x_j] against the exact ones.
    pub moment_z_max: f64,
    /// Per target component: (sample mass, exact weight, standard error).
    pub mode_mass: Vec<(f64, f64, f64)>,
    /// Sliced Wasserstein-1: per direction, their mean, and the mean's floor for this
    /// sample size (the expected W₁ of exact samples, √(2/π) ∫√(F(1 − F)) dx / √N).
    pub w1: Vec<f64>,
    pub sliced_w1: f64,
    pub sliced_w1_floor: f64,
}

/// A sampling run's results.
#[derive(Clone, Debug)]
pub struct Sampled {
    pub solution: crate::Solution,
    pub layout: Layout,
    pub steps: usize,
    pub nfe: usize,
    /// Kept samples, sample-major (`[i * dim + c]`).
    pub samples: Vec<f64>,
    pub metrics: Option<Metrics>,
}

/// The projected target along `u` at (α, σ): per component (weight, mean, sd).
fn projected(m: &Mixture, u: &[f64], alpha: f64, sigma: f64) -> Vec<(f64, f64, f64)> {
    (0..m.weights.len())
        .map(|k| {
            let mean: f64 = u
                .iter()
                .zip(&m.means[k])
                .map(|(u, mu)| u * alpha * mu)
                .sum();
            let var: f64 = u
                .iter()
                .zip(&m.vars[k])
                .map(|(u, s)| u * u * (alpha * alpha * s + sigma * sigma))
                .sum();
            (m.weights[k], mean, var.sqrt())
        })
        .collect()
}

/// The histogram range of a projection: ±8 sd around every component.
fn projection_range(parts: &[(f64, f64, f64)]) -> (f64, f64) {
    let lo = parts
        .iter()
        .map(|p| p.1 - 8.0 * p.2)
        .fold(f64::INFINITY, f64::min);
    let hi = parts
        .iter()
        .map(|p| p.1 + 8.0 * p.2)
        .fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// W₁ between a histogram's empirical CDF and the exact CDF (trapezoids over the bin
/// edges), and the floor √(2/π) ∫ √(F(1 − F)) dx / √N.
pub fn w1_from_hist(counts: &[u64], lo: f64, hi: f64, cdf: &dyn Fn(f64) -> f64) -> (f64, f64) {
    let bins = counts.len() - 2;
    let n: u64 = counts.iter().sum();
    let width = (hi - lo) / bins as f64;
    let mut acc = counts[0] as f64;
    let (mut w1, mut floor) = (0.0, 0.0);
    let mut prev: Option<(f64, f64)> = None;
    for b in 0..=bins {
        let x = lo + b as f64 * width;
        let f = cdf(x);
        let gap = (acc / n as f64 - f).abs();
        let sd = (f * (1.0 - f)).max(0.0).sqrt();
        if let Some((g0, s0)) = prev {
            w1 += 0.5 * (g0 + gap) * width;
            floor += 0.5 * (s0 + sd) * width;
        }
        prev = Some((gap, sd));
        if b < bins {
            acc += counts[b + 1] as f64;
        }
    }
    (
        w1,
        floor * (2.0 / std::f64::consts::PI).sqrt() / (n as f64).sqrt(),
    )
}

/// The run's options: the projections' histograms and the kept samples.
fn options(req: &Request, layout: &Layout) -> Result<Options> {
    let mut save_at = SaveAt::default();
    if let (Some((r, dirs)), Some(m)) = (&layout.projections, &req.model.target) {
        let (a, s) = req.end_noise()?;
        for (k, u) in dirs.iter().enumerate() {
            let (lo, hi) = projection_range(&projected(m, u, a, s));
            save_at.hist.push(Histogram {
                component: r + k,
                lo,
                hi,
                bins: req.bins,
            });
        }
    }
    save_at.keep_paths = req.keep.min(req.paths);
    Ok(Options {
        lanes: req.lanes,
        chunk: req.chunk,
        save_at,
        ..Default::default()
    })
}

/// The job of a request.
pub fn job(req: &Request) -> Result<(crate::Job, Layout, Options)> {
    let (sys, layout) = system(req)?;
    let (steps, _) = req.steps()?;
    let job = Ensemble::new(sys, req.paths)
        .x0(&vec![0.0; layout.rows])
        .precision(req.precision)
        .seed(req.seed)
        .job(Method::Iterate, TimeGrid::new(0.0, 1.0, steps as u64 + 1))?;
    let opts = options(req, &layout)?;
    Ok((job, layout, opts))
}

/// Samples on the device.
pub fn sample(ctx: &crate::Context, req: &Request) -> Result<Sampled> {
    let (job, layout, opts) = job(req)?;
    let solution = crate::solve(ctx, &job, &opts)?;
    finish(req, layout, solution)
}

/// The twin of a sampling run on the host, in f64 on every core: the end states of the
/// first `n` samples (sample-major), from the same x_T draws and normals as the device's
/// (`rng::noise` under the run's key), by `cpu::sampler::tabled` and the mixture's exact
/// denoiser. Only for models with the exact denoiser (a WGSL model runs on a device).
pub fn on_host(req: &Request, n: u64) -> Result<Vec<f64>> {
    let m = match (&req.model.denoiser, &req.model.target) {
        (Denoiser::Exact, Some(m)) => m,
        _ => {
            return Err(Error::Unsupported {
                feature: "a host twin",
                message: format!(
                "model `{}` has a WGSL denoiser; only the exact mixture denoiser has a host twin",
                req.model.name
            ),
            })
        }
    };
    let (job, _, _) = job(req)?;
    let key = job.key();
    let info = req.sampler.info();
    let times = req.times()?;
    let table = crate::sampler::table(req.sampler, &req.model.schedule, &times);
    let target = Target {
        mixture: Some(m),
        alpha: req.model.schedule.alpha(times[0]),
        sigma: req.model.schedule.sigma(times[0]),
    };
    let d = m.dim();
    let channels = d as u32 + 1;
    let one = |i: u64| -> Vec<f64> {
        let traj = i as u32;
        let normals = |step: u64| -> Vec<f64> {
            (0..channels)
                .map(|c| crate::rng::noise(key, traj, step, c, channels) as f64)
                .collect()
        };
        let x_t = target.draw(&normals(0));
        let mut q = |st: &crate::sampler::Stage, u: &[f64]| {
            crate::cpu::sampler::as_quantity(info.quantity, st, u, m.x0(st.alpha, st.sigma, u))
        };
        crate::cpu::sampler::tabled(info, &table, &x_t, &mut q, &mut |k| {
            normals(k as u64 + 1)[..d].to_vec()
        })
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()) as u64;
    let per = n.div_ceil(threads);
    let parts: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let one = &one;
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(n))
                        .flat_map(one)
                        .collect::<Vec<f64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a host twin thread"))
            .collect()
    });
    Ok(parts.concat())
}

/// The samples and metrics from a solution.
pub fn finish(req: &Request, layout: Layout, solution: crate::Solution) -> Result<Sampled> {
    let (steps, per) = req.steps()?;
    let d = layout.dim;
    let last = solution.saves.last();
    let samples: Vec<f64> = last
        .map(|s| {
            s.paths
                .chunks(layout.rows)
                .flat_map(|row| row[..d].to_vec())
                .collect()
        })
        .unwrap_or_default();
    let metrics = req
        .model
        .target
        .as_ref()
        .filter(|_| req.metrics)
        .map(|m| metrics(req, &layout, &solution, m))
        .transpose()?;
    Ok(Sampled {
        solution,
        layout,
        steps,
        nfe: steps * per,
        samples,
        metrics,
    })
}

fn metrics(req: &Request, layout: &Layout, sol: &crate::Solution, m: &Mixture) -> Result<Metrics> {
    let st = &sol.stats;
    let n = st.count as f64;
    let d = layout.dim;
    let (a, s) = req.end_noise()?;
    let var = |r: usize| st.m2[r] / (n - 1.0);
    let se = |r: usize| (var(r) / n).sqrt();
    // Exact moments of p_end.
    let mean: Vec<f64> = (0..d)
        .map(|c| {
            (0..m.weights.len())
                .map(|k| m.weights[k] * a * m.means[k][c])
                .sum()
        })
        .collect();
    let second = |i: usize, j: usize| -> f64 {
        (0..m.weights.len())
            .map(|k| {
                let own = if i == j {
                    a * a * m.vars[k][i] + s * s
                } else {
                    0.0
                };
                m.weights[k] * (own + a * a * m.means[k][i] * m.means[k][j])
            })
            .sum()
    };
    let mut out = Metrics {
        mean_error: (0..d).map(|c| st.mean[c] - mean[c]).collect(),
        mean_z: (0..d).map(|c| (st.mean[c] - mean[c]) / se(c)).collect(),
        ..Default::default()
    };
    if let Some(r) = layout.moments {
        let mut row = r;
        let mut frob = 0.0;
        for i in 0..d {
            for j in i..d {
                let z = (st.mean[row] - second(i, j)) / se(row);
                out.moment_z_max = out.moment_z_max.max(z.abs());
                let cov_s = st.mean[row] - st.mean[i] * st.mean[j];
                let cov_e = second(i, j) - mean[i] * mean[j];
                frob += (cov_s - cov_e).powi(2) * if i == j { 1.0 } else { 2.0 };
                row += 1;
            }
        }
        out.cov_error = frob.sqrt();
    }
    if let Some(r) = layout.responsibilities {
        out.mode_mass = (0..m.weights.len())
            .map(|k| (st.mean[r + k], m.weights[k], se(r + k)))
            .collect();
    }
    if let (Some((_, dirs)), Some(save)) = (&layout.projections, sol.saves.last()) {
        let mut floor = 0.0;
        for (u, h) in dirs.iter().zip(&save.hist) {
            let parts = projected(m, u, a, s);
            let cdf = |x: f64| {
                parts
                    .iter()
                    .map(|(w, mu, sd)| w * normal_cdf((x - mu) / sd))
                    .sum::<f64>()
            };
            let (w1, fl) = w1_from_hist(&h.counts, h.lo, h.hi, &cdf);
            out.w1.push(w1);
            floor += fl;
        }
        out.sliced_w1 = out.w1.iter().sum::<f64>() / out.w1.len() as f64;
        out.sliced_w1_floor = floor / out.w1.len() as f64;
    }
    Ok(out)
}
