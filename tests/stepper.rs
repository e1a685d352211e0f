//! Embedding: a stepper advances an ensemble inside the application's command encoder, on a
//! buffer it can draw, and gives bit for bit what `solve` gives at the same total steps.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use throng::method::Controller;
use throng::{
    solve, Context, Ensemble, Error, Job, Method, Options, Precision, SaveAt, Stepper,
    StepperOptions, System, TimeGrid,
};

fn gbm(paths: u64, seed: u64) -> Ensemble {
    Ensemble::new(System::builtin("gbm").unwrap(), paths)
        .x0(&[1.0])
        .set("mu", 0.05)
        .set("sigma", 0.4)
        .seed(seed)
}

fn lorenz(paths: u64) -> Ensemble {
    Ensemble::new(System::builtin("lorenz").unwrap(), paths)
        .x0(&[1.0, 0.0, 0.0])
        .sweep("rho", 10.0, 40.0)
}

fn dopri5() -> Method {
    Method::Dopri5(Controller {
        rtol: 1e-5,
        atol: 1e-7,
        ..Controller::DEFAULT
    })
}

/// The states of `job` after `calls` encodes of `k` steps, each encode in its own encoder
/// and submission, as an application's frames would be.
fn stepped(ctx: &Context, job: &Job, calls: u32, k: u32) -> Vec<f64> {
    let mut s = Stepper::new(ctx, job, StepperOptions::default()).unwrap();
    for _ in 0..calls {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        s.encode(&mut enc, k).unwrap();
        ctx.queue.submit([enc.finish()]);
    }
    assert_eq!(s.steps(), (calls * k) as u64);
    s.read_states().unwrap()
}

/// `solve`'s terminal rows; adaptive runs save at every `k` steps, where the stepper's
/// calls end, by cutting their steps there as the stepper does (not by dense output).
fn solved(ctx: &Context, job: &Job, k: u64) -> Vec<f64> {
    let mut opts = common::keep();
    if job.method.is_adaptive() {
        opts.save_at = SaveAt {
            every: Some(k),
            ..Default::default()
        };
        opts.dense = Some(false);
    }
    solve(ctx, job, &opts).unwrap().states.unwrap()
}

fn same_bits(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            "{what}: value {i} differs: {x} vs {y}"
        );
    }
}

#[test]
fn encoded_steps_equal_one_solve_bit_for_bit() {
    let ctx = common::ctx();
    // 1000 paths: not a multiple of the 4 lanes' block; 3 calls of 7 steps cut the groups of
    // four steps Philox blocks come in.
    let cases: Vec<(&str, Job, u32, u32)> = vec![
        (
            "em f32 (SDE)",
            gbm(1000, 5)
                .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 21))
                .unwrap(),
            3,
            7,
        ),
        (
            "heun f64 (SDE)",
            gbm(700, 6)
                .precision(Precision::F64)
                .job(Method::Heun, TimeGrid::until(0.0, 1.0, 20))
                .unwrap(),
            4,
            5,
        ),
        (
            "rk4 f64 (ODE)",
            lorenz(600)
                .precision(Precision::F64)
                .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 30))
                .unwrap(),
            5,
            6,
        ),
        (
            "dopri5 f32 (ODE)",
            lorenz(300)
                .job(dopri5(), TimeGrid::until(0.0, 2.0, 64))
                .unwrap(),
            4,
            16,
        ),
        (
            "dopri5 f64 (ODE)",
            lorenz(300)
                .precision(Precision::F64)
                .job(dopri5(), TimeGrid::until(0.0, 2.0, 64))
                .unwrap(),
            8,
            8,
        ),
    ];
    for (what, job, calls, k) in &cases {
        let a = stepped(&ctx, job, *calls, *k);
        let b = solved(&ctx, job, *k as u64);
        same_bits(&a, &b, what);
        assert!(a.iter().all(|v| v.is_finite()), "{what}");
    }
}

#[test]
fn statistics_recorded_between_steps_are_those_of_that_moment() {
    let ctx = common::ctx();
    let job = |steps| {
        gbm(3000, 9)
            .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, steps))
            .unwrap()
    };
    let mut s = Stepper::new(&ctx, &job(10), StepperOptions::default()).unwrap();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    assert!(s.encode_stats(&mut enc).is_err(), "no states yet");
    s.encode(&mut enc, 10).unwrap();
    s.encode_stats(&mut enc).unwrap();
    // Steps after the statistics do not change them.
    s.encode(&mut enc, 10).unwrap();
    ctx.queue.submit([enc.finish()]);
    let at10 = s.read_stats().unwrap();
    assert_eq!(
        at10,
        solve(&ctx, &job(10), &Options::default()).unwrap().stats
    );
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    s.encode_stats(&mut enc).unwrap();
    ctx.queue.submit([enc.finish()]);
    assert_eq!(
        s.read_stats().unwrap(),
        solve(&ctx, &job(20), &Options::default()).unwrap().stats
    );
    assert!((s.time() - 0.2).abs() < 1e-12);
    // reset starts again from the initial states, with the same noise.
    s.reset();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    s.encode(&mut enc, 10).unwrap();
    s.encode_stats(&mut enc).unwrap();
    ctx.queue.submit([enc.finish()]);
    assert_eq!(s.read_stats().unwrap(), at10);
}

/// The application's side: a buffer's bytes, read through a copy of its own.
fn app_read(ctx: &Context, buf: &wgpu::Buffer) -> Vec<u8> {
    let read = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: buf.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(buf, 0, &read, 0, buf.size());
    ctx.queue.submit([enc.finish()]);
    read.slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let out = read.slice(..).get_mapped_range().unwrap().to_vec();
    read.unmap();
    out
}

#[test]
fn the_app_s_buffer_changes_only_when_it_submits_and_only_in_throng_s_range() {
    let ctx = common::ctx();
    let job = gbm(1000, 21)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 12))
        .unwrap();
    // A vertex buffer of the application's, with throng's states 512 bytes in and room
    // after them; filled with a pattern.
    let offset = 512u64;
    let size = offset + 1024 * 4 + 768;
    use wgpu::BufferUsages as B;
    let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("app vertices"),
        size,
        usage: B::STORAGE | B::VERTEX | B::COPY_SRC | B::COPY_DST,
        mapped_at_creation: false,
    });
    let pattern: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    ctx.queue.write_buffer(&buf, 0, &pattern);
    let mut s = Stepper::new(
        &ctx,
        &job,
        StepperOptions {
            states: Some((buf.clone(), offset)),
            ..Default::default()
        },
    )
    .unwrap();
    let layout = s.layout();
    assert_eq!(
        (layout.offset, layout.stride, layout.rows),
        (offset, 1024, 1)
    );
    assert_eq!(layout.row(0), offset..offset + 1000 * 4);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    s.encode(&mut enc, 12).unwrap();
    // Recorded, not submitted: the buffer is as the application left it.
    assert_eq!(app_read(&ctx, &buf), pattern);
    ctx.queue.submit([enc.finish()]);
    let after = app_read(&ctx, &buf);
    let (a, b) = (
        layout.offset as usize,
        (layout.offset + layout.bytes) as usize,
    );
    assert_eq!(after[..a], pattern[..a], "bytes before throng's range");
    assert_eq!(after[b..], pattern[b..], "bytes after throng's range");
    // The range holds the states, as the layout says.
    let mine: Vec<f64> = after[layout.row(0).start as usize..layout.row(0).end as usize]
        .chunks(4)
        .map(|w| f32::from_le_bytes(w.try_into().unwrap()) as f64)
        .collect();
    same_bits(&mine, &solved(&ctx, &job, 12), "states in the app's buffer");
    assert_eq!(s.read_states().unwrap(), mine);
}

#[test]
fn two_steppers_share_one_encoder() {
    let ctx = common::ctx();
    let a_job = gbm(500, 1)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 9))
        .unwrap();
    let b_job = lorenz(300)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 8))
        .unwrap();
    let mut a = Stepper::new(&ctx, &a_job, StepperOptions::default()).unwrap();
    let mut b = Stepper::new(&ctx, &b_job, StepperOptions::default()).unwrap();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    a.encode(&mut enc, 4).unwrap();
    b.encode(&mut enc, 8).unwrap();
    a.encode(&mut enc, 5).unwrap();
    ctx.queue.submit([enc.finish()]);
    same_bits(&a.read_states().unwrap(), &solved(&ctx, &a_job, 9), "gbm");
    same_bits(
        &b.read_states().unwrap(),
        &solved(&ctx, &b_job, 8),
        "lorenz",
    );
}

#[test]
fn one_error_lists_everything_a_borrowed_device_lacks() {
    let ours = common::ctx();
    let (_, device, queue) = common::app_device(&ours);
    let ctx = Context::borrow(&device, &queue);
    // 2^25 f64 trajectories: f64 is missing, the states need 805 MB in one binding, their
    // reduction partials 151 MB, and one dispatch would need 131072 workgroups.
    let job = lorenz(1 << 25)
        .precision(Precision::F64)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 10))
        .unwrap();
    let e = Stepper::new(&ctx, &job, StepperOptions::default())
        .err()
        .expect("the device cannot run this");
    let Error::DeviceLacks { lacks, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(lacks.len(), 4, "{e}");
    let text = e.to_string();
    for want in [
        "SHADER_F64",
        "a storage binding of 805306368 bytes for the states of 33554432 trajectories (the device allows 134217728)",
        "a storage binding of 150994944 bytes for the reduction partials",
        "131072 workgroups",
    ] {
        assert!(text.contains(want), "{text}");
    }
    assert!(!text.contains('\n'));
    // Without INT64 the kernel takes Philox's 32-bit path: same noise, same states.
    let job = gbm(800, 3)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 6))
        .unwrap();
    assert!(!ctx.has_int64());
    same_bits(
        &stepped(&ctx, &job, 2, 3),
        &solved(&ours, &job, 6),
        "borrowed device",
    );
}

#[test]
fn borrowing_leaves_the_app_s_device_lost_callback_in_place() {
    let ours = common::ctx();
    let (_, device, queue) = common::app_device(&ours);
    let lost = Arc::new(AtomicBool::new(false));
    let flag = lost.clone();
    device.set_device_lost_callback(move |_, _| flag.store(true, Ordering::SeqCst));
    let ctx = Context::borrow(&device, &queue);
    let job = gbm(300, 3)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap();
    let mut s = Stepper::new(&ctx, &job, StepperOptions::default()).unwrap();
    let mut enc = device.create_command_encoder(&Default::default());
    s.encode(&mut enc, 4).unwrap();
    queue.submit([enc.finish()]);
    s.read_states().unwrap();
    device.destroy();
    let _ = device.poll(wgpu::PollType::Poll);
    assert!(
        lost.load(Ordering::SeqCst),
        "the application's callback ran"
    );
}

#[test]
fn a_state_buffer_throng_cannot_use_is_refused_plainly() {
    let ctx = common::ctx();
    let job = gbm(1000, 1)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 4))
        .unwrap();
    use wgpu::BufferUsages as B;
    let make = |size, usage| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage,
            mapped_at_creation: false,
        })
    };
    let cases = [
        (
            make(8192, B::VERTEX | B::COPY_SRC),
            0,
            "needs STORAGE usage",
        ),
        (make(8192, B::STORAGE), 4, "not a multiple"),
        (
            make(4096, B::STORAGE),
            256,
            "the states need 4096 from offset 256",
        ),
    ];
    for (buf, offset, want) in cases {
        let e = Stepper::new(
            &ctx,
            &job,
            StepperOptions {
                states: Some((buf, offset)),
                ..Default::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains(want), "{e}");
    }
    let mut s = Stepper::new(&ctx, &job, StepperOptions::default()).unwrap();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    assert!(s.encode(&mut enc, 0).is_err());
    s.encode(&mut enc, u32::MAX).unwrap();
    let e = s.encode(&mut enc, 1).unwrap_err().to_string();
    assert!(e.contains("reset it"), "{e}");
}

#[test]
fn every_method_steps_as_it_solves() {
    let ctx = common::ctx();
    let grid = TimeGrid::until(0.0, 0.5, 15);
    for info in throng::method::METHODS {
        // A stepper runs without end; the adaptive SDE methods step on a tree over a fixed
        // span (refused: `steppers_refuse_the_adaptive_sde_methods` below).
        if info.method.is_adaptive_sde() {
            continue;
        }
        // An SDE where the method takes one (gbm defines `linear` for the exponential
        // methods), Lorenz for the ODE methods, Hénon for `iterate`.
        let job = match gbm(600, 4).job(info.method, grid) {
            Ok(job) => job,
            Err(Error::MethodDoesNotFit { .. }) if matches!(info.method, Method::Iterate) => {
                Ensemble::new(System::builtin("henon").unwrap(), 300)
                    .init(throng::Init::Uniform(vec![0.1, 0.1]))
                    .job(info.method, grid)
                    .unwrap()
            }
            Err(Error::MethodDoesNotFit { .. }) => lorenz(400).job(info.method, grid).unwrap(),
            Err(e) => panic!("{}: {e}", info.name),
        };
        same_bits(
            &stepped(&ctx, &job, 3, 5),
            &solved(&ctx, &job, 5),
            info.name,
        );
    }
}

/// llvmpipe ends a shader's loops after 65535 iterations without a word; 300,000 RK4 steps
/// of x' = -x (f64, h = 1e-5) in one `solve` and in one `encode` still reach t = 3, where
/// x = e^-3 (RK4's error here is below 1e-12; stopping after 262,140 steps would give
/// e^-2.62).
#[test]
fn long_runs_are_not_cut_short_by_a_loop_limit() {
    let ctx = common::ctx();
    let job = Ensemble::new(System::builtin("linear").unwrap(), 4)
        .precision(Precision::F64)
        .x0(&[1.0])
        .set("a", -1.0)
        .job(Method::Rk4, TimeGrid::new(0.0, 1e-5, 300_000))
        .unwrap();
    let want = (-3.0f64).exp();
    let solved = solve(&ctx, &job, &common::keep()).unwrap().states.unwrap();
    let stepped = stepped(&ctx, &job, 1, 300_000);
    for x in solved.iter().chain(&stepped) {
        assert!((x - want).abs() < 1e-9, "x(3) = {x}, want {want}");
    }
    assert_eq!(solved, stepped);
}

/// The adaptive SDE methods step on the Brownian tree over a run's fixed interval: a
/// stepper, which runs without end, refuses them with one line saying so.
#[test]
fn steppers_refuse_the_adaptive_sde_methods() {
    let ctx = common::ctx();
    let job = gbm(64, 1)
        .job(
            Method::AdaptiveMilstein(Default::default()),
            TimeGrid::until(0.0, 1.0, 8),
        )
        .unwrap();
    let e = match Stepper::new(&ctx, &job, StepperOptions::default()) {
        Ok(_) => panic!("a stepper took adaptive-milstein"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("adaptive-milstein") && e.contains("without end"),
        "{e}"
    );
}
