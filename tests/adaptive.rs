//! Dormand–Prince 5(4) with per-trajectory step control: the device against its CPU twin,
//! error against tolerance, Lorenz at t = 10 in f64 against an f64 reference, and the
//! reporting of trajectories that run out of steps.

mod common;

use common::keep;

use throng::method::Controller;
use throng::{cpu, solve, Ensemble, Method, Options, Precision, System, TimeGrid};

fn dopri5(rtol: f64, atol: f64) -> Method {
    Method::Dopri5(Controller {
        rtol,
        atol,
        ..Default::default()
    })
}

fn lorenz(n: u64, precision: Precision) -> Ensemble {
    Ensemble::new(System::builtin("lorenz").unwrap(), n)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 20.0, 30.0)
        .precision(precision)
}

/// Lorenz at t1 from (1, 1, 1) with rho = 28 by classic RK4 in f64 with `steps` steps.
fn lorenz_reference(t1: f64, rho: f64, steps: u64) -> [f64; 3] {
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), 1)
        .x0(&[1.0, 1.0, 1.0])
        .set("rho", rho)
        .precision(Precision::F64)
        .job(Method::Rk4, TimeGrid::until(0.0, t1, steps))
        .unwrap();
    let s = cpu::trajectory(&job, 0);
    [s[0], s[1], s[2]]
}

#[test]
fn dopri5_matches_its_cpu_twin_in_f32_and_f64() {
    let ctx = common::ctx();
    for p in [Precision::F32, Precision::F64] {
        let n = 2000;
        let job = lorenz(n, p)
            .job(dopri5(1e-6, 1e-6), TimeGrid::until(0.0, 1.0, 100))
            .unwrap();
        let gpu = solve(&ctx, &job, &keep()).unwrap();
        let twin = cpu::solve(&job, &keep()).unwrap();
        let (g, t) = (gpu.states.unwrap(), twin.states.unwrap());
        let n = n as usize;
        // Each trajectory chose its own steps: counts vary across the rho sweep.
        let steps = &gpu.adaptive.as_ref().unwrap().steps;
        assert!(steps.min[0] < steps.max[0], "{steps:?}");
        assert_eq!(steps.count, n as u64);
        let differ = (0..n).filter(|&i| g[3 * n + i] != t[3 * n + i]).count();
        if p == Precision::F64 {
            // Same arithmetic up to FMA contraction: the same steps, states within 1e-10.
            assert_eq!(
                differ, 0,
                "accepted-step counts differ on {differ} trajectories"
            );
            assert_eq!(g[4 * n..5 * n], t[4 * n..5 * n], "rejected-step counts");
            common::assert_matches_twin(&g, &t, n, 3, 1e-10, "f64 dopri5");
        } else {
            // f32 rounding can tip an error estimate across 1 and so change a step
            // sequence by a step; the states then differ by about rtol, not more.
            assert!(
                differ * 20 < n,
                "{differ} of {n} trajectories took other steps"
            );
            for i in 0..n {
                assert!((g[3 * n + i] - t[3 * n + i]).abs() <= 2.0, "trajectory {i}");
            }
            common::assert_matches_twin(&g, &t, n, 3, 1e-5, "f32 dopri5");
        }
        eprintln!(
            "{p:?}: accepted steps mean {:.2} (twin {:.2}), {differ} of {n} step counts differ",
            steps.mean[0],
            twin.adaptive.unwrap().steps.mean[0]
        );
    }
}

#[test]
fn dopri5_error_is_proportional_to_the_tolerance_over_four_decades() {
    let ctx = common::ctx();
    let t1 = 2.0;
    let reference = lorenz_reference(t1, 28.0, 100_000);
    let finer = lorenz_reference(t1, 28.0, 200_000);
    for c in 0..3 {
        assert!(
            (reference[c] - finer[c]).abs() < 1e-11,
            "reference not converged"
        );
    }
    let tols = [1e-5, 1e-6, 1e-7, 1e-8, 1e-9];
    let mut errs = Vec::new();
    let mut steps = Vec::new();
    for tol in tols {
        let job = Ensemble::new(System::builtin("lorenz").unwrap(), 256)
            .x0(&[1.0, 1.0, 1.0])
            .set("rho", 28.0)
            .precision(Precision::F64)
            .job(dopri5(tol, tol), TimeGrid::until(0.0, t1, 100))
            .unwrap();
        let sol = solve(&ctx, &job, &keep()).unwrap();
        let s = sol.states.unwrap();
        let err = (0..3)
            .map(|c| (s[256 * c] - reference[c]).powi(2))
            .sum::<f64>()
            .sqrt();
        errs.push(err);
        steps.push(sol.adaptive.unwrap().steps.mean[0]);
    }
    let slope = |ys: &[f64]| {
        // least-squares slope of log10(y) against log10(tol)
        let xs: Vec<f64> = tols.iter().map(|t| t.log10()).collect();
        let ys: Vec<f64> = ys.iter().map(|y| y.log10()).collect();
        let (mx, my) = (xs.iter().sum::<f64>() / 5.0, ys.iter().sum::<f64>() / 5.0);
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        sxy / sxx
    };
    let (pe, ps) = (slope(&errs), slope(&steps));
    eprintln!("errors {errs:?}: slope {pe:.3}; accepted steps {steps:?}: slope {ps:.3}");
    // Error proportional to the tolerance, within a factor 1..100 of it; a fifth-order
    // method needs tol^(-1/5) steps.
    assert!((pe - 1.0).abs() < 0.15, "error ~ tol^{pe}");
    assert!(errs.iter().zip(tols).all(|(e, t)| *e > t && *e < 100.0 * t));
    assert!((ps + 0.2).abs() < 0.05, "steps ~ tol^{ps}");
}

#[test]
fn lorenz_to_t10_at_rtol_1e10_in_f64_is_within_1e6_of_the_reference() {
    let ctx = common::ctx();
    let reference = lorenz_reference(10.0, 28.0, 200_000);
    let finer = lorenz_reference(10.0, 28.0, 400_000);
    for c in 0..3 {
        assert!(
            (reference[c] - finer[c]).abs() < 1e-9,
            "reference not converged"
        );
    }
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), 256)
        .x0(&[1.0, 1.0, 1.0])
        .set("rho", 28.0)
        .precision(Precision::F64)
        .job(dopri5(1e-10, 1e-10), TimeGrid::until(0.0, 10.0, 1000))
        .unwrap();
    let sol = solve(&ctx, &job, &keep()).unwrap();
    let s = sol.states.unwrap();
    let err: Vec<f64> = (0..3).map(|c| (s[256 * c] - reference[c]).abs()).collect();
    eprintln!(
        "t = 10: {:?} vs reference {reference:?}: errors {err:?}, steps {:?}",
        [s[0], s[256], s[512]],
        sol.adaptive.as_ref().unwrap().steps.mean
    );
    assert!(err.iter().all(|e| *e < 1e-6), "errors {err:?}");
}

#[test]
fn trajectories_that_run_out_of_steps_are_reported_not_cut() {
    let ctx = common::ctx();
    let n = 1000u64;
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), n)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 0.5, 28.0)
        .job(
            Method::Dopri5(Controller {
                max_steps: 150,
                ..Default::default()
            }),
            TimeGrid::until(0.0, 10.0, 100),
        )
        .unwrap();
    let gpu = solve(&ctx, &job, &keep()).unwrap();
    let twin = cpu::solve(&job, &keep()).unwrap();
    let report = gpu.adaptive.clone().unwrap();
    let s = gpu.states.unwrap();
    let nan: Vec<usize> = (0..n as usize).filter(|&i| s[i].is_nan()).collect();
    eprintln!(
        "unfinished {} (first {:?}) of {n}; twin {}",
        report.unfinished,
        report.first_unfinished,
        twin.adaptive.as_ref().unwrap().unfinished
    );
    assert!(report.unfinished > 0 && report.unfinished < n, "{report:?}");
    assert_eq!(report.unfinished as usize, nan.len());
    assert_eq!(report.first_unfinished, Some(nan[0] as u64));
    assert_eq!(gpu.stats.nonfinite, report.unfinished);
    assert_eq!(gpu.stats.count, n - report.unfinished);
    for &i in &nan {
        let taken = s[3 * n as usize + i] + s[4 * n as usize + i];
        assert_eq!(taken, 150.0, "trajectory {i} stopped after {taken} steps");
    }
    let tw = twin.adaptive.unwrap();
    assert!((tw.unfinished as i64 - report.unfinished as i64).abs() <= 2);
}

#[test]
fn dopri5_saves_at_grid_times_by_stepping_onto_them() {
    // Save every 10 first-step lengths (t = 1, 2, ..., 10): each segment ends exactly at its
    // save time, and the solution there is as accurate as at the end.
    let ctx = common::ctx();
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), 512)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 27.0, 28.0)
        .precision(Precision::F64)
        .job(dopri5(1e-10, 1e-10), TimeGrid::until(0.0, 10.0, 100))
        .unwrap();
    let opts = |chunk| Options {
        save_at: throng::SaveAt {
            every: Some(10),
            keep_paths: 1,
            ..Default::default()
        },
        chunk,
        keep_states: true,
        ..Default::default()
    };
    let sol = solve(&ctx, &job, &opts(None)).unwrap();
    assert_eq!(sol.saves.len(), 10);
    let last = sol.saves.last().unwrap();
    // Trajectory 0 (rho = 27, kept): every save against an f64 RK4 reference at its time.
    for save in &sol.saves {
        let at = |c: usize| save.paths[c];
        let r27 = {
            let job = Ensemble::new(System::builtin("lorenz").unwrap(), 1)
                .x0(&[1.0, 1.0, 1.0])
                .set("rho", 27.0)
                .precision(Precision::F64)
                .job(
                    Method::Rk4,
                    TimeGrid::until(0.0, save.t, (20_000.0 * save.t) as u64),
                )
                .unwrap();
            cpu::trajectory(&job, 0)
        };
        for (c, want) in r27.iter().enumerate().take(3) {
            assert!(
                (at(c) - want).abs() < 1e-6,
                "t {}: component {c}: {} vs {want}",
                save.t,
                at(c)
            );
        }
    }
    // The twin cuts its steps at the same times: same counts, states within 1e-10.
    let twin = cpu::solve(&job, &opts(None)).unwrap();
    for (g, t) in sol.saves.iter().zip(&twin.saves) {
        assert_eq!(g.paths.len(), t.paths.len());
        for (a, b) in g.paths.iter().zip(&t.paths) {
            assert!(
                (a - b).abs() <= 1e-10 * b.abs().max(1.0),
                "t {}: {a} vs {b}",
                g.t
            );
        }
        assert_eq!(g.stats.count, t.stats.count);
    }
    // Over t = 10 of a chaotic flow, FMA contraction on the device can tip an error estimate
    // across 1 on a few trajectories: their step counts differ by a step or two.
    let (a, b) = (
        sol.adaptive.as_ref().unwrap().steps.mean[0],
        twin.adaptive.as_ref().unwrap().steps.mean[0],
    );
    assert!((a - b).abs() < 1e-3 * b, "accepted steps {a} vs {b}");
    // Chunking does not change anything; a dispatch bound is refused for dopri5.
    let chunked = solve(&ctx, &job, &opts(Some(256))).unwrap();
    assert_eq!(chunked.saves, sol.saves);
    assert_eq!(last.stats, sol.saves.last().unwrap().stats);
    let err = solve(
        &ctx,
        &job,
        &Options {
            dispatch_steps: Some(5),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--dispatch-steps does not apply to dopri5"),
        "{err}"
    );
}

/// A system's `project` runs after every accepted step and never after a rejected one, and
/// the FSAL derivative is recomputed when it moves the state. State (x, a, c, s, b, z):
/// x' = a, s' = 1, z' = -k z (stiff enough that steps are rejected), and a, c, b constant
/// between steps. `project` counts in c, and at the first accepted step sets a = 1 and
/// b = s (that step's end), so x(T) = T - b to rounding; with a stale k1 (a = 0 there) the
/// next step is rejected down to a tiny h and accepted with an error (x was off by 1.7e-6
/// when tried). On the device only: the CPU twin runs the catalog's twin systems, none of
/// which has a `project`.
#[test]
fn dopri5_projects_after_accepted_steps_only_and_refreshes_k1() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "kicked",
        &["x", "a", "c", "s", "b", "z"],
        &[("k", 50.0)],
        throng::Noise::None,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], R(0.0), R(0.0), R(1.0), R(0.0), -p.k * x[5]);\n}\n\
         fn project(x: S, p: Params) -> S {\n    var y = x;\n    if (x[2] == R(0.0)) {\n        y[1] = R(1.0);\n        y[4] = x[3];\n    }\n    y[2] = x[2] + R(1.0);\n    return y;\n}\n",
    )
    .unwrap();
    let n = 8u64;
    let t1 = 2.0;
    let job = Ensemble::new(sys, n)
        .x0(&[0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
        .sweep("k", 20.0, 80.0)
        .precision(Precision::F64)
        .job(dopri5(1e-8, 1e-8), TimeGrid::until(0.0, t1, 4))
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    let n = n as usize;
    let row = |r: usize, i: usize| s[r * n + i];
    for i in 0..n {
        let (x, c, b) = (row(0, i), row(2, i), row(4, i));
        let (accepted, rejected) = (row(6, i), row(7, i));
        assert!(rejected > 0.0, "trajectory {i}: no step was rejected");
        assert_eq!(c, accepted, "trajectory {i}: project ran {c} times");
        assert!(b > 0.0 && b < t1, "trajectory {i}: first step ends at {b}");
        assert!(
            (x - (t1 - b)).abs() < 1e-9,
            "trajectory {i}: x = {x}, want {}",
            t1 - b
        );
    }
}

/// A first step so long that the trial overflows (Lorenz in f32 with h = 20: inf − inf makes
/// the error norm NaN) is shortened like a failed one and the run proceeds, on the device as
/// on the CPU twin. The step used to grow on NaN (WGSL's max may drop a NaN), and the
/// trajectory was rejected in place until the step budget ran out. Over t = 20 of chaos in
/// f32 the states differ; the step counts agree within 2%.
#[test]
fn an_overflowing_first_step_is_shortened_as_on_the_twin() {
    let ctx = common::ctx();
    let job = lorenz(4, Precision::F32)
        .job(dopri5(1e-6, 1e-6), TimeGrid::until(0.0, 20.0, 1))
        .unwrap();
    let gpu = solve(&ctx, &job, &keep()).unwrap();
    let twin = cpu::solve(&job, &keep()).unwrap();
    let (g, t) = (gpu.states.unwrap(), twin.states.unwrap());
    assert_eq!(gpu.adaptive.unwrap().unfinished, 0);
    for i in 0..4 {
        assert!((0..3).all(|c| g[c * 4 + i].is_finite()), "trajectory {i}");
        let (a, b) = (g[3 * 4 + i], t[3 * 4 + i]);
        assert!(
            a > 0.0 && (a - b).abs() <= 0.02 * b,
            "trajectory {i}: {a} accepted steps, the twin {b}"
        );
    }
}

/// A trajectory is reported finished only if it reached t1. llvmpipe ends a shader's loops
/// after 65535 iterations in all, so Lorenz to t = 2000 (about 91000 trial steps) stops
/// there: it must come out unfinished (NaN, counted), not as a state at t ≈ 1400 labelled
/// t1. Where loops are not limited it finishes, with about the twin's step count (the
/// trajectories differ after t ~ 20 of chaos in f32; their step counts agree within 2%).
#[test]
fn a_trajectory_the_driver_stops_early_is_unfinished_not_finished() {
    let ctx = common::ctx();
    let n = 2usize;
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), n as u64)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 28.0, 29.0)
        .job(dopri5(1e-6, 1e-6), TimeGrid::until(0.0, 2000.0, 1000))
        .unwrap();
    let gpu = solve(&ctx, &job, &keep()).unwrap();
    let twin = cpu::solve(&job, &keep()).unwrap();
    let (g, t) = (gpu.states.unwrap(), twin.states.unwrap());
    let report = gpu.adaptive.unwrap();
    let nan = (0..n).filter(|&i| g[i].is_nan()).count();
    assert_eq!(report.unfinished as usize, nan);
    for i in 0..n {
        let taken = |s: &[f64]| s[3 * n + i] + s[4 * n + i];
        assert!(taken(&t) > 70_000.0, "the twin took {}", taken(&t));
        if g[i].is_finite() {
            assert!(
                (taken(&g) - taken(&t)).abs() <= 0.02 * taken(&t),
                "trajectory {i}: finished after {} steps, the twin {}",
                taken(&g),
                taken(&t)
            );
        }
    }
    eprintln!("{nan} of {n} stopped by the driver");
}

fn run_lanes(ctx: &throng::Context, job: &throng::Job, lanes: Option<u32>) -> Vec<f64> {
    let opts = Options { lanes, ..keep() };
    solve(ctx, job, &opts).unwrap().states.unwrap()
}

/// Lanes step together with their own times and steps: four trajectories per invocation
/// take the same steps and reach the same states, bit for bit, as one per invocation. An
/// autonomous drift (Lorenz) gets any lane's time; the forced Duffing oscillator reads t and
/// compiles with `t: R`, so each lane gets its own.
#[test]
fn dopri5_lanes_take_the_steps_of_one_lane_bit_for_bit() {
    let ctx = common::ctx();
    let duffing = Ensemble::new(System::builtin("duffing").unwrap(), 1001)
        .sweep("gamma", 0.2, 0.6)
        .job(dopri5(1e-6, 1e-6), TimeGrid::until(0.0, 20.0, 200))
        .unwrap();
    assert_eq!(
        throng::kernel::lane_time(&duffing),
        throng::kernel::LaneTime::Vector
    );
    for p in [Precision::F32, Precision::F64] {
        let lorenz = lorenz(1001, p)
            .job(dopri5(1e-6, 1e-6), TimeGrid::until(0.0, 2.0, 100))
            .unwrap();
        assert_eq!(
            throng::kernel::lane_time(&lorenz),
            throng::kernel::LaneTime::Unused
        );
        let one = run_lanes(&ctx, &lorenz, Some(1));
        for lanes in [None, Some(2), Some(4)] {
            assert_eq!(
                run_lanes(&ctx, &lorenz, lanes),
                one,
                "lorenz {p:?} lanes {lanes:?}"
            );
        }
    }
    let one = run_lanes(&ctx, &duffing, Some(1));
    let four = run_lanes(&ctx, &duffing, None);
    assert_eq!(four, one, "duffing");
    // The sweep took different steps per trajectory (the lanes of an invocation differ).
    let n = 1001;
    let accepted = &one[2 * n..3 * n];
    assert!(
        accepted.iter().any(|&a| a != accepted[0]),
        "{:?}",
        &accepted[..8]
    );
}

/// A drift that needs t as one value (an `if` on it) runs one lane, and asking for more says
/// why.
#[test]
fn a_drift_that_takes_one_time_runs_one_lane() {
    let ctx = common::ctx();
    let code = "fn drift(t: F, x: S, p: Params) -> S {\n    var k = p.k;\n    if (t > 1.0) {\n        k = -k;\n    }\n    return S(k * x[0]);\n}\n";
    let sys = System::wgsl("kick", &["x"], &[("k", 0.5)], throng::Noise::None, code).unwrap();
    let job = Ensemble::new(sys, 10)
        .x0(&[1.0])
        .precision(Precision::F64)
        .job(dopri5(1e-9, 1e-9), TimeGrid::until(0.0, 2.0, 10))
        .unwrap();
    assert_eq!(
        throng::kernel::lane_time(&job),
        throng::kernel::LaneTime::One
    );
    let x = run_lanes(&ctx, &job, None);
    // Growth to t = 1, then decay back: x(2) = 1 (to the tolerance, across the kink).
    assert!((x[0] - 1.0).abs() < 1e-6, "{}", x[0]);
    let opts = Options {
        lanes: Some(4),
        ..keep()
    };
    let e = solve(&ctx, &job, &opts).unwrap_err().to_string();
    assert!(e.contains("own time") && e.contains("lanes 4"), "{e}");
}

/// Dense output: dopri5 reaches save times by its continuous extension, not by cutting
/// steps, so saving changes nothing about the steps taken — final states and step counts are
/// bit-identical with and without save times (on the device, in f32 and f64, and on the
/// twin), and for any chunk size. The saved values follow the order-4 extension: on the
/// harmonic oscillator (x = cos t exactly) at save times between steps, their error is of
/// the size of the error at the steps' own ends.
#[test]
fn dopri5_dense_output_leaves_the_steps_alone_and_is_accurate_between_them() {
    let ctx = common::ctx();
    let saving = |every: Option<u64>, chunk: Option<u64>| Options {
        save_at: throng::SaveAt {
            every,
            keep_paths: 4,
            ..Default::default()
        },
        chunk,
        keep_states: true,
        ..Default::default()
    };
    for p in [Precision::F32, Precision::F64] {
        let n = 1000usize;
        let job = lorenz(n as u64, p)
            .job(dopri5(1e-6, 1e-6), TimeGrid::until(0.0, 3.0, 300))
            .unwrap();
        let plain = solve(&ctx, &job, &saving(None, None)).unwrap();
        // Every 0.07: seven first-step lengths, between the controller's steps.
        let saved = solve(&ctx, &job, &saving(Some(7), None)).unwrap();
        let chunked = solve(&ctx, &job, &saving(Some(7), Some(256))).unwrap();
        assert_eq!(saved.saves.len(), 300usize.div_ceil(7));
        let (a, b) = (plain.states.unwrap(), saved.states.unwrap());
        assert_eq!(a, b, "{p:?}: saving changed the run");
        assert_eq!(
            chunked.saves, saved.saves,
            "{p:?}: chunking changed the saves"
        );
        if p == Precision::F64 {
            // The twin interpolates alike: the same steps, the saved states within 1e-10.
            let twin = cpu::solve(&job, &saving(Some(7), None)).unwrap();
            let tw = twin.states.unwrap();
            assert_eq!(
                tw[3 * n..5 * n],
                b[3 * n..5 * n],
                "step counts against the twin"
            );
            for (g, t) in saved.saves.iter().zip(&twin.saves) {
                for (x, y) in g.paths.iter().zip(&t.paths) {
                    assert!(
                        (x - y).abs() <= 1e-10 * y.abs().max(1.0),
                        "t {}: {x} vs {y}",
                        g.t
                    );
                }
            }
        }
    }
    // x'' = -x from (1, 0): x = cos t, v = -sin t. Steps of about 0.1 at rtol 1e-9; saves
    // every 0.013 land inside them.
    let code = "fn drift(t: F, x: S, p: Params) -> S {\n    return S(x[1], -x[0]);\n}\n";
    let sys = System::wgsl("spring", &["x", "v"], &[], throng::Noise::None, code).unwrap();
    let job = Ensemble::new(sys, 4)
        .x0(&[1.0, 0.0])
        .precision(Precision::F64)
        .job(dopri5(1e-9, 1e-9), TimeGrid::until(0.0, 10.0, 10_000))
        .unwrap();
    let sol = solve(&ctx, &job, &saving(Some(13), None)).unwrap();
    let err = |s: &throng::Save| {
        (s.paths[0] - s.t.cos())
            .abs()
            .max((s.paths[1] + s.t.sin()).abs())
    };
    let between = sol.saves.iter().map(err).fold(0.0, f64::max);
    let end = err(sol.saves.last().unwrap());
    let report = sol.adaptive.unwrap();
    let steps = report.steps.mean[0];
    eprintln!(
        "{} saves, {steps} steps: worst error at a save {between:.2e}, at t = 10 {end:.2e}",
        sol.saves.len()
    );
    // Far more saves than steps, so nearly every save lies inside a step.
    assert!(sol.saves.len() as f64 > 3.0 * steps, "{steps} steps");
    assert!(between < 1e-7, "{between:e}");
    assert!(
        between < 10.0 * end.max(1e-9),
        "{between:e} vs {end:e} at the end"
    );
}

/// A trajectory that blows up stops at once, unfinished, as on the twin: x' = a x in f32
/// overflows before t = 1 where a > ln(f32::MAX) ≈ 88.7, and a trial's stage sums (terms
/// up to 11.6 a x before the factor h) somewhat below that. Its trial steps then overflow,
/// each rejection shortens the step 5-fold, and once the step no longer moves t it would
/// be taken forever (100000 steps by default, or llvmpipe's 65535): now the trajectory
/// stops there. The rest finish at x0 e^a.
#[test]
fn a_trajectory_that_blows_up_stops_unfinished_at_once() {
    let ctx = common::ctx();
    let n = 64usize;
    // Without a least step, and with one (whose steps are taken whatever their error, but
    // not overflowed ones).
    for dt_min in [0.0, 1e-6] {
        let job = Ensemble::new(System::builtin("linear").unwrap(), n as u64)
            .x0(&[1.0])
            .sweep("a", 10.0, 200.0)
            .job(
                Method::Dopri5(Controller {
                    dt_min,
                    ..Controller::DEFAULT
                }),
                TimeGrid::until(0.0, 1.0, 100),
            )
            .unwrap();
        let gpu = solve(&ctx, &job, &keep()).unwrap();
        let twin = cpu::solve(&job, &keep()).unwrap();
        let (g, t) = (gpu.states.unwrap(), twin.states.unwrap());
        let a = |i: usize| 10.0 + 190.0 * i as f64 / (n - 1) as f64;
        let blown: Vec<usize> = (0..n).filter(|&i| g[i].is_nan()).collect();
        assert_eq!(
            blown,
            (0..n).filter(|&i| t[i].is_nan()).collect::<Vec<_>>(),
            "the twin's unfinished"
        );
        assert!(blown.iter().all(|&i| a(i) > 80.0), "{blown:?}");
        assert!(
            (0..n).all(|i| a(i) <= 88.7 || blown.contains(&i)),
            "{blown:?}"
        );
        let report = gpu.adaptive.unwrap();
        assert_eq!(report.unfinished as usize, blown.len());
        assert_eq!(report.first_unfinished, Some(blown[0] as u64));
        for i in 0..n {
            let taken = |s: &[f64]| s[n + i] + s[2 * n + i];
            // Each trajectory stopped within a few hundred trial steps, as on the twin.
            assert!(
                taken(&g) < 2000.0,
                "trajectory {i}: {} trial steps",
                taken(&g)
            );
            assert!(
                (taken(&g) - taken(&t)).abs() <= 0.02 * taken(&t),
                "trajectory {i}: {} trial steps, the twin {}",
                taken(&g),
                taken(&t)
            );
            if !g[i].is_nan() {
                let exact = a(i).exp();
                assert!(
                    (g[i] - exact).abs() <= 1e-4 * exact,
                    "trajectory {i}: {}",
                    g[i]
                );
            }
        }
    }
}

/// The Kepler example (examples/specs/kepler.toml; eccentricity 0.875 to 0.9) through 2.5
/// periods in f64 at rtol = atol = 1e-10: energy and angular momentum, which the method
/// does not conserve by construction, stay within 1e-6 of their start on every orbit,
/// though each periapsis pass runs 60 times faster than apoapsis.
#[test]
fn dopri5_keeps_eccentric_kepler_orbits_invariants() {
    let ctx = common::ctx();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/specs/kepler.toml");
    let (sys, _) = throng::spec::load(std::path::Path::new(spec)).unwrap();
    let n = 64usize;
    let job = Ensemble::new(sys, n as u64)
        .sweep("gm", 0.5, 0.625)
        .precision(Precision::F64)
        .job(dopri5(1e-10, 1e-10), TimeGrid::until(0.0, 8.0, 100))
        .unwrap();
    let s = solve(&ctx, &job, &keep()).unwrap();
    assert_eq!(s.adaptive.as_ref().unwrap().unfinished, 0);
    let x = s.states.unwrap();
    for i in 0..n {
        let gm = 0.5 + 0.125 * i as f64 / (n - 1) as f64;
        let (px, py, vx, vy) = (x[i], x[n + i], x[2 * n + i], x[3 * n + i]);
        let energy = 0.5 * (vx * vx + vy * vy) - gm / (px * px + py * py).sqrt();
        let momentum = px * vy - py * vx;
        let (e0, l0) = (0.5 * 0.0625 - gm, 0.25);
        assert!(
            (energy - e0).abs() <= 1e-6 * e0.abs(),
            "orbit {i}: energy {energy}, start {e0}"
        );
        assert!(
            (momentum - l0).abs() <= 1e-6 * l0,
            "orbit {i}: angular momentum {momentum}, start {l0}"
        );
    }
}
