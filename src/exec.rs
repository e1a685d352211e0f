//! The third stage: one interpreter of a [`Recording`] over a [`Backend`]. The device's
//! backend ([`crate::gpu`]) and the CPU twin's ([`crate::cpu::exec`]) implement the same few
//! operations, so both run the same segments, chunks, slots, read-backs and merges; what the
//! host does between them (input tables, ranges, merging partials in block order, progress,
//! cancellation) lives here once.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::ensemble::Job;
use crate::error::Result;
use crate::observe::quantile_range;
use crate::plan::{Buf, Options, Plan, ProgressInfo};
use crate::precision::Precision;
use crate::record::{Command, Kernel, Recording};
use crate::reduce::{for_each_block32, for_each_block64, Partial, PointStats, Stats};
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

/// The raw results of a run, before assembly into a [`crate::Solution`].
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Statistics of every row at every save time, the last being the end.
    pub saved: Vec<Stats>,
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
}

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
    rollback: Option<Vec<Stats>>,
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
    let start = Instant::now();
    let nsaves = plan.nsaves();
    let obs = &plan.observers;
    let sa = &opts.save_at;
    let mut out = Outcome {
        saved: vec![Stats::empty(plan.rows); nsaves],
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
    };
    let mut pilot = vec![Stats::empty(plan.rows); nsaves];
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
                current = Some(Parts {
                    chunk: *chunk,
                    pilot: *pilot,
                    read: Vec::new(),
                    tail: None,
                    absorbed: 0,
                    rollback: None,
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
            Command::ReadTally => {
                let bytes = plan.buffer_bytes(Buf::Tally);
                backend.copy(Buf::Tally, Buf::TallyRead, bytes)?;
                let ticket = backend.submit()?;
                let raw = backend.read(Buf::TallyRead, bytes, ticket)?;
                // Two u32 words per counter, low first.
                out.tally = bytemuck::pod_collect_to_vec::<u8, u32>(&raw)
                    .chunks(2)
                    .map(|w| w[0] as u64 | (w[1] as u64) << 32)
                    .collect();
            }
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
                    if let Some(saved) = current.take().and_then(|p| p.rollback) {
                        out.saved = saved;
                    }
                    out.partial = true;
                    continue;
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
                out.completed += parts.chunk.count;
                previous = Some(parts);
                if let Some(p) = &opts.progress {
                    let elapsed = start.elapsed().as_secs_f64();
                    let done = out.completed;
                    (p.0)(&ProgressInfo {
                        trajectories: done,
                        of: plan.paths,
                        trajectory_steps: done * job.steps as u64,
                        elapsed_s: elapsed,
                        eta_s: (plan.paths - done) as f64 / (done as f64 / elapsed),
                    });
                }
            }
            Command::UploadRanges => {
                if plan.pilot.is_some() {
                    for (s, st) in pilot.iter().enumerate() {
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
            }
        }
    }
    if let Some(p) = previous.take() {
        finish(plan, backend, p, &mut out.saved, &mut out.points)?;
    }
    Ok(out)
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
    totals: &mut [Stats],
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
    totals: &mut [Stats],
    points: &mut [PointStats],
) {
    let bytes = chunk_bytes(plan, &parts.chunk);
    for k in 0..saves {
        let s = parts.absorbed + k;
        let raw = &raw[k * plan.read_slot_bytes() as usize..][..bytes];
        match (plan.replicas, points.get_mut(s)) {
            (Some(r), Some(pts)) => absorb_points(
                &mut totals[s],
                pts,
                raw,
                plan.precision,
                r,
                parts.chunk.first,
            ),
            _ => absorb(&mut totals[s], raw, plan.precision),
        }
    }
    parts.absorbed += saves;
}

/// Merges the per-point-segment partials of a chunk starting at trajectory `first` (read
/// back from the device) into `total` and into each segment's point of `pts`, in order.
pub fn absorb_points(
    total: &mut Stats,
    pts: &mut PointStats,
    raw: &[u8],
    precision: Precision,
    replicas: u64,
    first: u64,
) {
    let segs = crate::reduce::segments_per_group(Some(replicas));
    let rows = pts.rows;
    // Partial s is segment s % segs of group s / segs: the point it covers.
    let sink = |s: usize, p: &Partial| {
        let group = s as u64 / segs;
        let point = (first + group * GROUP as u64) / replicas + s as u64 % segs;
        if point < pts.points {
            pts.absorb(point as usize, p);
        }
        total.absorb(p);
    };
    match precision {
        Precision::F32 => for_each_block32(&words::<u32>(raw), rows, sink),
        Precision::F64 => for_each_block64(&words::<f64>(raw), rows, sink),
    }
}

/// Merges group partials read back from the device into `total`, in group order.
pub fn absorb(total: &mut Stats, raw: &[u8], precision: Precision) {
    match precision {
        Precision::F32 => total.absorb_blocks(&words::<u32>(raw)),
        Precision::F64 => total.absorb_blocks64(&words::<f64>(raw)),
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
