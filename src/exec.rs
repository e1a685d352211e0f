//! The third stage: one interpreter of a [`Recording`] over a [`Backend`]. The device's
//! backend ([`crate::gpu`]) and the CPU twin's ([`crate::cpu::exec`]) implement the same few
//! operations, so both run the same segments, chunks, slots, read-backs and merges; what the
//! host does between them (input tables, ranges, merging partials in block order, progress,
//! cancellation) lives here once.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::observe::quantile_range;
use crate::plan::{Buf, Options, Plan, ProgressInfo};
use crate::precision::Precision;
use crate::record::{Command, Kernel, Recording};
use crate::reduce::{for_each_block32, for_each_block64, MergeTree, Partial, PointStats};
use crate::reduce::{partial_words, BLOCK, GROUP};
use crate::schedule::Chunk;

/// What an executor does with the buffers of a [`Plan`].
pub trait Backend {
    /// Identifies a submission to wait for.
    type Ticket;
    /// Writes host data at the start of `buf`, ordered after every command before it.
    fn write(&mut self, buf: Buf, data: &[u8]) -> Result<()>;
    /// Runs `kernel` on `workgroups` workgroups with the uniform in `slot`.
    fn dispatch(&mut self, kernel: Kernel, slot: u32, workgroups: u32) -> Result<()>;
    fn copy(&mut self, from: Buf, to: Buf, bytes: u64) -> Result<()>;
    /// Sends the commands so far to run.
    fn submit(&mut self) -> Result<Self::Ticket>;
    /// Waits for submission `after` (not for later ones) and reads `bytes` of `buf`.
    fn read(&mut self, buf: Buf, bytes: u64, after: Self::Ticket) -> Result<Vec<u8>>;
}

/// The raw results of a run, before assembly into a [`crate::Solution`]: also what a shard
/// or a checkpoint keeps, since outcomes of contiguous pieces of a run merge
/// ([`Outcome::join`]) into the whole run's bit for bit.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Statistics of every row at every save time, the last being the end, as the nodes of
    /// their merge trees (`MergeTree::total` gives them).
    pub saved: Vec<MergeTree>,
    /// Histogram ranges per save time and histogram (the user's, then the quantiles').
    pub ranges: Vec<(f64, f64)>,
    /// Histogram counters per save time.
    pub hist: Vec<u64>,
    /// Kept paths per save time.
    pub kept: Vec<f64>,
    /// Every terminal row if kept, component-major.
    pub states: Option<Vec<f64>>,
    /// A derived system's device counters (`System::tally`).
    pub tally: Vec<u64>,
    /// Statistics per point at every save time (runs with replicas; else empty).
    pub points: Vec<PointStats>,
    pub unfinished: u64,
    pub first_unfinished: Option<u64>,
    /// Trajectories of the completed chunks.
    pub completed: u64,
    /// Cancelled before the end.
    pub partial: bool,
    /// The trajectories the completed chunks cover, `first..end`.
    pub range: (u64, u64),
    /// Cancelled inside a chunk that had begun: its observers may have counted some of its
    /// save times into the histograms and kept paths, so the outcome is no checkpoint.
    pub torn: bool,
}

impl Outcome {
    /// Adds the results of the piece of the run that follows this one (a later shard, or the
    /// rest after a checkpoint): statistics continue their merge trees and per-point folds,
    /// counters add, kept paths and states are taken from the piece that ran them.
    pub fn join(&mut self, next: &Outcome, plan: &Plan) -> Result<()> {
        if next.ranges != self.ranges {
            return Err(crate::error::Error::Input {
                what: "shards".into(),
                message: "the pieces' histogram ranges differ (their quantile pilots ran on \
                          different adapters)"
                    .into(),
            });
        }
        for (a, b) in self.saved.iter_mut().zip(&next.saved) {
            a.append(b);
        }
        for (a, b) in self.points.iter_mut().zip(&next.points) {
            a.join(b);
        }
        for (a, b) in self.hist.iter_mut().zip(&next.hist) {
            *a += b;
        }
        for (a, b) in self.tally.iter_mut().zip(&next.tally) {
            *a += b;
        }
        take_kept(&mut self.kept, &next.kept, next.range, plan);
        if let (Some(all), Some(part)) = (&mut self.states, &next.states) {
            let n = plan.paths as usize;
            let (a, b) = (next.range.0 as usize, next.range.1 as usize);
            for c in 0..plan.rows {
                all[c * n + a..c * n + b].copy_from_slice(&part[c * n + a..c * n + b]);
            }
        }
        self.unfinished += next.unfinished;
        self.first_unfinished = self.first_unfinished.or(next.first_unfinished);
        self.completed += next.completed;
        self.partial |= next.partial;
        self.range.1 = next.range.1;
        Ok(())
    }
}

/// Copies the kept paths of trajectories in `range` from `from` into `to`.
fn take_kept(to: &mut [f64], from: &[f64], range: (u64, u64), plan: &Plan) {
    let obs = &plan.observers;
    let (keep, dim) = (obs.keep as usize, plan.dim);
    if keep == 0 {
        return;
    }
    for (t, f) in to.chunks_mut(keep * dim).zip(from.chunks(keep * dim)) {
        for k in 0..keep {
            let g = k as u64 * obs.keep_every;
            if (range.0..range.1).contains(&g) {
                t[k * dim..(k + 1) * dim].copy_from_slice(&f[k * dim..(k + 1) * dim]);
            }
        }
    }
}

/// What a run continues from, and where it reports its progress for a checkpoint.
#[derive(Default)]
pub struct Resume<'a> {
    /// A checkpoint's outcome: the run continues after it (with `Options::start` at its
    /// end).
    pub prior: Option<Outcome>,
    /// Called at the end of a chunk (not the last), at most once every `.0` seconds, with the
    /// outcome of every completed chunk (histograms and kept paths read from the device
    /// then).
    pub checkpoint: Option<(f64, CheckpointSink<'a>)>,
}

/// Takes the outcome so far at a checkpoint (writes it somewhere, say).
pub type CheckpointSink<'a> = Box<dyn FnMut(&Outcome) -> Result<()> + 'a>;

/// Reals in the run's precision, as bytes.
pub fn real_bytes(values: &[f64], precision: Precision) -> Vec<u8> {
    match precision {
        Precision::F32 => {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            bytemuck::cast_slice(&v).to_vec()
        }
        Precision::F64 => bytemuck::cast_slice(values).to_vec(),
    }
}

/// Reals read back in the run's precision, widened to f64.
pub fn reals(raw: &[u8], precision: Precision) -> Vec<f64> {
    match precision {
        Precision::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(raw)
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        Precision::F64 => bytemuck::pod_collect_to_vec(raw),
    }
}

/// A chunk's partials: batches read but not merged yet, and the last batch, copied but
/// maybe not read yet.
struct Parts<T> {
    chunk: Chunk,
    pilot: bool,
    /// Batches read and not merged yet (per-point runs), with their save times.
    read: Vec<(Vec<u8>, usize)>,
    /// (read buffer parity, bytes, save times in it, the submission that copied it)
    tail: Option<(u8, u64, usize, T)>,
    /// Save times whose partials are already merged (batches merged as they arrive).
    absorbed: usize,
    /// The totals before this chunk's first merged batch, restored if it is cancelled.
    rollback: Option<Vec<MergeTree>>,
    /// Whether an integration dispatch of it has run (its observers may have counted).
    dispatched: bool,
}

/// Bytes of one save time's partials of `chunk`.
fn chunk_bytes(plan: &Plan, chunk: &Chunk) -> usize {
    let per = if plan.combine { BLOCK } else { GROUP };
    let groups = chunk.count.div_ceil(per as u64);
    (groups * plan.segs * partial_words(plan.rows) as u64 * plan.real_bytes) as usize
}

/// Runs a recording on a backend.
pub fn execute<B: Backend>(
    job: &Job,
    plan: &Plan,
    rec: &Recording,
    opts: &Options,
    backend: &mut B,
) -> Result<Outcome> {
    execute_with(job, plan, rec, opts, backend, Resume::default())
}

/// Runs a recording on a backend after a checkpoint's outcome, reporting checkpoints. A
/// failure of the backend is reported as [`Error::ChunkFailed`], naming the chunk.
pub fn execute_with<B: Backend>(
    job: &Job,
    plan: &Plan,
    rec: &Recording,
    opts: &Options,
    backend: &mut B,
    resume: Resume,
) -> Result<Outcome> {
    let mut at = None;
    let before = resume.prior.as_ref().map_or(0, |p| p.completed);
    run(job, plan, rec, opts, backend, resume, &mut at).map_err(|e| {
        let completed = before
            + at.map_or(
                0,
                |(c, pilot): (Chunk, bool)| {
                    if pilot {
                        0
                    } else {
                        c.first - plan.range.0
                    }
                },
            );
        let chunk = match at {
            None => "the run's setup".to_string(),
            Some((_, true)) => "the quantile pilot".to_string(),
            Some((c, false)) => {
                let k = plan.chunks.iter().position(|x| *x == c).unwrap_or(0);
                format!(
                    "chunk {} of {} (trajectories {}..{})",
                    k + 1,
                    plan.chunks.len(),
                    c.first,
                    c.first + c.count
                )
            }
        };
        match e {
            // The run's own input and the checkpoint's file are not the device's.
            Error::Input { .. } | Error::Io { .. } => e,
            e => Error::ChunkFailed {
                chunk,
                completed,
                source: Box::new(e),
            },
        }
    })
}

fn run<B: Backend>(
    job: &Job,
    plan: &Plan,
    rec: &Recording,
    opts: &Options,
    backend: &mut B,
    mut resume: Resume,
    at: &mut Option<(Chunk, bool)>,
) -> Result<Outcome> {
    let start = Instant::now();
    let mut last_checkpoint = Instant::now();
    let nsaves = plan.nsaves();
    let obs = &plan.observers;
    let sa = &opts.save_at;
    let mut out = Outcome {
        saved: vec![MergeTree::new(plan.rows); nsaves],
        ranges: user_ranges(plan, sa),
        hist: vec![0; nsaves * obs.save_words() as usize],
        kept: vec![0.0; nsaves * (obs.keep as usize) * plan.dim],
        states: plan
            .keep_states
            .then(|| vec![0.0; plan.paths as usize * plan.rows]),
        tally: Vec::new(),
        points: match plan.replicas {
            Some(r) => vec![PointStats::empty(plan.paths / r, plan.rows); nsaves],
            None => Vec::new(),
        },
        unfinished: 0,
        first_unfinished: None,
        completed: 0,
        partial: false,
        range: (plan.range.0, plan.range.0),
        torn: false,
    };
    let prior = resume.prior.take();
    if let Some(p) = &prior {
        if p.range.1 != plan.range.0 {
            return Err(Error::Input {
                what: "resume".into(),
                message: format!(
                    "the checkpoint ends at trajectory {}, but the run starts at {}",
                    p.range.1, plan.range.0
                ),
            });
        }
        out.saved = p.saved.clone();
        out.points = p.points.clone();
        out.unfinished = p.unfinished;
        out.first_unfinished = p.first_unfinished;
        out.completed = p.completed;
        out.range.0 = p.range.0;
    }
    let last_chunk = plan.chunks.last().copied();
    let mut pilot = vec![MergeTree::new(plan.rows); nsaves];
    let mut current: Option<Parts<B::Ticket>> = None;
    let mut previous: Option<Parts<B::Ticket>> = None;
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    };
    for cmd in &rec.commands {
        if out.partial && !matches!(cmd, Command::ReadObservers | Command::ReadTally) {
            continue;
        }
        match cmd {
            Command::BeginChunk { chunk, pilot, .. } => {
                *at = Some((*chunk, *pilot));
                if let Some(k) = opts.fault_at_chunk {
                    if !*pilot && plan.chunks.get(k.wrapping_sub(1)) == Some(chunk) {
                        return Err(Error::DeviceLost(format!("fault injected at chunk {k}")));
                    }
                }
                current = Some(Parts {
                    chunk: *chunk,
                    pilot: *pilot,
                    read: Vec::new(),
                    tail: None,
                    absorbed: 0,
                    rollback: None,
                    dispatched: false,
                });
            }
            Command::UploadTables(chunk) => {
                let table = job.table_rows(chunk.first, chunk.count, plan.capacity);
                backend.write(Buf::Inputs, &real_bytes(&table, plan.precision))?;
            }
            Command::UploadData => {
                let values = job.system.table_values();
                backend.write(Buf::Data, &real_bytes(&values, plan.precision))?;
            }
            Command::ResetTally => {
                let zero = vec![0u8; plan.buffer_bytes(Buf::Tally) as usize];
                backend.write(Buf::Tally, &zero)?;
            }
            Command::ReadTally => out.tally = read_tally(plan, backend)?,
            Command::ResetEvents => {
                backend.write(Buf::Events, bytemuck::cast_slice(&[0u32, u32::MAX]))?;
            }
            Command::UploadSaveSteps => {
                let steps: Vec<u32> = plan
                    .save_steps
                    .iter()
                    .map(|&s| s as u32)
                    .chain([u32::MAX])
                    .collect();
                backend.write(Buf::SaveSteps, bytemuck::cast_slice(&steps))?;
            }
            Command::Uniforms(us) => {
                let align = plan.uniform_align as usize;
                let mut bytes = vec![0u8; us.len() * align];
                for (k, u) in us.iter().enumerate() {
                    let b = bytemuck::bytes_of(u);
                    bytes[k * align..][..b.len()].copy_from_slice(b);
                }
                backend.write(Buf::Uniform, &bytes)?;
            }
            Command::Dispatch {
                kernel,
                slot,
                workgroups,
            } => {
                // Cancellation is checked before each segment of integration.
                if *kernel == Kernel::Integrate && cancelled() {
                    // The chunk in progress is dropped (and its batches already merged taken
                    // out again); the completed ones stand.
                    if let Some(p) = current.take() {
                        out.torn = p.dispatched && !p.pilot;
                        if let Some(saved) = p.rollback {
                            out.saved = saved;
                        }
                    }
                    out.partial = true;
                    continue;
                }
                if let Some(p) = current.as_mut() {
                    p.dispatched |= *kernel == Kernel::Integrate;
                }
                backend.dispatch(*kernel, *slot, *workgroups)?;
            }
            Command::ReadPartials {
                parity,
                saves,
                last,
            } => {
                let parts = current.as_mut().expect("a chunk is open");
                let used = *saves as u64 * plan.read_slot_bytes();
                backend.copy(plan.read_source(), Buf::PartialsRead(*parity), used)?;
                let ticket = backend.submit()?;
                if *last {
                    parts.tail = Some((*parity, used, *saves, ticket));
                } else if plan.replicas.is_none() {
                    // Merged now, so the host holds one batch at a time. Blocks merge in
                    // order: the previous chunk's tail first.
                    let raw = backend.read(Buf::PartialsRead(*parity), used, ticket)?;
                    if !parts.pilot {
                        if let Some(p) = previous.take() {
                            finish(plan, backend, p, &mut out.saved, &mut out.points)?;
                        }
                        if parts.rollback.is_none() {
                            parts.rollback = Some(out.saved.clone());
                        }
                    }
                    let totals = if parts.pilot {
                        &mut pilot
                    } else {
                        &mut out.saved
                    };
                    merge_batch(plan, parts, &raw, *saves, totals, &mut []);
                } else {
                    // Per-point statistics are merged when the chunk is complete (a cancelled
                    // chunk is then simply dropped).
                    let raw = backend.read(Buf::PartialsRead(*parity), used, ticket)?;
                    parts.read.push((raw, *saves));
                }
            }
            Command::EndChunk => {
                let parts = current.take().expect("a chunk is open");
                if parts.pilot {
                    finish(plan, backend, parts, &mut pilot, &mut [])?;
                    continue;
                }
                // The previous chunk is read and merged only now, after this one has been
                // submitted: the device computes while the host reads.
                if let Some(p) = previous.take() {
                    finish(plan, backend, p, &mut out.saved, &mut out.points)?;
                }
                // Every chunk before this one is read back: done on the device.
                let k = plan.chunks.iter().position(|c| *c == parts.chunk);
                report(job, plan, opts, &out, prior.as_ref(), start, k.unwrap_or(0));
                out.completed += parts.chunk.count;
                out.range.1 = parts.chunk.first + parts.chunk.count;
                previous = Some(parts);
            }
            Command::Checkpoint(chunk) => {
                let Some((every, sink)) = resume.checkpoint.as_mut() else {
                    continue;
                };
                if Some(*chunk) == last_chunk || last_checkpoint.elapsed().as_secs_f64() < *every {
                    continue;
                }
                // Everything through this chunk merged, and the device's counters read now,
                // before the next chunk adds to them.
                if let Some(p) = previous.take() {
                    finish(plan, backend, p, &mut out.saved, &mut out.points)?;
                }
                let mut snap = out.clone();
                read_observers(plan, backend, &mut snap)?;
                if plan.tally > 0 {
                    snap.tally = read_tally(plan, backend)?;
                }
                add_prior(&mut snap, prior.as_ref(), plan);
                sink(&snap)?;
                last_checkpoint = Instant::now();
            }
            Command::UploadRanges => {
                if plan.pilot.is_some() {
                    for (s, st) in pilot.iter().map(MergeTree::total).enumerate() {
                        for c in 0..plan.rows {
                            out.ranges[s * obs.specs.len() + obs.quantile_first + c] =
                                quantile_range(st.min[c], st.max[c]);
                        }
                    }
                }
                let nh = obs.specs.len().max(1);
                let packed: Vec<f64> = out
                    .ranges
                    .iter()
                    .enumerate()
                    .flat_map(|(k, &(lo, hi))| {
                        let bins = obs.specs[k % nh].1 as f64;
                        [lo, bins / (hi - lo)]
                    })
                    .collect();
                backend.write(Buf::Ranges, &real_bytes(&packed, plan.precision))?;
            }
            Command::ReadEvents => {
                backend.copy(Buf::Events, Buf::EventsRead, 8)?;
                let ticket = backend.submit()?;
                let raw = backend.read(Buf::EventsRead, 8, ticket)?;
                let ev: Vec<u32> = bytemuck::pod_collect_to_vec(&raw);
                out.unfinished += ev[0] as u64;
                if ev[0] > 0 && out.first_unfinished.is_none() {
                    out.first_unfinished = Some(ev[1] as u64);
                }
            }
            Command::ReadStates(chunk) => {
                // The rows a run returns; dense-output rows after them stay on the device.
                let bytes = plan.buffer_bytes(Buf::StatesRead);
                backend.copy(Buf::States, Buf::StatesRead, bytes)?;
                let ticket = backend.submit()?;
                let vals = reals(
                    &backend.read(Buf::StatesRead, bytes, ticket)?,
                    plan.precision,
                );
                let all = out.states.as_mut().expect("states are kept");
                let (n, cap) = (plan.paths as usize, plan.capacity as usize);
                for c in 0..plan.rows {
                    let src = &vals[c * cap..][..chunk.count as usize];
                    all[c * n + chunk.first as usize..][..chunk.count as usize]
                        .copy_from_slice(src);
                }
            }
            Command::ReadObservers => {
                if let Some(p) = previous.take() {
                    finish(plan, backend, p, &mut out.saved, &mut out.points)?;
                }
                read_observers(plan, backend, &mut out)?;
            }
        }
    }
    if let Some(p) = previous.take() {
        finish(plan, backend, p, &mut out.saved, &mut out.points)?;
    }
    if !out.partial {
        report(
            job,
            plan,
            opts,
            &out,
            prior.as_ref(),
            start,
            plan.chunks.len(),
        );
    }
    *at = None;
    add_prior(&mut out, prior.as_ref(), plan);
    Ok(out)
}

/// Calls the progress callback: `chunks` chunks of this run are done, and the trajectories
/// `out` has completed (of this run's range, a shard's: a checkpoint's count as done, but
/// not in the rate).
fn report(
    job: &Job,
    plan: &Plan,
    opts: &Options,
    out: &Outcome,
    prior: Option<&Outcome>,
    start: Instant,
    chunks: usize,
) {
    let Some(p) = &opts.progress else { return };
    let elapsed = start.elapsed().as_secs_f64();
    let done = out.completed;
    let of = plan.range.1 - out.range.0;
    let here = done - prior.map_or(0, |p| p.completed);
    (p.0)(&ProgressInfo {
        trajectories: done,
        of,
        trajectory_steps: here * job.steps as u64,
        elapsed_s: elapsed,
        eta_s: (of - done) as f64 / (here as f64 / elapsed),
        chunk: chunks,
        chunks: plan.chunks.len(),
    });
}

/// Adds a checkpoint's device counters and kept paths (which the device's buffers, zeroed
/// when the run resumed, lack) to an outcome.
fn add_prior(out: &mut Outcome, prior: Option<&Outcome>, plan: &Plan) {
    let Some(p) = prior else { return };
    for (a, b) in out.hist.iter_mut().zip(&p.hist) {
        *a += b;
    }
    if out.tally.len() == p.tally.len() {
        for (a, b) in out.tally.iter_mut().zip(&p.tally) {
            *a += b;
        }
    }
    take_kept(&mut out.kept, &p.kept, p.range, plan);
}

/// The histogram counters and kept paths as they stand on the device.
fn read_observers<B: Backend>(plan: &Plan, backend: &mut B, out: &mut Outcome) -> Result<()> {
    let hist = plan.buffer_bytes(Buf::Hist);
    let kept = plan.buffer_bytes(Buf::Kept);
    if hist > 0 {
        backend.copy(Buf::Hist, Buf::HistRead, hist)?;
        let ticket = backend.submit()?;
        let raw = backend.read(Buf::HistRead, hist, ticket)?;
        for (o, w) in out
            .hist
            .iter_mut()
            .zip(bytemuck::pod_collect_to_vec::<u8, u32>(&raw))
        {
            *o = w as u64;
        }
    }
    if kept > 0 {
        backend.copy(Buf::Kept, Buf::KeptRead, kept)?;
        let ticket = backend.submit()?;
        out.kept = reals(&backend.read(Buf::KeptRead, kept, ticket)?, plan.precision);
    }
    Ok(())
}

/// A derived system's device counters as they stand.
fn read_tally<B: Backend>(plan: &Plan, backend: &mut B) -> Result<Vec<u64>> {
    let bytes = plan.buffer_bytes(Buf::Tally);
    backend.copy(Buf::Tally, Buf::TallyRead, bytes)?;
    let ticket = backend.submit()?;
    let raw = backend.read(Buf::TallyRead, bytes, ticket)?;
    // Two u32 words per counter, low first.
    Ok(bytemuck::pod_collect_to_vec::<u8, u32>(&raw)
        .chunks(2)
        .map(|w| w[0] as u64 | (w[1] as u64) << 32)
        .collect())
}

/// Histogram ranges before the pilot: the user's; the quantiles' are set from the pilot.
fn user_ranges(plan: &Plan, sa: &crate::observe::SaveAt) -> Vec<(f64, f64)> {
    let nh = plan.observers.specs.len();
    let mut ranges = vec![(0.0f64, 1.0f64); plan.nsaves() * nh];
    for row in ranges.chunks_mut(nh.max(1)) {
        for (h, spec) in sa.hist.iter().enumerate() {
            row[h] = (spec.lo, spec.hi);
        }
    }
    ranges
}

/// Reads a chunk's last batch and merges the partials not merged yet into `totals` (and
/// `points`), in block order.
fn finish<B: Backend>(
    plan: &Plan,
    backend: &mut B,
    mut parts: Parts<B::Ticket>,
    totals: &mut [MergeTree],
    points: &mut [PointStats],
) -> Result<()> {
    let mut batches = std::mem::take(&mut parts.read);
    if let Some((parity, used, n, ticket)) = parts.tail.take() {
        batches.push((backend.read(Buf::PartialsRead(parity), used, ticket)?, n));
    }
    for (raw, n) in batches {
        merge_batch(plan, &mut parts, &raw, n, totals, points);
    }
    Ok(())
}

/// Merges a batch of `saves` save times' partials of `parts`' chunk, the next after those
/// already merged, into `totals` (and `points`, for per-point runs).
fn merge_batch<T>(
    plan: &Plan,
    parts: &mut Parts<T>,
    raw: &[u8],
    saves: usize,
    totals: &mut [MergeTree],
    points: &mut [PointStats],
) {
    let bytes = chunk_bytes(plan, &parts.chunk);
    let first = parts.chunk.first;
    for k in 0..saves {
        let s = parts.absorbed + k;
        let raw = &raw[k * plan.read_slot_bytes() as usize..][..bytes];
        match (plan.replicas, points.get_mut(s)) {
            (Some(r), Some(pts)) => {
                absorb_points(&mut totals[s], pts, raw, plan.precision, r, first)
            }
            _ => absorb(&mut totals[s], raw, plan.precision, first_leaf(plan, first)),
        }
    }
    parts.absorbed += saves;
}

/// The place in the run's merge tree of the first partial of a chunk starting at trajectory
/// `first`: block partials where combined, else group partials (`segs` per group).
pub fn first_leaf(plan: &Plan, first: u64) -> u64 {
    match plan.combine {
        true => first / BLOCK as u64,
        false => first / GROUP as u64 * plan.segs,
    }
}

/// Merges the per-point-segment partials of a chunk starting at trajectory `first` (read
/// back from the device) into `total` (as leaves at their places in the run) and into each
/// segment's point of `pts`, in order.
pub fn absorb_points(
    total: &mut MergeTree,
    pts: &mut PointStats,
    raw: &[u8],
    precision: Precision,
    replicas: u64,
    first: u64,
) {
    let segs = crate::reduce::segments_per_group(Some(replicas));
    let rows = pts.rows;
    let leaf0 = first / GROUP as u64 * segs;
    // Partial s is segment s % segs of group s / segs: the point it covers.
    let sink = |s: usize, p: &Partial| {
        let group = s as u64 / segs;
        let point = (first + group * GROUP as u64) / replicas + s as u64 % segs;
        if point < pts.points {
            pts.absorb(point as usize, p);
        }
        total.push(leaf0 + s as u64, p);
    };
    match precision {
        Precision::F32 => for_each_block32(&words::<u32>(raw), rows, sink),
        Precision::F64 => for_each_block64(&words::<f64>(raw), rows, sink),
    }
}

/// Merges partials read back from the device into `total` as leaves `first..`.
pub fn absorb(total: &mut MergeTree, raw: &[u8], precision: Precision, first: u64) {
    match precision {
        Precision::F32 => total.absorb32(first, &words::<u32>(raw)),
        Precision::F64 => total.absorb64(first, &words::<f64>(raw)),
    }
}

/// Read-back bytes as words: borrowed where aligned (large allocations are), copied where
/// not. Partials come back by the megabyte per batch.
fn words<T: bytemuck::Pod>(raw: &[u8]) -> std::borrow::Cow<'_, [T]> {
    match bytemuck::try_cast_slice(raw) {
        Ok(w) => std::borrow::Cow::Borrowed(w),
        Err(_) => std::borrow::Cow::Owned(bytemuck::pod_collect_to_vec(raw)),
    }
}
