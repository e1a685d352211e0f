//! W1 (GBM Euler–Maruyama, 2^20 paths x 256 steps) and W2 (Lorenz RK4, 2^18 x 1000, rho swept
//! 0..50) on the device and on the CPU twin. Device times are `timing.solve_s` (first dispatch
//! to statistics on the host); pipeline creation is excluded, as in `throng bench`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use throng::{
    cpu, solve, AdapterChoice, Context, Ensemble, Job, Method, Options, System, TimeGrid,
};

fn w1() -> Job {
    Ensemble::new(System::builtin("gbm").unwrap(), 1 << 20)
        .x0(&[1.0])
        .set("mu", 0.05)
        .set("sigma", 0.2)
        .seed(1)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 256))
        .unwrap()
}

fn w2() -> Job {
    Ensemble::new(System::builtin("lorenz").unwrap(), 1 << 18)
        .x0(&[1.0, 0.0, 0.0])
        .sweep("rho", 0.0, 50.0)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 1000))
        .unwrap()
}

fn workloads(c: &mut Criterion) {
    let ctx = Context::new(&AdapterChoice::default()).expect("an adapter (see README)");
    eprintln!("adapter: {}", ctx.adapter_label());
    for (name, job) in [("W1_gbm_em", w1()), ("W2_lorenz_rk4", w2())] {
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .measurement_time(Duration::from_secs(10))
            .throughput(Throughput::Elements(job.paths * job.steps as u64));
        g.bench_function("device", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let s = solve(&ctx, &job, &Options::default()).unwrap();
                        Duration::from_secs_f64(s.timing.solve_s)
                    })
                    .sum()
            })
        });
        g.bench_function("cpu_twin", |b| {
            b.iter(|| cpu::solve(&job, &Options::default()).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, workloads);
criterion_main!(benches);
