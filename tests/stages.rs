//! The stages of a run: the device and the CPU twin execute the same recording, operation for
//! operation, and agree on what it computes.

mod common;

use throng::cpu::exec::CpuBackend;
use throng::exec::{execute, Backend, Outcome};
use throng::gpu::{GpuBackend, Resources};
use throng::observe::Histogram;
use throng::plan::{Buf, Plan};
use throng::record::{self, Kernel, Recording};
use throng::{Ensemble, Job, Method, Options, Precision, SaveAt, System, TimeGrid};

/// A backend that writes down every operation before passing it on.
struct Logged<B> {
    inner: B,
    ops: Vec<String>,
}

impl<B: Backend> Backend for Logged<B> {
    type Ticket = B::Ticket;
    fn write(&mut self, buf: Buf, data: &[u8]) -> throng::Result<()> {
        self.ops.push(format!("write {buf:?} {}", data.len()));
        self.inner.write(buf, data)
    }
    fn dispatch(&mut self, kernel: Kernel, slot: u32, workgroups: u32) -> throng::Result<()> {
        self.ops
            .push(format!("dispatch {kernel:?} slot {slot} x{workgroups}"));
        self.inner.dispatch(kernel, slot, workgroups)
    }
    fn copy(&mut self, from: Buf, to: Buf, bytes: u64) -> throng::Result<()> {
        self.ops.push(format!("copy {from:?} -> {to:?} {bytes}"));
        self.inner.copy(from, to, bytes)
    }
    fn submit(&mut self) -> throng::Result<B::Ticket> {
        self.ops.push("submit".into());
        self.inner.submit()
    }
    fn read(&mut self, buf: Buf, bytes: u64, after: B::Ticket) -> throng::Result<Vec<u8>> {
        self.ops.push(format!("read {buf:?} {bytes}"));
        self.inner.read(buf, bytes, after)
    }
}

fn both(job: &Job, opts: &Options) -> ((Outcome, Vec<String>), (Outcome, Vec<String>)) {
    let ctx = common::ctx();
    let plan = Plan::new(job, opts, &ctx.device_info()).unwrap();
    let recording = Recording::new(&plan);
    let kernels = record::kernels(job, &plan, &opts.save_at).unwrap();
    let res = Resources::new(&ctx, &plan, &kernels).unwrap();
    let mut gpu = Logged {
        inner: GpuBackend::new(&ctx, &res),
        ops: Vec::new(),
    };
    let dev = execute(job, &plan, &recording, opts, &mut gpu).unwrap();
    let mut cpu = Logged {
        inner: CpuBackend::new(job, &plan),
        ops: Vec::new(),
    };
    let twin = execute(job, &plan, &recording, opts, &mut cpu).unwrap();
    ((dev, gpu.ops), (twin, cpu.ops))
}

fn observing(opts: &mut Options) {
    opts.save_at = SaveAt {
        every: Some(5),
        hist: vec![Histogram {
            component: 0,
            lo: 0.5,
            hi: 1.5,
            bins: 20,
        }],
        quantiles: vec![0.1, 0.5, 0.9],
        keep_paths: 3,
        keep_every: 7,
        ..Default::default()
    };
}

#[test]
fn device_and_twin_run_the_same_recording_and_agree() {
    let job = Ensemble::new(System::builtin("gbm").unwrap(), 1500)
        .x0(&[1.0])
        .set("mu", 0.05)
        .set("sigma", 0.2)
        .seed(7)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 22))
        .unwrap();
    let mut opts = Options {
        chunk: Some(512),
        dispatch_steps: Some(3),
        keep_states: true,
        ..Default::default()
    };
    observing(&mut opts);
    let ((dev, dev_ops), (twin, twin_ops)) = both(&job, &opts);
    assert_eq!(dev_ops, twin_ops);
    // Pilot chunks, then 3 chunks, each through 5 save times in dispatches of at most 3 steps.
    assert!(
        dev_ops
            .iter()
            .filter(|o| o.starts_with("dispatch Integrate"))
            .count()
            > 3 * 5
    );
    assert_eq!(dev.saved.len(), 5);
    for (d, t) in dev.saved.iter().zip(&twin.saved) {
        let (d, t) = (d.total(), t.total());
        assert_eq!(d.count, t.count);
        for c in 0..d.dim() {
            // Device and twin normals differ by ulps (README, "Noise").
            assert!(
                (d.mean[c] - t.mean[c]).abs() < 1e-5,
                "{} vs {}",
                d.mean[c],
                t.mean[c]
            );
        }
    }
    assert_eq!(dev.completed, 1500);
    assert_eq!(dev.ranges.len(), twin.ranges.len());
    let total = |o: &Outcome| o.hist.iter().sum::<u64>();
    assert_eq!(total(&dev), total(&twin));
    for (a, b) in dev.kept.iter().zip(&twin.kept) {
        assert!((a - b).abs() < 1e-5);
    }
    let (a, b) = (dev.states.unwrap(), twin.states.unwrap());
    assert_eq!(a.len(), 1500);
    assert!(a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
fn an_adaptive_run_in_f64_agrees_on_steps_and_unfinished_trajectories() {
    use throng::method::Controller;
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), 300)
        .x0(&[1.0, 1.0, 1.0])
        .sweep("rho", 20.0, 40.0)
        .precision(Precision::F64)
        .job(
            Method::Dopri5(Controller {
                rtol: 1e-8,
                atol: 1e-8,
                max_steps: 120,
                ..Default::default()
            }),
            TimeGrid::until(0.0, 2.0, 50),
        )
        .unwrap();
    let opts = Options {
        chunk: Some(256),
        save_at: SaveAt {
            every: Some(10),
            ..Default::default()
        },
        keep_states: true,
        ..Default::default()
    };
    let ((dev, dev_ops), (twin, twin_ops)) = both(&job, &opts);
    assert_eq!(dev_ops, twin_ops);
    assert!(
        dev.unfinished > 0,
        "max_steps should stop some trajectories"
    );
    assert_eq!(dev.unfinished, twin.unfinished);
    assert_eq!(dev.first_unfinished, twin.first_unfinished);
    let (a, b) = (dev.states.unwrap(), twin.states.unwrap());
    // Rows x, y, z, then the step counts, exactly. (dt_next is left out: the step cut at
    // a save time is te - t, whose last bits decide the next step's size.)
    for (k, (x, y)) in a.iter().zip(&b).enumerate().take(5 * 300) {
        let tol = if k / 300 < 3 { 1e-9 } else { 0.0 };
        assert!(
            x.is_nan() && y.is_nan() || (x - y).abs() <= tol * x.abs().max(1.0),
            "row {}: {x} vs {y}",
            k / 300
        );
    }
}
