//! `--window`: the same frame loop drawn to a desktop window (winit) instead of PNG files.
//! Each redraw advances the ensemble and draws it in one encoder, straight to the surface.

use std::sync::Arc;

use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::{Window, WindowId};

use crate::scene::Scene;
use crate::Args;

struct Running {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    config: wgpu::SurfaceConfiguration,
    scene: Scene,
    stepper: throng::Stepper,
    frame: u32,
}

struct App<'a> {
    args: &'a Args,
    running: Option<Running>,
    error: Option<String>,
}

impl App<'_> {
    fn start(&mut self, el: &ActiveEventLoop) -> Result<Running, String> {
        let a = self.args;
        let window = Arc::new(
            el.create_window(
                Window::default_attributes()
                    .with_title("throng: stochastic Lorenz, stepped and drawn on the GPU")
                    .with_inner_size(PhysicalSize::new(a.width, a.height)),
            )
            .map_err(|e| e.to_string())?,
        );
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle(
            Box::new(el.owned_display_handle()),
        ));
        let surface = instance
            .create_surface(window.clone())
            .map_err(|e| e.to_string())?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| e.to_string())?;
        let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))
            .map_err(|e| e.to_string())?;
        let size = window.inner_size();
        let mut config = surface
            .get_default_config(&adapter, size.width.max(1), size.height.max(1))
            .ok_or("the adapter cannot present to this window")?;
        config.present_mode = wgpu::PresentMode::AutoVsync;
        surface.configure(&device, &config);
        let ctx = throng::Context::borrow(&device, &queue);
        let mut stepper = crate::stepper(&ctx, a.paths).map_err(|e| e.to_string())?;
        let mut enc = device.create_command_encoder(&Default::default());
        stepper
            .encode(&mut enc, a.warmup.max(1))
            .map_err(|e| e.to_string())?;
        queue.submit([enc.finish()]);
        let scene = Scene::new(&device, config.width, config.height, config.format, false);
        Ok(Running {
            window,
            surface,
            device,
            queue,
            config,
            scene,
            stepper,
            frame: 0,
        })
    }
}

impl Running {
    fn redraw(&mut self, steps: u32) -> Result<(), String> {
        let texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t)
            | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            other => return Err(format!("the window's surface: {other:?}")),
        };
        let view = texture.texture.create_view(&Default::default());
        let mut enc = self.device.create_command_encoder(&Default::default());
        self.stepper
            .encode(&mut enc, steps)
            .map_err(|e| e.to_string())?;
        let layout = self.stepper.layout();
        self.scene.draw(
            &self.queue,
            &mut enc,
            self.stepper.state_buffer(),
            &layout,
            crate::angle(self.frame),
            Some(&view),
        );
        self.queue.submit([enc.finish()]);
        self.queue.present(texture);
        self.frame += 1;
        self.window.request_redraw();
        Ok(())
    }

    fn resize(&mut self, size: PhysicalSize<u32>) {
        if size.width == 0 || size.height == 0 {
            return;
        }
        self.config.width = size.width;
        self.config.height = size.height;
        self.surface.configure(&self.device, &self.config);
        self.scene = Scene::new(
            &self.device,
            size.width,
            size.height,
            self.config.format,
            false,
        );
    }
}

impl ApplicationHandler for App<'_> {
    fn resumed(&mut self, el: &ActiveEventLoop) {
        if self.running.is_none() {
            match self.start(el) {
                Ok(r) => {
                    r.window.request_redraw();
                    self.running = Some(r);
                }
                Err(e) => {
                    self.error = Some(e);
                    el.exit();
                }
            }
        }
    }

    fn window_event(&mut self, el: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        let Some(r) = self.running.as_mut() else {
            return;
        };
        match event {
            WindowEvent::CloseRequested => el.exit(),
            WindowEvent::Resized(size) => r.resize(size),
            WindowEvent::RedrawRequested => {
                if let Err(e) = r.redraw(self.args.steps) {
                    self.error = Some(e);
                    el.exit();
                }
            }
            _ => {}
        }
    }
}

pub fn run(args: &Args) -> Result<(), String> {
    let el = EventLoop::new().map_err(|e| e.to_string())?;
    let mut app = App {
        args,
        running: None,
        error: None,
    };
    el.run_app(&mut app).map_err(|e| e.to_string())?;
    app.error.map_or(Ok(()), Err)
}
