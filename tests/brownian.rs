//! `--brownian tree`: fixed-step SDE methods reading their normals from the Brownian tree
//! (`rng::tree`, `shaders/tree.wgsl`) follow the CPU twin, see one path at every step count
//! 2^m (so the strong error against the exact solution on that path falls at the method's
//! strong order), sample the exact law, and do not depend on chunking.

mod common;

use throng::noise::Brownian;
use throng::{cpu, solve, Ensemble, Method, Options, System, TimeGrid};

const MU: f64 = 0.05;
const SIGMA: f64 = 0.4;

fn gbm(n: u64) -> Ensemble {
    Ensemble::new(System::builtin("gbm").unwrap(), n)
        .x0(&[1.0])
        .set("mu", MU)
        .set("sigma", SIGMA)
        .seed(17)
        .brownian(Brownian::Tree)
}

/// Euler–Maruyama and Milstein with tree normals on the device follow the CPU twin path by
/// path (f32, 1e-5 relative), one channel (the packed layout), at step counts below one
/// group of 16 steps, of one, and of many with the groups' nodes at odd and even levels.
#[test]
fn tree_noise_on_the_device_follows_the_twin() {
    let ctx = common::ctx();
    for method in [Method::EulerMaruyama, Method::Milstein] {
        for steps in [1u64, 2, 4, 8, 16, 32, 64, 512] {
            let job = gbm(1000)
                .job(method, TimeGrid::until(0.0, 1.0, steps))
                .unwrap();
            let gpu = solve(&ctx, &job, &common::keep()).unwrap().states.unwrap();
            let twin = cpu::solve(&job, &common::keep()).unwrap().states.unwrap();
            common::assert_matches_twin(&gpu, &twin, 1000, 1, 1e-5, &format!("{method:?} {steps}"));
        }
    }
}

/// Several channels (the binary layout, two channel blocks): five independent Brownian
/// motions (dx = dW, f64 states) under Euler–Maruyama sum the device's step normals, so the
/// kept paths at every save time must equal the twin's B at those points (`brownian_at`)
/// channel by channel, to f64 rounding of the sums (1e-6; a wrong node's normal is off by
/// ~0.1), at step counts below one group of 16 steps, of one, and of many.
#[test]
fn tree_noise_with_several_channel_blocks_is_the_twins_path() {
    let ctx = common::ctx();
    let sys = System::wgsl(
        "bm5",
        &["a", "b", "c", "d", "e"],
        &[],
        throng::Noise::Additive,
        "fn drift(t: F, x: S, p: Params) -> S {\n    return S();\n}\n\nfn diffusion(t: F, x: S, p: Params) -> G {\n    return G(R(1.0), R(1.0), R(1.0), R(1.0), R(1.0));\n}\n",
    )
    .unwrap();
    let n = 64u64;
    for depth in [0u32, 2, 3, 4, 5, 9] {
        let steps = 1u64 << depth;
        let job = Ensemble::new(sys.clone(), n)
            .seed(5)
            .precision(throng::Precision::F64)
            .brownian(Brownian::Tree)
            .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
            .unwrap();
        let every = (steps / 8).max(1);
        let opts = Options {
            save_at: throng::SaveAt {
                every: Some(every),
                keep_paths: n,
                ..Default::default()
            },
            ..Default::default()
        };
        let sol = solve(&ctx, &job, &opts).unwrap();
        assert_eq!(sol.saves.len() as u64, steps / every);
        for (i, save) in sol.saves.iter().enumerate() {
            let k = (i as u64 + 1) * every;
            for traj in 0..n as usize {
                for c in 0..5usize {
                    let want = throng::rng::tree::brownian_at(
                        job.key(),
                        5,
                        traj as u32,
                        (c / 4) as u32,
                        depth,
                        k,
                    )[c % 4] as f64;
                    let got = save.paths[traj * 5 + c];
                    assert!(
                        (got - want).abs() < 1e-6,
                        "depth {depth} point {k} path {traj} channel {c}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// Deep trees over several dispatches: at 2^15 steps (depth 15, dispatches of 2^14 steps) the
/// device still follows the twin. (The walk once looped, and llvmpipe silently ends a
/// shader's loops after 65535 iterations: past 2^14 steps the later dispatches' normals
/// were cut short and the variance at T came out half.)
#[test]
fn deep_trees_over_several_dispatches_follow_the_twin() {
    let ctx = common::ctx();
    let job = gbm(128)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 1 << 15))
        .unwrap();
    let gpu = solve(&ctx, &job, &common::keep()).unwrap().states.unwrap();
    let twin = cpu::solve(&job, &common::keep()).unwrap().states.unwrap();
    common::assert_matches_twin(&gpu, &twin, 128, 1, 1e-4, "2^15 steps");
}

/// One path at every step count: GBM's exact solution at T = 1 on the tree's path is
/// x0 exp((μ − σ²/2) + σ B(1)), B(1) the tree's root normal for the trajectory; the RMS
/// error of Euler–Maruyama and Milstein against it over 2000 paths at 2^4 .. 2^9 steps
/// falls at strong orders ½ and 1 (fitted, ±0.1; measured 0.488 and 1.007, f64). With the
/// stream, each step count would see another path and the error would not fall at all.
#[test]
fn every_step_count_sees_one_path_and_strong_orders_follow() {
    let ctx = common::ctx();
    let n = 2000u64;
    let job0 = gbm(n)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 16))
        .unwrap();
    let key = job0.key();
    let exact: Vec<f64> = (0..n as u32)
        .map(|i| {
            let b1 = throng::rng::tree::brownian_at(key, 1, i, 0, 0, 1)[0] as f64;
            ((MU - 0.5 * SIGMA * SIGMA) + SIGMA * b1).exp()
        })
        .collect();
    for (method, want) in [(Method::EulerMaruyama, 0.5), (Method::Milstein, 1.0)] {
        let errs: Vec<f64> = (4..=9)
            .map(|m| {
                let job = gbm(n)
                    .precision(throng::Precision::F64)
                    .job(method, TimeGrid::until(0.0, 1.0, 1 << m))
                    .unwrap();
                let x = solve(&ctx, &job, &common::keep()).unwrap().states.unwrap();
                let sq: f64 = x.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum();
                (sq / n as f64).sqrt()
            })
            .collect();
        let order = common::fitted_order(&errs);
        eprintln!("{method:?}: errors {errs:?}, fitted order {order:.3}");
        assert!(
            (order - want).abs() < 0.1,
            "{method:?}: order {order:.3} ({errs:?})"
        );
    }
}

/// The law at T from tree normals is GBM's: mean and variance of 10^5 paths within 4
/// standard errors (the variance's from the lognormal's fourth moment) of the exact ones
/// (Euler–Maruyama's own bias at 256 steps is below 1e-4 of both).
#[test]
fn tree_noise_samples_the_exact_law() {
    let ctx = common::ctx();
    let n = 100_000u64;
    let job = gbm(n)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 256))
        .unwrap();
    let st = solve(&ctx, &job, &Options::default()).unwrap().stats;
    let m = MU.exp();
    let s2 = SIGMA * SIGMA;
    let v = (2.0 * MU).exp() * (s2.exp() - 1.0);
    // E[(X − m)^4] of the lognormal.
    let e = |k: f64| (k * MU + 0.5 * k * (k - 1.0) * s2).exp();
    let mu4 = e(4.0) - 4.0 * m * e(3.0) + 6.0 * m * m * e(2.0) - 3.0 * m.powi(4);
    let nf = n as f64;
    assert!(
        (st.mean[0] - m).abs() < 4.0 * (v / nf).sqrt(),
        "mean {} vs {m}",
        st.mean[0]
    );
    let var = st.var()[0];
    assert!(
        (var - v).abs() < 4.0 * ((mu4 - v * v) / nf).sqrt(),
        "var {var} vs {v}"
    );
}

/// Tree normals are keyed by trajectory alone, and each 16 steps' normals are formed by the
/// same arithmetic on every path through the kernels: chunks of 1024, dispatches of 40
/// steps (cutting the 16- and 64-step walks), and saves every 12 steps fused into the
/// integration or not give the same states bit for bit as one chunk and dispatch, at depths
/// whose walks go per 64 steps (8, 10) and per 16 (5, 9), with one channel and with five.
#[test]
fn tree_noise_does_not_depend_on_chunking_dispatches_or_saves() {
    let ctx = common::ctx();
    let five = Ensemble::new(System::builtin("kuramoto_noisy:5").unwrap(), 700)
        .seed(5)
        .brownian(Brownian::Tree);
    for (ens, depth) in [
        (gbm(5000), 5u32),
        (gbm(5000), 8),
        (gbm(3000), 9),
        (gbm(2000), 10),
        (five, 6),
    ] {
        let job = ens
            .job(Method::Milstein, TimeGrid::until(0.0, 1.0, 1 << depth))
            .unwrap();
        let one = solve(&ctx, &job, &common::keep()).unwrap().states.unwrap();
        let saving = |fuse: bool| Options {
            save_at: throng::SaveAt {
                every: Some(12),
                ..Default::default()
            },
            fuse: Some(fuse),
            ..common::keep()
        };
        for (label, opts) in [
            (
                "chunks",
                Options {
                    chunk: Some(1024),
                    ..common::keep()
                },
            ),
            (
                "dispatches",
                Options {
                    dispatch_steps: Some(40),
                    ..common::keep()
                },
            ),
            ("fused saves", saving(true)),
            ("unfused saves", saving(false)),
        ] {
            let got = solve(&ctx, &job, &opts).unwrap().states.unwrap();
            assert!(one == got, "depth {depth}, {label}: states differ");
        }
    }
}

/// What the tree cannot do is refused with one line.
#[test]
fn bad_tree_requests_are_refused() {
    let e = gbm(10)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 100))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("power of two steps") && e.contains("got 100"),
        "{e}"
    );
    let lorenz = Ensemble::new(System::builtin("lorenz").unwrap(), 10).brownian(Brownian::Tree);
    let e = lorenz
        .job(Method::Rk4, TimeGrid::until(0.0, 1.0, 64))
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no noise"), "{e}");
    common::assert_one_line_error(
        &[
            "run",
            "--system",
            "gbm",
            "--paths",
            "10",
            "--steps",
            "100",
            "--t1",
            "1",
            "--x0",
            "1",
            "--brownian",
            "tree",
        ],
        "power of two steps",
    );
}

/// `[run] brownian = "tree"` in a spec and `--brownian tree` give the same run.
#[test]
fn a_run_table_takes_brownian() {
    let dir = std::env::temp_dir().join(format!("throng-brownian-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("walk.toml");
    std::fs::write(
        &spec,
        "state = [\"x\"]\nnoise = \"additive\"\nwgsl = \"\"\"\nfn drift(t: F, x: S, p: Params) -> S {\n    return S(R(0.0));\n}\nfn diffusion(t: F, x: S, p: Params) -> G {\n    return G(R(1.0));\n}\n\"\"\"\n[run]\nmethod = \"em\"\nsteps = 64\nt1 = 1.0\npaths = 1000\nbrownian = \"tree\"\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let by_table = common::throng(&["run", "--spec", spec, "--json"]);
    let by_flag = common::throng(&["run", "--spec", spec, "--brownian", "tree", "--json"]);
    let stream = common::throng(&["run", "--spec", spec, "--brownian", "stream", "--json"]);
    let mean = |o: &std::process::Output| -> f64 {
        assert!(o.status.success(), "{}", common::stderr(o));
        let j: serde_json::Value = serde_json::from_str(&common::stdout(o)).unwrap();
        j["terminal"]["mean"][0].as_f64().unwrap()
    };
    assert_eq!(mean(&by_table), mean(&by_flag));
    assert_ne!(mean(&by_table), mean(&stream));
    // The walk's end is the tree's root normal: W(1) of trajectory i is B(1).
    let _ = std::fs::remove_dir_all(&dir);
}
