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
    /// Block partials from the group partials of a batch's save times (`Plan::combine`).
    Combine,
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
    /// Fused observers: upload the save steps (once, before the first chunk).
    UploadSaveSteps,
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
    /// Host step after a chunk's reads: a checkpoint of the completed chunks, if one is due
    /// (`exec::Resume::checkpoint`).
    Checkpoint(Chunk),
    /// Read the chunk's states back (kept states).
    ReadStates(Chunk),
    /// Read histogram counters and kept paths (at the end: integer counts do not depend on
    /// the order chunks arrive in).
    ReadObservers,
    /// Zero a derived system's device counters (after any pilot, before the run's chunks).
    ResetTally,
    /// Upload the system's tables (first of all).
    UploadData,
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
        if plan.data > 0 {
            commands.push(Command::UploadData);
        }
        if plan.fused {
            commands.push(Command::UploadSaveSteps);
        }
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
    let integrate_groups = plan
        .invocations(chunk.count)
        .div_ceil(plan.target.workgroup() as u64) as u32;
    if plan.fused {
        let observe = (!pilot && plan.observers.active()) as u32;
        let dispatches = plan.fused_dispatches();
        let uniforms: Vec<ChunkUniform> = dispatches
            .iter()
            .map(|d| ChunkUniform {
                observe,
                ..uniform(plan, chunk, d.step0, d.steps, d.save_index)
            })
            .collect();
        for (k, d) in dispatches.iter().enumerate() {
            let slot = upload(&uniforms, k, out);
            out.push(Command::Dispatch {
                kernel: Kernel::Integrate,
                slot,
                workgroups: integrate_groups,
            });
            if let Some((saves, last)) = d.read {
                combine(plan, chunk, slot, out);
                out.push(Command::ReadPartials {
                    parity,
                    saves,
                    last,
                });
            }
        }
        end_chunk(plan, chunk, pilot, out);
        return;
    }
    let segments = plan.segments();
    let chunk_groups = chunk.count.div_ceil(GROUP as u64);
    let observing = !pilot && plan.observers.active();
    let nsaves = plan.nsaves();
    let mut in_batch = 0u64;
    let uniforms: Vec<ChunkUniform> = segments
        .iter()
        .map(|s| uniform(plan, chunk, s.step0, s.steps, s.save_index))
        .collect();
    for (k, seg) in segments.iter().enumerate() {
        let slot = upload(&uniforms, k, out);
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
            combine(plan, chunk, slot, out);
            out.push(Command::ReadPartials {
                parity,
                saves: in_batch as usize,
                last,
            });
            in_batch = 0;
        }
    }
    end_chunk(plan, chunk, pilot, out);
}

/// The uniform of a dispatch over `chunk`'s steps `step0 .. step0 + steps`, from save time
/// `save_index` (batches hold `slots` save times, each in its slot).
fn uniform(plan: &Plan, chunk: Chunk, step0: u64, steps: u64, save_index: usize) -> ChunkUniform {
    ChunkUniform {
        first: chunk.first as u32,
        count: chunk.count as u32,
        stride: plan.stride as u32,
        step0: step0 as u32,
        steps: steps as u32,
        save: (save_index as u64 % plan.slots) as u32,
        blocks: plan.blocks as u32,
        save_index: save_index as u32,
        ..Default::default()
    }
}

/// The uniform slot of dispatch `k`; before every `UNIFORM_SLOTS`-th, the upload of the
/// next ones.
fn upload(uniforms: &[ChunkUniform], k: usize, out: &mut Vec<Command>) -> u32 {
    let slot = (k as u64 % UNIFORM_SLOTS) as u32;
    if slot == 0 {
        let next = uniforms[k..].iter().take(UNIFORM_SLOTS as usize);
        out.push(Command::Uniforms(next.copied().collect()));
    }
    slot
}

/// Where the plan combines partials: one dispatch over every slot of the partials buffer
/// (slots past a short last batch are combined too, and not read), with the uniform of the
/// dispatch before it (`slot`), which names the chunk.
fn combine(plan: &Plan, chunk: Chunk, slot: u32, out: &mut Vec<Command>) {
    if plan.combine {
        out.push(Command::Dispatch {
            kernel: Kernel::Combine,
            slot,
            workgroups: (plan.slots * chunk.count.div_ceil(BLOCK as u64)).div_ceil(64) as u32,
        });
    }
}

fn end_chunk(plan: &Plan, chunk: Chunk, pilot: bool, out: &mut Vec<Command>) {
    out.push(Command::EndChunk);
    if !pilot {
        if plan.adaptive {
            out.push(Command::ReadEvents);
        }
        if plan.keep_states {
            out.push(Command::ReadStates(chunk));
        }
        out.push(Command::Checkpoint(chunk));
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
    let obs = &plan.observers;
    let fused = plan.fused.then(|| kernel::Fused {
        rows: plan.rows,
        hists: obs.specs.clone(),
        hist_words: obs.words,
        keep: sa.keep_paths,
        keep_every: sa.keep_every,
        points: obs.replicas.map(|r| (r, obs.points)),
        every: kernel::Fused::regular(&plan.save_steps),
    });
    let mut out = vec![
        (
            Kernel::Integrate,
            kernel::integrate_fused(job, t, fused.as_ref())?,
        ),
        (
            Kernel::Reduce,
            kernel::reduce(plan.rows, t.lanes, plan.precision, plan.replicas)?,
        ),
    ];
    if plan.combine {
        out.push((
            Kernel::Combine,
            kernel::combine(plan.rows, plan.precision, plan.slots)?,
        ));
    }
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
        opts.fuse = Some(false);
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

    #[test]
    fn fused_observers_take_one_dispatch_per_batch_cut_at_the_dispatch_bound() {
        let mut opts = saving(5);
        opts.chunk = Some(512);
        opts.readback_bytes = Some(2 * 16 * 8 * 4); // two save times of 16 groups
        opts.dispatch_steps = Some(7);
        let p = Plan::new(&gbm(1200, 20), &opts, &DeviceInfo::cpu()).unwrap();
        assert!(p.fused);
        assert_eq!(p.slots, 2);
        type Cut = (u64, u64, usize, Option<(usize, bool)>);
        let cuts: Vec<Cut> = p
            .fused_dispatches()
            .iter()
            .map(|d| (d.step0, d.steps, d.save_index, d.read))
            .collect();
        // Saves at 5, 10, 15, 20; batches {5, 10} and {15, 20}; at most 7 steps each.
        assert_eq!(
            cuts,
            [
                (0, 5, 0, None),
                (5, 5, 1, Some((2, false))),
                (10, 5, 2, None),
                (15, 5, 3, Some((2, true))),
            ]
        );
        let rec = Recording::new(&p);
        let chunks = p.chunks.len();
        let dispatches = |k: Kernel| {
            rec.count(|c| matches!(c, Command::Dispatch { kernel, .. } if *kernel == k))
        };
        assert_eq!(dispatches(Kernel::Integrate), chunks * 4);
        assert_eq!(dispatches(Kernel::Reduce), 0);
        assert_eq!(rec.count(|c| *c == Command::UploadSaveSteps), 1);
        assert_eq!(
            rec.count(|c| matches!(c, Command::ReadPartials { saves: 2, .. })),
            chunks * 2
        );
        // Refused plainly where the run cannot be fused.
        let adaptive = crate::Ensemble::new(crate::System::builtin("lorenz").unwrap(), 100)
            .job(
                crate::Method::Dopri5(crate::method::Controller::default()),
                crate::TimeGrid::new(0.0, 0.05, 20),
            )
            .unwrap();
        let forced = crate::plan::Options {
            fuse: Some(true),
            ..saving(5)
        };
        let e = Plan::new(&adaptive, &forced, &DeviceInfo::cpu())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("dopri5 is adaptive"), "{e}");
    }
}
