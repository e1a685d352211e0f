//! Statistics per parameter point (`Ensemble::replicas`): R trajectories per sweep or grid
//! point, reduced per point on the device, the same as the CPU twin and as the kept states,
//! bit-identical for any chunking, lanes and dispatch bound, and following exact laws.

mod common;

use throng::{cpu, solve, Ensemble, Method, Options, Precision, SaveAt, System, TimeGrid};

/// GBM over `points` values of sigma in [0.1, 0.5], `r` replicas each, EM with h = 1/64.
fn gbm_points(points: u64, r: u64) -> Ensemble {
    Ensemble::new(System::builtin("gbm").unwrap(), points)
        .x0(&[1.0])
        .set("mu", 0.05)
        .sweep("sigma", 0.1, 0.5)
        .replicas(r)
        .seed(11)
}

/// E[(a + b Z)^k] for k = 1..4, Z standard normal.
fn raw_moments(a: f64, b: f64) -> [f64; 4] {
    [
        a,
        a * a + b * b,
        a.powi(3) + 3.0 * a * b * b,
        a.powi(4) + 6.0 * a * a * b * b + 3.0 * b.powi(4),
    ]
}

/// Per point, EM's exact mean and variance (X_n = prod (1 + mu h + sigma sqrt(h) Z_i)):
/// E X^k = (E (1 + mu h + sigma sqrt(h) Z)^k)^n. The mean is within 4 standard errors
/// (z-bound 4, sd / sqrt(R)), and so is the variance (its standard error from the exact
/// fourth central moment, sqrt((m4 - var^2) / R)).
#[test]
fn per_point_moments_follow_the_exact_law_of_each_point() {
    let ctx = common::ctx();
    let (points, r, n) = (5u64, 3000u64, 64u64);
    let h = 1.0 / n as f64;
    let job = gbm_points(points, r)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, h, n))
        .unwrap();
    assert_eq!((job.paths, job.points()), (points * r, points));
    let sol = solve(&ctx, &job, &Options::default()).unwrap();
    let pts = sol.points.as_ref().expect("per-point statistics");
    assert_eq!(pts.points, points);
    for p in 0..points as usize {
        let sigma = 0.1 + 0.4 * p as f64 / (points - 1) as f64;
        let m = raw_moments(1.0 + 0.05 * h, sigma * h.sqrt()).map(|v| v.powi(n as i32));
        let var = m[1] - m[0] * m[0];
        let m4 = m[3] - 4.0 * m[2] * m[0] + 6.0 * m[1] * m[0] * m[0] - 3.0 * m[0].powi(4);
        assert_eq!(pts.count[p], r);
        let mean = pts.mean[p];
        let se = (var / r as f64).sqrt();
        assert!(
            (mean - m[0]).abs() < 4.0 * se,
            "sigma {sigma}: mean {mean} vs {} (se {se})",
            m[0]
        );
        let v = pts.var(p, 0);
        let se_v = ((m4 - var * var) / r as f64).sqrt();
        assert!(
            (v - var).abs() < 4.0 * se_v,
            "sigma {sigma}: var {v} vs {var} (se {se_v})"
        );
    }
    // The totals are the merge of every point.
    assert_eq!(sol.stats.count, points * r);
    let all = pts.mean.iter().sum::<f64>() / points as f64;
    assert!((sol.stats.mean[0] - all).abs() < 1e-12);
}

/// Per point, the device's reduction of its own states is the CPU twin's reduction of
/// them, bit for bit, for replicas below, at and above a reduction block (points straddle
/// blocks), in f32 and f64; and the twin's whole run agrees with the device's (their
/// states differ in the last bits: 1e-5 relative).
#[test]
fn per_point_statistics_equal_the_cpu_twin() {
    let ctx = common::ctx();
    for (points, r, precision) in [
        (37u64, 1u64, Precision::F32),
        (9, 100, Precision::F32),
        (5, 256, Precision::F64),
        (3, 700, Precision::F32),
    ] {
        let job = gbm_points(points, r)
            .precision(precision)
            .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
            .unwrap();
        let opts = Options {
            save_at: SaveAt {
                every: Some(10),
                ..Default::default()
            },
            keep_states: true,
            ..Default::default()
        };
        let dev = solve(&ctx, &job, &opts).unwrap();
        let x = dev.states.as_ref().unwrap();
        let n = job.paths as usize;
        let raw: Vec<u8> = match precision {
            Precision::F32 => {
                let v: Vec<f32> = x.iter().map(|&a| a as f32).collect();
                bytemuck::cast_slice(&cpu::reduce::block_partials_from(&v, n, 1, 0, Some(r)))
                    .to_vec()
            }
            Precision::F64 => {
                bytemuck::cast_slice(&cpu::reduce::block_partials64_from(x, n, 1, 0, Some(r)))
                    .to_vec()
            }
        };
        let mut tree = throng::reduce::MergeTree::new(1);
        let mut pts = throng::reduce::PointStats::empty(points, 1);
        throng::exec::absorb_points(&mut tree, &mut pts, &raw, precision, r, 0);
        let total = tree.total();
        let what = format!("{points} x {r} {precision:?}");
        assert_eq!(dev.points.as_ref(), Some(&pts), "{what}");
        assert_eq!(dev.stats, total, "{what}");
        assert_eq!(dev.saves.len(), 4);
        assert_eq!(dev.saves[3].points.as_ref(), Some(&pts));
        assert_eq!(pts.count, vec![r; points as usize]);
        let twin = cpu::solve(&job, &opts).unwrap().points.unwrap();
        for (a, b) in pts.mean.iter().zip(&twin.mean) {
            assert!((a - b).abs() < 1e-5 * a.abs(), "{what}: {a} vs {b}");
        }
    }
}

/// The per-point statistics agree with the kept states reduced per point on the host (in
/// f64, two passes; f32 values, so within 1e-5 relative), and point p's trajectories have
/// the point's parameter.
#[test]
fn per_point_statistics_agree_with_the_kept_states() {
    let ctx = common::ctx();
    let (points, r) = (7u64, 300u64);
    let job = gbm_points(points, r)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 50))
        .unwrap();
    let sol = solve(&ctx, &job, &common::keep()).unwrap();
    let x = sol.states.as_ref().unwrap();
    let pts = sol.points.as_ref().unwrap();
    for p in 0..points as usize {
        let v = &x[p * r as usize..][..r as usize];
        let m = v.iter().sum::<f64>() / r as f64;
        let var = v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (r - 1) as f64;
        assert!((pts.mean[p] - m).abs() < 1e-5 * m.abs(), "point {p}");
        assert!((pts.var(p, 0) - var).abs() < 1e-4 * var, "point {p}");
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(pts.min[p], lo);
        // The point's sigma for each of its replicas.
        let (_, par) = job.inputs_at(p as u64 * r + r - 1);
        let (_, par0) = job.inputs_at(p as u64 * r);
        assert_eq!(par, par0);
    }
}

/// Chunk size, lanes and the dispatch bound change nothing, bit for bit.
#[test]
fn per_point_statistics_do_not_depend_on_chunking_lanes_or_dispatches() {
    let ctx = common::ctx();
    let job = gbm_points(11, 333)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 64))
        .unwrap();
    let run = |chunk: Option<u64>, lanes: Option<u32>, dispatch: Option<u64>| {
        let opts = Options {
            chunk,
            lanes,
            dispatch_steps: dispatch,
            save_at: SaveAt {
                every: Some(16),
                hist: vec![throng::observe::Histogram {
                    component: 0,
                    lo: 0.8,
                    hi: 1.2,
                    bins: 16,
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        let sol = solve(&ctx, &job, &opts).unwrap();
        let saves: Vec<_> = sol
            .saves
            .iter()
            .map(|s| (s.points.clone(), s.point_hist.clone()))
            .collect();
        (sol.points, saves, sol.stats)
    };
    let base = run(None, None, None);
    for (chunk, lanes, dispatch) in [
        (Some(256), None, None),
        (Some(1024), Some(1), Some(5)),
        (Some(768), Some(2), None),
    ] {
        assert_eq!(
            run(chunk, lanes, dispatch),
            base,
            "chunk {chunk:?}, lanes {lanes:?}, dispatch {dispatch:?}"
        );
    }
}

/// A grid of points: cells x replicas trajectories; a table has one value per point; zero
/// replicas and too many trajectories are refused plainly.
#[test]
fn grids_tables_and_refusals_count_points() {
    let sys = System::builtin("gbm").unwrap();
    let job = Ensemble::new(sys.clone(), 6)
        .grid("mu", 0.0, 0.1, 2)
        .grid("sigma", 0.1, 0.3, 3)
        .replicas(10)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap();
    assert_eq!(job.paths, 60);
    // Trajectory 59 is the last replica of cell 5: mu 0.1, sigma 0.3.
    let (_, p) = job.inputs_at(59);
    assert!(
        (p[0] - 0.1).abs() < 1e-7 && (p[1] - 0.3).abs() < 1e-7,
        "{p:?}"
    );
    let (_, p) = job.inputs_at(10);
    assert!(
        (p[0] - 0.1).abs() < 1e-7 && (p[1] - 0.1).abs() < 1e-7,
        "{p:?}"
    );
    let job = Ensemble::new(sys.clone(), 3)
        .values("sigma", vec![0.1, 0.2, 0.3])
        .replicas(4)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap();
    assert!((job.inputs_at(11).1[1] - 0.3).abs() < 1e-7);
    let e = Ensemble::new(sys.clone(), 3)
        .replicas(0)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("replicas must be at least 1"), "{e}");
    let e = Ensemble::new(sys, 1 << 20)
        .replicas(1 << 13)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap_err()
        .to_string();
    assert!(e.contains("1048576 points x 8192 replicas"), "{e}");
}

/// Histograms and quantiles per point: each point's counts are the kept states of its
/// replicas binned as the kernel bins them (bit for bit), the totals are their sum, and each
/// point's quantiles are within one quantile bin of its replicas' sample quantiles.
#[test]
fn histograms_and_quantiles_per_point() {
    let ctx = common::ctx();
    let (points, r) = (6u64, 400u64);
    let job = gbm_points(points, r)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 50))
        .unwrap();
    let levels = [0.1, 0.5, 0.9];
    let opts = Options {
        keep_states: true,
        save_at: SaveAt {
            every: Some(25),
            hist: vec![throng::observe::Histogram {
                component: 0,
                lo: 0.5,
                hi: 1.5,
                bins: 20,
            }],
            quantiles: levels.to_vec(),
            ..Default::default()
        },
        ..Default::default()
    };
    for lanes in [None, Some(1)] {
        let sol = solve(
            &ctx,
            &job,
            &Options {
                lanes,
                ..opts.clone()
            },
        )
        .unwrap();
        let end = sol.saves.last().unwrap();
        let x = sol.states.as_ref().unwrap();
        let ph = &end.point_hist[0];
        assert_eq!(ph.counts.len(), points as usize * 22);
        let scale = 20.0 / (1.5 - 0.5);
        for p in 0..points as usize {
            let mut want = [0u64; 22];
            for &v in &x[p * r as usize..][..r as usize] {
                let b = cpu::observe::bin(v, 0.5, scale, 20, Precision::F32).unwrap();
                want[b] += 1;
            }
            assert_eq!(
                &ph.counts[p * 22..][..22],
                &want[..],
                "point {p}, lanes {lanes:?}"
            );
        }
        let total: Vec<u64> = (0..22)
            .map(|b| (0..points as usize).map(|p| ph.counts[p * 22 + b]).sum())
            .collect();
        assert_eq!(end.hist[0].counts, total);
        let pq = &end.point_quantiles[0];
        for p in 0..points as usize {
            let mut v = x[p * r as usize..][..r as usize].to_vec();
            v.sort_by(f64::total_cmp);
            for (k, &q) in levels.iter().enumerate() {
                // The sample quantile's neighbours bracket any definition of it.
                let i = q * (r - 1) as f64;
                let (a, b) = (v[i.floor() as usize], v[i.ceil() as usize]);
                let got = pq.values[p * 3 + k];
                assert!(
                    got >= a - pq.resolution && got <= b + pq.resolution,
                    "point {p}, level {q}: {got} not in [{a}, {b}] ± {}",
                    pq.resolution
                );
            }
        }
    }
}

/// Random initial states stay keyed by the trajectory (replicas of a point start apart),
/// tables are per point, and the per-point statistics stay chunk-invariant with both.
#[test]
fn random_initial_states_and_tables_with_replicas() {
    let ctx = common::ctx();
    let job = Ensemble::new(System::builtin("gbm").unwrap(), 5)
        .x0(&[1.0])
        .values("sigma", vec![0.1, 0.2, 0.3, 0.4, 0.5])
        .init(throng::Init::Normal(vec![0.05]))
        .replicas(301)
        .seed(4)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 20))
        .unwrap();
    let (x0a, pa) = job.inputs_at(301);
    let (x0b, pb) = job.inputs_at(302);
    assert_ne!(x0a, x0b, "replicas draw their own initial offsets");
    assert_eq!(pa, pb);
    assert!((pa[1] - 0.2).abs() < 1e-7, "{pa:?}");
    let run = |chunk| {
        let opts = Options {
            chunk,
            ..Default::default()
        };
        solve(&ctx, &job, &opts).unwrap().points.unwrap()
    };
    let whole = run(None);
    assert_eq!(run(Some(512)), whole);
    // Each point's spread at t = 0.2 grows with its sigma (x0 spread 0.05 is shared).
    for p in 0..4 {
        assert!(whole.var(p, 0) < whole.var(p + 1, 0), "{:?}", whole.m2);
    }
}
