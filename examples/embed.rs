//! Embedding, the simple way: an application that already owns a wgpu device and queue lends
//! them to throng (`Context::borrow` clones the handles and leaves the device's callbacks
//! alone), which runs `solve` on them. To keep an ensemble on the device and advance it
//! inside the application's own frames, see `examples/render` (a `Stepper`).
//!
//!     cargo run --release --example embed

use throng::{solve, Context, Ensemble, Method, Options, System, TimeGrid};

fn main() -> throng::Result<()> {
    // The application's own device.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter =
        pollster::block_on(instance.request_adapter(&Default::default())).map_err(|e| {
            throng::Error::NoAdapter {
                detail: format!(" ({e})"),
            }
        })?;
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))
        .map_err(|e| throng::Error::Gpu(e.to_string()))?;
    let ctx = Context::borrow(&device, &queue);

    let job = Ensemble::new(System::builtin("ou")?, 100_000)
        .x0(&[1.0])
        .set("theta", 1.0)
        .set("sigma", 0.5)
        .seed(1)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 5.0, 500))?;
    let sol = solve(&ctx, &job, &Options::default())?;
    println!("adapter (the application's): {}", sol.adapter);
    // The Euler–Maruyama chain has mean (1 - theta dt)^500 x0 and, after 5 relaxation times,
    // variance close to sigma^2 / (2 theta) = 0.125.
    println!(
        "OU at t = 5: mean {:.5} (chain: {:.5}), var {:.5} (about 0.125)",
        sol.stats.mean[0],
        0.99f64.powi(500),
        sol.stats.var()[0]
    );
    Ok(())
}
