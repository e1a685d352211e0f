//! `throng info`: the adapter throng picks (or every adapter), its limits and features.

use throng::{Context, Error};

use super::AdapterArgs;

pub fn info(all: bool, adapter: AdapterArgs) -> Result<(), Error> {
    if all {
        return list(&adapter);
    }
    let ctx = Context::new(&adapter.choice())?;
    let l = &ctx.limits;
    let i = &ctx.info;
    println!("adapter: {}", i.name);
    println!("backend: {:?}", i.backend);
    println!(
        "device type: {:?}{}",
        i.device_type,
        if i.device_type == wgpu::DeviceType::Cpu {
            " (a CPU: software Vulkan, not a GPU)"
        } else {
            ""
        }
    );
    println!("driver: {} {}", i.driver, i.driver_info);
    println!(
        "max storage buffer binding: {} bytes",
        l.max_storage_buffer_binding_size
    );
    println!("max buffer size: {} bytes", l.max_buffer_size);
    println!(
        "max workgroups per dimension: {}",
        l.max_compute_workgroups_per_dimension
    );
    println!(
        "max invocations per workgroup: {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "f64 (SHADER_F64): {}",
        if ctx.has_f64() { "yes" } else { "no" }
    );
    println!(
        "64-bit integers (SHADER_INT64): {}",
        if ctx.has_int64() { "yes" } else { "no" }
    );
    let plan1 = throng::schedule::plan(u32::MAX as u64 - 255, 1, l.into(), None)?;
    let plan3 = throng::schedule::plan(u32::MAX as u64 - 255, 3, l.into(), None)?;
    println!(
        "trajectories per chunk: {} (dimension 1), {} (dimension 3)",
        plan1.capacity, plan3.capacity
    );
    Ok(())
}

/// `--all`: one line per adapter.
fn list(adapter: &AdapterArgs) -> Result<(), Error> {
    let list = throng::context::adapters(&adapter.choice())?;
    if list.is_empty() {
        return Err(Error::NoAdapter {
            detail: String::new(),
        });
    }
    for a in list {
        println!(
            "{} ({:?}, {:?}, driver {} {})",
            a.name, a.backend, a.device_type, a.driver, a.driver_info
        );
    }
    Ok(())
}
