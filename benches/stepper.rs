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
    solve, AdapterChoice, Context, Ensemble, Job, Method, Options, Stepper, StepperOptions,
    System, TimeGrid,
};

fn w1(steps: u64) -> Job {
    Ensemble::new(System::builtin("gbm").unwrap(), 1 << 20)
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
    c.bench_function("stepper/encode_2^20", |b| {
        b.iter(|| {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            s.encode(&mut enc, 4).unwrap();
            s.reset();
            enc.finish()
        })
    });

    // Warm both paths (pipeline compilation on first dispatch), then interleave.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    stepped(&ctx, &mut s, 16, 16);
    solve(&ctx, &job, &Options::default()).unwrap();
    let (mut a, mut b) = (vec![], vec![]);
    for _ in 0..rounds {
        b.push(solve(&ctx, &job, &Options::default()).unwrap().timing.solve_s);
        a.push(stepped(&ctx, &mut s, 16, 16));
    }
    let (ma, mb) = (median(a.clone()), median(b.clone()));
    println!(
        "W1 (2^20 x 256) through the stepper (16 encodes of 16 steps): median {ma:.4} s \
         {a:.4?}\nW1 in solve(): median {mb:.4} s {b:.4?}\nstepper / solve = {:.3}",
        ma / mb
    );
}
