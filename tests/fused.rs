//! Observers fused into the integration kernel (shaders/fused.wgsl) give the unfused
//! observers' results bit for bit: moments, non-finite counts and indices, histograms,
//! quantiles, kept paths, functionals and per-point statistics, for any chunking, dispatch
//! bound, lanes and precision, on the device and on the CPU twin.

mod common;

use throng::observe::Histogram;
use throng::system::Noise;
use throng::{cpu, solve, Ensemble, Method, Options, Precision, SaveAt, System, TimeGrid};

fn gbm(n: u64) -> Ensemble {
    Ensemble::new(System::builtin("gbm").unwrap(), n)
        .x0(&[1.0])
        .set("mu", 0.05)
        .set("sigma", 0.3)
        .seed(5)
}

/// Every observer: saves every 3 steps (so save steps cut the groups of 4 steps), a
/// histogram, quantiles, every 7th path kept.
fn observing(fuse: bool) -> Options {
    Options {
        save_at: SaveAt {
            every: Some(3),
            hist: vec![Histogram {
                component: 0,
                lo: 0.5,
                hi: 1.5,
                bins: 20,
            }],
            quantiles: vec![0.1, 0.5, 0.9],
            keep_paths: 5,
            keep_every: 7,
            ..Default::default()
        },
        fuse: Some(fuse),
        ..Default::default()
    }
}

/// Equal bit for bit (Debug prints the shortest form that reads back to the same f64, and
/// NaN as NaN, which `==` would call different).
fn same(a: &throng::Solution, b: &throng::Solution, what: &str) {
    let text = |v: &dyn std::fmt::Debug| format!("{v:?}");
    assert_eq!(
        text(&a.stats),
        text(&b.stats),
        "{what}: terminal statistics"
    );
    assert_eq!(a.saves.len(), b.saves.len(), "{what}");
    for (s, (x, y)) in a.saves.iter().zip(&b.saves).enumerate() {
        assert_eq!(text(x), text(y), "{what}: save {s}");
    }
    assert_eq!(
        text(&a.points),
        text(&b.points),
        "{what}: per-point statistics"
    );
}

#[test]
fn fused_observers_equal_unfused_ones_bit_for_bit() {
    let ctx = common::ctx();
    // 3000 paths: the last group of 32 is partly past the end.
    let job = gbm(3000)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
        .unwrap();
    let fused = solve(&ctx, &job, &observing(true)).unwrap();
    assert!(fused.fused);
    assert_eq!(fused.saves.len(), 14);
    let unfused = solve(&ctx, &job, &observing(false)).unwrap();
    assert!(!unfused.fused);
    same(&fused, &unfused, "gbm");
    assert!(fused
        .saves
        .iter()
        .all(|s| s.hist[0].counts.iter().sum::<u64>() == 3000));
    // Chunks of 1024, at most 5 steps per dispatch (dispatches end inside groups and
    // between save times), on the device and on the CPU twin.
    let cut = Options {
        chunk: Some(1024),
        dispatch_steps: Some(5),
        ..observing(true)
    };
    let chunked = solve(&ctx, &job, &cut).unwrap();
    assert!(chunked.fused && chunked.chunks == 3);
    same(&chunked, &unfused, "chunks and dispatch bound");
    // A last chunk shorter than the buffers (4 of 8 blocks), several save times per batch:
    // every save time counts every trajectory.
    let short = Options {
        chunk: Some(2048),
        ..observing(true)
    };
    let shorter = solve(&ctx, &job, &short).unwrap();
    assert!(shorter.saves.iter().all(|s| s.stats.count == 3000));
    same(&shorter, &unfused, "a short last chunk");
    // The twin of the fused kernel is the unfused twins in turn.
    same(
        &cpu::solve(&job, &cut).unwrap(),
        &cpu::solve(&job, &observing(false)).unwrap(),
        "cpu twin",
    );
    // Lanes 1 and 2 need subgroups of 32 and 16 invocations, more than llvmpipe's 8: they
    // run unfused, and the reduction's tree does not depend on lanes.
    for lanes in [1, 2] {
        let opts = Options {
            lanes: Some(lanes),
            fuse: None,
            ..observing(true)
        };
        let other = solve(&ctx, &job, &opts).unwrap();
        same(&other, &fused, &format!("lanes {lanes}"));
    }
}

#[test]
fn fused_f64_and_functionals_equal_unfused() {
    let ctx = common::ctx();
    let job = gbm(2500)
        .precision(Precision::F64)
        .job(Method::Milstein, TimeGrid::new(0.0, 0.01, 30))
        .unwrap();
    let a = solve(&ctx, &job, &observing(true)).unwrap();
    assert!(a.fused);
    same(&a, &solve(&ctx, &job, &observing(false)).unwrap(), "f64");
    // A barrier (stop), an event count and a payoff: rows beside the state, reduced and
    // binned at every save time like it.
    let sys = System::wgsl(
        "log_gbm",
        &["y"],
        &[("r", 0.05), ("sigma", 0.3), ("k", 100.0), ("h", 95.0)],
        Noise::Additive,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S(p.r - 0.5 * p.sigma * p.sigma);\n}\n\
         fn diffusion(t: F, x: S, p: Params) -> G {\n    return G(p.sigma);\n}\n\
         fn stop(t: F, x: S, p: Params) -> B {\n    return x[0] <= log(p.h);\n}\n\
         fn event(t: F, x: S, p: Params) -> B {\n    return x[0] > log(p.k);\n}\n\
         fn payoff(x: S, p: Params) -> R {\n    return max(exp(x[0]) - p.k, R(0.0));\n}\n",
    )
    .unwrap();
    let job = Ensemble::new(sys, 4000)
        .x0(&[100f64.ln()])
        .seed(3)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 50))
        .unwrap();
    assert_eq!(job.rows(), 5);
    let mut opts = observing(true);
    opts.save_at.hist.push(Histogram {
        component: 4,
        lo: 0.0,
        hi: 40.0,
        bins: 8,
    });
    let a = solve(&ctx, &job, &opts).unwrap();
    assert!(a.fused);
    opts.fuse = Some(false);
    let b = solve(&ctx, &job, &opts).unwrap();
    same(&a, &b, "functionals");
    // Some paths hit the barrier by the end, and the payoff row is not all zero.
    let last = &a.saves.last().unwrap().stats;
    assert!(last.mean[2] > 0.0 && last.mean[2] < 1.0, "{last:?}");
    assert!(last.mean[4] > 0.0, "{last:?}");
}

#[test]
fn fused_runs_count_the_same_non_finite_trajectories() {
    // OU with theta = 1e4, dt = 0.01 under Euler–Maruyama multiplies by -99 per step: the
    // f32 state overflows at step 20.
    let ctx = common::ctx();
    let job = Ensemble::new(System::builtin("ou").unwrap(), 1000)
        .x0(&[1.0])
        .set("theta", 1e4)
        .seed(2)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
        .unwrap();
    let a = solve(&ctx, &job, &observing(true)).unwrap();
    assert!(a.fused);
    let b = solve(&ctx, &job, &observing(false)).unwrap();
    same(&a, &b, "ou");
    let counts: Vec<(u64, u64)> = a
        .saves
        .iter()
        .map(|s| (s.stats.count, s.stats.nonfinite))
        .collect();
    assert_eq!(counts[5], (1000, 0), "step 18");
    assert_eq!(counts[6], (0, 1000), "step 21");
    // The first non-finite trajectory of each of the first 8 blocks of 256 (group partials
    // are combined into blocks before they are read).
    let first = &a.saves[6].stats.first_nonfinite;
    assert_eq!(first, &[0, 256, 512, 768]);
}

#[test]
fn fused_per_point_statistics_equal_unfused() {
    let ctx = common::ctx();
    // 40 points x 64 replicas: each group of 32 lies in one point.
    let job = gbm(40)
        .sweep("sigma", 0.1, 0.5)
        .replicas(64)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 24))
        .unwrap();
    let opts = |fuse| Options {
        chunk: Some(512),
        ..observing(fuse)
    };
    let a = solve(&ctx, &job, &opts(true)).unwrap();
    assert!(a.fused);
    let b = solve(&ctx, &job, &opts(false)).unwrap();
    same(&a, &b, "points");
    let pts = a.saves[3].points.as_ref().unwrap();
    assert_eq!(pts.points, 40);
    assert!(pts.count.iter().all(|&c| c == 64));
    assert_eq!(a.saves[3].point_hist.len(), 1);
    // 48 replicas per point is not a multiple of 32: refused when fusing is required, and
    // unfused by default.
    let odd = gbm(40)
        .sweep("sigma", 0.1, 0.5)
        .replicas(48)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 24))
        .unwrap();
    let e = solve(&ctx, &odd, &opts(true)).err().unwrap().to_string();
    assert!(e.contains("replicas 48 is not a multiple of 32"), "{e}");
    let default = Options {
        fuse: None,
        ..observing(true)
    };
    assert!(!solve(&ctx, &odd, &default).unwrap().fused);
}
