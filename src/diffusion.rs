//! Diffusion models' noise schedules, their step grids and an exact denoiser, in f64 on the
//! host (issue 14; the samplers that use them come later). A schedule gives the marginal
//! x_t = α_t x_0 + σ_t ε of its forward process; samplers step in the half log-SNR
//! λ_t = log α_t − log σ_t, or in ρ_t = σ_t / α_t = e^{−λ_t} (EDM's σ). Per-step coefficients
//! are the same for every trajectory: they come from here, once per run, as a table.
//! Sources: LuChengTHU/dpm-solver (`NoiseScheduleVP`), Karras et al. 2022 (EDM), and
//! `../shared/guide/samplers-and-brownian-trees.md`.

use crate::error::{Error, Result};

/// A forward process's schedule over t in (0, `t_end`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Variance preserving with β(t) linear from `beta0` to `beta1` over [0, 1]:
    /// log α_t = −¼ t² (β₁ − β₀) − ½ t β₀ (DDPM's, continuous; β 0.1 to 20).
    VpLinear { beta0: f64, beta1: f64 },
    /// Variance preserving, cosine (Nichol & Dhariwal, offset `s`, 0.008):
    /// α_t = cos(((t + s)/(1 + s)) π/2) / cos((s/(1 + s)) π/2), on t ≤ 0.9946 as in the
    /// reference code (beyond, λ falls off a cliff).
    VpCosine { s: f64 },
    /// Variance exploding: α = 1, σ_t = σ_min (σ_max/σ_min)^t.
    Ve { sigma_min: f64, sigma_max: f64 },
    /// EDM (Karras et al.): α = 1 and time is σ, on [σ_min, σ_max].
    Edm { sigma_min: f64, sigma_max: f64 },
}

/// softplus(x) = log(1 + e^x), without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

impl Schedule {
    /// The schedules as the references set them up.
    pub const VP_LINEAR: Schedule = Schedule::VpLinear {
        beta0: 0.1,
        beta1: 20.0,
    };
    pub const VP_COSINE: Schedule = Schedule::VpCosine { s: 0.008 };
    pub const EDM: Schedule = Schedule::Edm {
        sigma_min: 0.002,
        sigma_max: 80.0,
    };

    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        let bad = |message: String| {
            Err(Error::Input {
                what: "schedule".into(),
                message,
            })
        };
        match *self {
            Schedule::VpLinear { beta0, beta1 } if !(beta0 >= 0.0 && beta1 > beta0) => bad(
                format!("linear VP needs 0 <= beta0 < beta1, got {beta0}, {beta1}"),
            ),
            Schedule::VpCosine { s } if !(s > 0.0 && s < 1.0) => {
                bad(format!("cosine VP needs 0 < s < 1, got {s}"))
            }
            Schedule::Ve {
                sigma_min,
                sigma_max,
            }
            | Schedule::Edm {
                sigma_min,
                sigma_max,
            } if !(sigma_min > 0.0 && sigma_max > sigma_min && sigma_max.is_finite()) => bad(
                format!("needs 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}"),
            ),
            _ => Ok(()),
        }
    }

    /// The times the schedule is defined on: (earliest sampling end, start).
    pub fn t_range(&self) -> (f64, f64) {
        match *self {
            Schedule::VpLinear { .. } => (1e-3, 1.0),
            Schedule::VpCosine { .. } => (1e-3, 0.9946),
            Schedule::Ve { .. } => (0.0, 1.0),
            Schedule::Edm {
                sigma_min,
                sigma_max,
            } => (sigma_min, sigma_max),
        }
    }

    /// log α_t.
    pub fn log_alpha(&self, t: f64) -> f64 {
        match *self {
            Schedule::VpLinear { beta0, beta1 } => {
                -0.25 * t * t * (beta1 - beta0) - 0.5 * t * beta0
            }
            Schedule::VpCosine { s } => {
                let f = |u: f64| {
                    ((u + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .ln()
                };
                f(t) - f(0.0)
            }
            Schedule::Ve { .. } | Schedule::Edm { .. } => 0.0,
        }
    }

    /// d log α / dt (the forward SDE's drift coefficient f(t)).
    pub fn dlog_alpha(&self, t: f64) -> f64 {
        match *self {
            Schedule::VpLinear { beta0, beta1 } => -0.5 * t * (beta1 - beta0) - 0.5 * beta0,
            Schedule::VpCosine { s } => {
                let k = std::f64::consts::FRAC_PI_2 / (1.0 + s);
                -((t + s) * k).tan() * k
            }
            Schedule::Ve { .. } | Schedule::Edm { .. } => 0.0,
        }
    }

    /// dλ/dt (negative: the forward SDE's g² is −2 σ² dλ/dt).
    pub fn dlambda(&self, t: f64) -> f64 {
        match *self {
            Schedule::VpLinear { .. } | Schedule::VpCosine { .. } => {
                let s = self.sigma(t);
                self.dlog_alpha(t) / (s * s)
            }
            Schedule::Ve {
                sigma_min,
                sigma_max,
            } => -(sigma_max / sigma_min).ln(),
            Schedule::Edm { .. } => -1.0 / t,
        }
    }

    pub fn alpha(&self, t: f64) -> f64 {
        self.log_alpha(t).exp()
    }

    /// σ_t (VP: √(1 − α²), computed as √(−expm1(2 log α)) so it stays accurate near t = 0).
    pub fn sigma(&self, t: f64) -> f64 {
        match *self {
            Schedule::VpLinear { .. } | Schedule::VpCosine { .. } => {
                (-(2.0 * self.log_alpha(t)).exp_m1()).sqrt()
            }
            Schedule::Ve {
                sigma_min,
                sigma_max,
            } => sigma_min * (sigma_max / sigma_min).powf(t),
            Schedule::Edm { .. } => t,
        }
    }

    /// λ_t = log α_t − log σ_t.
    pub fn lambda(&self, t: f64) -> f64 {
        match *self {
            Schedule::VpLinear { .. } | Schedule::VpCosine { .. } => {
                let la = self.log_alpha(t);
                la - 0.5 * (-(2.0 * la).exp_m1()).ln()
            }
            _ => -self.sigma(t).ln(),
        }
    }

    /// The time of half log-SNR `lambda` (the inverse of [`Schedule::lambda`]).
    pub fn t_of_lambda(&self, lambda: f64) -> f64 {
        match *self {
            Schedule::VpLinear { beta0, beta1 } => {
                // log α = −½ log(1 + e^{−2λ}) = −½ L; solve the quadratic in t.
                let l = softplus(-2.0 * lambda);
                let d = beta1 - beta0;
                2.0 * d * l / (((beta0 * beta0 + 2.0 * d * l).sqrt() + beta0) * d)
            }
            Schedule::VpCosine { s } => {
                let log_alpha = -0.5 * softplus(-2.0 * lambda);
                let c0 = (s / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos();
                (log_alpha.exp() * c0).acos() * 2.0 * (1.0 + s) / std::f64::consts::PI - s
            }
            Schedule::Ve {
                sigma_min,
                sigma_max,
            } => (-lambda - sigma_min.ln()) / (sigma_max / sigma_min).ln(),
            Schedule::Edm { .. } => (-lambda).exp(),
        }
    }
}

/// How a sampler's N steps divide [t_end, t_start] (times run from t_start down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Grid {
    /// Uniform in t.
    UniformT,
    /// Uniform in λ ("logSNR" in dpm-solver).
    UniformLambda,
    /// Uniform in √t ("time_quadratic").
    Quadratic,
    /// Karras et al.: uniform in ρ^{1/rho} with ρ = σ/α = e^{−λ} (EDM's σ), rho = 7.
    Karras { rho: f64 },
}

/// The N + 1 times of `steps` steps from `t_start` down to `t_end` under `grid`.
pub fn times(
    schedule: &Schedule,
    grid: Grid,
    t_start: f64,
    t_end: f64,
    steps: usize,
) -> Result<Vec<f64>> {
    schedule.check()?;
    // (NaN ends are refused too: every comparison with NaN is false)
    if t_start.partial_cmp(&t_end) != Some(std::cmp::Ordering::Greater) || steps == 0 {
        return Err(Error::Input {
            what: "time grid".into(),
            message: format!(
                "needs t_start > t_end and at least one step, got {t_start}, {t_end}, {steps} steps"
            ),
        });
    }
    let n = steps as f64;
    let lerp = |a: f64, b: f64, i: usize| a + (b - a) * (i as f64 / n);
    let out: Vec<f64> = (0..=steps)
        .map(|i| match grid {
            Grid::UniformT => lerp(t_start, t_end, i),
            Grid::UniformLambda => {
                let (a, b) = (schedule.lambda(t_start), schedule.lambda(t_end));
                schedule.t_of_lambda(lerp(a, b, i))
            }
            Grid::Quadratic => lerp(t_start.sqrt(), t_end.sqrt(), i).powi(2),
            Grid::Karras { rho } => {
                let rho_of = |t: f64| (-schedule.lambda(t)).exp().powf(1.0 / rho);
                let r = lerp(rho_of(t_start), rho_of(t_end), i).powf(rho);
                schedule.t_of_lambda(-r.ln())
            }
        })
        .collect();
    // The ends exactly as asked (an inverse may round them).
    let mut out = out;
    out[0] = t_start;
    out[steps] = t_end;
    Ok(out)
}

/// Data from a Gaussian mixture with diagonal covariances, and the exact noise prediction
/// and denoiser of its noised marginal p_t = Σ_k w_k N(α_t μ_k, α_t² S_k + σ_t² I): the
/// oracle samplers are measured against.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    /// Normalised weights, one per component.
    pub weights: Vec<f64>,
    /// Per component, its mean (dimension d).
    pub means: Vec<Vec<f64>>,
    /// Per component, its variances (the diagonal of S_k).
    pub vars: Vec<Vec<f64>>,
}

impl Mixture {
    /// Checks the shapes (dimension 1..=16, positive weights and variances) and normalises
    /// the weights.
    pub fn new(weights: &[f64], means: &[Vec<f64>], vars: &[Vec<f64>]) -> Result<Mixture> {
        let bad = |message: String| {
            Err(Error::Input {
                what: "mixture".into(),
                message,
            })
        };
        let k = weights.len();
        let d = means.first().map_or(0, |m| m.len());
        if k == 0 || means.len() != k || vars.len() != k {
            return bad(format!(
                "{k} weights, {} means and {} variance vectors: give one of each per component",
                means.len(),
                vars.len()
            ));
        }
        if !(1..=16).contains(&d) || means.iter().chain(vars).any(|v| v.len() != d) {
            return bad("every mean and variance vector needs the same dimension, 1 to 16".into());
        }
        if weights.iter().any(|w| !(*w > 0.0 && w.is_finite()))
            || vars.iter().flatten().any(|v| !(*v > 0.0 && v.is_finite()))
            || means.iter().flatten().any(|m| !m.is_finite())
        {
            return bad("weights and variances must be positive and finite, means finite".into());
        }
        let total: f64 = weights.iter().sum();
        Ok(Mixture {
            weights: weights.iter().map(|w| w / total).collect(),
            means: means.to_vec(),
            vars: vars.to_vec(),
        })
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }

    /// Responsibilities r_k(x) of the components of p_t at x (a softmax of log-densities).
    fn responsibilities(&self, alpha: f64, sigma: f64, x: &[f64]) -> Vec<f64> {
        let logs: Vec<f64> = (0..self.weights.len())
            .map(|k| self.weights[k].ln() + self.log_component(k, alpha, sigma, x))
            .collect();
        let top = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    fn log_component(&self, k: usize, alpha: f64, sigma: f64, x: &[f64]) -> f64 {
        (0..self.dim())
            .map(|c| {
                let v = alpha * alpha * self.vars[k][c] + sigma * sigma;
                let r = x[c] - alpha * self.means[k][c];
                -0.5 * (r * r / v + (2.0 * std::f64::consts::PI * v).ln())
            })
            .sum()
    }

    /// An exact draw of p_t: component k chosen by `u` in [0, 1) against the cumulative
    /// weights, then α_t μ_k + √(α_t² S_k + σ_t²) z with `z` standard normals (one per
    /// component). Samplers start from such draws of p_T, so only their own error is
    /// measured.
    pub fn sample_noised(&self, alpha: f64, sigma: f64, u: f64, z: &[f64]) -> Vec<f64> {
        let mut k = 0;
        let mut acc = self.weights[0];
        while u >= acc && k + 1 < self.weights.len() {
            k += 1;
            acc += self.weights[k];
        }
        (0..self.dim())
            .map(|c| {
                let v = alpha * alpha * self.vars[k][c] + sigma * sigma;
                alpha * self.means[k][c] + v.sqrt() * z[c]
            })
            .collect()
    }

    /// log p_t(x).
    pub fn log_density(&self, alpha: f64, sigma: f64, x: &[f64]) -> f64 {
        let logs: Vec<f64> = (0..self.weights.len())
            .map(|k| self.weights[k].ln() + self.log_component(k, alpha, sigma, x))
            .collect();
        let top = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln()
    }

    /// ε*(x, t) = σ_t Σ_k r_k V_k⁻¹ (x − α_t μ_k) = −σ_t ∇ log p_t(x).
    pub fn eps(&self, alpha: f64, sigma: f64, x: &[f64]) -> Vec<f64> {
        let r = self.responsibilities(alpha, sigma, x);
        (0..self.dim())
            .map(|c| {
                sigma
                    * (0..r.len())
                        .map(|k| {
                            let v = alpha * alpha * self.vars[k][c] + sigma * sigma;
                            r[k] * (x[c] - alpha * self.means[k][c]) / v
                        })
                        .sum::<f64>()
            })
            .collect()
    }

    /// x̂₀*(x, t) = E[x₀ | x_t = x] = Σ_k r_k [μ_k + α_t S_k V_k⁻¹ (x − α_t μ_k)].
    pub fn x0(&self, alpha: f64, sigma: f64, x: &[f64]) -> Vec<f64> {
        let r = self.responsibilities(alpha, sigma, x);
        (0..self.dim())
            .map(|c| {
                (0..r.len())
                    .map(|k| {
                        let s = self.vars[k][c];
                        let v = alpha * alpha * s + sigma * sigma;
                        r[k] * (self.means[k][c]
                            + alpha * s / v * (x[c] - alpha * self.means[k][c]))
                    })
                    .sum::<f64>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Schedule; 4] = [
        Schedule::VP_LINEAR,
        Schedule::VP_COSINE,
        Schedule::Ve {
            sigma_min: 0.01,
            sigma_max: 50.0,
        },
        Schedule::EDM,
    ];

    #[test]
    fn linear_vp_has_the_reference_log_snr_at_its_ends() {
        let s = Schedule::VP_LINEAR;
        // dpm-solver's NoiseScheduleVP: λ(1) ≈ −5.025, λ(1e-3) ≈ 4.558.
        assert!((s.lambda(1.0) + 5.025).abs() < 1e-3, "{}", s.lambda(1.0));
        assert!((s.lambda(1e-3) - 4.558).abs() < 1e-3, "{}", s.lambda(1e-3));
    }

    #[test]
    fn every_schedule_inverts_its_log_snr_and_vp_preserves_variance() {
        for s in ALL {
            let (t0, t1) = s.t_range();
            for i in 0..=50 {
                let t = t0.max(1e-4) + (t1 - t0.max(1e-4)) * i as f64 / 50.0;
                let back = s.t_of_lambda(s.lambda(t));
                assert!((back - t).abs() <= 1e-9 * t.max(1.0), "{s:?} t {t}: {back}");
                let (a, sg) = (s.alpha(t), s.sigma(t));
                assert!(
                    (s.lambda(t) - (a.ln() - sg.ln())).abs() < 1e-9,
                    "{s:?} t {t}"
                );
                if matches!(s, Schedule::VpLinear { .. } | Schedule::VpCosine { .. }) {
                    assert!((a * a + sg * sg - 1.0).abs() < 1e-12, "{s:?} t {t}");
                }
            }
            // λ decreases with t: noise grows.
            assert!(s.lambda(t1) < s.lambda(0.5 * (t0 + t1)), "{s:?}");
        }
    }

    #[test]
    fn grids_run_from_start_to_end_as_their_names_say() {
        for s in ALL {
            let (end, start) = s.t_range();
            let end = end.max(1e-3);
            for grid in [
                Grid::UniformT,
                Grid::UniformLambda,
                Grid::Quadratic,
                Grid::Karras { rho: 7.0 },
            ] {
                let t = times(&s, grid, start, end, 10).unwrap();
                assert_eq!((t.len(), t[0], t[10]), (11, start, end), "{s:?} {grid:?}");
                assert!(t.windows(2).all(|w| w[1] < w[0]), "{s:?} {grid:?} {t:?}");
                // The quantity each grid is uniform in has equal differences.
                let q: Vec<f64> = match grid {
                    Grid::UniformT => t.clone(),
                    Grid::UniformLambda => t.iter().map(|&u| s.lambda(u)).collect(),
                    Grid::Quadratic => t.iter().map(|u| u.sqrt()).collect(),
                    Grid::Karras { rho } => t
                        .iter()
                        .map(|&u| (-s.lambda(u)).exp().powf(1.0 / rho))
                        .collect(),
                };
                let d0 = q[1] - q[0];
                for w in q.windows(2) {
                    assert!(
                        ((w[1] - w[0]) - d0).abs() < 1e-7 * d0.abs().max(1e-3),
                        "{s:?} {grid:?}"
                    );
                }
            }
        }
        // EDM's Karras grid is the paper's σ_i.
        let t = times(&Schedule::EDM, Grid::Karras { rho: 7.0 }, 80.0, 0.002, 18).unwrap();
        let (a, b) = (80f64.powf(1.0 / 7.0), 0.002f64.powf(1.0 / 7.0));
        for (i, &ti) in t.iter().enumerate() {
            let want = (a + i as f64 / 18.0 * (b - a)).powi(7);
            assert!((ti - want).abs() <= 1e-9 * want, "{i}: {ti} vs {want}");
        }
        assert!(times(&Schedule::EDM, Grid::UniformT, 1.0, 2.0, 4).is_err());
        assert!(Schedule::Ve {
            sigma_min: 1.0,
            sigma_max: 0.5
        }
        .check()
        .is_err());
    }

    /// Draws of p_t have its mean Σ w α μ and variance Σ w (α² S + σ² + α² μ²) − mean²
    /// (4 standard errors over 40000 draws, per component).
    #[test]
    fn exact_draws_have_the_noised_mixture_moments() {
        let m = Mixture::new(
            &[0.2, 0.8],
            &[vec![-2.0, 1.0], vec![1.0, 0.0]],
            &[vec![0.3, 0.5], vec![0.2, 0.1]],
        )
        .unwrap();
        let (a, s) = (0.6, 0.8);
        let n = 40000u32;
        let key = [1, 2];
        let draws: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let w = crate::rng::philox4x32_10([i, 0, 0, 0], key);
                let u = w[0] as f64 / 4294967296.0;
                let z = [1, 2].map(|c| crate::rng::noise(key, i, 1, c, 2) as f64);
                m.sample_noised(a, s, u, &z)
            })
            .collect();
        for c in 0..2 {
            let mean_exact: f64 = (0..2).map(|k| m.weights[k] * a * m.means[k][c]).sum();
            let second: f64 = (0..2)
                .map(|k| {
                    let mu = a * m.means[k][c];
                    m.weights[k] * (a * a * m.vars[k][c] + s * s + mu * mu)
                })
                .sum();
            let var_exact = second - mean_exact * mean_exact;
            let mean = draws.iter().map(|d| d[c]).sum::<f64>() / n as f64;
            assert!(
                (mean - mean_exact).abs() < 4.0 * (var_exact / n as f64).sqrt(),
                "component {c}: mean {mean} vs {mean_exact}"
            );
            let var = draws.iter().map(|d| (d[c] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            // The sample variance's standard error is √((μ₄ − var²)/n): this bound holds
            // for a kurtosis μ₄/var² up to 7 (a Gaussian's is 3, these two-mode mixtures'
            // less), so the tolerance is at least 4 standard errors.
            let se_var = var_exact * (6.0 / n as f64).sqrt();
            assert!(
                (var - var_exact).abs() < 4.0 * se_var,
                "component {c}: var {var} vs {var_exact}"
            );
        }
    }

    #[test]
    fn mixture_noise_prediction_is_minus_sigma_times_the_score() {
        let m = Mixture::new(
            &[0.2, 0.5, 0.3],
            &[vec![-2.0, 1.0], vec![1.5, 0.0], vec![0.0, -3.0]],
            &[vec![0.3, 0.5], vec![0.2, 0.1], vec![1.0, 0.4]],
        )
        .unwrap();
        let s = Schedule::VP_LINEAR;
        for &t in &[0.05, 0.3, 0.9] {
            let (a, sg) = (s.alpha(t), s.sigma(t));
            for x in [[0.3, -0.7], [-1.9, 1.2], [2.0, 2.0]] {
                let eps = m.eps(a, sg, &x);
                let h = 1e-5;
                for c in 0..2 {
                    let (mut up, mut down) = (x, x);
                    up[c] += h;
                    down[c] -= h;
                    let score =
                        (m.log_density(a, sg, &up) - m.log_density(a, sg, &down)) / (2.0 * h);
                    assert!((eps[c] + sg * score).abs() < 1e-6, "t {t} x {x:?} c {c}");
                }
                // Tweedie: x = α x̂₀ + σ ε̂ for the exact pair.
                let x0 = m.x0(a, sg, &x);
                for c in 0..2 {
                    assert!(
                        (a * x0[c] + sg * eps[c] - x[c]).abs() < 1e-9,
                        "t {t} x {x:?}"
                    );
                }
            }
        }
        // One component: the posterior mean of a Gaussian.
        let g = Mixture::new(&[1.0], &[vec![2.0]], &[vec![0.5]]).unwrap();
        let (a, sg) = (0.8, 0.6);
        let want = 2.0 + a * 0.5 / (a * a * 0.5 + sg * sg) * (1.0 - a * 2.0);
        assert!((g.x0(a, sg, &[1.0])[0] - want).abs() < 1e-12);
        assert!(Mixture::new(&[1.0], &[vec![0.0; 17]], &[vec![1.0; 17]]).is_err());
        assert!(Mixture::new(
            &[1.0, -1.0],
            &[vec![0.0], vec![1.0]],
            &[vec![1.0], vec![1.0]]
        )
        .is_err());
    }
}
