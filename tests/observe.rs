//! Observers: statistics at save times, bit-identical for any chunking and dispatch bound,
//! and non-finite trajectories counted per save time.

mod common;

use throng::{cpu, solve, Ensemble, Method, Options, SaveAt, System, TimeGrid};

fn gbm(n: u64, seed: u64) -> Ensemble {
    Ensemble::new(System::builtin("gbm").unwrap(), n)
        .x0(&[1.0])
        .set("mu", 0.05)
        .set("sigma", 0.2)
        .seed(seed)
}

/// The GBM run of `gbm(n, seed)` with dt 0.01 stopped after `steps` steps, states kept.
fn gbm_cut(ctx: &throng::Context, n: u64, seed: u64, steps: u64) -> throng::Solution {
    let job = gbm(n, seed)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, steps))
        .unwrap();
    solve(ctx, &job, &common::keep()).unwrap()
}

fn saving(every: u64) -> Options {
    Options {
        save_at: SaveAt {
            every: Some(every),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn gbm_moments_at_64_save_times_match_the_exact_law_of_the_em_chain() {
    let ctx = common::ctx();
    let (mu, sigma, steps, n) = (0.05f64, 0.2f64, 256u64, 1u64 << 17);
    let job = gbm(n, 17)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
        .unwrap();
    let sol = solve(&ctx, &job, &saving(4)).unwrap();
    assert_eq!(sol.saves.len(), 64);
    assert_eq!(sol.saves.last().unwrap().stats, sol.stats);
    let h = 1.0 / steps as f64;
    let (a, b) = (1.0 + mu * h, sigma * h.sqrt());
    let mut worst = 0f64;
    for (k, save) in sol.saves.iter().enumerate() {
        // After m steps X_m = prod (a + b Z): exact raw moments (as for the terminal test).
        let m = 4 * (k as i32 + 1);
        assert_eq!(save.step, m as u64);
        assert!((save.t - m as f64 * h).abs() < 1e-12);
        let e1 = a.powi(m);
        let e2 = (a * a + b * b).powi(m);
        let e3 = (a.powi(3) + 3.0 * a * b * b).powi(m);
        let e4 = (a.powi(4) + 6.0 * a * a * b * b + 3.0 * b.powi(4)).powi(m);
        let var = e2 - e1 * e1;
        let mu4 = e4 - 4.0 * e3 * e1 + 6.0 * e2 * e1 * e1 - 3.0 * e1.powi(4);
        let nf = n as f64;
        let st = &save.stats;
        assert_eq!(st.count, n);
        let z_mean = (st.mean[0] - e1) / (var / nf).sqrt();
        let z_var = (st.var()[0] - var) / ((mu4 - var * var * (nf - 3.0) / (nf - 1.0)) / nf).sqrt();
        worst = worst.max(z_mean.abs()).max(z_var.abs());
        assert!(
            z_mean.abs() < 4.0 && z_var.abs() < 4.0,
            "save {k} (step {m}): mean z {z_mean}, var z {z_var}"
        );
    }
    eprintln!("64 save times: largest |z| {worst:.2}");
}

#[test]
fn saves_are_bit_identical_for_any_chunk_size_and_dispatch_bound() {
    let ctx = common::ctx();
    for (ens, method) in [
        (gbm(5000, 3), Method::EulerMaruyama),
        (
            Ensemble::new(System::builtin("lorenz").unwrap(), 5000).sweep("rho", 0.0, 50.0),
            Method::Rk4,
        ),
    ] {
        // 70 steps, saves every 8: segments start mid-group of 4 noise steps.
        let job = ens.job(method, TimeGrid::new(0.0, 0.01, 70)).unwrap();
        let reference = solve(&ctx, &job, &saving(8)).unwrap();
        assert_eq!(reference.saves.len(), 9);
        assert_eq!(reference.saves.last().unwrap().step, 70);
        for chunk in [Some(256), Some(1000), None] {
            for dispatch_steps in [None, Some(3)] {
                let opts = Options {
                    chunk,
                    dispatch_steps,
                    ..saving(8)
                };
                let sol = solve(&ctx, &job, &opts).unwrap();
                assert_eq!(
                    sol.saves, reference.saves,
                    "{method:?} chunk {chunk:?} dispatch {dispatch_steps:?}"
                );
            }
        }
        // Each save equals a run that simply stops there, and the end equals a plain run.
        for save in &reference.saves[..3] {
            let cut = ens
                .job(method, TimeGrid::new(0.0, 0.01, save.step))
                .unwrap();
            assert_eq!(
                solve(&ctx, &cut, &Options::default()).unwrap().stats,
                save.stats
            );
        }
        let plain = solve(&ctx, &job, &Options::default()).unwrap();
        assert_eq!(plain.stats, reference.stats);
        assert!(plain.saves.is_empty());
        // And the CPU twin saves at the same times, to f32 rounding.
        let twin = cpu::solve(&job, &saving(8)).unwrap();
        for (g, t) in reference.saves.iter().zip(&twin.saves) {
            assert_eq!((g.step, g.stats.count), (t.step, t.stats.count));
            for c in 0..g.stats.dim() {
                let (a, b) = (g.stats.mean[c], t.stats.mean[c]);
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                    "{method:?} {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn non_finite_trajectories_are_counted_per_save_time_with_indices_to_replay() {
    // OU with theta = 1e4, dt = 0.01 under Euler–Maruyama multiplies by -99 per step: finite
    // in f32 up to step 19, overflowed by step 20 (99^20 > 3.4e38).
    let ctx = common::ctx();
    let n = 4096u64;
    let job = Ensemble::new(System::builtin("ou").unwrap(), n)
        .x0(&[1.0])
        .set("theta", 1e4)
        .seed(2)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
        .unwrap();
    let sol = solve(&ctx, &job, &saving(10)).unwrap();
    let counts: Vec<(u64, u64)> = sol
        .saves
        .iter()
        .map(|s| (s.stats.count, s.stats.nonfinite))
        .collect();
    assert_eq!(counts, [(n, 0), (0, n), (0, n), (0, n)]);
    assert!(sol.saves[0].stats.first_nonfinite.is_empty());
    let first = &sol.saves[1].stats.first_nonfinite;
    // The first non-finite trajectory of each of the first 8 blocks of 256 (group partials
    // are combined into blocks before they are read).
    assert_eq!(first, &(0..8).map(|b| 256 * b).collect::<Vec<u64>>());
    // Replaying trajectory first[1] alone (its own seed and index) reproduces the blow-up.
    let replay = cpu::trajectory(&job, first[1]);
    assert!(!replay[0].is_finite());
}

/// OU under Euler–Maruyama from x0: the chain is Gaussian with this mean and variance.
fn ou_chain(theta: f64, mu: f64, sigma: f64, x0: f64, h: f64, steps: i32) -> (f64, f64) {
    let (aa, bb, s) = (1.0 - theta * h, theta * mu * h, sigma * h.sqrt());
    let an = aa.powi(steps);
    (
        an * x0 + bb * (1.0 - an) / (1.0 - aa),
        s * s * (1.0 - an * an) / (1.0 - aa * aa),
    )
}

#[test]
fn ou_histograms_and_quantiles_follow_the_exact_normal_law() {
    let ctx = common::ctx();
    let (theta, mu, sigma, x0, n) = (2.0, 0.5, 0.3, 2.0, 1u64 << 18);
    let steps = 64u64;
    let h = 1.0 / steps as f64;
    let job = Ensemble::new(System::builtin("ou").unwrap(), n)
        .x0(&[x0])
        .set("theta", theta)
        .set("mu", mu)
        .set("sigma", sigma)
        .seed(23)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, h, steps))
        .unwrap();
    let (m_end, v_end) = ou_chain(theta, mu, sigma, x0, h, steps as i32);
    let sd_end = v_end.sqrt();
    let bins = 40u32;
    let qs = [0.01, 0.05, 0.5, 0.95, 0.99];
    let opts = Options {
        save_at: SaveAt {
            every: Some(16),
            hist: vec![throng::observe::Histogram {
                component: 0,
                lo: m_end - 4.0 * sd_end,
                hi: m_end + 4.0 * sd_end,
                bins,
            }],
            quantiles: qs.to_vec(),
            keep_paths: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    let sol = solve(&ctx, &job, &opts).unwrap();
    assert_eq!(sol.saves.len(), 4);
    for save in &sol.saves {
        let (m, v) = ou_chain(theta, mu, sigma, x0, h, save.step as i32);
        let sd = v.sqrt();
        // Quantiles: sampling standard error sqrt(q (1 - q) / n) / pdf(x_q), plus one bin of
        // the quantile histogram (the stated resolution).
        let qv = &save.quantiles[0];
        for (k, &q) in qs.iter().enumerate() {
            let z = common::norm_quantile(q);
            let exact = m + sd * z;
            let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() / sd;
            let se = (q * (1.0 - q) / n as f64).sqrt() / pdf;
            let err = qv.values[k] - exact;
            assert!(
                err.abs() < 4.0 * se + qv.resolution,
                "step {} q {q}: {} vs {exact} (se {se}, resolution {})",
                save.step,
                qv.values[k],
                qv.resolution
            );
        }
        assert!(qv.resolution < 0.01 * sd, "resolution {}", qv.resolution);
    }
    // Chi-square of the terminal histogram (40 bins and the two tails) against the exact law:
    // 41 degrees of freedom; the 0.1 % critical value is 74.7.
    let hc = &sol.saves.last().unwrap().hist[0];
    let edge = |k: u32| hc.lo + (hc.hi - hc.lo) * k as f64 / bins as f64;
    let cdf = |x: f64| common::norm_cdf((x - m_end) / sd_end);
    let mut chi2 = 0.0;
    for (k, &obs) in hc.counts.iter().enumerate() {
        let p = match k {
            0 => cdf(hc.lo),
            k if k == bins as usize + 1 => 1.0 - cdf(hc.hi),
            k => cdf(edge(k as u32)) - cdf(edge(k as u32 - 1)),
        };
        let expected = p * n as f64;
        chi2 += (obs as f64 - expected).powi(2) / expected;
    }
    assert_eq!(hc.counts.iter().sum::<u64>(), n);
    eprintln!("OU terminal histogram: chi-square {chi2:.1} on 41 degrees of freedom");
    assert!(chi2 < 74.7, "chi-square {chi2}");
}

#[test]
fn histograms_and_kept_paths_are_exactly_what_the_states_say() {
    // The device's histogram of every save equals one computed on the host from the states
    // it kept, and kept paths equal runs cut at each save; all bit-identical across chunking.
    let ctx = common::ctx();
    let n = 3000u64;
    let job = gbm(n, 31)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 30))
        .unwrap();
    let sa = SaveAt {
        every: Some(10),
        hist: vec![throng::observe::Histogram {
            component: 0,
            lo: 0.9,
            hi: 1.1,
            bins: 17,
        }],
        quantiles: vec![0.25, 0.75],
        keep_paths: 700,
        ..Default::default()
    };
    let reference = solve(
        &ctx,
        &job,
        &Options {
            save_at: sa.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    for chunk in [Some(256), Some(1024)] {
        let sol = solve(
            &ctx,
            &job,
            &Options {
                save_at: sa.clone(),
                chunk,
                dispatch_steps: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(sol.saves, reference.saves, "chunk {chunk:?}");
    }
    for save in &reference.saves {
        let states = gbm_cut(&ctx, n, 31, save.step).states.unwrap();
        assert_eq!(
            save.paths,
            states[..700].to_vec(),
            "kept paths at {}",
            save.step
        );
        let mut counts = vec![0u64; 19];
        let scale = (17.0 / (1.1 - 0.9)) as f32;
        for &v in &states {
            let x = (v as f32 - 0.9f32) * scale;
            counts[if x >= 0.0 {
                x.min(17.0) as usize + 1
            } else {
                0
            }] += 1;
        }
        assert_eq!(save.hist[0].counts, counts, "histogram at {}", save.step);
        // Quantiles from the 4096-bin histogram agree with the sorted states to a bin.
        let mut sorted = states.clone();
        sorted.sort_by(f64::total_cmp);
        let q = &save.quantiles[0];
        for (k, &p) in [0.25, 0.75].iter().enumerate() {
            let exact = sorted[(p * n as f64) as usize];
            assert!(
                (q.values[k] - exact).abs() <= 2.0 * q.resolution,
                "q {p}: {} vs {exact}",
                q.values[k]
            );
        }
    }
}

#[test]
fn progress_is_reported_and_a_cancelled_run_returns_what_it_has_marked_partial() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let ctx = common::ctx();
    let job = gbm(5000, 5)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
        .unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let (c, s) = (cancel.clone(), seen.clone());
    let opts = Options {
        chunk: Some(1024),
        progress: Some(throng::solve::Progress(Arc::new(move |p| {
            assert_eq!(p.of, 5000);
            assert_eq!(p.chunks, 5);
            assert!(p.elapsed_s >= 0.0 && p.eta_s >= 0.0);
            // Reported as chunks are read back: none before the second is submitted.
            assert_eq!(p.trajectories, 1024 * p.chunk as u64);
            if p.trajectories > 0 && !c.load(Ordering::SeqCst) {
                s.store(p.trajectories, Ordering::SeqCst);
                // Stop once the first chunk is done; the second is already on its way.
                c.store(true, Ordering::SeqCst);
            }
        }))),
        cancel: Some(cancel),
        keep_states: true,
        ..saving(10)
    };
    let sol = solve(&ctx, &job, &opts).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1024);
    assert!(sol.partial);
    assert_eq!(sol.completed, 2048);
    assert_eq!(sol.stats.count, 2048);
    assert!(sol.saves.iter().all(|s| s.stats.count == 2048));
    // The statistics are those of the first 2048 trajectories of the full run.
    let full = solve(&ctx, &job, &common::keep()).unwrap();
    let first = &full.states.unwrap()[..2048];
    let mean = first.iter().sum::<f64>() / 2048.0;
    // (to the f32 block reduction's rounding, as everywhere)
    assert!((sol.stats.mean[0] - mean).abs() < 1e-6 * mean.abs());
    // Without cancellation the whole run completes.
    let whole = solve(&ctx, &job, &saving(10)).unwrap();
    assert!(!whole.partial && whole.completed == 5000);
    assert!(whole.device_bytes > 0);
}

#[test]
fn observers_work_on_chunks_at_the_adapters_dispatch_limit() {
    // Enough trajectories that a chunk is as large as one dispatch of the integration kernels
    // allows (65535 workgroups of 256 here); every observer dispatch must fit too.
    let ctx = common::ctx();
    let n = (ctx.limits.max_compute_workgroups_per_dimension as u64) * 256 + 512;
    let job = gbm(n, 9)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap();
    let opts = Options {
        save_at: SaveAt {
            every: Some(2),
            hist: vec![throng::observe::Histogram {
                component: 0,
                lo: 0.5,
                hi: 1.5,
                bins: 8,
            }],
            quantiles: vec![],
            keep_paths: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let sol = solve(&ctx, &job, &opts).unwrap();
    assert!(sol.chunks >= 2, "{} chunk(s)", sol.chunks);
    for s in &sol.saves {
        assert_eq!(s.stats.count, n);
        assert_eq!(s.hist[0].counts.iter().sum::<u64>(), n);
    }
}

#[test]
fn save_times_from_a_list_and_every_jth_kept_path() {
    let ctx = common::ctx();
    let job = gbm(3000, 37)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 30))
        .unwrap();
    let sa = SaveAt {
        every: Some(10),
        times: vec![0.05, 0.13, 0.2],
        keep_paths: 5,
        keep_every: 100,
        ..Default::default()
    };
    let sol = solve(
        &ctx,
        &job,
        &Options {
            save_at: sa.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let steps: Vec<u64> = sol.saves.iter().map(|s| s.step).collect();
    assert_eq!(steps, [5, 10, 13, 20, 30]);
    for save in &sol.saves {
        let plain = gbm_cut(&ctx, 3000, 37, save.step);
        assert_eq!(plain.stats, save.stats);
        let states = plain.states.unwrap();
        let want: Vec<f64> = (0..5).map(|k| states[100 * k]).collect();
        assert_eq!(save.paths, want, "step {}", save.step);
    }
    // The CPU twin keeps the same trajectories.
    let twin = throng::cpu::solve(
        &job,
        &Options {
            save_at: sa,
            ..Default::default()
        },
    )
    .unwrap();
    for (g, t) in sol.saves.iter().zip(&twin.saves) {
        for (a, b) in g.paths.iter().zip(&t.paths) {
            assert!((a - b).abs() <= 1e-5 * b.abs());
        }
    }
    // A time off the grid is refused.
    let err = solve(
        &ctx,
        &job,
        &Options {
            save_at: SaveAt {
                times: vec![0.055],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("save time 0.055 is not a step of the grid"),
        "{err}"
    );
}

/// Partials merged batch by batch as they arrive (a read-back of 3 save times at a time,
/// over 5 chunks) give the statistics of one batch per chunk, bit for bit; a run cancelled
/// in the middle of a chunk, after some of its batches were merged, reports exactly the
/// chunks before it.
#[test]
fn batches_merge_as_they_arrive_and_a_cancelled_chunk_is_taken_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use throng::exec::Backend;
    use throng::plan::{Buf, DeviceInfo, Plan};
    let job = gbm(5000, 8)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
        .unwrap();
    let base = Options {
        chunk: Some(1024),
        ..saving(2)
    };
    // One save time's group partials: 32 groups x 8 words x 4 bytes.
    let small = Options {
        readback_bytes: Some(3 * 32 * 8 * 4),
        ..base.clone()
    };
    let one = cpu::solve(&job, &base).unwrap();
    let batched = cpu::solve(&job, &small).unwrap();
    assert_eq!(batched.saves, one.saves);
    let ctx = common::ctx();
    assert_eq!(
        solve(&ctx, &job, &small).unwrap().saves,
        solve(&ctx, &job, &base).unwrap().saves
    );
    // The CPU twin's backend, cancelled after the third partials read-back of chunk 2.
    struct Cancelling<'a> {
        inner: throng::cpu::exec::CpuBackend<'a>,
        cancel: Arc<AtomicBool>,
        reads: u32,
    }
    impl Backend for Cancelling<'_> {
        type Ticket = ();
        fn write(&mut self, buf: Buf, data: &[u8]) -> throng::Result<()> {
            self.inner.write(buf, data)
        }
        fn dispatch(&mut self, k: throng::record::Kernel, s: u32, w: u32) -> throng::Result<()> {
            self.inner.dispatch(k, s, w)
        }
        fn copy(&mut self, from: Buf, to: Buf, bytes: u64) -> throng::Result<()> {
            self.inner.copy(from, to, bytes)
        }
        fn submit(&mut self) -> throng::Result<()> {
            self.inner.submit()
        }
        fn read(&mut self, buf: Buf, bytes: u64, after: ()) -> throng::Result<Vec<u8>> {
            if matches!(buf, Buf::PartialsRead(_)) {
                self.reads += 1;
                // 7 batches per chunk (20 save times, 3 at a time): read 10 is in chunk 2.
                if self.reads == 10 {
                    self.cancel.store(true, Ordering::SeqCst);
                }
            }
            self.inner.read(buf, bytes, after)
        }
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = Options {
        cancel: Some(cancel.clone()),
        ..small.clone()
    };
    let plan = Plan::new(&job, &opts, &DeviceInfo::cpu()).unwrap();
    assert_eq!(plan.slots, 3);
    let rec = throng::record::Recording::new(&plan);
    let mut backend = Cancelling {
        inner: throng::cpu::exec::CpuBackend::new(&job, &plan),
        cancel,
        reads: 0,
    };
    let out = throng::exec::execute(&job, &plan, &rec, &opts, &mut backend).unwrap();
    assert!(out.partial);
    assert_eq!(out.completed, 1024);
    // Exactly the first chunk's statistics: those of a run over its 1024 trajectories.
    let first = gbm(1024, 8)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 40))
        .unwrap();
    let alone = cpu::solve(&first, &small).unwrap();
    for (s, a) in out.saved.iter().zip(&alone.saves) {
        assert_eq!(&s.total(), &a.stats);
    }
}
