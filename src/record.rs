//! The second stage: a run as a plain list of commands over the plan's buffers (uploads,
//! dispatches, copies for read-back, host steps), in the order they take effect. Nothing here
//! talks to a device: [`crate::exec`] walks the list with a backend — the device's, or the CPU
//! twin's, which runs the same segments, chunks and slots as the device.

use crate::kernel::ChunkUniform;
use crate::plan::{Plan, UNIFORM_SLOTS};
use crate::reduce::{BLOCK, GROUP};
use crate::schedule::Chunk;

/// The kernels of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Advances a chunk's trajectories through a segment of steps.
    Integrate,
    /// Block partials of the chunk's rows at a save time.
    Reduce,
    /// Histogram counts and kept paths at a save time.
    Observe,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// A chunk starts (`pilot`: a chunk of the quantile pilot, whose statistics only set
    /// ranges).
    BeginChunk {
        index: usize,
        chunk: Chunk,
        pilot: bool,
    },
    /// Host step: fill the per-trajectory input tables of `chunk` and upload them.
    UploadTables(Chunk),
    /// Zero the adaptive counters (no unfinished trajectory, lowest index all ones).
    ResetEvents,
    /// Write these uniforms into slots 0.. of the uniform buffer, after the work before.
    Uniforms(Vec<ChunkUniform>),
    /// Run `kernel` over `workgroups` workgroups with the uniform in `slot`.
    Dispatch {
        kernel: Kernel,
        slot: u32,
        workgroups: u32,
    },
    /// Copy the partials of `saves` save times (slots 0..saves) into read buffer `parity`
    /// and read them; `last`: the chunk's last batch, which may be read after the next
    /// chunk has been submitted.
    ReadPartials {
        parity: u8,
        saves: usize,
        last: bool,
    },
    /// The chunk is complete: merge its partials into the totals in block order (a pilot
    /// chunk's into the pilot's).
    EndChunk,
    /// Host step: set histogram ranges (the user's, and the quantiles' from the pilot) and
    /// upload them.
    UploadRanges,
    /// Read the adaptive counters of the chunk just completed.
    ReadEvents,
    /// Read the chunk's states back (kept states).
    ReadStates(Chunk),
    /// Read histogram counters and kept paths (at the end: integer counts do not depend on
    /// the order chunks arrive in).
    ReadObservers,
    /// Zero a derived system's device counters (after any pilot, before the run's chunks).
    ResetTally,
    /// Read them (at the end, like the observers' counters).
    ReadTally,
}

/// A run, recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub commands: Vec<Command>,
}

impl Recording {
    /// Records the run a plan describes.
    pub fn new(plan: &Plan) -> Recording {
        let mut commands = Vec::new();
        let mut index = 0;
        if let Some(pilot) = plan.pilot {
            // The pilot's chunks cover the first trajectories whatever the chunking, so the
            // ranges (and the histograms) do not depend on it.
            let mut first = 0;
            while first < pilot {
                let chunk = Chunk {
                    first,
                    count: (pilot - first).min(plan.capacity),
                };
                chunk_commands(plan, index, chunk, true, &mut commands);
                index += 1;
                first += chunk.count;
            }
        }
        if plan.observers.active() {
            commands.push(Command::UploadRanges);
        }
        if plan.tally > 0 {
            commands.push(Command::ResetTally);
        }
        for &chunk in &plan.chunks {
            chunk_commands(plan, index, chunk, false, &mut commands);
            index += 1;
        }
        if plan.observers.active() {
            commands.push(Command::ReadObservers);
        }
        if plan.tally > 0 {
            commands.push(Command::ReadTally);
        }
        Recording { commands }
    }

    /// How many commands of each kind (for tests and debugging).
    pub fn count(&self, f: impl Fn(&Command) -> bool) -> usize {
        self.commands.iter().filter(|c| f(c)).count()
    }
}

/// One chunk through every segment: integrate, and at each save time reduce (and observe);
/// the partials of a batch of save times are read together.
fn chunk_commands(plan: &Plan, index: usize, chunk: Chunk, pilot: bool, out: &mut Vec<Command>) {
    out.push(Command::BeginChunk {
        index,
        chunk,
        pilot,
    });
    if plan.tables > 0 {
        out.push(Command::UploadTables(chunk));
    }
    if plan.adaptive {
        out.push(Command::ResetEvents);
    }
    let parity = if pilot { 0 } else { (index % 2) as u8 };
    let segments = plan.segments();
    let integrate_groups = plan
        .invocations(chunk.count)
        .div_ceil(plan.target.workgroup() as u64) as u32;
    let chunk_groups = chunk.count.div_ceil(GROUP as u64);
    let observing = !pilot && plan.observers.active();
    let nsaves = plan.nsaves();
    let mut in_batch = 0u64;
    for (k, seg) in segments.iter().enumerate() {
        let slot = (k as u64 % UNIFORM_SLOTS) as u32;
        if slot == 0 {
            let uniforms = segments[k..]
                .iter()
                .take(UNIFORM_SLOTS as usize)
                .map(|s| ChunkUniform {
                    first: chunk.first as u32,
                    count: chunk.count as u32,
                    stride: plan.stride as u32,
                    step0: s.step0 as u32,
                    steps: s.steps as u32,
                    // Batches hold `slots` save times, each in its slot.
                    save: (s.save_index as u64 % plan.slots) as u32,
                    blocks: plan.blocks as u32,
                    save_index: s.save_index as u32,
                })
                .collect();
            out.push(Command::Uniforms(uniforms));
        }
        out.push(Command::Dispatch {
            kernel: Kernel::Integrate,
            slot,
            workgroups: integrate_groups,
        });
        if !seg.ends_segment {
            continue;
        }
        out.push(Command::Dispatch {
            kernel: Kernel::Reduce,
            slot,
            workgroups: (chunk_groups * plan.segs).div_ceil(64) as u32,
        });
        if observing {
            out.push(Command::Dispatch {
                kernel: Kernel::Observe,
                slot,
                workgroups: chunk.count.div_ceil(BLOCK as u64) as u32,
            });
        }
        in_batch += 1;
        let last = seg.save_index + 1 == nsaves;
        if in_batch == plan.slots || last {
            out.push(Command::ReadPartials {
                parity,
                saves: in_batch as usize,
                last,
            });
            in_batch = 0;
        }
    }
    out.push(Command::EndChunk);
    if !pilot {
        if plan.adaptive {
            out.push(Command::ReadEvents);
        }
        if plan.keep_states {
            out.push(Command::ReadStates(chunk));
        }
    }
}

/// The kernels a plan dispatches, composed and checked (observe only when it observes).
pub fn kernels(
    job: &crate::ensemble::Job,
    plan: &Plan,
    sa: &crate::observe::SaveAt,
) -> crate::error::Result<Vec<(Kernel, crate::shader::Composed)>> {
    use crate::kernel;
    let t = plan.target;
    let mut out = vec![
        (Kernel::Integrate, kernel::integrate(job, t)?),
        (
            Kernel::Reduce,
            kernel::reduce(plan.rows, t.lanes, plan.precision, plan.replicas)?,
        ),
    ];
    let obs = &plan.observers;
    if obs.active() {
        let observe = kernel::observe(
            plan.dim,
            t.lanes,
            plan.precision,
            &obs.specs,
            obs.words,
            sa.keep_paths,
            sa.keep_every,
            obs.replicas.map(|r| (r, obs.points)),
        )?;
        out.push((Kernel::Observe, observe));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{gbm, saving};
    use crate::plan::DeviceInfo;

    #[test]
    fn the_recording_reads_each_batch_once_and_merges_each_chunk_once() {
        let mut opts = saving(5);
        opts.chunk = Some(512);
        let p = Plan::new(&gbm(1200, 20), &opts, &DeviceInfo::cpu()).unwrap();
        let rec = Recording::new(&p);
        let chunks = p.chunks.len();
        assert_eq!(chunks, 3);
        let dispatches = |k: Kernel| {
            rec.count(|c| matches!(c, Command::Dispatch { kernel, .. } if *kernel == k))
        };
        assert_eq!(dispatches(Kernel::Integrate), chunks * 4);
        assert_eq!(dispatches(Kernel::Reduce), chunks * 4);
        assert_eq!(dispatches(Kernel::Observe), 0);
        assert_eq!(rec.count(|c| *c == Command::EndChunk), chunks);
        // All four save times fit one batch: one read per chunk, the last one deferred.
        assert_eq!(
            rec.count(|c| matches!(
                c,
                Command::ReadPartials {
                    saves: 4,
                    last: true,
                    ..
                }
            )),
            chunks
        );
        // The uniforms name the partial slot of each save time and the chunk's trajectories.
        let Some(Command::Uniforms(us)) = rec
            .commands
            .iter()
            .find(|c| matches!(c, Command::Uniforms(_)))
        else {
            panic!("no uniforms");
        };
        let saves: Vec<u32> = us.iter().map(|u| u.save).collect();
        assert_eq!(saves, [0, 1, 2, 3]);
        assert!(us.iter().all(|u| u.first == 0 && u.count == 512));
    }
}
