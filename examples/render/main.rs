//! An application that owns its wgpu device advances about a million stochastic Lorenz
//! trajectories a few steps per frame inside its own command encoder and draws them as
//! additive points with its own render pipeline, reading throng's state buffer as its vertex
//! buffer, through a rotating projection. No state goes through the host.
//!
//!     cargo run --release --example render -- --frames 60 --out frames
//!     cargo run --release --example render --features window -- --window
//!
//! Options: --paths N (2^20), --size WxH (512x512), --frames F (60), --steps K per frame
//! (4), --warmup STEPS before the first frame (1200), --out DIR (frames), --window (needs
//! the `window` feature: a desktop window instead of PNG files).

#[path = "scene.rs"]
mod scene;
#[cfg(feature = "window")]
#[path = "window.rs"]
mod window;

use std::path::PathBuf;

use throng::{Context, Ensemble, Init, Method, Stepper, StepperOptions, System, TimeGrid};

/// What the command line asks for.
pub struct Args {
    pub paths: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub steps: u32,
    pub warmup: u32,
    pub out: PathBuf,
    pub window: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        paths: 1 << 20,
        width: 512,
        height: 512,
        frames: 60,
        steps: 4,
        warmup: 1200,
        out: "frames".into(),
        window: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--window" {
            a.window = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--paths" => a.paths = num(&value)?,
            "--frames" => a.frames = num(&value)? as u32,
            "--steps" => a.steps = num(&value)? as u32,
            "--warmup" => a.warmup = num(&value)? as u32,
            "--out" => a.out = value.into(),
            "--size" => {
                let (w, h) = value
                    .split_once('x')
                    .ok_or(format!("--size: WxH, got {value}"))?;
                (a.width, a.height) = (num(w)? as u32, num(h)? as u32);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.paths == 0 || a.width == 0 || a.height == 0 || a.steps == 0 {
        return Err("--paths, --size and --steps must be positive".into());
    }
    Ok(a)
}

/// The ensemble: stochastic Lorenz (additive noise, eps 0.3) from a cloud around (1, 1, 20).
pub fn stepper(ctx: &Context, paths: u64) -> throng::Result<Stepper> {
    let job = Ensemble::new(System::builtin("stochastic_lorenz")?, paths)
        .x0(&[1.0, 1.0, 20.0])
        .set("eps", 0.3)
        .init(Init::Normal(vec![4.0, 4.0, 4.0]))
        .seed(2026)
        .job(Method::Heun, TimeGrid::new(0.0, 0.005, 1))?;
    Stepper::new(ctx, &job, StepperOptions::default())
}

/// The view's angle at frame `f`: a turn every 240 frames.
pub fn angle(f: u32) -> f32 {
    2.2 + f as f32 * std::f32::consts::TAU / 240.0
}

fn write_png(path: &std::path::Path, rgba: &[u8], w: u32, h: u32) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(rgba)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}

fn offscreen(a: &Args) -> Result<(), String> {
    // The application's device: throng only borrows it.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()))
        .map_err(|e| format!("no adapter: {e} (on Debian: apt-get install mesa-vulkan-drivers)"))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))
        .map_err(|e| e.to_string())?;
    let ctx = Context::borrow(&device, &queue);
    let mut stepper = stepper(&ctx, a.paths).map_err(|e| e.to_string())?;
    let scene = scene::Scene::new(
        &device,
        a.width,
        a.height,
        wgpu::TextureFormat::Rgba8Unorm,
        true,
    );
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let layout = stepper.layout();
    let start = std::time::Instant::now();
    if a.warmup > 0 {
        let mut enc = device.create_command_encoder(&Default::default());
        stepper
            .encode(&mut enc, a.warmup)
            .map_err(|e| e.to_string())?;
        queue.submit([enc.finish()]);
    }
    for f in 0..a.frames {
        // One frame: advance, then draw from the same buffer, in one encoder.
        let mut enc = device.create_command_encoder(&Default::default());
        stepper
            .encode(&mut enc, a.steps)
            .map_err(|e| e.to_string())?;
        scene.draw(
            &queue,
            &mut enc,
            stepper.state_buffer(),
            &layout,
            angle(f),
            None,
        );
        queue.submit([enc.finish()]);
        let rgba = scene.read_rgba(&device, &queue);
        let path = a.out.join(format!("frame{f:04}.png"));
        write_png(&path, &rgba, a.width, a.height)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "{} frames of {} trajectories ({}x{}, {} steps per frame, t = {:.3}) in {:.2} s on {} -> {}",
        a.frames,
        a.paths,
        a.width,
        a.height,
        a.steps,
        stepper.time(),
        start.elapsed().as_secs_f64(),
        adapter.get_info().name,
        a.out.display()
    );
    Ok(())
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let run = if a.window {
        #[cfg(feature = "window")]
        {
            window::run(&a)
        }
        #[cfg(not(feature = "window"))]
        {
            Err("--window needs the `window` feature: cargo run --release --example render --features window -- --window".to_string())
        }
    } else {
        offscreen(&a)
    };
    if let Err(e) = run {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
