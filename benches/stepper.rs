//! Embedding costs (issue 11), on the device `Context::new` picks:
//! - `encode`: host time to record one `Stepper::encode` (uniform copy + dispatch) into an
//!   encoder and finish it, unsubmitted (criterion);
//! - the device time of W1's 2^20 GBM paths x 256 steps through a stepper (16 encodes of 16
//!   steps, one submission, then the terminal statistics read back) against the same job in
//!   `solve()` (`timing.solve_s`), interleaved: `ROUNDS` rounds (env, default 7), medians.
//!
//!     cargo bench --bench stepper

use std::time::{Duration, Instant};

use criterion::Criterion;
use throng::{
    solve, AdapterChoice, Context, Ensemble, Job, Method, Options, Stepper, StepperOptions, System,
    TimeGrid,
};

fn w1(steps: u64) -> Job {
    w1_paths(1 << 20, steps)
}

fn w1_paths(paths: u64, steps: u64) -> Job {
    Ensemble::new(System::builtin("gbm").unwrap(), paths)
        .x0(&[1.0])
        .set("mu", 0.05)
        .set("sigma", 0.2)
        .seed(1)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, steps))
        .unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds from the first encode to the statistics on the host.
fn stepped(ctx: &Context, s: &mut Stepper, calls: u32, k: u32) -> f64 {
    s.reset();
    let t = Instant::now();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    for _ in 0..calls {
        s.encode(&mut enc, k).unwrap();
    }
    s.encode_stats(&mut enc).unwrap();
    ctx.queue.submit([enc.finish()]);
    let stats = s.read_stats().unwrap();
    assert_eq!(stats.count, 1 << 20);
    t.elapsed().as_secs_f64()
}

fn main() {
    let ctx = Context::new(&AdapterChoice::default()).expect("an adapter (see README)");
    eprintln!("adapter: {}", ctx.adapter_label());
    let job = w1(256);
    let mut s = Stepper::new(&ctx, &job, StepperOptions::default()).unwrap();

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    // Recording does not depend on the ensemble's size; a small one keeps each frame's
    // device work short. Each frame is recorded, submitted and waited for, as an
    // application's would be; only the `encode` call is timed.
    let mut small = Stepper::new(&ctx, &w1_paths(1 << 12, 256), StepperOptions::default()).unwrap();
    c.bench_function("stepper/encode", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                let t = Instant::now();
                small.encode(&mut enc, 4).unwrap();
                spent += t.elapsed();
                ctx.queue.submit([enc.finish()]);
                ctx.device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .unwrap();
                if small.steps() > 1 << 30 {
                    small.reset();
                }
            }
            spent
        })
    });

    // Warm every path (pipeline compilation on first dispatch), then interleave.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let cut = Options {
        dispatch_steps: Some(16),
        ..Default::default()
    };
    let solved = |o: &Options| solve(&ctx, &job, o).unwrap().timing.solve_s;
    stepped(&ctx, &mut s, 1, 256);
    solved(&Options::default());
    solved(&cut);
    let mut t = [vec![], vec![], vec![], vec![]];
    for _ in 0..rounds {
        t[0].push(solved(&Options::default()));
        t[1].push(stepped(&ctx, &mut s, 1, 256));
        t[2].push(solved(&cut));
        t[3].push(stepped(&ctx, &mut s, 16, 16));
    }
    let m: Vec<f64> = t.iter().map(|v| median(v.clone())).collect();
    let names = [
        "solve()",
        "stepper, 1 encode of 256 steps",
        "solve(), dispatch_steps 16",
        "stepper, 16 encodes of 16 steps",
    ];
    println!("W1 (2^20 paths x 256 steps), {rounds} interleaved rounds, seconds to statistics on the host:");
    for (k, name) in names.iter().enumerate() {
        println!("  {name:34} median {:.4}  {:.4?}", m[k], t[k]);
    }
    println!(
        "stepper / solve: {:.3} (one dispatch), {:.3} (16 dispatches each)",
        m[1] / m[0],
        m[3] / m[2]
    );
}
