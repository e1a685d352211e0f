//! The chaos toolkit: tangents derived from the user's WGSL, and Lyapunov exponents.

mod common;

use rand::{Rng, SeedableRng};
use throng::chaos::{self, LyapunovOptions};
use throng::kernel::Target;
use throng::system::Kind;
use throng::{Ensemble, Error, Init, Method, Noise, Precision, System, TimeGrid};

/// The largest difference between the derived J·v and central differences at points near
/// each catalog ODE's x0, relative to the scale of the values, in f64 where the kernel can
/// be f64 (no f64 transcendentals on Vulkan) and in f32 otherwise.
#[test]
fn derived_tangents_match_central_differences_for_every_catalog_ode() {
    let ctx = common::ctx();
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut checked = 0;
    for sys in throng::catalog::all() {
        if sys.noise != Noise::None {
            continue;
        }
        let d = sys.dim();
        let x0 = sys.defaults.x0.clone().unwrap_or(vec![0.5; d]);
        // Maps are differentiated the same way (their `drift` is the next state).
        let method = if sys.kind == Kind::Map {
            Method::Iterate
        } else {
            Method::Rk4
        };
        let f64_job = Ensemble::new(sys.clone(), 1)
            .precision(Precision::F64)
            .job(method, TimeGrid::new(0.0, 0.01, 1))
            .unwrap();
        let target = Target {
            int64: false,
            lanes: 1,
            segmented: false,
            open_ended: false,
            dense: false,
        };
        let wide = throng::kernel::integrate(&f64_job, target).is_ok();
        let job = if wide {
            f64_job
        } else {
            Ensemble::new(sys.clone(), 1)
                .job(method, TimeGrid::new(0.0, 0.01, 1))
                .unwrap()
        };
        let points: Vec<(f64, Vec<f64>, Vec<f64>, f64)> = (0..8)
            .map(|_| {
                let x: Vec<f64> = x0.iter().map(|v| v + rng.random_range(-0.5..0.5)).collect();
                let v: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
                let scale = 1.0 + x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                // Steps balancing truncation (h^2) and rounding (eps / h).
                let h = if wide { 1e-5 } else { 3e-3 } * scale;
                (rng.random_range(0.0..1.0), x, v, h)
            })
            .collect();
        let res = chaos::probe(&ctx, &job, &points).unwrap_or_else(|e| panic!("{}: {e}", sys.name));
        for (p, r) in points.iter().zip(&res) {
            let h = p.3;
            let fmax = r.f.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let jmax = r.jv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for c in 0..d {
                let fd = (r.f_plus[c] - r.f_minus[c]) / (2.0 * h);
                // f64: truncation h^2 |f'''| and rounding 1e-16 |f| / h stay below 1e-6 of the
                // scale; f32: rounding 6e-8 |f| / h is about 2e-5 |f| at h = 3e-3, so 1e-3.
                let tol = if wide { 1e-6 } else { 1e-3 } * (1.0 + jmax + fmax);
                assert!(
                    (r.jv[c] - fd).abs() <= tol,
                    "{} ({}) at {:?} along {:?}: J v [{c}] = {} but central difference {fd}",
                    sys.name,
                    if wide { "f64" } else { "f32" },
                    p.1,
                    p.2,
                    r.jv[c]
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked} catalog ODEs");
}

#[test]
fn a_linear_system_s_tangent_is_its_matrix_exactly() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "linear2",
        &["u", "v"],
        &[("a", -0.5), ("b", 2.0), ("c", -3.0), ("e", 0.25)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a * x[0] + p.b * x[1], p.c * x[0] + p.e * x[1]);\n}\n",
    )
    .unwrap();
    let job = Ensemble::new(sys, 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
        .unwrap();
    let pts = vec![(0.0, vec![0.3, -0.7], vec![1.5, 0.25], 1e-3)];
    let r = &chaos::probe(&ctx, &job, &pts).unwrap()[0];
    let (a, b, c, e) = (-0.5f32, 2.0f32, -3.0f32, 0.25f32);
    assert_eq!(r.jv[0], (a * 1.5 + b * 0.25) as f64);
    assert_eq!(r.jv[1], (c * 1.5 + e * 0.25) as f64);
}

#[test]
fn what_cannot_be_differentiated_is_refused_at_the_user_s_line() {
    let sys = System::wgsl(
        "smooth",
        &["x"],
        &[],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    let k = x[0] * 2.0;\n    return S(smoothstep(0.0, 1.0, k));\n}\n",
    )
    .unwrap();
    let job = Ensemble::new(sys, 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
        .unwrap();
    let e = chaos::derivatives(&job, 1).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Shader { .. }), "{text}");
    assert!(text.contains("<smooth>:3:14"), "{text}");
    assert!(text.contains("`smoothstep`"), "{text}");
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

fn opts(exponents: usize, transient: u64) -> LyapunovOptions {
    LyapunovOptions {
        exponents,
        renorm: 10,
        transient,
        lanes: None,
        separation: None,
    }
}

/// Lorenz at σ=10, ρ=28, β=8/3: (0.906, 0, −14.572), and the sum is −(σ+1+β) exactly.
#[test]
fn lorenz_spectrum_and_the_trace_identity() {
    let ctx = common::ctx();
    let ens = Ensemble::new(System::builtin("lorenz").unwrap(), 64)
        .x0(&[1.0, 1.0, 20.0])
        .init(Init::Normal(vec![2.0, 2.0, 2.0]))
        .seed(3);
    let l = chaos::lyapunov(
        &ctx,
        &ens,
        Method::Rk4,
        TimeGrid::new(0.0, 0.01, 100_000),
        &opts(3, 2000),
    )
    .unwrap();
    assert_eq!((l.blocks, l.time), (9800, 980.0));
    let (l1, l2, l3) = (
        mean_sd(&l.exponent(0)).0,
        mean_sd(&l.exponent(1)).0,
        mean_sd(&l.exponent(2)).0,
    );
    assert!((l1 - 0.906).abs() < 0.01, "λ1 {l1}");
    assert!(l2.abs() < 0.01, "λ2 {l2}");
    let trace = -(10.0 + 1.0 + 8.0 / 3.0);
    assert!(
        (l1 + l2 + l3 - trace).abs() < 1e-3,
        "sum {} against {trace}",
        l1 + l2 + l3
    );
    // Per trajectory too: every trajectory's sum is the trace.
    for i in 0..l.paths as usize {
        let s: f64 = l.exponents[i * 3..][..3].iter().sum();
        assert!((s - trace).abs() < 2e-3, "trajectory {i}: sum {s}");
    }
}

fn dopri5() -> Method {
    Method::Dopri5(throng::method::Controller::default())
}

/// Lorenz under dopri5 (rtol = atol = 1e-6), whose error norm holds the tangents too. λ1
/// within 0.02 of 0.906 (the mean's standard error over the trajectories is about 0.002),
/// λ2 near 0, and the trace identity: every trajectory's sum is −(σ+1+β) exactly for the
/// exact flow (Liouville), and dopri5 keeps each step's error in every tangent row near
/// rtol relative, so the log-volume drifts by at most about 3 rtol per step: with ~50
/// steps per unit time, 1.5e-4 per unit time; the f32 logs and the clock add far less.
/// Hence 1e-3 on the mean and 2e-3 per trajectory, as for RK4.
#[test]
fn lorenz_spectrum_and_the_trace_identity_under_dopri5() {
    let ctx = common::ctx();
    let ens = Ensemble::new(System::builtin("lorenz").unwrap(), 64)
        .x0(&[1.0, 1.0, 20.0])
        .init(Init::Normal(vec![2.0, 2.0, 2.0]))
        .seed(3);
    let l = chaos::lyapunov(
        &ctx,
        &ens,
        dopri5(),
        TimeGrid::until(0.0, 200.0, 20_000),
        &opts(3, 2000),
    )
    .unwrap();
    let (l1, l2, l3) = (
        mean_sd(&l.exponent(0)),
        mean_sd(&l.exponent(1)),
        mean_sd(&l.exponent(2)),
    );
    assert_eq!(l.unfinished, 0);
    // Every trajectory's blocks lie within t1 = 200, after its 2000 transient steps.
    for i in 0..l.paths as usize {
        assert!(
            l.counts[i] > 0 && l.times[i] > 0.0 && l.times[i] < 200.0,
            "trajectory {i}: {} blocks over t = {}",
            l.counts[i],
            l.times[i]
        );
    }
    assert!((l1.0 - 0.906).abs() < 0.02, "λ1 {l1:?}");
    assert!(l2.0.abs() < 0.01, "λ2 {l2:?}");
    let trace = -(10.0 + 1.0 + 8.0 / 3.0);
    let sum = l1.0 + l2.0 + l3.0;
    assert!((sum - trace).abs() < 1e-3, "sum {sum} against {trace}");
    for i in 0..l.paths as usize {
        let s: f64 = l.exponents[i * 3..][..3].iter().sum();
        assert!((s - trace).abs() < 2e-3, "trajectory {i}: sum {s}");
    }
    // The stderr weights each block's rate by its length. RK4 with blocks of dopri5's mean
    // length, over the same time after as many steps, estimates the same spread of block
    // rates: the mean stderrs agree within 25% (λ1: 0.135 and 0.146 when tried, about 8x
    // the trajectories' spread, as documented).
    let h = l.time / (l.blocks as f64 * 10.0);
    let counted = (l.time / h) as u64 / 10 * 10;
    let rk4 = chaos::lyapunov(
        &ctx,
        &ens,
        Method::Rk4,
        TimeGrid::new(0.0, h, 2000 + counted),
        &opts(3, 2000),
    )
    .unwrap();
    let mean_se = |l: &chaos::Lyapunov, j: usize| {
        (0..l.paths as usize)
            .map(|i| l.stderr[i * 3 + j])
            .sum::<f64>()
            / l.paths as f64
    };
    for j in 0..3 {
        let (a, b) = (mean_se(&l, j), mean_se(&rk4, j));
        assert!(
            a > 0.75 * b && a < 1.25 * b,
            "λ{}: stderr {a} under dopri5, {b} under RK4 with h = {h}",
            j + 1
        );
    }
}

/// dx = A x with A = [[a, b], [c, e]]: three such A and the real parts of their eigenvalues.
const LINEAR_CASES: [([f64; 4], [f64; 2]); 3] = [
    ([0.5, 0.0, 0.0, -2.0], [0.5, -2.0]),
    ([-1.0, 2.0, -2.0, -1.0], [-1.0, -1.0]),
    ([0.3, 1.0, 0.0, -0.7], [0.3, -0.7]),
];

/// The ensemble of 4 trajectories of dx = A x from `x0`.
fn linear2(abce: [f64; 4], x0: [f64; 2]) -> Ensemble {
    let sys = System::wgsl(
        "linear2",
        &["u", "v"],
        &[("a", 0.5), ("b", 0.0), ("c", 0.0), ("e", -2.0)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a * x[0] + p.b * x[1], p.c * x[0] + p.e * x[1]);\n}\n",
    )
    .unwrap();
    let [a, b, c, e] = abce;
    Ensemble::new(sys, 4)
        .x0(&x0)
        .set("a", a)
        .set("b", b)
        .set("c", c)
        .set("e", e)
}

/// Each exponent's mean over the trajectories is within `tol` of `want`.
fn assert_exponents(l: &chaos::Lyapunov, want: [f64; 2], tol: f64, abce: [f64; 4]) {
    for (j, w) in want.iter().enumerate() {
        let (m, _) = mean_sd(&l.exponent(j));
        assert!(
            (m - w).abs() < tol,
            "A = {abce:?}: λ{} = {m}, want {w}",
            j + 1
        );
    }
}

/// dx = A x: the exponents are the real parts of A's eigenvalues (RK4's error at h = 0.01 is
/// O(h^4), far below the f32 logs' 1e-5).
#[test]
fn a_linear_system_s_exponents_are_the_real_parts_of_its_eigenvalues() {
    let ctx = common::ctx();
    for (abce, want) in LINEAR_CASES {
        let l = chaos::lyapunov(
            &ctx,
            &linear2(abce, [1.0, 1.0]),
            Method::Rk4,
            TimeGrid::new(0.0, 0.01, 2000),
            &opts(2, 200),
        )
        .unwrap();
        assert_exponents(&l, want, 2e-4, abce);
    }
}

/// A system's own `project` is kept, and the tangents go through its derivative: dx = A x
/// with A = diag(1, −0.5, −2) projected onto the unit sphere after every step is the
/// projective flow, which settles at e1 with exponents a2 − a1 = −1.5 and a3 − a1 = −3
/// (normalising commutes with a linear step, so only RK4's O(h^4) error remains). Tangents
/// passed through unprojected would grow like A: 1 and −0.5. The orbit of x[0] is the
/// projected one (1 at the end, not e^t).
#[test]
fn a_system_s_own_project_is_kept_and_differentiated() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "sphere",
        &["x", "y", "z"],
        &[("a1", 1.0), ("a2", -0.5), ("a3", -2.0)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a1 * x[0], p.a2 * x[1], p.a3 * x[2]);\n}\n\
         fn project(x: S, p: Params) -> S {\n    let n = sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);\n    return S(x[0] / n, x[1] / n, x[2] / n);\n}\n",
    )
    .unwrap();
    let ens = Ensemble::new(sys, 4)
        .precision(Precision::F64)
        .x0(&[0.6, 0.6, 0.52915]);
    let l = chaos::lyapunov(
        &ctx,
        &ens,
        Method::Rk4,
        TimeGrid::new(0.0, 0.01, 4000),
        &opts(2, 2000),
    )
    .unwrap();
    for (j, w) in [-1.5, -3.0].iter().enumerate() {
        let (m, _) = mean_sd(&l.exponent(j));
        assert!((m - w).abs() < 1e-4, "λ{} = {m}, want {w}", j + 1);
    }
    let o = chaos::orbit(
        &ctx,
        &ens,
        Method::Rk4,
        TimeGrid::new(0.0, 0.01, 4000),
        &chaos::OrbitOptions {
            component: 0,
            mode: chaos::OrbitMode::Every,
            values: 4,
            transient: 3996,
            lanes: None,
            histogram: None,
        },
    )
    .unwrap();
    for v in &o.values {
        assert!((v - 1.0).abs() < 1e-9, "x[0] = {v}");
    }
}

/// A user's own struct travels into the derived code: Lorenz written through a struct gives
/// the catalog Lorenz's exponents bit for bit (the same arithmetic).
#[test]
fn a_user_struct_is_declared_for_the_derived_code() {
    let ctx = common::ctx();
    let lorenz = System::builtin("lorenz").unwrap();
    let params: Vec<(&str, f64)> = lorenz
        .params
        .iter()
        .map(|(n, v)| (n.as_str(), *v))
        .collect();
    let sys = System::wgsl(
        "pair",
        &["x", "y", "z"],
        &params,
        Noise::None,
        "struct Pair {\n    a: R,\n    b: R,\n}\nfn mk(x: R, y: R) -> Pair {\n    return Pair(x, y);\n}\n\
         fn drift(t: F, x: S, p: Params) -> S {\n    let q = mk(x[0], x[1]);\n    return S(p.sigma * (q.b - q.a), x[0] * (p.rho - x[2]) - x[1], x[0] * x[1] - p.beta * x[2]);\n}\n",
    )
    .unwrap();
    let run = |sys: System| {
        let ens = Ensemble::new(sys, 8)
            .x0(&[1.0, 1.0, 20.0])
            .sweep("rho", 20.0, 30.0);
        chaos::lyapunov(
            &ctx,
            &ens,
            Method::Rk4,
            TimeGrid::new(0.0, 0.01, 3000),
            &opts(2, 1000),
        )
        .unwrap()
        .exponents
    };
    assert_eq!(run(sys), run(lorenz));
}

/// dx = A x under dopri5: the exponents are the real parts of A's eigenvalues. Its blocks of
/// accepted steps differ in length, so this checks their clock too: a relative error of
/// 1e-5 in the time shows as 2e-5 in λ = −2. The error seen was at most 7e-6 (rtol 1e-6, and
/// the f32 clock's rounding, ~1e-5 per step at t ~ 100, random over ~1000 steps); 5e-5.
/// One case starts at t0 = −50 with no transient: its first block starts at t0.
#[test]
fn a_linear_system_s_exponents_under_dopri5() {
    let ctx = common::ctx();
    for ((abce, want), (t0, transient)) in
        LINEAR_CASES
            .into_iter()
            .zip([(0.0, 100), (-50.0, 0), (0.0, 100)])
    {
        // At the fixed point 0 the state cannot overflow over a long run; J = A anywhere.
        let l = chaos::lyapunov(
            &ctx,
            &linear2(abce, [0.0, 0.0]),
            dopri5(),
            TimeGrid::until(t0, t0 + 200.0, 20_000),
            &opts(2, transient),
        )
        .unwrap();
        assert!(l.blocks >= 30, "{} blocks", l.blocks);
        assert_exponents(&l, want, 5e-5, abce);
    }
}

/// Under dopri5 the accepted steps are known only after the run. x' = a x over a ∈ [0, −1]:
/// at a = 0 nothing changes, the steps grow to the whole span and no block follows the
/// transient: that trajectory's exponent is NaN with its count 0 (and the CLI says why),
/// the others' are a; when no trajectory has a block, the run is an error that says so.
#[test]
fn dopri5_trajectories_with_too_few_steps_for_a_block_say_so() {
    let ctx = common::ctx();
    let ens = |n: u64| {
        Ensemble::new(System::builtin("linear").unwrap(), n)
            .x0(&[1.0])
            .sweep("a", 0.0, -1.0)
    };
    let grid = TimeGrid::until(0.0, 200.0, 100);
    let l = chaos::lyapunov(&ctx, &ens(4), dopri5(), grid, &opts(1, 200)).unwrap();
    assert_eq!(l.counts[0], 0);
    assert!(l.exponents[0].is_nan() && l.times[0] == 0.0);
    assert_eq!(l.blocks, 0, "the fewest blocks");
    for i in 1..4 {
        let a = -(i as f64) / 3.0;
        assert!(l.counts[i] > 0, "a = {a}: no block");
        assert!(
            (l.exponents[i] - a).abs() < 5e-5,
            "a = {a}: {}",
            l.exponents[i]
        );
    }
    let e = chaos::lyapunov(&ctx, &ens(1), dopri5(), grid, &opts(1, 200)).unwrap_err();
    assert!(
        e.to_string().contains("no trajectory took enough accepted steps for one block: the transient is 200 accepted steps and a block 10, but the most any took was"),
        "{e}"
    );
    let o = common::throng(&[
        "lyapunov",
        "--system",
        "linear",
        "--method",
        "dopri5",
        "--sweep",
        "a=0:-1",
        "--paths",
        "4",
        "--t1",
        "200",
        "--transient",
        "200",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("warning: 1 of 4 trajectories took too few accepted steps for one block of 10 after the transient of 200; their exponents are NaN"),
        "{}",
        common::stderr(&o)
    );
    assert!(
        common::stdout(&o).contains("(0 to "),
        "{}",
        common::stdout(&o)
    );
}

/// GBM dX = μX dt + σX dW (Itô), by Euler–Maruyama: the tangent obeys the same chain, so the
/// exponent of the method's flow is E log|1 + μh + σ√h Z| / h, within O(h) of μ − σ²/2.
#[test]
fn gbm_exponent_is_mu_minus_half_sigma_squared() {
    let ctx = common::ctx();
    let (mu, sigma, h, n) = (0.1f64, 0.5f64, 0.01f64, 4096u64);
    let ens = Ensemble::new(System::builtin("gbm").unwrap(), n)
        .x0(&[1.0])
        .set("mu", mu)
        .set("sigma", sigma)
        .seed(17);
    let l = chaos::lyapunov(
        &ctx,
        &ens,
        Method::EulerMaruyama,
        TimeGrid::new(0.0, h, 2000),
        &opts(1, 0),
    )
    .unwrap();
    let (m, sd) = mean_sd(&l.exponent(0));
    // E log|1 + μh + σ√h z| under the standard normal, by Simpson's rule on [-12, 12].
    let k = 24_000;
    let dz = 24.0 / k as f64;
    let chain: f64 = (0..=k)
        .map(|i| {
            let z = -12.0 + i as f64 * dz;
            let w = if i == 0 || i == k {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * (1.0 + mu * h + sigma * h.sqrt() * z).abs().ln() * (-z * z / 2.0).exp()
        })
        .sum::<f64>()
        * dz
        / 3.0
        / (2.0 * std::f64::consts::PI).sqrt()
        / h;
    let exact = mu - sigma * sigma / 2.0;
    assert!(
        (chain - exact).abs() < 0.01,
        "the chain's {chain} vs {exact}"
    );
    // z-bound 4 on the mean over independent trajectories.
    let se = sd / (n as f64).sqrt();
    assert!(
        (m - chain).abs() < 4.0 * se,
        "mean {m} vs the chain's {chain} (se {se})"
    );
}

/// Lorenz over ρ ∈ [0, 30]: λ1 < 0 below the homoclinic explosion at ρ ≈ 13.93 (away from the
/// pitchfork at ρ = 1, where λ1 → 0), and chaos (λ1 > 0.5) at ρ near 28.
#[test]
fn lorenz_rho_sweep_is_stable_below_13_9_and_chaotic_at_28() {
    let ctx = common::ctx();
    let n = 64u64;
    let ens = Ensemble::new(System::builtin("lorenz").unwrap(), n)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 0.0, 30.0);
    let l = chaos::lyapunov(
        &ctx,
        &ens,
        Method::Rk4,
        TimeGrid::new(0.0, 0.01, 30_000),
        &opts(1, 10_000),
    )
    .unwrap();
    let l1 = l.exponent(0);
    for (i, v) in l1.iter().enumerate() {
        let rho = 30.0 * i as f64 / (n - 1) as f64;
        if rho < 0.8 || (1.5..13.5).contains(&rho) {
            assert!(*v < 0.0, "ρ = {rho:.2}: λ1 = {v}");
        }
        if (27.5..=28.5).contains(&rho) {
            assert!(*v > 0.5, "ρ = {rho:.2}: λ1 = {v}");
        }
    }
}

/// The logistic map at r = 4: λ = ln 2, within 4 standard errors of each trajectory's block
/// estimates; the Hénon map: λ1 + λ2 = ln b to the logs' precision; the tent map: ln μ.
#[test]
fn maps_have_their_known_exponents() {
    let ctx = common::ctx();
    let run = |name: &str, k: usize, steps: u64, renorm: u64| {
        let ens = Ensemble::new(System::builtin(name).unwrap(), 16)
            .precision(Precision::F64)
            .init(Init::Uniform(vec![
                0.05;
                System::builtin(name).unwrap().dim()
            ]))
            .seed(5);
        let o = LyapunovOptions {
            exponents: k,
            renorm,
            transient: 100,
            lanes: None,
            separation: None,
        };
        chaos::lyapunov(
            &ctx,
            &ens,
            Method::Iterate,
            TimeGrid::new(0.0, 1.0, steps),
            &o,
        )
        .unwrap()
    };
    let l = run("logistic", 1, 100_000, 1);
    let ln2 = std::f64::consts::LN_2;
    for i in 0..16 {
        let (v, se) = (l.exponents[i], l.stderr[i]);
        assert!(
            se > 0.0 && (v - ln2).abs() < 4.0 * se,
            "trajectory {i}: {v} ± {se}"
        );
    }
    let l = run("henon", 2, 100_000, 10);
    for i in 0..16 {
        let (l1, l2) = (l.exponents[2 * i], l.exponents[2 * i + 1]);
        assert!(
            (l1 + l2 - 0.3f64.ln()).abs() < 1e-5,
            "trajectory {i}: {l1} + {l2}"
        );
        assert!((l1 - 0.42).abs() < 0.01, "trajectory {i}: λ1 {l1}");
    }
    let l = run("tent", 1, 20_000, 10);
    let (m, _) = mean_sd(&l.exponent(0));
    assert!((m - 1.9f64.ln()).abs() < 1e-4, "tent: {m}");
    // A flow method on a map, and iterate on a flow, are refused plainly.
    let ens = Ensemble::new(System::builtin("logistic").unwrap(), 1);
    let e = ens
        .job(Method::Rk4, TimeGrid::new(0.0, 1.0, 10))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a map; use --method iterate"), "{e}");
    // A `map` without its first argument is refused at the user's line, not inside the
    // drift throng wraps around it; a map spec runs with iterate and dt 1 by default.
    let spec = "name = \"badmap\"\nkind = \"map\"\nstate = [\"x\"]\nparams = { r = 3.5 }\nwgsl = \"\"\"\nfn map(x: S, p: Params) -> S {\n    return S(p.r * x[0] * (1.0 - x[0]));\n}\n\"\"\"\n";
    let (sys, _) = throng::spec::parse(spec, "badmap.toml", std::path::Path::new(".")).unwrap();
    assert_eq!(
        (sys.defaults.method, sys.defaults.dt),
        (Some(Method::Iterate), Some(1.0))
    );
    let job = Ensemble::new(sys, 1)
        .job(Method::Iterate, TimeGrid::new(0.0, 1.0, 10))
        .unwrap();
    let target = Target {
        int64: false,
        lanes: 1,
        segmented: false,
        open_ended: false,
        dense: false,
    };
    let e = throng::kernel::integrate(&job, target)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("badmap.toml:6:1") && e.contains("`map` takes 2 argument(s)"),
        "{e}"
    );
}

fn distinct(v: &[f64], tol: f64) -> usize {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    1 + s.windows(2).filter(|w| w[1] - w[0] > tol).count()
}

/// The logistic map's orbit diagram: one value below r1 = 3, two between r1 and
/// r2 = 1 + √6, four between r2 and r3 ≈ 3.544, and period 3 just above 1 + √8.
#[test]
fn logistic_orbits_double_and_open_the_period_3_window() {
    let ctx = common::ctx();
    let rs = vec![2.9, 2.99, 3.02, 3.2, 3.43, 3.46, 3.5, 3.835];
    let want = [1, 1, 2, 2, 2, 4, 4, 3];
    let ens = Ensemble::new(System::builtin("logistic").unwrap(), rs.len() as u64)
        .precision(Precision::F64)
        .values("r", rs.clone());
    let o = chaos::orbit(
        &ctx,
        &ens,
        Method::Iterate,
        TimeGrid::new(0.0, 1.0, 20_048),
        &chaos::OrbitOptions {
            component: 0,
            mode: chaos::OrbitMode::Every,
            values: 48,
            transient: 20_000,
            lanes: None,
            histogram: None,
        },
    )
    .unwrap();
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(o.counts[i], 48);
        let v = &o.values[i * 48..][..48];
        assert_eq!(distinct(v, 1e-6), want[i], "r = {r}: {v:?}");
    }
    // The histogram over (value, trajectory) holds every value once.
    let h = o
        .histogram_of_kept(&chaos::OrbitBins {
            columns: rs.len() as u64,
            bins: 100,
            lo: 0.0,
            hi: 1.0,
        })
        .unwrap();
    assert_eq!((h.columns, h.per), (rs.len(), 1));
    assert_eq!(h.counts.iter().sum::<u64>(), 48 * rs.len() as u64);
}

/// The device's orbit histogram (integer atomics in the integration dispatch) counts what
/// the host counts from the same values, bin for bin, in f32 and f64 and for any lanes; with
/// more values than are kept it still counts every one, and a column whose trajectories
/// sit on a fixed point has all its values in one bin.
#[test]
fn orbit_histogram_on_the_device_counts_every_value() {
    let ctx = common::ctx();
    let n = 64u64;
    let bins = chaos::OrbitBins {
        columns: 16,
        bins: 50,
        lo: 0.2,
        hi: 0.9,
    };
    for (precision, lanes) in [
        (Precision::F32, None),
        (Precision::F32, Some(1)),
        (Precision::F64, Some(2)),
    ] {
        let ens = Ensemble::new(System::builtin("logistic").unwrap(), n)
            .precision(precision)
            .sweep("r", 2.8, 4.0);
        let run = |steps: u64, values: usize| {
            chaos::orbit(
                &ctx,
                &ens,
                Method::Iterate,
                TimeGrid::new(0.0, 1.0, steps),
                &chaos::OrbitOptions {
                    component: 0,
                    mode: chaos::OrbitMode::Every,
                    values,
                    transient: 1000,
                    lanes,
                    histogram: Some(bins),
                },
            )
            .unwrap()
        };
        // Every value kept: the two histograms are the same counts.
        let o = run(1048, 48);
        let dev = o.histogram.clone().unwrap();
        assert_eq!((dev.per, dev.columns), (4, 16));
        let host = o.histogram_of_kept(&bins).unwrap();
        assert_eq!(dev, host, "{precision:?}, lanes {lanes:?}");
        assert!(dev.below > 0 && dev.above > 0, "the range cuts both ends");
        assert_eq!(
            dev.counts.iter().sum::<u64>() + dev.below + dev.above,
            n * 48
        );
        // 5000 values per trajectory, one kept: all counted.
        let o = run(6000, 1);
        let dev = o.histogram.clone().unwrap();
        assert!(o.counts.iter().all(|&c| c == 5000));
        assert_eq!(
            dev.counts.iter().sum::<u64>() + dev.below + dev.above,
            n * 5000
        );
        // The first column's r < 3 have a fixed point (|f'| = |2 - r| <= 0.86): 5000 times
        // their first value's bin.
        let first = o.histogram_of_kept(&bins).unwrap();
        let col0: Vec<u64> = (0..bins.bins).map(|b| dev.counts[b * 16]).collect();
        let want: Vec<u64> = (0..bins.bins)
            .map(|b| first.counts[b * 16] * 5000)
            .collect();
        assert_eq!(col0, want);
        assert!(o
            .histogram_of_kept(&chaos::OrbitBins { columns: 0, ..bins })
            .is_err());
    }
}

/// x'' = -x from (1, 0): the maxima of x are 1, and the upward crossings of v = 0 happen at
/// x = -1 (RK4 at h = 0.01 keeps the amplitude to 1e-9; the parabola and the linear
/// interpolation are good to 1e-5 and 1e-4 here).
#[test]
fn maxima_and_sections_of_an_oscillator() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "oscillator",
        &["x", "v"],
        &[],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], -x[0]);\n}\n",
    )
    .unwrap();
    let ens = Ensemble::new(sys, 4)
        .precision(Precision::F64)
        .x0(&[1.0, 0.0]);
    let grid = TimeGrid::new(0.0, 0.01, 5000);
    let run = |mode| {
        chaos::orbit(
            &ctx,
            &ens,
            Method::Rk4,
            grid,
            &chaos::OrbitOptions {
                component: 0,
                mode,
                values: 8,
                transient: 10,
                lanes: None,
                histogram: None,
            },
        )
        .unwrap()
    };
    let o = run(chaos::OrbitMode::Maxima);
    // t = 2π k for k = 1..7 within 50 time units.
    assert_eq!(o.counts[0], 7);
    for v in &o.values[..7] {
        assert!((v - 1.0).abs() < 1e-5, "maximum {v}");
    }
    let o = run(chaos::OrbitMode::Section {
        component: 1,
        value: 0.0,
    });
    assert_eq!(o.counts[0], 8);
    for v in &o.values[..8] {
        assert!((v + 1.0).abs() < 1e-4, "crossing at x = {v}");
    }
}

/// Sections under dopri5: a clock c' = 1 beside x'' = -x from (1, 0), recorded where v
/// crosses 0 upward (t = π(2k + 1)). The clock is linear, so only the crossing time's linear
/// interpolation errs: v ≈ (t − tc) − (t − tc)³/6 there, an error below h³/6, and with
/// rtol = atol = 1e-9 dopri5's steps stay under 0.05 (local error ~ h^5): below 2.1e-5.
/// Maxima (a parabola through equally spaced values) are refused under dopri5.
#[test]
fn sections_under_dopri5_and_maxima_refused() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "clocked",
        &["x", "v", "c"],
        &[],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], -x[0], R(1.0));\n}\n",
    )
    .unwrap();
    let ens = Ensemble::new(sys, 4)
        .precision(Precision::F64)
        .x0(&[1.0, 0.0, 0.0]);
    let method = Method::Dopri5(throng::method::Controller {
        rtol: 1e-9,
        atol: 1e-9,
        ..throng::method::Controller::default()
    });
    let run = |mode| {
        chaos::orbit(
            &ctx,
            &ens,
            method,
            TimeGrid::until(0.0, 50.0, 100),
            &chaos::OrbitOptions {
                component: 2,
                mode,
                values: 8,
                transient: 0,
                lanes: None,
                histogram: None,
            },
        )
    };
    let o = run(chaos::OrbitMode::Section {
        component: 1,
        value: 0.0,
    })
    .unwrap();
    for i in 0..4 {
        assert_eq!(o.counts[i], 8, "π, 3π, … 15π lie within t = 50");
        for (k, v) in o.values[i * 8..][..8].iter().enumerate() {
            let want = std::f64::consts::PI * (2 * k + 1) as f64;
            assert!((v - want).abs() < 2.1e-5, "crossing {k}: {v} vs {want}");
        }
    }
    let e = run(chaos::OrbitMode::Maxima).unwrap_err().to_string();
    assert!(e.contains("under dopri5 use a section"), "{e}");
}

/// A damped double well, x'' = -δ x' + x - x³, has two attractors (±1, 0); its equations
/// are odd, so the basins over a grid symmetric about 0 are mirror images, and labels from
/// the nearest attractor agree with the system's own `label`.
#[test]
fn basins_of_a_double_well_mirror_and_agree() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "well",
        &["x", "v"],
        &[("d", 0.3)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], -p.d * x[1] + x[0] - x[0] * x[0] * x[0]);\n}\n\
         fn label(x: S, p: Params) -> U {\n    return select(U(1u), U(0u), x[0] > R(0.0));\n}\n",
    )
    .unwrap();
    let n = 33u64;
    let ens = Ensemble::new(sys, n * n)
        .grid("x0.x", -2.0, 2.0, n)
        .grid("x0.v", -2.0, 2.0, n);
    let grid = TimeGrid::new(0.0, 0.01, 5000);
    let near = chaos::basins(
        &ctx,
        &ens,
        Method::Rk4,
        grid,
        &chaos::Labels::Nearest {
            points: vec![vec![1.0, 0.0], vec![-1.0, 0.0]],
            radius: 0.1,
        },
        None,
    )
    .unwrap();
    let own = chaos::basins(&ctx, &ens, Method::Rk4, grid, &chaos::Labels::Wgsl, None).unwrap();
    let n = n as usize;
    let mut counts = [0usize; 3];
    for i in 0..n * n {
        let (ix, iv) = (i % n, i / n);
        let mirror = (n - 1 - ix) + n * (n - 1 - iv);
        let (a, b) = (near.labels[i], near.labels[mirror]);
        match a {
            u32::MAX => assert_eq!(b, u32::MAX, "cell {i}"),
            _ => assert_eq!(a + b, 1, "cell {i} ({a}) and its mirror ({b})"),
        }
        if a != u32::MAX {
            assert_eq!(own.labels[i], a, "cell {i}");
        }
        counts[a.min(2) as usize] += 1;
    }
    // Both basins are large, and only the saddle's stable manifold is left out.
    assert!(counts[0] > 300 && counts[1] > 300, "{counts:?}");
    assert!(counts[2] < 40, "{counts:?}");
}

/// A drift throng cannot differentiate (`smoothstep`), with the system's own `fn jacobian`:
/// the exponents come from the Jacobian it gives (here diagonal: λ = a, e).
#[test]
fn a_system_s_own_jacobian_serves_where_its_drift_cannot_be_differentiated() {
    let ctx = common::ctx();
    let code = "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a * x[0] + 0.0 * smoothstep(0.0, 1.0, x[1]), p.e * x[1]);\n}\n";
    let jac = "fn jacobian(t: F, x: S, p: Params) -> array<R, 4> {\n    return array<R, 4>(p.a, R(0.0), R(0.0), p.e);\n}\n";
    let params = [("a", 0.25), ("e", -1.5)];
    let plain = System::wgsl("smooth2", &["u", "v"], &params, Noise::None, code).unwrap();
    let grid = TimeGrid::new(0.0, 0.01, 2000);
    let ens = |s: System| Ensemble::new(s, 4).x0(&[1.0, 1.0]);
    let e = chaos::lyapunov(&ctx, &ens(plain), Method::Rk4, grid, &opts(2, 200)).unwrap_err();
    assert!(e.to_string().contains("`smoothstep`"), "{e}");
    let with = System::wgsl(
        "smooth2",
        &["u", "v"],
        &params,
        Noise::None,
        &format!("{code}{jac}"),
    )
    .unwrap();
    let l = chaos::lyapunov(&ctx, &ens(with), Method::Rk4, grid, &opts(2, 200)).unwrap();
    for (j, want) in [0.25, -1.5].iter().enumerate() {
        let (m, _) = mean_sd(&l.exponent(j));
        assert!((m - want).abs() < 2e-4, "λ{}: {m}", j + 1);
    }
}

/// The two-trajectory (Benettin) method: Lorenz's λ1 agrees with the tangents', in f32 with a
/// separation f32 resolves (1e-3 at |x| ~ 30) and in f64 with 1e-8; and it needs only the
/// drift's values, so a drift throng cannot differentiate still gets λ1.
#[test]
fn two_trajectories_agree_with_tangents_and_need_no_derivative() {
    let ctx = common::ctx();
    let ens = |p: Precision| {
        Ensemble::new(System::builtin("lorenz").unwrap(), 32)
            .x0(&[1.0, 1.0, 20.0])
            .init(Init::Normal(vec![2.0, 2.0, 2.0]))
            .seed(8)
            .precision(p)
    };
    let grid = TimeGrid::new(0.0, 0.01, 100_000);
    let tangent = chaos::lyapunov(
        &ctx,
        &ens(Precision::F32),
        Method::Rk4,
        grid,
        &opts(1, 2000),
    )
    .unwrap();
    let (lt, _) = mean_sd(&tangent.exponent(0));
    for (p, d0) in [(Precision::F32, 1e-3), (Precision::F64, 1e-8)] {
        let o = LyapunovOptions {
            separation: Some(d0),
            ..opts(1, 2000)
        };
        let l = chaos::lyapunov(&ctx, &ens(p), Method::Rk4, grid, &o).unwrap();
        let (m, _) = mean_sd(&l.exponent(0));
        assert!(
            (m - lt).abs() < 0.01,
            "{p:?} d0 {d0}: {m} against the tangents' {lt}"
        );
    }
    let sys = System::wgsl(
        "smooth2",
        &["u", "v"],
        &[("a", 0.25), ("e", -1.5)],
        Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.a * x[0] + 0.0 * smoothstep(0.0, 1.0, x[1]), p.e * x[1]);\n}\n",
    )
    .unwrap();
    let o = LyapunovOptions {
        separation: Some(1e-4),
        ..opts(1, 200)
    };
    let l = chaos::lyapunov(
        &ctx,
        &Ensemble::new(sys, 4).x0(&[1.0, 1.0]),
        Method::Rk4,
        TimeGrid::new(0.0, 0.01, 2000),
        &o,
    )
    .unwrap();
    let (m, _) = mean_sd(&l.exponent(0));
    assert!((m - 0.25).abs() < 1e-3, "λ1 {m}");
    // Two trajectories give λ1 alone.
    let o = LyapunovOptions {
        separation: Some(1e-4),
        ..opts(2, 200)
    };
    let e = chaos::lyapunov(&ctx, &ens(Precision::F32), Method::Rk4, grid, &o).unwrap_err();
    assert!(e.to_string().contains("λ1 alone"), "{e}");
}

/// Sensitivities from the same transform: for Lorenz, ∂f/∂σ = (y − x, 0, 0),
/// ∂f/∂ρ = (0, x, 0), ∂f/∂β = (0, 0, −z), exactly, and beside central differences in p.
#[test]
fn parameter_sensitivities_come_from_the_same_transform() {
    let ctx = common::ctx();
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
        .unwrap();
    let x = vec![1.5, -2.0, 20.0];
    let pts = vec![(0.0, x.clone(), 1e-2)];
    let want = [
        ("sigma", [x[1] - x[0], 0.0, 0.0]),
        ("rho", [0.0, x[0], 0.0]),
        ("beta", [0.0, 0.0, -x[2]]),
    ];
    for (name, w) in want {
        let r = &chaos::probe_param(&ctx, &job, name, &pts).unwrap()[0];
        for (c, wc) in w.iter().enumerate() {
            assert_eq!(r.jv[c], *wc, "∂f{c}/∂{name}");
            let fd = (r.f_plus[c] - r.f_minus[c]) / 2e-2;
            assert!((fd - wc).abs() < 1e-2 * (1.0 + wc.abs()), "{name}: {fd}");
        }
    }
    assert!(chaos::probe_param(&ctx, &job, "nu", &pts).is_err());
}

/// Forms the review found: a scalar plus a constant vector, `length` and `distance` of
/// scalars, a splatted module constant; each tangent beside central differences.
#[test]
fn mixed_shapes_scalar_lengths_and_splatted_constants_differentiate() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "shapes",
        &["a", "b"],
        &[],
        Noise::None,
        "const K = vec2(2.0);\n\
         fn drift(t: F, x: S, p: Params) -> S {\n    let v = vec3<F>(1.0, 2.0, 3.0) + x[0];\n    let w = K * x[1];\n    return S(v.y * x[1] + length(x[0]), distance(x[0], x[1]) + w.x * v.z);\n}\n",
    )
    .unwrap();
    let job = Ensemble::new(sys, 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1))
        .unwrap();
    let pts = vec![(0.0, vec![0.7, -1.3], vec![0.4, 0.9], 3e-3)];
    let r = &chaos::probe(&ctx, &job, &pts).unwrap()[0];
    for c in 0..2 {
        let fd = (r.f_plus[c] - r.f_minus[c]) / 6e-3;
        assert!((r.jv[c] - fd).abs() < 1e-2, "[{c}] {} vs {fd}", r.jv[c]);
    }
}
