//! The embedding example's frame: an application's device, a stepper advancing stochastic
//! Lorenz in the application's encoder, and the example's own render pipeline drawing the
//! state buffer as vertices. The frame must show the attractor: both lobes lit around their
//! dark, unstable centres, and the corners empty.

mod common;

#[path = "../examples/render/scene.rs"]
mod scene;

use throng::{Context, Ensemble, Init, Method, Stepper, StepperOptions, System, TimeGrid};

#[test]
fn a_frame_drawn_from_the_state_buffer_shows_both_lobes() {
    let ours = common::ctx();
    let (_, device, queue) = common::app_device(&ours);
    let ctx = Context::borrow(&device, &queue);
    let job = Ensemble::new(System::builtin("stochastic_lorenz").unwrap(), 1 << 14)
        .x0(&[1.0, 1.0, 20.0])
        .set("eps", 0.3)
        .init(Init::Normal(vec![4.0, 4.0, 4.0]))
        .seed(7)
        .job(Method::Heun, TimeGrid::new(0.0, 0.005, 1))
        .unwrap();
    let mut stepper = Stepper::new(&ctx, &job, StepperOptions::default()).unwrap();
    let (w, h) = (128u32, 128u32);
    let scene = scene::Scene::new(&device, w, h, wgpu::TextureFormat::Rgba8Unorm, true);
    let angle = 2.2f32;
    let mut enc = device.create_command_encoder(&Default::default());
    stepper.encode(&mut enc, 1000).unwrap();
    stepper.encode(&mut enc, 4).unwrap();
    scene.draw(
        &queue,
        &mut enc,
        stepper.state_buffer(),
        &stepper.layout(),
        angle,
        None,
    );
    queue.submit([enc.finish()]);
    let rgba = scene.read_rgba(&device, &queue);
    let red = |x: i32, y: i32| rgba[((y as u32 * w + x as u32) * 4) as usize] as f64;
    let lit = |x: i32, y: i32| red(x, y) > 0.0;
    let total = (0..h as i32)
        .flat_map(|y| (0..w as i32).map(move |x| (x, y)))
        .filter(|&(x, y)| lit(x, y))
        .count() as f64
        / (w * h) as f64;
    assert!((0.1..0.8).contains(&total), "lit fraction {total}");
    for (cx, cy) in [
        (0, 0),
        (w as i32 - 8, 0),
        (0, h as i32 - 8),
        (w as i32 - 8, h as i32 - 8),
    ] {
        let n = (0..8)
            .flat_map(|dy| (0..8).map(move |dx| (cx + dx, cy + dy)))
            .filter(|&(x, y)| lit(x, y))
            .count();
        assert_eq!(n, 0, "corner at ({cx}, {cy}) is lit");
    }
    // The lobes' centres C± = (±sqrt(b(r-1)), ±sqrt(b(r-1)), r-1): unstable foci, so darker
    // than the ring of orbits around them, which is lit.
    let c = (8.0f32 / 3.0 * 27.0).sqrt();
    let px_per_unit = h as f32 / 2.0 / scene::HALF_HEIGHT;
    let mut seen = vec![];
    for sign in [1.0f32, -1.0] {
        let (px, py) = scene::project([sign * c, sign * c, 27.0], angle, w, h);
        let disc = |r0: f32, r1: f32| {
            let mut v = vec![];
            for y in 0..h as i32 {
                for x in 0..w as i32 {
                    let d = ((x as f32 + 0.5 - px).powi(2) + (y as f32 + 0.5 - py).powi(2)).sqrt()
                        / px_per_unit;
                    if d >= r0 && d < r1 {
                        v.push((x, y));
                    }
                }
            }
            v
        };
        let ring = disc(4.0, 8.0);
        let hole = disc(0.0, 1.5);
        let ring_lit = ring.iter().filter(|&&(x, y)| lit(x, y)).count() as f64 / ring.len() as f64;
        let mean =
            |v: &[(i32, i32)]| v.iter().map(|&(x, y)| red(x, y)).sum::<f64>() / v.len() as f64;
        let (ring_mean, hole_mean) = (mean(&ring), mean(&hole));
        seen.push((px, py, ring_lit, ring_mean, hole_mean));
        // 2^14 points over a few hundred ring pixels leave some pixels empty by chance.
        assert!(ring_lit > 0.5, "{seen:?}");
        assert!(hole_mean < 0.3 * ring_mean, "{seen:?}");
    }
    // The two lobes are apart on screen (not one blob drawn twice).
    assert!((seen[0].0 - seen[1].0).abs() > 20.0, "{seen:?}");
}
