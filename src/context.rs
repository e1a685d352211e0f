//! The device context: an adapter, its device and queue, and what throng needs to know of them.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// How to choose an adapter.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Pick the first adapter whose name contains this text (case-insensitive).
    pub name: Option<String>,
    /// Restrict to one backend: "vulkan", "metal", "dx12" (default: all of them).
    pub backend: Option<String>,
}

/// A device throng runs on: created by throng, or handed over by an application.
pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Set by the device-lost callback of a device throng opened; None for a borrowed
    /// device, whose callback belongs to the application.
    lost: Option<Arc<Mutex<Option<String>>>>,
}

fn parse_backends(name: Option<&str>) -> Result<wgpu::Backends> {
    Ok(match name.map(|s| s.to_ascii_lowercase()) {
        None => wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        Some(s) if s == "vulkan" => wgpu::Backends::VULKAN,
        Some(s) if s == "metal" => wgpu::Backends::METAL,
        Some(s) if s == "dx12" => wgpu::Backends::DX12,
        Some(s) => {
            return Err(Error::Input {
                what: "backend".into(),
                message: format!("unknown backend `{s}` (known: vulkan, metal, dx12)"),
            })
        }
    })
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

/// Every adapter the chosen backends offer.
pub fn adapters(choice: &AdapterChoice) -> Result<Vec<wgpu::AdapterInfo>> {
    let inst = instance(parse_backends(choice.backend.as_deref())?);
    let list = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
    Ok(list.iter().map(|a| a.get_info()).collect())
}

impl Context {
    /// Opens the best adapter (a discrete GPU if there is one), or the one `choice` names.
    pub fn new(choice: &AdapterChoice) -> Result<Context> {
        let backends = parse_backends(choice.backend.as_deref())?;
        let inst = instance(backends);
        let adapter = match &choice.name {
            Some(want) => {
                let all = pollster::block_on(inst.enumerate_adapters(backends));
                let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
                let want_l = want.to_lowercase();
                all.into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&want_l))
                    .ok_or_else(|| {
                        if names.is_empty() {
                            Error::NoAdapter {
                                detail: String::new(),
                            }
                        } else {
                            Error::Input {
                                what: "adapter".into(),
                                message: format!(
                                    "no adapter's name contains `{want}` (adapters: {})",
                                    names.join("; ")
                                ),
                            }
                        }
                    })?
            }
            None => pollster::block_on(inst.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            }))
            .map_err(|e| Error::NoAdapter {
                detail: format!(" ({e})"),
            })?,
        };
        Self::open(&adapter)
    }

    fn open(adapter: &wgpu::Adapter) -> Result<Context> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        // Int64 makes Philox's multiply faster; f64 is requested for later methods;
        // subgroups let observers reduce from registers (fused observers).
        let wanted =
            wgpu::Features::SHADER_INT64 | wgpu::Features::SHADER_F64 | wgpu::Features::SUBGROUP;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("throng"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Device {
            adapter: info.name.clone(),
            reason: e.to_string(),
        })?;
        log::info!(
            "adapter: {} ({:?}, {:?}, driver {} {})",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info
        );
        if info.device_type == wgpu::DeviceType::Cpu {
            log::info!("this adapter is a CPU (software rasterizer), not a GPU");
        }
        Ok(Self::from_device(device, queue, info))
    }

    /// Takes a device and queue and watches for device loss through the device-lost
    /// callback, which it replaces. For a device an application keeps using, see
    /// [`Context::borrow`].
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
    ) -> Context {
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *flag.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        Context {
            limits: device.limits(),
            features: device.features(),
            device,
            queue,
            info,
            lost: Some(lost),
        }
    }

    /// A context over an application's device and queue (embedding): throng clones the
    /// handles and leaves the device as it is — its device-lost callback, its uncaptured-error
    /// handler, its features and limits. Device loss then shows as a failed wait or mapping.
    pub fn borrow(device: &wgpu::Device, queue: &wgpu::Queue) -> Context {
        Context {
            limits: device.limits(),
            features: device.features(),
            info: device.adapter_info(),
            device: device.clone(),
            queue: queue.clone(),
            lost: None,
        }
    }

    /// Whether kernels may use 64-bit integers.
    pub fn has_int64(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_INT64)
    }

    pub fn has_f64(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F64)
    }

    /// "name (backend, device type)".
    pub fn adapter_label(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// An error if the device has been lost.
    pub fn check_lost(&self) -> Result<()> {
        match self.lost.as_ref().and_then(|l| l.lock().unwrap().clone()) {
            Some(msg) => Err(Error::DeviceLost(msg)),
            None => Ok(()),
        }
    }

    /// The device as the planner sees it.
    pub fn device_info(&self) -> crate::plan::DeviceInfo {
        crate::plan::DeviceInfo {
            adapter: self.adapter_label(),
            limits: (&self.limits).into(),
            uniform_align: self.limits.min_uniform_buffer_offset_alignment as u64,
            f64: self.has_f64(),
            int64: self.has_int64(),
            storage_per_stage: self.limits.max_storage_buffers_per_shader_stage,
            subgroups: self
                .features
                .contains(wgpu::Features::SUBGROUP)
                .then_some((self.info.subgroup_min_size, self.info.subgroup_max_size)),
            workgroup_invocations: self.limits.max_compute_invocations_per_workgroup,
            workgroup_x: self.limits.max_compute_workgroup_size_x,
            storage_align: self.limits.min_storage_buffer_offset_alignment as u64,
        }
    }

    /// naga capabilities matching the device's features.
    pub fn capabilities(&self) -> naga::valid::Capabilities {
        let mut caps = naga::valid::Capabilities::empty();
        if self.has_int64() {
            caps |= naga::valid::Capabilities::SHADER_INT64;
        }
        if self.has_f64() {
            caps |= naga::valid::Capabilities::FLOAT64;
        }
        if self.features.contains(wgpu::Features::SUBGROUP) {
            caps |= naga::valid::Capabilities::SUBGROUP;
        }
        caps
    }
}
