//! Diffusion samplers as tables of coefficients. Every sampler here is, step by step, linear
//! in what it has: the state x, the denoiser outputs of the step's stages (Q₀ … at the
//! stages' points) and of earlier steps (the history H₀ = the previous step's Q₀, H₁ the one
//! before), and the step's normals z:
//!
//! ```text
//! stage i:  u_i = a_i x + Σ_{j<i} b_ij Q_j      (u_0 = x),   Q_i = Q(u_i at t_i, α_i, σ_i)
//! step:     x'  = A x + Σ_i B_i Q_i + Σ_h C_h H_h + E z
//! ```
//!
//! where Q is the denoiser's x̂₀ or its noise prediction ε̂ = (x − α x̂₀)/σ, as the sampler
//! is written ([`Quantity`]). The coefficients are the same for every trajectory: they are
//! computed here once per run in f64 ([`table`]) and uploaded, so one kernel (written by
//! `sample`) and one twin (`cpu::sampler::tabled`) run every sampler.
//! `cpu::sampler` holds each sampler written out from its paper's formulas; the tests check
//! that the tables reproduce them. Sources: `../shared/guide/samplers-and-brownian-trees.md`,
//! LuChengTHU/dpm-solver, diffusers' multistep schedulers, qsh-zh/deis, QinpengCui/ER-SDE-Solver.

use crate::diffusion::Schedule;
use crate::error::{Error, Result};

/// What a sampler's formulas are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// The data prediction x̂₀.
    X0,
    /// The noise prediction ε̂.
    Eps,
}

/// The samplers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampler {
    Ddim,
    DpmSolver2,
    DpmSolver3,
    Dpmpp2m,
    Dpmpp3m,
    SdeDpmpp1,
    SdeDpmpp2m,
    /// ER-SDE-Solver of order 1 to 3 with its noise-scale function.
    ErSde(u8, NoiseScale),
    /// DEIS tAB of order 1 to 3.
    Deis(u8),
    /// Euler–Maruyama on the reverse SDE.
    ReverseEm,
    /// Heun on the probability-flow ODE (EDM).
    Heun,
}

/// ER-SDE-Solver's noise-scale function φ: its default, and the two that reduce it to
/// other samplers (φ(x) = x: DDIM; φ(x) = x²: SDE-DPM-Solver++(1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseScale {
    /// φ(x) = x (e^{x^0.3} + 10).
    Default,
    Linear,
    Square,
}

impl NoiseScale {
    pub fn phi(self, x: f64) -> f64 {
        x * self.psi(x)
    }

    /// φ(x)/x.
    pub fn psi(self, x: f64) -> f64 {
        match self {
            NoiseScale::Default => x.powf(0.3).exp() + 10.0,
            NoiseScale::Linear => 1.0,
            NoiseScale::Square => x,
        }
    }
}

/// A sampler's row in [`SAMPLERS`].
pub struct SamplerInfo {
    pub name: &'static str,
    pub sampler: Sampler,
    pub summary: &'static str,
    /// Denoiser calls a step.
    pub stages: usize,
    /// Earlier steps' outputs it keeps.
    pub history: usize,
    pub quantity: Quantity,
    /// Draws normals every step (an SDE sampler).
    pub stochastic: bool,
    /// Order of the pathwise error in steps on the probability-flow ODE (ODE samplers).
    pub order: Option<u32>,
}

/// Every sampler: names, what the CLI lists, and the shape of its table.
pub const SAMPLERS: &[SamplerInfo] = &[
    SamplerInfo {
        name: "ddim",
        sampler: Sampler::Ddim,
        summary: "DDIM = DPM-Solver-1 = DPM-Solver++(1), probability-flow ODE, order 1",
        stages: 1,
        history: 0,
        quantity: Quantity::X0,
        stochastic: false,
        order: Some(1),
    },
    SamplerInfo {
        name: "dpm-solver-2",
        sampler: Sampler::DpmSolver2,
        summary: "DPM-Solver-2, singlestep (midpoint in λ), 2 calls a step, order 2",
        stages: 2,
        history: 0,
        quantity: Quantity::Eps,
        stochastic: false,
        order: Some(2),
    },
    SamplerInfo {
        name: "dpm-solver-3",
        sampler: Sampler::DpmSolver3,
        summary: "DPM-Solver-3, singlestep (r = 1/3, 2/3), 3 calls a step, order 3",
        stages: 3,
        history: 0,
        quantity: Quantity::Eps,
        stochastic: false,
        order: Some(3),
    },
    SamplerInfo {
        name: "dpmpp-2m",
        sampler: Sampler::Dpmpp2m,
        summary: "DPM-Solver++(2M), multistep, order 2",
        stages: 1,
        history: 1,
        quantity: Quantity::X0,
        stochastic: false,
        order: Some(2),
    },
    SamplerInfo {
        name: "dpmpp-3m",
        sampler: Sampler::Dpmpp3m,
        summary: "DPM-Solver++(3M), multistep, order 3 after its lower-order start",
        stages: 1,
        history: 2,
        quantity: Quantity::X0,
        stochastic: false,
        order: Some(3),
    },
    SamplerInfo {
        name: "sde-dpmpp-1",
        sampler: Sampler::SdeDpmpp1,
        summary: "SDE-DPM-Solver++(1), reverse SDE, first order",
        stages: 1,
        history: 0,
        quantity: Quantity::X0,
        stochastic: true,
        order: None,
    },
    SamplerInfo {
        name: "sde-dpmpp-2m",
        sampler: Sampler::SdeDpmpp2m,
        summary: "SDE-DPM-Solver++(2M), reverse SDE, multistep",
        stages: 1,
        history: 1,
        quantity: Quantity::X0,
        stochastic: true,
        order: None,
    },
    SamplerInfo {
        name: "er-sde-1",
        sampler: Sampler::ErSde(1, NoiseScale::Default),
        summary: "ER-SDE-Solver-1, noise scale φ(x) = x (e^{x^0.3} + 10)",
        stages: 1,
        history: 0,
        quantity: Quantity::X0,
        stochastic: true,
        order: None,
    },
    SamplerInfo {
        name: "er-sde-2",
        sampler: Sampler::ErSde(2, NoiseScale::Default),
        summary: "ER-SDE-Solver-2 (Taylor in ρ = σ/α, the x̂₀ slope from the last step)",
        stages: 1,
        history: 1,
        quantity: Quantity::X0,
        stochastic: true,
        order: None,
    },
    SamplerInfo {
        name: "er-sde-3",
        sampler: Sampler::ErSde(3, NoiseScale::Default),
        summary: "ER-SDE-Solver-3 (and the curvature from the two steps before)",
        stages: 1,
        history: 2,
        quantity: Quantity::X0,
        stochastic: true,
        order: None,
    },
    SamplerInfo {
        name: "deis-1",
        sampler: Sampler::Deis(1),
        summary: "DEIS tAB1 (= DDIM in ε form)",
        stages: 1,
        history: 0,
        quantity: Quantity::Eps,
        stochastic: false,
        order: Some(1),
    },
    SamplerInfo {
        name: "deis-2",
        sampler: Sampler::Deis(2),
        summary: "DEIS tAB2: ε extrapolated linearly in t, integrated exactly in ρ",
        stages: 1,
        history: 1,
        quantity: Quantity::Eps,
        stochastic: false,
        order: Some(2),
    },
    SamplerInfo {
        name: "deis-3",
        sampler: Sampler::Deis(3),
        summary: "DEIS tAB3: ε extrapolated quadratically in t",
        stages: 1,
        history: 2,
        quantity: Quantity::Eps,
        stochastic: false,
        order: Some(3),
    },
    SamplerInfo {
        name: "euler-maruyama",
        sampler: Sampler::ReverseEm,
        summary: "Euler–Maruyama on the reverse SDE (baseline)",
        stages: 1,
        history: 0,
        quantity: Quantity::Eps,
        stochastic: true,
        order: None,
    },
    SamplerInfo {
        name: "heun",
        sampler: Sampler::Heun,
        summary: "Heun (EDM) on the probability-flow ODE in x/α and σ/α, 2 calls a step",
        stages: 2,
        history: 0,
        quantity: Quantity::X0,
        stochastic: false,
        order: Some(2),
    },
];

impl Sampler {
    pub fn info(self) -> &'static SamplerInfo {
        SAMPLERS
            .iter()
            .find(|s| {
                s.sampler == self
                    || matches!((s.sampler, self), (Sampler::ErSde(a, _), Sampler::ErSde(b, _)) if a == b)
            })
            .expect("every sampler has a row")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The name with ER-SDE's noise scale when it is not the default (`er-sde-2:x2`), as
    /// [`Sampler::parse`] reads it back.
    pub fn label(self) -> String {
        match self {
            Sampler::ErSde(_, NoiseScale::Linear) => format!("{}:x", self.name()),
            Sampler::ErSde(_, NoiseScale::Square) => format!("{}:x2", self.name()),
            _ => self.name().to_string(),
        }
    }

    /// A sampler by name (`dpmpp-2m`; `_` for `-` and `++` for `pp` are accepted too;
    /// `er-sde-K:x` and `er-sde-K:x2` take φ(x) = x and x²).
    pub fn parse(name: &str) -> Result<Sampler> {
        let norm = name
            .trim()
            .to_ascii_lowercase()
            .replace('_', "-")
            .replace("++", "pp");
        if let Some((base, scale)) = norm.split_once(':') {
            let scale = match scale {
                "x" => NoiseScale::Linear,
                "x2" => NoiseScale::Square,
                _ => return Err(unknown(name)),
            };
            return match Sampler::parse(base) {
                Ok(Sampler::ErSde(k, _)) => Ok(Sampler::ErSde(k, scale)),
                _ => Err(unknown(name)),
            };
        }
        let norm = match norm.as_str() {
            "reverse-em" | "em" => "euler-maruyama",
            "dpm-solver-1" | "dpmpp-1" => "ddim",
            "deis" => "deis-3",
            other => other,
        };
        SAMPLERS
            .iter()
            .find(|s| s.name == norm)
            .map(|s| s.sampler)
            .ok_or_else(|| unknown(name))
    }
}

fn unknown(name: &str) -> Error {
    Error::Input {
        what: "sampler".into(),
        message: format!(
            "unknown sampler `{name}` (one of {}; er-sde-K:x and er-sde-K:x2 set φ)",
            SAMPLERS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// ∫ from ρ_t to ρ_s of w(ρ)/φ(ρ) dρ, as ∫ w(ρ)/ψ(ρ) d(ln ρ) (ψ = φ/x, smooth in ln ρ where
/// 1/φ is not in ρ near 0) by Simpson's rule on 256 intervals. (The reference code sums 100
/// points in ρ.)
fn er_integral(scale: NoiseScale, rho_t: f64, rho_s: f64, w: &dyn Fn(f64) -> f64) -> f64 {
    simpson(
        &|u: f64| w(u.exp()) / scale.psi(u.exp()),
        rho_t.ln(),
        rho_s.ln(),
    )
}

/// ∫ from a to b of f by Simpson's rule on 256 intervals (the tables' integrals: smooth
/// integrands, errors far below the samplers' own).
fn simpson(f: &dyn Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let n = 256;
    let h = (b - a) / n as f64;
    let mut sum = f(a) + f(b);
    for k in 1..n {
        sum += f(a + k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0
}

/// One stage of a step: where the denoiser is called and on what point.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub t: f64,
    pub alpha: f64,
    pub sigma: f64,
    /// Coefficient of x in the stage's point (1 for stage 0).
    pub a: f64,
    /// Coefficients of the earlier stages' outputs (empty for stage 0).
    pub b: Vec<f64>,
}

/// One step's coefficients (see the module comment).
#[derive(Clone, Debug, PartialEq)]
pub struct StepCoef {
    pub stages: Vec<Stage>,
    pub a: f64,
    pub b: Vec<f64>,
    pub c: Vec<f64>,
    pub e: f64,
}

/// Values per step in the flattened table: per stage t, α, σ, a and S − 1 b's; then A, the
/// S B's, the H C's and E.
pub fn width(info: &SamplerInfo) -> usize {
    info.stages * (3 + info.stages) + 2 + info.stages + info.history
}

/// The table as the kernel reads it, step after step ([`width`] values each).
pub fn flatten(info: &SamplerInfo, table: &[StepCoef]) -> Vec<f64> {
    let s = info.stages;
    let mut out = Vec::with_capacity(table.len() * width(info));
    for st in table {
        for stage in &st.stages {
            out.extend([stage.t, stage.alpha, stage.sigma, stage.a]);
            out.extend((0..s - 1).map(|j| stage.b.get(j).copied().unwrap_or(0.0)));
        }
        out.push(st.a);
        out.extend(&st.b);
        out.extend(&st.c);
        out.push(st.e);
    }
    out
}

/// ER-SDE-Solver's default noise-scale function φ(x) = x (e^{x^0.3} + 10).
pub fn er_sde_phi(x: f64) -> f64 {
    x * (x.powf(0.3).exp() + 10.0)
}

/// The time at half log-SNR λ_s + r h: the stage points of singlestep solvers.
fn stage_at(schedule: &Schedule, lambda: f64) -> (f64, f64, f64) {
    let t = schedule.t_of_lambda(lambda);
    (t, schedule.alpha(t), schedule.sigma(t))
}

/// ∫ from s to t of the Lagrange basis polynomial `j` through `nodes` (in t) against dρ,
/// ρ = σ/α: Simpson's rule in ρ (the integrand is smooth in ρ where it is not in t near 0).
fn deis_weight(schedule: &Schedule, s: f64, t: f64, nodes: &[f64], j: usize) -> f64 {
    let rho = |u: f64| (-schedule.lambda(u)).exp();
    let (r0, r1) = (rho(s), rho(t));
    let basis = |u: f64| {
        nodes
            .iter()
            .enumerate()
            .filter(|(m, _)| *m != j)
            .map(|(_, &n)| (u - n) / (nodes[j] - n))
            .product::<f64>()
    };
    simpson(&|r: f64| basis(schedule.t_of_lambda(-r.ln())), r0, r1)
}

/// The steps' coefficients of `sampler` over `times` (decreasing, N + 1 of them).
pub fn table(sampler: Sampler, schedule: &Schedule, times: &[f64]) -> Vec<StepCoef> {
    let n = times.len() - 1;
    let info = sampler.info();
    let at = |t: f64| (t, schedule.alpha(t), schedule.sigma(t), schedule.lambda(t));
    (0..n)
        .map(|i| {
            let (s, a_s, s_s, l_s) = at(times[i]);
            let (t, a_t, s_t, l_t) = at(times[i + 1]);
            let h = l_t - l_s;
            let h_prev =
                |k: usize| schedule.lambda(times[i - k + 1]) - schedule.lambda(times[i - k]);
            let stage0 = Stage {
                t: s,
                alpha: a_s,
                sigma: s_s,
                a: 1.0,
                b: vec![],
            };
            let mut step = StepCoef {
                stages: vec![stage0],
                a: 0.0,
                b: vec![0.0; info.stages],
                c: vec![0.0; info.history],
                e: 0.0,
            };
            let few = n < 15;
            match sampler {
                Sampler::Ddim => {
                    step.a = s_t / s_s;
                    step.b[0] = -a_t * (-h).exp_m1();
                }
                Sampler::Dpmpp2m => {
                    let b = -a_t * (-h).exp_m1();
                    step.a = s_t / s_s;
                    if i == 0 || (few && i + 1 == n) {
                        step.b[0] = b;
                    } else {
                        let r = h_prev(1) / h;
                        step.b[0] = b * (1.0 + 1.0 / (2.0 * r));
                        step.c[0] = -b / (2.0 * r);
                    }
                }
                Sampler::Dpmpp3m => {
                    let phi1 = (-h).exp_m1();
                    step.a = s_t / s_s;
                    let order = if few && i + 1 == n {
                        1
                    } else if few && i + 2 == n {
                        2.min(i + 1)
                    } else {
                        3.min(i + 1)
                    };
                    match order {
                        1 => step.b[0] = -a_t * phi1,
                        2 => {
                            let r = h_prev(1) / h;
                            step.b[0] = -a_t * phi1 * (1.0 + 1.0 / (2.0 * r));
                            step.c[0] = a_t * phi1 / (2.0 * r);
                        }
                        _ => {
                            // In the basis (D₀, H₀, H₁) as the reference's divided differences.
                            let (r0, r1) = (h_prev(1) / h, h_prev(2) / h);
                            let phi2 = phi1 / h + 1.0;
                            let phi3 = phi2 / h - 0.5;
                            let d1_0 = [1.0 / r0, -1.0 / r0, 0.0];
                            let d1_1 = [0.0, 1.0 / r1, -1.0 / r1];
                            let q = r0 / (r0 + r1);
                            let coef = |k: usize| {
                                let d1 = d1_0[k] + q * (d1_0[k] - d1_1[k]);
                                let d2 = (d1_0[k] - d1_1[k]) / (r0 + r1);
                                let own = if k == 0 { -a_t * phi1 } else { 0.0 };
                                own + a_t * phi2 * d1 - a_t * phi3 * d2
                            };
                            step.b[0] = coef(0);
                            step.c[0] = coef(1);
                            step.c[1] = coef(2);
                        }
                    }
                }
                Sampler::SdeDpmpp1 | Sampler::SdeDpmpp2m => {
                    step.a = s_t / s_s * (-h).exp();
                    let b = -a_t * (-2.0 * h).exp_m1();
                    step.e = s_t * (-(-2.0 * h).exp_m1()).sqrt();
                    if sampler == Sampler::SdeDpmpp2m && i > 0 {
                        let r = h_prev(1) / h;
                        step.b[0] = b + 0.5 * b / r;
                        step.c[0] = -0.5 * b / r;
                    } else {
                        step.b[0] = b;
                    }
                }
                Sampler::ErSde(order, scale) => {
                    // r = φ(ρ_t)/φ(ρ_s); the noise α_t √(ρ_t² − ρ_s² r²) = α_t ρ_t √(1 − q²)
                    // with q = ψ(ρ_t)/ψ(ρ_s), ψ(x) = φ(x)/x, so that φ(x) = x gives q = 1 and
                    // no noise exactly, not the square root of a rounding error.
                    let rho = |k: usize| schedule.sigma(times[k]) / schedule.alpha(times[k]);
                    let (rho_s, rho_t) = (s_s / a_s, s_t / a_t);
                    let q = scale.psi(rho_t) / scale.psi(rho_s);
                    let r = q * rho_t / rho_s;
                    step.a = a_t / a_s * r;
                    step.b[0] = a_t * (1.0 - r);
                    step.e = a_t * rho_t * (1.0 - q * q).max(0.0).sqrt();
                    // Taylor terms in ρ, the slope and curvature of x̂₀ by divided
                    // differences over this and the last steps' x̂₀ (basis D₀, H₀, H₁);
                    // orders rise by one a step from 1, as the reference code does.
                    let p = (order as usize).min(i + 1);
                    let phi_t = scale.phi(rho_t);
                    if p >= 2 {
                        let s1 = er_integral(scale, rho_t, rho_s, &|_| 1.0);
                        let k1 = a_t * (rho_t - rho_s + s1 * phi_t);
                        let d = [1.0, -1.0, 0.0].map(|v| v / (rho_s - rho(i - 1)));
                        let mut coef = d.map(|v| k1 * v);
                        if p >= 3 {
                            let s2 = er_integral(scale, rho_t, rho_s, &|r| r - rho_s);
                            let k2 = a_t * ((rho_t - rho_s).powi(2) / 2.0 + s2 * phi_t);
                            let d_prev = [0.0, 1.0, -1.0].map(|v| v / (rho(i - 1) - rho(i - 2)));
                            for k in 0..3 {
                                coef[k] += k2 * 2.0 * (d[k] - d_prev[k]) / (rho_s - rho(i - 2));
                            }
                        }
                        step.b[0] += coef[0];
                        step.c[0] = coef[1];
                        if p >= 3 {
                            step.c[1] = coef[2];
                        }
                    }
                }
                Sampler::DpmSolver2 => {
                    let r1 = 0.5;
                    let (t1, a1, s1) = stage_at(schedule, l_s + r1 * h);
                    step.stages.push(Stage {
                        t: t1,
                        alpha: a1,
                        sigma: s1,
                        a: a1 / a_s,
                        b: vec![-s1 * (r1 * h).exp_m1()],
                    });
                    let e = s_t * h.exp_m1();
                    step.a = a_t / a_s;
                    step.b[0] = -e + e / (2.0 * r1);
                    step.b[1] = -e / (2.0 * r1);
                }
                Sampler::DpmSolver3 => {
                    let (r1, r2) = (1.0 / 3.0, 2.0 / 3.0);
                    let (t1, a1, s1) = stage_at(schedule, l_s + r1 * h);
                    let (t2, a2, s2) = stage_at(schedule, l_s + r2 * h);
                    step.stages.push(Stage {
                        t: t1,
                        alpha: a1,
                        sigma: s1,
                        a: a1 / a_s,
                        b: vec![-s1 * (r1 * h).exp_m1()],
                    });
                    // u₂ = (α₂/α_s) x − σ₂ (e^{r₂h} − 1) ε_s − σ₂ (r₂/r₁) φ (ε₁ − ε_s),
                    // φ = (e^{r₂h} − 1)/(r₂h) − 1.
                    let phi = (r2 * h).exp_m1() / (r2 * h) - 1.0;
                    let k2 = s2 * r2 / r1 * phi;
                    step.stages.push(Stage {
                        t: t2,
                        alpha: a2,
                        sigma: s2,
                        a: a2 / a_s,
                        b: vec![-s2 * (r2 * h).exp_m1() + k2, -k2],
                    });
                    // x_t = (α_t/α_s) x − σ_t (e^h − 1) ε_s − (σ_t/r₂)((e^h − 1)/h − 1)(ε₂ − ε_s).
                    let k = s_t / r2 * (h.exp_m1() / h - 1.0);
                    step.a = a_t / a_s;
                    step.b[0] = -s_t * h.exp_m1() + k;
                    step.b[2] = -k;
                }
                Sampler::Deis(order) => {
                    // x_t/α_t = x_s/α_s + ∫ ε dρ, ε extrapolated through this and earlier
                    // steps' start times (fewer at the start).
                    let p = (order as usize).min(i + 1);
                    let nodes: Vec<f64> = (0..p).map(|k| times[i - k]).collect();
                    step.a = a_t / a_s;
                    for j in 0..p {
                        let w = a_t * deis_weight(schedule, s, t, &nodes, j);
                        if j == 0 {
                            step.b[0] = w;
                        } else {
                            step.c[j - 1] = w;
                        }
                    }
                }
                Sampler::ReverseEm => {
                    // dx = [f x + g² ε/σ] dt + g dW̄ backwards in t, f = d log α/dt,
                    // g² = −2 σ² dλ/dt.
                    let f = schedule.dlog_alpha(s);
                    let g2 = -2.0 * s_s * s_s * schedule.dlambda(s);
                    let dt = t - s;
                    step.a = 1.0 + f * dt;
                    step.b[0] = g2 / s_s * dt;
                    step.e = (g2 * -dt).sqrt();
                }
                Sampler::Heun => {
                    let (rho_s, rho_t) = (s_s / a_s, s_t / a_t);
                    let dr = rho_t - rho_s;
                    // The Euler point and the trapezoid, in x/α, written out in x, D₀, D₁.
                    step.stages.push(Stage {
                        t,
                        alpha: a_t,
                        sigma: s_t,
                        a: a_t / a_s * (1.0 + dr / rho_s),
                        b: vec![-a_t * dr / rho_s],
                    });
                    step.a = a_t / a_s
                        * (1.0 + dr / (2.0 * rho_s) + dr * (1.0 + dr / rho_s) / (2.0 * rho_t));
                    step.b[0] = -a_t * (dr / (2.0 * rho_s) + dr * dr / (2.0 * rho_s * rho_t));
                    step.b[1] = -a_t * dr / (2.0 * rho_t);
                }
            }
            step
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sampler_parses_by_name_and_its_table_has_its_shape() {
        let s = Schedule::VP_LINEAR;
        let (end, start) = s.t_range();
        let times =
            crate::diffusion::times(&s, crate::diffusion::Grid::UniformLambda, start, end, 6)
                .unwrap();
        for info in SAMPLERS {
            assert_eq!(Sampler::parse(info.name).unwrap(), info.sampler);
            let t = table(info.sampler, &s, &times);
            assert_eq!(flatten(info, &t).len(), 6 * width(info), "{}", info.name);
            assert!(
                flatten(info, &t).iter().all(|v| v.is_finite()),
                "{}",
                info.name
            );
            assert_eq!(t[0].stages.len(), info.stages);
            assert_eq!(t[0].e != 0.0, info.stochastic, "{}", info.name);
        }
        assert_eq!(Sampler::parse("DPM++_2M").unwrap(), Sampler::Dpmpp2m);
        assert_eq!(
            Sampler::parse("er-sde-3:x2").unwrap(),
            Sampler::ErSde(3, NoiseScale::Square)
        );
        assert_eq!(
            Sampler::parse("er_sde_1:x").unwrap(),
            Sampler::ErSde(1, NoiseScale::Linear)
        );
        for bad in ["er-sde-1:x3", "ddim:x", "er-sde-4"] {
            let e = Sampler::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("unknown sampler `{bad}`")), "{e}");
        }
        let e = Sampler::parse("plms").unwrap_err().to_string();
        assert!(
            e.contains("unknown sampler `plms`") && e.contains("heun"),
            "{e}"
        );
    }
}
