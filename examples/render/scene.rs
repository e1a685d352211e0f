//! The example application's own drawing (nothing here is throng's): every trajectory of a
//! stepper's state buffer is a point, read straight from that buffer as three vertex buffers
//! (rows x, y and z of throng's component-major layout), rotated about the z axis, projected
//! orthographically and added up in a float target; a second pass maps the sums to colours.
//! Shared by `examples/render/main.rs` and `tests/render.rs`.

use throng::StateLayout;

const POINTS: &str = r#"
struct View {
    c: f32,
    s: f32,
    scale: f32,
    aspect: f32,
    center: vec4<f32>,
    color: vec4<f32>,
}
@group(0) @binding(0) var<uniform> view: View;

@vertex
fn vs(@location(0) x: f32, @location(1) y: f32, @location(2) z: f32) -> @builtin(position) vec4<f32> {
    let p = vec3<f32>(x, y, z) - view.center.xyz;
    let across = p.x * view.c - p.y * view.s;
    // A trajectory that left the attractor (or went non-finite) is dropped off screen.
    let ok = abs(across) < 1e4 && abs(p.z) < 1e4;
    let at = vec2<f32>(across * view.scale / view.aspect, p.z * view.scale);
    return select(vec4<f32>(2.0, 2.0, 2.0, 1.0), vec4<f32>(at, 0.5, 1.0), ok);
}

@fragment
fn fs() -> @location(0) vec4<f32> {
    return view.color;
}
"#;

const TONEMAP: &str = r#"
@group(0) @binding(0) var sums: texture_2d<f32>;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // One triangle that covers the screen.
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let sum = textureLoad(sums, vec2<i32>(pos.xy), 0).rgb;
    return vec4<f32>(vec3<f32>(1.0) - exp(-sum), 1.0);
}
"#;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct View {
    c: f32,
    s: f32,
    scale: f32,
    aspect: f32,
    center: [f32; 4],
    color: [f32; 4],
}

/// Where the view is centred (the Lorenz attractor's middle) and how many units half the
/// height spans.
pub const CENTER: [f32; 3] = [0.0, 0.0, 25.0];
pub const HALF_HEIGHT: f32 = 30.0;

/// Pixel (column, row from the top) where the point (x, y, z) lands at `angle`: the host's
/// twin of the vertex shader, for tests.
#[allow(dead_code)]
pub fn project(p: [f32; 3], angle: f32, width: u32, height: u32) -> (f32, f32) {
    let (s, c) = angle.sin_cos();
    let (x, y, z) = (p[0] - CENTER[0], p[1] - CENTER[1], p[2] - CENTER[2]);
    let across = x * c - y * s;
    let aspect = width as f32 / height as f32;
    let ndc = (across / HALF_HEIGHT / aspect, z / HALF_HEIGHT);
    (
        (ndc.0 + 1.0) / 2.0 * width as f32,
        (1.0 - ndc.1) / 2.0 * height as f32,
    )
}

pub struct Scene {
    pub width: u32,
    pub height: u32,
    points: wgpu::RenderPipeline,
    tonemap: wgpu::RenderPipeline,
    view: wgpu::Buffer,
    view_group: wgpu::BindGroup,
    sums: wgpu::TextureView,
    sums_group: wgpu::BindGroup,
    /// The offscreen frame (for PNGs), if the scene draws to one.
    frame: Option<wgpu::Texture>,
}

impl Scene {
    /// A scene that draws into a `format` target of `width` x `height`; `offscreen` also
    /// makes such a texture of its own (RGBA8) to read frames back from.
    pub fn new(
        device: &wgpu::Device,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
        offscreen: bool,
    ) -> Scene {
        let sums_format = wgpu::TextureFormat::Rgba16Float;
        let sums = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("sums"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: sums_format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let sums = sums.create_view(&Default::default());
        let frame = offscreen.then(|| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("frame"),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        });
        let view = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("view"),
            size: std::mem::size_of::<View>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let module = |src: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(src.into()),
            })
        };
        let (pm, tm) = (module(POINTS), module(TONEMAP));
        let attrs: Vec<[wgpu::VertexAttribute; 1]> = (0..3)
            .map(|i| {
                [wgpu::VertexAttribute {
                    format: wgpu::VertexFormat::Float32,
                    offset: 0,
                    shader_location: i,
                }]
            })
            .collect();
        let buffers: Vec<Option<wgpu::VertexBufferLayout>> = attrs
            .iter()
            .map(|a| {
                Some(wgpu::VertexBufferLayout {
                    array_stride: 4,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: a,
                })
            })
            .collect();
        let add = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::One,
            dst_factor: wgpu::BlendFactor::One,
            operation: wgpu::BlendOperation::Add,
        };
        let points = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("points"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &pm,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &buffers,
            },
            fragment: Some(wgpu::FragmentState {
                module: &pm,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: sums_format,
                    blend: Some(wgpu::BlendState {
                        color: add,
                        alpha: add,
                    }),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::PointList,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: Default::default(),
            multiview_mask: None,
            cache: None,
        });
        let tonemap = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("tonemap"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &tm,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &tm,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(format.into())],
            }),
            primitive: Default::default(),
            depth_stencil: None,
            multisample: Default::default(),
            multiview_mask: None,
            cache: None,
        });
        let view_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &points.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: view.as_entire_binding(),
            }],
        });
        let sums_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &tonemap.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&sums),
            }],
        });
        Scene {
            width,
            height,
            points,
            tonemap,
            view,
            view_group,
            sums,
            sums_group,
            frame,
        }
    }

    /// Records drawing the first three rows of `states` (an f32 stepper's buffer, laid out
    /// as `layout` says) seen at `angle` into `target` (the offscreen frame if None). Each
    /// point adds `gain` to its pixel, so brightness follows density.
    pub fn draw(
        &self,
        queue: &wgpu::Queue,
        enc: &mut wgpu::CommandEncoder,
        states: &wgpu::Buffer,
        layout: &StateLayout,
        angle: f32,
        target: Option<&wgpu::TextureView>,
    ) {
        assert_eq!(layout.scalar_bytes, 4, "the scene draws f32 states");
        let (s, c) = angle.sin_cos();
        // Brightness per point so that a frame's light does not depend on the ensemble size.
        let gain = 3.0e4 / layout.paths as f32 * (self.width * self.height) as f32 / 262144.0;
        let v = View {
            c,
            s,
            scale: 1.0 / HALF_HEIGHT,
            aspect: self.width as f32 / self.height as f32,
            center: [CENTER[0], CENTER[1], CENTER[2], 0.0],
            color: [gain, 0.45 * gain, 0.15 * gain, gain],
        };
        queue.write_buffer(&self.view, 0, bytemuck::bytes_of(&v));
        {
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("points"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &self.sums,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            pass.set_pipeline(&self.points);
            pass.set_bind_group(0, &self.view_group, &[]);
            for r in 0..3 {
                pass.set_vertex_buffer(r as u32, states.slice(layout.row(r)));
            }
            pass.draw(0..layout.paths as u32, 0..1);
        }
        let own;
        let target = match target {
            Some(t) => t,
            None => {
                own = self
                    .frame
                    .as_ref()
                    .expect("an offscreen scene")
                    .create_view(&Default::default());
                &own
            }
        };
        let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("tonemap"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            ..Default::default()
        });
        pass.set_pipeline(&self.tonemap);
        pass.set_bind_group(0, &self.sums_group, &[]);
        pass.draw(0..3, 0..1);
    }

    /// The offscreen frame's RGBA8 pixels, row by row from the top (submits a copy and
    /// waits for it).
    pub fn read_rgba(&self, device: &wgpu::Device, queue: &wgpu::Queue) -> Vec<u8> {
        let frame = self.frame.as_ref().expect("an offscreen scene");
        let row = (self.width * 4).div_ceil(256) * 256;
        let buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("frame read"),
            size: (row * self.height) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = device.create_command_encoder(&Default::default());
        enc.copy_texture_to_buffer(
            frame.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buf,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: None,
                },
            },
            frame.size(),
        );
        queue.submit([enc.finish()]);
        buf.slice(..)
            .map_async(wgpu::MapMode::Read, |r| r.expect("map the frame"));
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("the frame's copy completes");
        let data = buf.slice(..).get_mapped_range().unwrap();
        let mut out = Vec::with_capacity((self.width * self.height * 4) as usize);
        for y in 0..self.height {
            out.extend_from_slice(&data[(y * row) as usize..][..(self.width * 4) as usize]);
        }
        out
    }
}
