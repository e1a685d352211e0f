//! The CPU twin as an executor: the plan's buffers live in host memory, and each dispatch of
//! a recording runs the kernel's twin on them, so the oracle sees the same segments, chunks,
//! slots and read-backs as the device.

use std::collections::HashMap;

use bytemuck::Pod;

use super::{combine, integrate, observe, reduce, Real};
use crate::ensemble::Job;
use crate::error::Result;
use crate::exec::Backend;
use crate::kernel::ChunkUniform;
use crate::plan::{Buf, Plan};
use crate::precision::Precision;
use crate::record::Kernel;

/// Host memory standing in for the device's buffers (u64 words, so f64 views are aligned).
pub struct CpuBackend<'a> {
    job: &'a Job,
    plan: &'a Plan,
    mem: HashMap<Buf, Vec<u64>>,
}

impl<'a> CpuBackend<'a> {
    pub fn new(job: &'a Job, plan: &'a Plan) -> CpuBackend<'a> {
        let mem = Buf::ALL
            .iter()
            .map(|&b| {
                (
                    b,
                    vec![0u64; plan.buffer_bytes(b).max(16).div_ceil(8) as usize],
                )
            })
            .collect();
        CpuBackend { job, plan, mem }
    }

    fn take(&mut self, b: Buf) -> Vec<u64> {
        self.mem.remove(&b).expect("every buffer exists")
    }

    /// The fused integration kernel (shaders/fused.wgsl) as the twins of what it fuses:
    /// integrate to each save step in the dispatch's range, reduce into the save's slot,
    /// observe (which the fused kernel's partials and counts equal bit for bit).
    fn fused<T: Real + Pod>(&mut self, u: &ChunkUniform) {
        let (mut s, mut slot, mut a) = (u.save_index as usize, u.save, u.step0);
        let b = u.step0 + u.steps;
        loop {
            let target = self.plan.save_steps.get(s).map_or(u32::MAX, |&t| t as u32);
            let e = target.min(b);
            if e > a {
                let part = ChunkUniform {
                    step0: a,
                    steps: e - a,
                    ..*u
                };
                self.dispatch_in::<T>(Kernel::Integrate, &part);
            }
            a = e;
            if target != e {
                break;
            }
            let at = ChunkUniform {
                save: slot,
                save_index: s as u32,
                ..*u
            };
            self.dispatch_in::<T>(Kernel::Reduce, &at);
            if u.observe != 0 {
                self.dispatch_in::<T>(Kernel::Observe, &at);
            }
            s += 1;
            slot += 1;
        }
    }

    fn dispatch_in<T: Real + Pod>(&mut self, kernel: Kernel, u: &ChunkUniform) {
        let (job, plan) = (self.job, self.plan);
        let mut states = self.take(Buf::States);
        match kernel {
            Kernel::Integrate => {
                let mut events = self.take(Buf::Events);
                integrate::dispatch::<T>(
                    job,
                    plan,
                    u,
                    bytemuck::cast_slice_mut(&mut states),
                    &mut bytemuck::cast_slice_mut::<u64, u32>(&mut events)[..2],
                );
                self.mem.insert(Buf::Events, events);
            }
            Kernel::Reduce => {
                let mut partials = self.take(Buf::Partials);
                reduce::dispatch(plan, u, &states, &mut partials);
                self.mem.insert(Buf::Partials, partials);
            }
            Kernel::Combine => {
                let groups = self.take(Buf::Partials);
                let mut blocks = self.take(Buf::Blocks);
                let args = (plan.rows, plan.slots as usize, plan.blocks as usize);
                let n = u.count as usize;
                match plan.precision {
                    Precision::F32 => combine::dispatch::<u32>(
                        bytemuck::cast_slice(&groups),
                        bytemuck::cast_slice_mut(&mut blocks),
                        args.0,
                        args.1,
                        args.2,
                        n,
                    ),
                    Precision::F64 => combine::dispatch::<f64>(
                        bytemuck::cast_slice(&groups),
                        bytemuck::cast_slice_mut(&mut blocks),
                        args.0,
                        args.1,
                        args.2,
                        n,
                    ),
                }
                self.mem.insert(Buf::Partials, groups);
                self.mem.insert(Buf::Blocks, blocks);
            }
            Kernel::Observe => {
                let mut hist = self.take(Buf::Hist);
                let mut kept = self.take(Buf::Kept);
                observe::dispatch(
                    plan,
                    u,
                    &states,
                    &self.mem[&Buf::Ranges],
                    bytemuck::cast_slice_mut(&mut hist),
                    &mut kept,
                );
                self.mem.insert(Buf::Hist, hist);
                self.mem.insert(Buf::Kept, kept);
            }
        }
        self.mem.insert(Buf::States, states);
    }
}

impl Backend for CpuBackend<'_> {
    type Ticket = ();

    fn write(&mut self, buf: Buf, data: &[u8]) -> Result<()> {
        let mem = self.mem.get_mut(&buf).expect("every buffer exists");
        bytemuck::cast_slice_mut::<u64, u8>(mem)[..data.len()].copy_from_slice(data);
        Ok(())
    }

    fn dispatch(&mut self, kernel: Kernel, slot: u32, _workgroups: u32) -> Result<()> {
        let at = (slot as u64 * self.plan.uniform_align) as usize;
        let raw = bytemuck::cast_slice::<u64, u8>(&self.mem[&Buf::Uniform]);
        let u: ChunkUniform =
            bytemuck::pod_read_unaligned(&raw[at..][..std::mem::size_of::<ChunkUniform>()]);
        let fused = self.plan.fused && kernel == Kernel::Integrate;
        match (self.plan.precision, fused) {
            (Precision::F32, false) => self.dispatch_in::<f32>(kernel, &u),
            (Precision::F64, false) => self.dispatch_in::<f64>(kernel, &u),
            (Precision::F32, true) => self.fused::<f32>(&u),
            (Precision::F64, true) => self.fused::<f64>(&u),
        }
        Ok(())
    }

    fn copy(&mut self, from: Buf, to: Buf, bytes: u64) -> Result<()> {
        let src = bytemuck::cast_slice::<u64, u8>(&self.mem[&from])[..bytes as usize].to_vec();
        self.write(to, &src)
    }

    fn submit(&mut self) -> Result<()> {
        Ok(())
    }

    fn read(&mut self, buf: Buf, bytes: u64, _after: ()) -> Result<Vec<u8>> {
        Ok(bytemuck::cast_slice::<u64, u8>(&self.mem[&buf])[..bytes as usize].to_vec())
    }
}
