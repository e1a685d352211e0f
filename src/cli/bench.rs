//! `throng bench`: trajectory-steps/s of the benchmark workloads on the device and the CPU
//! twins (BENCHMARKS.md).

use throng::spec::form::parse;
use throng::{cpu, Context, Ensemble, Error, Job, Method, Options, System, TimeGrid};

use super::{input, AdapterArgs};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Workload: w1 (GBM Euler–Maruyama), w2 (Lorenz RK4), w3 (Ornstein–Uhlenbeck, exact
    /// transition by setd1) or all; or observers (W1 with moments at 64 save times, and with
    /// a 100-bin histogram too, fused and unfused, interleaved with the plain run); or
    /// sampler (10^7 samples of a 2-D mixture by DPM-Solver++(2M) at 20 NFE, device and
    /// host twin); or dopri5 (Lorenz by Dormand–Prince, swept and uniform, at 1, 2 and 4
    /// lanes, against RK4 at the same lanes, and 15 save times by dense output against cut
    /// steps); or accuracy (Lorenz by RK4 at five step sizes and dopri5 at five tolerances,
    /// f32 and f64: error at t = 4 against an f64 reference, and time at equal error)
    #[arg(long, default_value = "all")]
    workload: String,
    /// Timed repetitions per measurement (the median is reported)
    #[arg(long, default_value = "5", value_parser = parse::<u64>)]
    repeat: u64,
    /// Divide the workload's trajectory count by this (for quick runs)
    #[arg(long, default_value = "1", value_parser = parse::<u64>)]
    shrink: u64,
    /// Skip the CPU twins
    #[arg(long)]
    no_cpu: bool,
    /// Trajectories per invocation: 1, 2 or 4 (default: by device type)
    #[arg(long, value_parser = parse::<u32>)]
    lanes: Option<u32>,
    #[command(flatten)]
    adapter: AdapterArgs,
}

pub fn bench(args: BenchArgs) -> Result<(), Error> {
    if args.repeat == 0 || args.shrink == 0 {
        return Err(input(
            "--repeat, --shrink",
            "--repeat and --shrink must be at least 1",
        ));
    }
    if args.workload == "observers" {
        return observers(&args);
    }
    if args.workload == "sampler" {
        return sampler(&args);
    }
    if args.workload == "dopri5" {
        return dopri5(&args);
    }
    if args.workload == "accuracy" {
        return accuracy(&args);
    }
    let jobs = workloads(&args.workload, args.shrink)?;
    let ctx = Context::new(&args.adapter.choice())?;
    let dev_opts = Options {
        lanes: args.lanes,
        ..Options::default()
    };
    println!("adapter: {}", ctx.adapter_label());
    println!(
        "trajectories per invocation: {}",
        args.lanes
            .unwrap_or_else(|| throng::solve::default_lanes(&ctx))
    );
    println!(
        "cpu twin threads: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<28} {:>10} {:>14} {:>14} {:>8}",
        "workload", "engine", "median solve_s", "traj-steps/s", "vs cpu"
    );
    for (name, job) in jobs {
        let work = job.paths as f64 * job.steps as f64;
        // The first solve in a process is reported apart: drivers warm up (memory, threads).
        let cold = throng::solve(&ctx, &job, &dev_opts)?.timing.solve_s;
        let gpu: Vec<f64> = (0..args.repeat)
            .map(|_| throng::solve(&ctx, &job, &dev_opts).map(|s| s.timing.solve_s))
            .collect::<Result<_, _>>()?;
        println!(
            "{:<28} {:>10} {:>14.4} {:>14.3e}",
            name,
            "dev. cold",
            cold,
            work / cold
        );
        let g = median(gpu);
        let c = if args.no_cpu {
            f64::NAN
        } else {
            median(
                (0..args.repeat.min(3))
                    .map(|_| cpu::solve(&job, &Options::default()).map(|s| s.timing.solve_s))
                    .collect::<Result<_, _>>()?,
            )
        };
        println!(
            "{:<28} {:>10} {:>14.4} {:>14.3e} {:>8.2}",
            name,
            "device",
            g,
            work / g,
            c / g
        );
        if !args.no_cpu {
            println!(
                "{:<28} {:>10} {:>14.4} {:>14.3e} {:>8.2}",
                name,
                "cpu twin",
                c,
                work / c,
                1.0
            );
        }
    }
    Ok(())
}

/// The cost of observers: W1 plain, then with moments at 64 save times (a save every 4
/// steps) and with a 100-bin histogram over [0, 3) too, each fused and unfused, the five
/// runs interleaved in every repetition; medians, and their ratio to the plain run's.
fn observers(args: &BenchArgs) -> Result<(), Error> {
    let ctx = Context::new(&args.adapter.choice())?;
    let (_, job) = workloads("w1", args.shrink)?.remove(0);
    let saving = |hist: bool, fuse: bool| Options {
        lanes: args.lanes,
        fuse: Some(fuse),
        save_at: throng::SaveAt {
            every: Some(4),
            hist: if hist {
                vec![throng::observe::Histogram {
                    component: 0,
                    lo: 0.0,
                    hi: 3.0,
                    bins: 100,
                }]
            } else {
                vec![]
            },
            ..Default::default()
        },
        ..Options::default()
    };
    let variants = [
        (
            "plain",
            Options {
                lanes: args.lanes,
                ..Options::default()
            },
        ),
        ("64 saves, fused", saving(false, true)),
        ("64 saves, unfused", saving(false, false)),
        ("64 saves + hist, fused", saving(true, true)),
        ("64 saves + hist, unfused", saving(true, false)),
    ];
    println!("adapter: {}", ctx.adapter_label());
    println!(
        "W1 gbm/em {} x 256, {} interleaved repetitions",
        job.paths, args.repeat
    );
    // One cold solve first: drivers warm up (memory, threads, pipelines).
    throng::solve(&ctx, &job, &variants[0].1)?;
    let mut times = vec![vec![]; variants.len()];
    for _ in 0..args.repeat {
        for (k, (_, opts)) in variants.iter().enumerate() {
            times[k].push(throng::solve(&ctx, &job, opts)?.timing.solve_s);
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    println!("{:<26} {:>14} {:>10}", "run", "median solve_s", "vs plain");
    for ((name, _), m) in variants.iter().zip(&medians) {
        println!("{:<26} {:>14.4} {:>10.2}", name, m, m / medians[0]);
    }
    Ok(())
}

/// Dormand–Prince against RK4 on Lorenz (2^18 trajectories, divided by --shrink): RK4 with
/// 1000 steps of 0.01 over rho in [0, 50]; dopri5 to t = 10 at rtol = atol = 1e-6 over the
/// same sweep and at rho = 28 for all; each at 1, 2 and 4 lanes; and the swept dopri5 at two
/// lanes with 15 save times, by dense output and by cut steps. All interleaved in each
/// repetition; medians. Per step: solve time over trajectory-steps (dopri5's accepted steps,
/// its rejected ones included in the time), and its ratio to RK4's at the same lanes.
fn dopri5(args: &BenchArgs) -> Result<(), Error> {
    let ctx = Context::new(&args.adapter.choice())?;
    let n = (1u64 << 18) / args.shrink;
    let lorenz = || -> Result<Ensemble, Error> {
        Ok(Ensemble::new(System::builtin("lorenz")?, n).x0(&[1.0, 0.0, 0.0]))
    };
    let rk4 = lorenz()?
        .sweep("rho", 0.0, 50.0)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1000))?;
    let dp = Method::Dopri5(Default::default());
    let grid = TimeGrid::until(0.0, 10.0, 105);
    let swept = lorenz()?.sweep("rho", 0.0, 50.0).job(dp, grid)?;
    let uniform = lorenz()?.set("rho", 28.0).job(dp, grid)?;
    let lanes = |l: u32| Options {
        lanes: Some(l),
        ..Options::default()
    };
    let saving = |dense: bool| Options {
        lanes: Some(2),
        dense: Some(dense),
        save_at: throng::SaveAt {
            every: Some(7),
            ..Default::default()
        },
        ..Options::default()
    };
    let mut runs: Vec<(String, &Job, Options)> = vec![];
    for l in [1, 2, 4] {
        runs.push((format!("rk4 swept, {l} lanes"), &rk4, lanes(l)));
        runs.push((format!("dopri5 swept, {l} lanes"), &swept, lanes(l)));
        runs.push((format!("dopri5 uniform, {l} lanes"), &uniform, lanes(l)));
    }
    runs.push(("dopri5 swept, 15 saves, dense".into(), &swept, saving(true)));
    runs.push(("dopri5 swept, 15 saves, cut".into(), &swept, saving(false)));
    println!("adapter: {}", ctx.adapter_label());
    println!(
        "lorenz, {n} trajectories, {} interleaved repetitions",
        args.repeat
    );
    for (_, job, opts) in &runs {
        throng::solve(&ctx, job, opts)?;
    }
    let mut times = vec![vec![]; runs.len()];
    let mut work = vec![0.0; runs.len()];
    for _ in 0..args.repeat {
        for (k, (_, job, opts)) in runs.iter().enumerate() {
            let s = throng::solve(&ctx, job, opts)?;
            work[k] = match &s.adaptive {
                Some(a) => a.steps.mean[0] * job.paths as f64,
                None => job.paths as f64 * job.steps as f64,
            };
            times[k].push(s.timing.solve_s);
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    println!(
        "{:<32} {:>14} {:>14} {:>12}",
        "run", "median solve_s", "traj-steps/s", "step vs rk4"
    );
    for (k, (name, ..)) in runs.iter().enumerate() {
        // RK4 at the same lanes: rows 0, 3, 6; the saving runs (two lanes) against row 3.
        let r = if k < 9 { k / 3 * 3 } else { 3 };
        let per = |i: usize| medians[i] / work[i];
        println!(
            "{:<32} {:>14.4} {:>14.3e} {:>12.2}",
            name,
            medians[k],
            work[k] / medians[k],
            per(k) / per(r)
        );
    }
    Ok(())
}

/// Work against accuracy, f32 and f64, on two problems: Lorenz (sigma = 10, beta = 8/3
/// rounded to f32 in every run, rho = 20 + i 2^-12 for trajectory i; from (1, 0, 0) to t = 4),
/// where a fixed step suits the whole orbit, and eccentric Kepler orbits (r'' = -gm r/|r|^3,
/// gm = 0.5 + i 2^-19, from apoapsis (1, 0) at speed 0.25: eccentricity 0.875 to 0.9; to
/// t = 8, about 2.5 periods), whose periapsis passes need steps far shorter than the rest.
/// Every input is exact in both precisions. 2^16 trajectories divided by --shrink. RK4 at five step counts and dopri5 at
/// rtol = atol = 1e-3 .. 5e-7 (f32) or 1e-4 .. 1e-10 (f64), every run interleaved in each
/// repetition. The error of a trajectory is the Euclidean distance of its final state from
/// an f64 dopri5 run at rtol = atol = 1e-12; a run's error is the median over trajectories.
/// "rk4 at equal error": RK4's median time interpolated (log-log, between neighbouring step
/// counts) at each dopri5 run's error, over that run's time; blank outside RK4's range.
fn accuracy(args: &BenchArgs) -> Result<(), Error> {
    use throng::Precision;
    let n = (1u64 << 16) / args.shrink;
    if n == 0 {
        return Err(input(
            "--shrink",
            format!(
                "--shrink {} leaves no trajectories of the accuracy workload's 65536",
                args.shrink
            ),
        ));
    }
    let ctx = Context::new(&args.adapter.choice())?;
    let f32_of = |v: f64| v as f32 as f64;
    let lorenz = |p: Precision| -> Result<Ensemble, Error> {
        Ok(Ensemble::new(System::builtin("lorenz")?, n)
            .x0(&[1.0, 0.0, 0.0])
            .set("beta", f32_of(8.0 / 3.0))
            .sweep("rho", 20.0, 20.0 + (n - 1) as f64 / 4096.0)
            .precision(p))
    };
    let kepler = |p: Precision| -> Result<Ensemble, Error> {
        let (sys, _) = throng::spec::parse(
            include_str!("../../examples/specs/kepler.toml"),
            "examples/specs/kepler.toml",
            std::path::Path::new("."),
        )?;
        Ok(Ensemble::new(sys, n)
            .x0(&[1.0, 0.0, 0.0, 0.25])
            .sweep("gm", 0.5, 0.5 + (n - 1) as f64 / 524288.0)
            .precision(p))
    };
    type Make<'a> = &'a dyn Fn(Precision) -> Result<Ensemble, Error>;
    let problems: [(&str, Make, f64, [u64; 5]); 2] = [
        ("lorenz", &lorenz, 4.0, [100, 200, 400, 800, 1600]),
        ("kepler", &kepler, 8.0, [1000, 2000, 4000, 8000, 16000]),
    ];
    println!("adapter: {}", ctx.adapter_label());
    for (name, make, t1, rk_steps) in problems {
        println!(
            "{name}, {n} trajectories to t = {t1}, {} interleaved repetitions",
            args.repeat
        );
        work_precision(&ctx, args, make, t1, rk_steps)?;
    }
    Ok(())
}

fn work_precision(
    ctx: &Context,
    args: &BenchArgs,
    make: &dyn Fn(throng::Precision) -> Result<Ensemble, Error>,
    t1: f64,
    rk_steps: [u64; 5],
) -> Result<(), Error> {
    use throng::Precision;
    let dp = |tol: f64| {
        Method::Dopri5(throng::method::Controller {
            rtol: tol,
            atol: tol,
            ..throng::method::Controller::DEFAULT
        })
    };
    let keep = Options {
        keep_states: true,
        ..Options::default()
    };
    let start = TimeGrid::until(0.0, t1, 100);
    let reference_job = make(Precision::F64)?.job(dp(1e-12), start)?;
    let dim = reference_job.system.dim();
    let reference = throng::solve(ctx, &reference_job, &keep)?
        .states
        .expect("kept states");
    // (precision, label, job, is rk4)
    let mut runs: Vec<(Precision, String, Job, bool)> = vec![];
    for (p, tols) in [
        (Precision::F32, [1e-3, 1e-4, 1e-5, 1e-6, 5e-7]),
        (Precision::F64, [1e-4, 1e-6, 1e-8, 1e-9, 1e-10]),
    ] {
        for steps in rk_steps {
            let job = make(p)?.job(Method::Rk4, TimeGrid::until(0.0, t1, steps))?;
            runs.push((p, format!("rk4, {steps} steps"), job, true));
        }
        for tol in tols {
            let job = make(p)?.job(dp(tol), start)?;
            runs.push((p, format!("dopri5, tol {tol:e}"), job, false));
        }
    }
    let mut errors = vec![0.0; runs.len()];
    let mut steps = vec![0.0; runs.len()];
    for (k, (_, _, job, _)) in runs.iter().enumerate() {
        let s = throng::solve(ctx, job, &keep)?;
        let x = s.states.expect("kept states");
        // Rows after the state (an adaptive run's counters) follow at the same stride.
        let m = job.paths as usize;
        let e: Vec<f64> = (0..m)
            .map(|i| {
                (0..dim)
                    .map(|c| (x[c * m + i] - reference[c * m + i]).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            // A trajectory that blew up (or ran out of steps: NaN) counts as infinitely far.
            .map(|e| if e.is_nan() { f64::INFINITY } else { e })
            .collect();
        errors[k] = median(e);
        steps[k] = match &s.adaptive {
            Some(a) => a.steps.mean[0],
            None => job.steps as f64,
        };
    }
    let mut times = vec![vec![]; runs.len()];
    for _ in 0..args.repeat {
        for (k, (_, _, job, _)) in runs.iter().enumerate() {
            times[k].push(throng::solve(ctx, job, &Options::default())?.timing.solve_s);
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    println!(
        "{:<5} {:<22} {:>10} {:>12} {:>14} {:>18}",
        "", "run", "steps", "median error", "median solve_s", "rk4 at equal error"
    );
    for (k, (p, name, _, is_rk4)) in runs.iter().enumerate() {
        // RK4's (error, time) points of the same precision, by falling error.
        let rk: Vec<(f64, f64)> = (0..runs.len())
            .filter(|&j| runs[j].0 == *p && runs[j].3)
            .map(|j| (errors[j], medians[j]))
            .collect();
        let equal = if *is_rk4 {
            String::new()
        } else {
            rk.windows(2)
                .find(|w| w[0].0 >= errors[k] && errors[k] >= w[1].0 && w[0].0 > w[1].0)
                .map_or(String::new(), |w| {
                    let f = (errors[k].ln() - w[0].0.ln()) / (w[1].0.ln() - w[0].0.ln());
                    let t = (w[0].1.ln() + f * (w[1].1.ln() - w[0].1.ln())).exp();
                    format!("{:.2}x", t / medians[k])
                })
        };
        println!(
            "{:<5} {:<22} {:>10.1} {:>12.3e} {:>14.4} {:>18}",
            format!("{p:?}").to_lowercase(),
            name,
            steps[k],
            errors[k],
            medians[k],
            equal
        );
    }
    Ok(())
}

/// Diffusion sampling: 10^7 samples (divided by --shrink) of the 8-component ring by
/// DPM-Solver++(2M) at 20 NFE, on the device and by the host twin (f64, every core) on the
/// same samples, interleaved; medians and their ratio.
fn sampler(args: &BenchArgs) -> Result<(), Error> {
    use throng::sample::{self, Model, Request};
    let ctx = Context::new(&args.adapter.choice())?;
    let paths = 10_000_000 / args.shrink;
    let mut req = Request::new(
        Model::builtin("ring8").expect("built-in"),
        throng::sampler::Sampler::Dpmpp2m,
        20,
        paths,
    );
    req.seed = 1;
    req.lanes = args.lanes;
    println!("adapter: {}", ctx.adapter_label());
    println!(
        "ring8, dpmpp-2m, 20 NFE, {paths} samples, {} interleaved repetitions; host twin on {} threads",
        args.repeat,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let cold = sample::sample(&ctx, &req)?;
    println!(
        "device cold: setup {:.3} s, solve {:.3} s; sliced W1 {:.4}",
        cold.solution.timing.setup_s,
        cold.solution.timing.solve_s,
        cold.metrics.as_ref().map_or(f64::NAN, |m| m.sliced_w1)
    );
    let (mut dev, mut host) = (vec![], vec![]);
    for _ in 0..args.repeat {
        dev.push(sample::sample(&ctx, &req)?.solution.timing.solve_s);
        if !args.no_cpu {
            let t = std::time::Instant::now();
            sample::on_host(&req, paths)?;
            host.push(t.elapsed().as_secs_f64());
        }
    }
    let d = median(dev);
    println!(
        "{:<12} {:>14} {:>14} {:>8}",
        "engine", "median s", "samples/s", "vs host"
    );
    let h = if args.no_cpu { f64::NAN } else { median(host) };
    println!(
        "{:<12} {:>14.3} {:>14.3e} {:>8.2}",
        "device",
        d,
        paths as f64 / d,
        h / d
    );
    if !args.no_cpu {
        println!(
            "{:<12} {:>14.3} {:>14.3e} {:>8.2}",
            "host twin",
            h,
            paths as f64 / h,
            1.0
        );
    }
    Ok(())
}

/// W1 (GBM, Euler–Maruyama), W2 (Lorenz, RK4) and W3 (OU, setd1), with their trajectories
/// divided by `shrink`.
fn workloads(w: &str, shrink: u64) -> Result<Vec<(&'static str, Job)>, Error> {
    let mut jobs = vec![];
    if w == "w1" || w == "all" {
        let e = Ensemble::new(System::builtin("gbm")?, (1 << 20) / shrink)
            .x0(&[1.0])
            .set("mu", 0.05)
            .set("sigma", 0.2)
            .seed(1);
        jobs.push((
            "W1 gbm/em 2^20 x 256",
            e.job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 256))?,
        ));
    }
    if w == "w2" || w == "all" {
        let e = Ensemble::new(System::builtin("lorenz")?, (1 << 18) / shrink)
            .x0(&[1.0, 0.0, 0.0])
            .sweep("rho", 0.0, 50.0);
        jobs.push((
            "W2 lorenz/rk4 2^18 x 1000",
            e.job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1000))?,
        ));
    }
    if w == "w3" || w == "all" {
        // Ornstein–Uhlenbeck by its exact transition (setd1 on a linear drift).
        let e = Ensemble::new(System::builtin("ou")?, (1 << 20) / shrink)
            .x0(&[2.0])
            .set("theta", 1.0)
            .set("mu", 0.5)
            .set("sigma", 0.3)
            .seed(3);
        jobs.push((
            "W3 ou/setd1 2^20 x 100",
            e.job(Method::Setd1, TimeGrid::until(0.0, 5.0, 100))?,
        ));
    }
    if jobs.is_empty() {
        return Err(input(
            "--workload",
            format!("unknown workload `{w}` (w1, w2, w3, all, observers, sampler, dopri5)"),
        ));
    }
    Ok(jobs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
