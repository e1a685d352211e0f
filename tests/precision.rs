//! f64 runs: every method against its f64 CPU twin, the f64 arithmetic throng relies on,
//! OU exact in law under SETD1 in f64, overflow reported as non-finite in f64, and a clear
//! refusal where the device has no SHADER_F64.

mod common;

use common::keep;

use throng::{cpu, solve, Context, Ensemble, Method, Options, Precision, System, TimeGrid};

#[test]
fn every_method_matches_its_f64_twin() {
    let ctx = common::ctx();
    let gbm = || {
        Ensemble::new(System::builtin("gbm").unwrap(), 3000)
            .x0(&[1.0])
            .sweep("sigma", 0.1, 0.8)
            .seed(5)
    };
    let ou = || {
        Ensemble::new(System::builtin("ou").unwrap(), 3000)
            .x0(&[1.0])
            .sweep("theta", 0.1, 50.0)
            .seed(8)
    };
    let lorenz = || {
        Ensemble::new(System::builtin("lorenz").unwrap(), 3000)
            .x0(&[1.0, 0.0, 0.0])
            .sweep("rho", 0.0, 50.0)
    };
    let cases = [
        (gbm(), Method::EulerMaruyama),
        (gbm(), Method::Milstein),
        (gbm(), Method::Heun),
        (ou(), Method::Setd1),
        (ou(), Method::Etdrk2),
        (lorenz(), Method::Rk4),
        (lorenz(), Method::Etdrk2),
        (ou(), Method::Etdrk4),
        (lorenz(), Method::Etdrk4),
    ];
    for (ens, method) in cases {
        let job = ens
            .precision(Precision::F64)
            .job(method, TimeGrid::new(0.0, 0.01, 100))
            .unwrap();
        let gpu = solve(&ctx, &job, &keep()).unwrap();
        let twin = cpu::solve(&job, &keep()).unwrap();
        let label = format!("f64 {} {method:?}", job.system.name);
        // ODEs: f64 rounding (FMA contraction, exp64 within 2 ulps of f64::exp) accumulates
        // to about 1e-14 relative over 100 steps; 1e-11 leaves room and fails on any f32 leak.
        // SDEs: the f32 normals of device and twin differ by up to 1.2e-7 (1 + |z|) (their
        // ln and sincos round differently), about 1e-8 per step here, summed over 100 steps.
        let tol = if job.system.noise == throng::Noise::None {
            1e-11
        } else {
            2e-6
        };
        common::assert_matches_twin(
            gpu.states.as_ref().unwrap(),
            twin.states.as_ref().unwrap(),
            job.paths as usize,
            job.system.dim(),
            tol,
            &label,
        );
        for c in 0..job.system.dim() {
            let (a, b) = (gpu.stats.mean[c], twin.stats.mean[c]);
            assert!(
                (a - b).abs() <= tol * b.abs().max(1.0),
                "{label} mean {a} {b}"
            );
        }
    }
}

/// OU in f64 on 2^16 paths against the exact law (tests/common).
fn ou_f64(method: Method, theta: f64, steps: u64) -> throng::Stats {
    common::ou_law(method, Precision::F64, theta, steps, 1 << 16, 21)
}

#[test]
fn f64_setd1_is_exact_in_law_and_f64_overflow_is_reported() {
    for steps in [1, 1000] {
        assert_eq!(ou_f64(Method::Setd1, 2.0, steps).nonfinite, 0);
    }
    let stiff = ou_f64(Method::Setd1, 1e4, 1000);
    assert_eq!((stiff.count, stiff.nonfinite), (1 << 16, 0));
    // Euler–Maruyama at theta dt = 10 multiplies by -9 per step: 9^1000 overflows f64.
    let em = ou_f64(Method::EulerMaruyama, 1e4, 1000);
    assert_eq!((em.count, em.nonfinite), (0, 1 << 16));
}

#[test]
fn f64_exp_built_from_arithmetic_is_accurate_across_its_range() {
    // x' = 0 with linear part a: SETD1 computes e^(a dt) x exactly as exp64 does, one step.
    let ctx = common::ctx();
    let n = 4096u64;
    let job = Ensemble::new(System::builtin("linear").unwrap(), n)
        .x0(&[1.0])
        .sweep("a", -700.0, 700.0)
        .precision(Precision::F64)
        .job(Method::Setd1, TimeGrid::new(0.0, 1.0, 1))
        .unwrap();
    let gpu = solve(&ctx, &job, &keep()).unwrap().states.unwrap();
    let mut worst = 0f64;
    for (i, g) in gpu.iter().enumerate() {
        let a = job.inputs_at(i as u64).1[0];
        let want = a.exp();
        let ulps = ((g - want) / want).abs() / f64::EPSILON;
        worst = worst.max(ulps);
        assert!(ulps <= 4.0, "exp64({a}) = {g}, f64::exp gives {want}");
    }
    eprintln!("exp64 over [-700, 700]: worst {worst:.2} ulp");
}

#[test]
fn f64_is_refused_clearly_where_the_device_lacks_it() {
    // A caller-owned device created without SHADER_F64 (as an embedding application might).
    let instance = wgpu::Instance::default();
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let ctx = Context::from_device(device, queue, adapter.get_info());
    let job = Ensemble::new(System::builtin("gbm").unwrap(), 256)
        .precision(Precision::F64)
        .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 10))
        .unwrap();
    let err = solve(&ctx, &job, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("f64 needs SHADER_F64"), "{err}");
}
