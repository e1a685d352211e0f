//! The first stage of a run: every check and every size, computed from the job, the options
//! and a description of the device, with no device call. Chunks, save segments, lanes, the
//! partial slots read back per batch, each buffer's size and the run's device memory are all
//! decided here, so they can be unit-tested without a GPU.

use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::kernel::{self, Target};
use crate::observe::{ObserverLayout, SaveAt, PILOT};
use crate::precision::Precision;
use crate::reduce::{partial_words, BLOCK, GROUP};
use crate::schedule::{self, Chunk, DeviceLimits};

/// How to run (not what to run).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// At most this many trajectories per chunk (rounded down to a multiple of 256).
    pub chunk: Option<u64>,
    /// Read every terminal state back (component-major: `states[c * paths + i]`).
    pub keep_states: bool,
    /// Trajectories per invocation (1, 2 or 4); default [`DEFAULT_LANES`].
    pub lanes: Option<u32>,
    /// Statistics at save times besides the end ([`SaveAt`]).
    pub save_at: SaveAt,
    /// At most this many steps per dispatch, so that no dispatch runs long on a display GPU
    /// (None: a whole segment between save times). Results do not depend on it.
    pub dispatch_steps: Option<u64>,
    /// Called as chunks are read back from the device (done), at the end of each chunk's
    /// submission and at the end of the run: [`ProgressInfo`] counts the finished ones.
    pub progress: Option<Progress>,
    /// Checked between dispatches: once set, the run stops and returns the chunks it
    /// completed, marked partial.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// At most this many bytes of reduction partials per read-back (default 16 MiB; at least one
    /// save time's). Smaller batches hold less host and device memory and read back more
    /// often. Results do not depend on it.
    pub readback_bytes: Option<u64>,
    /// Observers fused into the integration kernel (several save times per dispatch, the
    /// statistics reduced from registers): None fuses wherever the run and device allow
    /// (fixed-step method, several save times, subgroups), Some(false) never, Some(true)
    /// always or an error saying why not. Results do not depend on it.
    pub fuse: Option<bool>,
    /// How an adaptive method meets interior save times: None or Some(true) by its
    /// continuous extension (dense output: saving does not change the steps; not available
    /// to a system with `project`), Some(false) by cutting its steps there, as a stepper's
    /// calls do.
    pub dense: Option<bool>,
    /// Run only this shard's trajectories ([`Shard::range`]); its partials merge with the
    /// other shards' into the whole run's results bit for bit.
    pub shard: Option<Shard>,
    /// Start at this trajectory of the run (or of the shard): where a checkpoint stopped. A
    /// multiple of [`BLOCK`].
    pub start: Option<u64>,
    /// A test hook: the run's chunk k (1-based, of this run's chunks) fails as a lost device
    /// does, so that fault handling can be tested without one.
    pub fault_at_chunk: Option<usize>,
}

/// Shard `index` of `count` of a run: a contiguous range of whole units
/// ([`Shard::unit`]), the units shared out as evenly as they go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Trajectories shards are made of: whole reduction blocks, and with replicas whole
    /// points too, so that no block or point is split between machines.
    pub fn unit(job: &Job) -> u64 {
        let b = BLOCK as u64;
        match job.replicas {
            Some(r) => b / gcd(b, r) * r,
            None => b,
        }
    }

    /// The trajectories `first..end` of this shard of `job`.
    pub fn range(&self, job: &Job) -> (u64, u64) {
        let unit = Shard::unit(job);
        let units = job.paths.div_ceil(unit) as u128;
        let at = |i: u64| ((units * i as u128 / self.count as u128) as u64 * unit).min(job.paths);
        (at(self.index), at(self.index + 1))
    }

    /// Checks that index < count.
    pub fn check(&self) -> Result<()> {
        if self.count == 0 || self.index >= self.count {
            return Err(Error::Input {
                what: "shard".into(),
                message: format!(
                    "shard {}/{} does not exist: shards are numbered 0 to count - 1",
                    self.index, self.count
                ),
            });
        }
        Ok(())
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The trajectories a run with these options covers: its shard's (or all), from `start`.
pub fn run_range(job: &Job, opts: &Options) -> Result<(u64, u64)> {
    let (first, end) = match opts.shard {
        Some(s) => {
            s.check()?;
            s.range(job)
        }
        None => (0, job.paths),
    };
    match opts.start {
        None => Ok((first, end)),
        Some(s) if s >= first && s <= end && (s % BLOCK as u64 == 0 || s == end) => Ok((s, end)),
        Some(s) => Err(Error::Input {
            what: "resume".into(),
            message: format!(
                "a run cannot start at trajectory {s}: it covers {first}..{end} in blocks of {BLOCK}"
            ),
        }),
    }
}

/// Where a run stands, for [`Progress`].
#[derive(Clone, Copy, Debug)]
pub struct ProgressInfo {
    pub trajectories: u64,
    pub of: u64,
    /// Fixed-step methods: trajectory-steps done by this run (not a checkpoint's).
    pub trajectory_steps: u64,
    pub elapsed_s: f64,
    /// At the rate so far.
    pub eta_s: f64,
    /// Chunks of this run completed (read back from the device), of `chunks`.
    pub chunk: usize,
    pub chunks: usize,
}

/// A progress callback.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(&ProgressInfo) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Trajectories per invocation unless the caller chose. Four measured fastest on lavapipe
/// (SIMD across invocations wants independent work in each) and on an H100 at scale
/// (BENCHMARKS.md); `--lanes` exists to measure other devices.
pub const DEFAULT_LANES: u32 = 4;

/// Trajectories per invocation of an adaptive method where its drift allows more than one:
/// each lane waits for the slowest of its invocation's trajectories, and Dormand–Prince
/// keeps seven stage vectors live; on llvmpipe two lanes measured about as fast as one and
/// four, and fastest on the swept Lorenz run (BENCHMARKS.md, issue 15).
pub const ADAPTIVE_LANES: u32 = 2;

/// Partials of several save times wait on the device in slots and are read back together,
/// one readback per batch of saves: at most this many bytes of them (the host then merges
/// each batch as it arrives, so it holds about one batch).
const PARTIAL_BUDGET: u64 = 16 << 20;
/// The most steps of a fixed-step method in one dispatch. llvmpipe ends every loop of a
/// shader after 65535 iterations, silently (the fixed-step driver takes 4 steps per
/// iteration, so a longer dispatch would stop early and report the state it reached as the
/// end); GPU watchdogs also favour short dispatches. Results do not depend on the bound.
pub const MAX_DISPATCH_STEPS: u64 = 1 << 16;
/// The same for the fused kernel, whose loop also iterates once more per save time (and per
/// group of 4 steps cut by one): 2^14 steps make at most 2^12 + 2^14 iterations.
pub const MAX_FUSED_DISPATCH_STEPS: u64 = 1 << 14;
/// Host memory the per-point statistics of all save times may take.
pub const POINT_BUDGET: u64 = 2 << 30;

/// Dispatches whose uniforms one upload holds (each in its own aligned slot, chosen by a
/// dynamic offset); a chunk with more dispatches uploads them in several batches.
pub const UNIFORM_SLOTS: u64 = 1024;

/// What the plan needs to know of a device: its limits and features. [`crate::Context`]
/// describes itself this way; the CPU twin describes a device with the same shape.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The adapter's name, for messages.
    pub adapter: String,
    pub limits: DeviceLimits,
    /// Alignment of dynamic uniform offsets.
    pub uniform_align: u64,
    pub f64: bool,
    pub int64: bool,
    /// Storage buffers one compute kernel may bind.
    pub storage_per_stage: u32,
    /// Subgroup operations: the smallest and largest subgroup size (None: no subgroups).
    pub subgroups: Option<(u32, u32)>,
    /// Invocations one workgroup may have, and its largest x size.
    pub workgroup_invocations: u32,
    pub workgroup_x: u32,
    /// Alignment of a storage binding's offset (an application's state buffer).
    pub storage_align: u64,
}

impl DeviceInfo {
    /// The device the CPU twin pretends to be: llvmpipe's limits, every feature.
    pub fn cpu() -> DeviceInfo {
        DeviceInfo {
            adapter: "cpu twin".into(),
            limits: DeviceLimits {
                max_storage_binding: 128 << 20,
                max_buffer: (1 << 31) - 1,
                max_workgroups_per_dim: 65535,
            },
            uniform_align: 256,
            f64: true,
            int64: true,
            storage_per_stage: 8,
            subgroups: Some((8, 8)),
            workgroup_invocations: 256,
            workgroup_x: 256,
            storage_align: 256,
        }
    }
}

/// The buffers of a run and their sizes in bytes (before rounding up to 16, which the
/// executor does). Zero-sized buffers of absent features are still created small, so bind
/// group layouts stay fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buf {
    /// [`crate::kernel::ChunkUniform`]s, one per aligned slot.
    Uniform,
    /// One chunk's rows, component-major.
    States,
    /// Block partials of the reductions, one slot per save time of a batch.
    Partials,
    /// Two read-back copies of the partials, so one chunk's can be read while the next runs.
    PartialsRead(u8),
    /// Read-back copy of the states (kept states).
    StatesRead,
    /// Per-trajectory input tables the host fills per chunk.
    Inputs,
    /// Adaptive runs: unfinished count and lowest unfinished index.
    Events,
    EventsRead,
    /// Histogram counters of every save time.
    Hist,
    /// Per save time and histogram: (lo, bins / (hi - lo)).
    Ranges,
    /// Kept paths of every save time.
    Kept,
    /// Fused observers: the save steps, then all ones.
    SaveSteps,
    /// Block partials combined from the group partials (`Plan::combine`), one slot per save
    /// time of a batch: what is read back.
    Blocks,
    HistRead,
    KeptRead,
    /// Counters a derived system's `project` adds to (`System::tally`), 64 bits each.
    Tally,
    TallyRead,
    /// The system's tables (`System::tables`), one after another, read-only.
    Data,
}

impl Buf {
    pub const ALL: [Buf; 19] = [
        Buf::Uniform,
        Buf::States,
        Buf::Partials,
        Buf::PartialsRead(0),
        Buf::PartialsRead(1),
        Buf::StatesRead,
        Buf::Inputs,
        Buf::Events,
        Buf::EventsRead,
        Buf::Hist,
        Buf::Ranges,
        Buf::Kept,
        Buf::SaveSteps,
        Buf::Blocks,
        Buf::HistRead,
        Buf::KeptRead,
        Buf::Tally,
        Buf::TallyRead,
        Buf::Data,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Buf::Uniform => "chunk",
            Buf::States => "states",
            Buf::Partials => "partials",
            Buf::PartialsRead(_) => "partials read",
            Buf::StatesRead => "states read",
            Buf::Inputs => "inputs",
            Buf::Events => "events",
            Buf::EventsRead => "events read",
            Buf::Hist => "hist",
            Buf::Ranges => "ranges",
            Buf::Kept => "kept",
            Buf::SaveSteps => "save steps",
            Buf::Blocks => "blocks",
            Buf::HistRead => "hist read",
            Buf::KeptRead => "kept read",
            Buf::Tally => "tally",
            Buf::TallyRead => "tally read",
            Buf::Data => "data",
        }
    }

    /// Whether the host maps it to read results.
    pub fn is_readback(self) -> bool {
        matches!(
            self,
            Buf::PartialsRead(_)
                | Buf::StatesRead
                | Buf::EventsRead
                | Buf::HistRead
                | Buf::KeptRead
                | Buf::TallyRead
        )
    }
}

/// Trajectories per invocation: as asked (1, 2 or 4), else [`DEFAULT_LANES`]. Adaptive
/// trajectories' times differ, so an adaptive method takes one lane where the drift needs
/// one time ([`kernel::lane_time`]).
fn choose_lanes(job: &Job, asked: Option<u32>) -> Result<u32> {
    let one = job.method.is_adaptive() && kernel::lane_time(job) == kernel::LaneTime::One;
    let lanes = match (one, asked) {
        (true, None | Some(1)) => 1,
        (true, Some(l)) => {
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: job.system.name.clone(),
                message: format!(
                    "method {} gives each lane its own time, and {}; lanes {l} is not available",
                    job.method.name(),
                    if crate::system::defines_project(&job.system.wgsl) {
                        "the system defines `project`, which is written for one trajectory"
                    } else if job.method.is_adaptive_sde() {
                        "this SDE's drift or diffusion reads t"
                    } else {
                        "this drift takes t as one value (it does not compile with `t: R`)"
                    }
                ),
            })
        }
        (false, None) if job.method.is_adaptive() => ADAPTIVE_LANES,
        (false, l) => l.unwrap_or(DEFAULT_LANES),
    };
    if ![1, 2, 4].contains(&lanes) {
        return Err(Error::Input {
            what: "lanes".into(),
            message: format!("lanes must be 1, 2 or 4, got {lanes}"),
        });
    }
    Ok(lanes)
}

/// Every check and size of a run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub paths: u64,
    /// Values per trajectory in the states buffer (state, functionals, controller rows).
    pub rows: usize,
    /// Rows after those that no statistic or read-back sees: an adaptive method's dense
    /// output ([`kernel::dense_rows`]; `target.dense`).
    pub scratch_rows: usize,
    pub dim: usize,
    pub precision: Precision,
    /// Bytes of one real in the run's precision.
    pub real_bytes: u64,
    /// How the kernels are shaped (lanes, 64-bit integers, segmented).
    pub target: Target,
    /// Trajectories a chunk's buffers hold (a multiple of BLOCK).
    pub capacity: u64,
    pub chunks: Vec<Chunk>,
    /// The trajectories the chunks cover: the whole run's, or a shard's, from where a
    /// checkpoint stopped.
    pub range: (u64, u64),
    /// Invocations per component in the states buffer (capacity / lanes).
    pub stride: u64,
    /// Reduction groups per chunk buffer.
    pub blocks: u64,
    /// The steps the run saves at, ending with the last.
    pub save_steps: Vec<u64>,
    /// At most this many steps per dispatch.
    pub dispatch_steps: Option<u64>,
    /// Save times whose partials one batch holds.
    pub slots: u64,
    /// Bytes of one save time's partials.
    pub slot_bytes: u64,
    /// Where the observers' counters and kept paths sit.
    pub observers: ObserverLayout,
    /// Trajectories the quantile pilot runs first (None: no quantiles).
    pub pilot: Option<u64>,
    pub keep_states: bool,
    pub adaptive: bool,
    /// 64-bit counters of `System::tally`.
    pub tally: u64,
    /// Values of the system's tables (`System::tables`), all in `Buf::Data`.
    pub data: u64,
    /// Trajectories per point when statistics are reduced per point.
    pub replicas: Option<u64>,
    /// Partials per reduction group: one per point segment (`reduce::segments_per_group`).
    pub segs: u64,
    /// Per-trajectory input tables the host fills for each chunk.
    pub tables: usize,
    /// Bytes between uniform slots (a multiple of the device's offset alignment).
    pub uniform_align: u64,
    /// Uniform slots per upload.
    pub uniform_slots: u64,
    /// Bytes of the run's device buffers (each at least 16), read-back copies included.
    pub device_bytes: u64,
    /// Observers fused into the integration kernel (shaders/fused.wgsl): one dispatch per
    /// batch of save times (cut at `dispatch_steps`), no reduce or observe dispatches.
    pub fused: bool,
    /// Group partials combined into block partials on the device before each read-back
    /// (shaders/combine.wgsl; runs without replicas, whose blocks may hold several points).
    pub combine: bool,
}

impl Plan {
    /// Plans `job` under `opts` for a device described by `dev`: every refusal a run can
    /// meet before its kernels are composed.
    pub fn new(job: &Job, opts: &Options, dev: &DeviceInfo) -> Result<Plan> {
        if job.precision == Precision::F64 && !dev.f64 {
            return Err(Error::Unsupported {
                feature: "SHADER_F64",
                message: format!(
                    "f64 needs SHADER_F64, which adapter `{}` does not offer; run in f32",
                    dev.adapter
                ),
            });
        }
        let rows = job.rows();
        let real_bytes = job.precision.bytes();
        let adaptive = job.method.is_adaptive();
        let save_steps = opts.save_at.steps(job)?;
        // An adaptive method reaches interior save times by its continuous extension, so
        // saving does not change its steps. Not under `project`, which may move the state
        // between steps (the extension would interpolate across the jump).
        let project = crate::system::defines_project(&job.system.wgsl);
        let no_dense = if job.method.is_adaptive_sde() {
            Some("its steps end on the Brownian tree's points, between which the path is a bridge")
        } else if project {
            Some("`project` may move the state at a step's end")
        } else {
            None
        };
        if let (Some(true), true, Some(why)) = (opts.dense, adaptive, no_dense) {
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: job.system.name.clone(),
                message: format!(
                    "dense output interpolates between steps, and {why}; save by cutting steps instead"
                ),
            });
        }
        let dense =
            adaptive && no_dense.is_none() && save_steps.len() > 1 && opts.dense != Some(false);
        let scratch_rows = if dense {
            kernel::dense_rows(job.system.dim())
        } else {
            0
        };
        // The reduction has `segs` invocations and partials per group (more than one with
        // replicas): a chunk holds no more groups than one reduce dispatch and one binding
        // of partials allow.
        let segs = crate::reduce::segments_per_group(job.replicas);
        let by_reduce = ((dev.limits.max_workgroups_per_dim as u64 * 64 / segs).min(
            dev.limits.max_storage_binding / (segs * partial_words(rows) as u64 * real_bytes),
        ) * GROUP as u64)
            / BLOCK as u64
            * BLOCK as u64;
        let chunk_cap = Some(
            opts.chunk
                .unwrap_or(u64::MAX)
                .min(by_reduce.max(BLOCK as u64)),
        );
        // A value of f64 occupies two f32 slots of the chunk plan.
        let range = run_range(job, opts)?;
        let chunking = schedule::plan_range(
            range.0,
            range.1,
            (rows + scratch_rows) * (real_bytes / 4) as usize,
            dev.limits,
            chunk_cap,
        )?;
        let lanes = choose_lanes(job, opts.lanes)?;
        // Fixed-step dispatches are bounded (MAX_DISPATCH_STEPS) below what was asked.
        let dispatch_steps = match opts.dispatch_steps {
            Some(d) => Some(d.min(MAX_DISPATCH_STEPS)),
            None if !adaptive && job.steps as u64 > MAX_DISPATCH_STEPS => Some(MAX_DISPATCH_STEPS),
            None => None,
        };
        let target = Target {
            int64: dev.int64,
            lanes,
            segmented: save_steps.len() > 1 || dispatch_steps.is_some(),
            open_ended: false,
            dense,
        };
        let sa = &opts.save_at;
        sa.check(job)?;
        if opts.dispatch_steps.is_some() && adaptive {
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: job.system.name.clone(),
                message: format!(
                    "--dispatch-steps does not apply to {}: its dispatches end at save times, \
                     where it cuts its steps (use --save-every to shorten them)",
                    job.method.name()
                ),
            });
        }
        if let Some(0) = opts.dispatch_steps {
            return Err(Error::Input {
                what: "dispatch_steps".into(),
                message: "at most 0 steps per dispatch: give at least 1".into(),
            });
        }
        let cap = chunking.capacity;
        let blocks = cap / GROUP as u64;
        let nsaves = save_steps.len() as u64;
        let slot_bytes = blocks * segs * partial_words(rows) as u64 * real_bytes;
        let budget = opts
            .readback_bytes
            .unwrap_or(PARTIAL_BUDGET)
            .min(dev.limits.max_storage_binding);
        if job.replicas.is_some() {
            // Every save time's per-point statistics stay in host memory until the end.
            let bytes = nsaves * crate::reduce::PointStats::bytes(job.points(), rows);
            if bytes > POINT_BUDGET {
                return Err(Error::Limit {
                    what: "bytes of per-point statistics".into(),
                    got: bytes,
                    max: POINT_BUDGET,
                    message: format!(
                        "statistics of {} points at {nsaves} save times need {bytes} bytes of host memory, more than {POINT_BUDGET}; save less often or use fewer points",
                        job.points()
                    ),
                });
            }
        }
        let slots = (budget / slot_bytes).clamp(1, nsaves);
        let dim = job.system.dim();
        let observers = ObserverLayout::new(sa, rows).per_point(job.replicas, job.points());
        let fused = match (
            opts.fuse,
            why_not_fused(job, lanes, dev, nsaves, &observers),
        ) {
            (Some(false), _) => false,
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(true), Some(why)) => {
                return Err(Error::Input {
                    what: "fuse".into(),
                    message: format!("the observers cannot be fused into the integration: {why}"),
                })
            }
        };
        let binding = dev.limits.max_storage_binding;
        let table_bytes = job.tables as u64 * cap * real_bytes;
        if table_bytes > binding {
            return Err(Error::Limit {
                what: "bytes of per-trajectory input tables".into(),
                got: table_bytes,
                max: binding,
                message: "too many per-trajectory input tables for one binding".into(),
            });
        }
        let hist_bytes = nsaves * observers.save_words() * 4;
        let kept_bytes = nsaves * sa.keep_paths * dim as u64 * real_bytes;
        let tally_bytes = job.system.tally as u64 * 8;
        for (what, b) in [
            ("histograms", hist_bytes),
            ("kept paths", kept_bytes),
            ("device counters", tally_bytes),
        ] {
            if b > binding {
                return Err(Error::Limit {
                    what: format!("bytes of {what}"),
                    got: b,
                    max: binding,
                    message: format!(
                        "{what} at {nsaves} save times need {b} bytes, more than one binding \
                         holds ({binding}); save less often or ask for less"
                    ),
                });
            }
        }
        let dispatch_steps = match fused {
            true => Some(dispatch_steps.map_or(MAX_FUSED_DISPATCH_STEPS, |d| {
                d.min(MAX_FUSED_DISPATCH_STEPS)
            })),
            false => dispatch_steps,
        };
        let mut plan = Plan {
            paths: job.paths,
            rows,
            scratch_rows,
            dim,
            precision: job.precision,
            real_bytes,
            target,
            capacity: cap,
            chunks: chunking.chunks,
            range,
            stride: cap / lanes as u64,
            blocks,
            save_steps,
            dispatch_steps,
            slots,
            slot_bytes,
            // With replicas the first trajectories are the first points only: the pilot runs
            // every trajectory, so that every point's values fall in the ranges it sets.
            pilot: (!sa.quantiles.is_empty()).then(|| match job.replicas {
                Some(_) => job.paths,
                None => job.paths.min(PILOT),
            }),
            observers,
            keep_states: opts.keep_states,
            adaptive,
            tally: job.system.tally as u64,
            data: job.system.tables.iter().map(|t| t.1.len() as u64).sum(),
            replicas: job.replicas,
            segs,
            uniform_align: uniform_stride(dev),
            uniform_slots: 1,
            device_bytes: 0,
            tables: job.tables,
            fused,
            combine: job.replicas.is_none(),
        };
        plan.uniform_slots = plan.dispatches_per_chunk().clamp(1, UNIFORM_SLOTS);
        plan.device_bytes = Buf::ALL.iter().map(|&b| plan.buffer_bytes(b).max(16)).sum();
        Ok(plan)
    }

    /// Plans a stepper ([`crate::stepper`]): every trajectory in one binding and one dispatch,
    /// segments without end, one slot of partials. Checks everything the device must offer
    /// and reports every shortfall at once ([`Error::DeviceLacks`]).
    pub fn stepper(job: &Job, lanes: Option<u32>, dev: &DeviceInfo) -> Result<Plan> {
        if job.method.is_adaptive_sde() {
            return Err(Error::MethodDoesNotFit {
                method: job.method.name(),
                system: job.system.name.clone(),
                message: format!(
                    "{} steps on the Brownian tree, which spans a run's fixed interval; a stepper runs without end (use em, milstein or heun)",
                    job.method.name()
                ),
            });
        }
        if job.brownian == crate::noise::Brownian::Tree {
            // A stepper runs without end; the tree spans a fixed number of steps.
            return Err(Error::Input {
                what: "brownian".into(),
                message: "a stepper draws from the noise stream; --brownian tree needs a run of 2^m steps".into(),
            });
        }
        let adaptive = job.method.is_adaptive();
        let lanes = choose_lanes(job, lanes)?;
        let rows = job.rows();
        let real_bytes = job.precision.bytes();
        let block = BLOCK as u64;
        let cap = job.paths.div_ceil(block) * block;
        let blocks = cap / GROUP as u64;
        let target = Target {
            int64: dev.int64,
            lanes,
            segmented: true,
            open_ended: true,
            dense: false,
        };
        let slot_bytes = blocks
            * crate::reduce::segments_per_group(job.replicas)
            * partial_words(rows) as u64
            * real_bytes;
        let mut plan = Plan {
            paths: job.paths,
            rows,
            scratch_rows: 0,
            dim: job.system.dim(),
            precision: job.precision,
            real_bytes,
            target,
            capacity: cap,
            chunks: vec![Chunk {
                first: 0,
                count: job.paths,
            }],
            range: (0, job.paths),
            stride: cap / lanes as u64,
            blocks,
            save_steps: vec![],
            dispatch_steps: None,
            slots: 1,
            slot_bytes,
            observers: ObserverLayout::new(&SaveAt::default(), rows),
            pilot: None,
            keep_states: true,
            adaptive,
            tally: job.system.tally as u64,
            data: job.system.tables.iter().map(|t| t.1.len() as u64).sum(),
            replicas: job.replicas,
            segs: crate::reduce::segments_per_group(job.replicas),
            tables: job.tables,
            uniform_align: uniform_stride(dev),
            uniform_slots: 1,
            device_bytes: 0,
            fused: false,
            combine: job.replicas.is_none(),
        };
        plan.device_bytes = Buf::ALL.iter().map(|&b| plan.buffer_bytes(b).max(16)).sum();
        let lacks = plan.lacks(dev);
        if !lacks.is_empty() {
            return Err(Error::DeviceLacks {
                adapter: dev.adapter.clone(),
                lacks,
            });
        }
        Ok(plan)
    }

    /// What `dev` lacks to run this plan's kernels, each as "what the job needs (what the
    /// device allows)"; empty if nothing.
    pub fn lacks(&self, dev: &DeviceInfo) -> Vec<String> {
        let mut out = Vec::new();
        let l = &dev.limits;
        if self.precision == Precision::F64 && !dev.f64 {
            out.push("SHADER_F64 (the job is f64; run it in f32)".to_string());
        }
        let binding = l.max_storage_binding.min(l.max_buffer);
        for (what, b) in [
            ("the states", Buf::States),
            ("the input tables", Buf::Inputs),
            ("the reduction partials", Buf::Partials),
            ("the device counters", Buf::Tally),
        ] {
            let bytes = self.buffer_bytes(b);
            if bytes > binding {
                out.push(format!(
                    "a storage binding of {bytes} bytes for {what} of {} trajectories (the \
                     device allows {binding})",
                    self.paths
                ));
            }
        }
        let groups = self
            .invocations(self.capacity)
            .div_ceil(self.target.workgroup() as u64);
        if groups > l.max_workgroups_per_dim as u64 {
            out.push(format!(
                "{groups} workgroups in one dispatch for {} trajectories (the device allows {})",
                self.paths, l.max_workgroups_per_dim
            ));
        }
        // Without replicas the integration's check implies the reduction's (64 blocks per
        // reduce workgroup against one per integrate workgroup).
        let reduce_groups = (self.blocks * self.segs).div_ceil(64);
        if self.replicas.is_some() && reduce_groups > l.max_workgroups_per_dim as u64 {
            out.push(format!(
                "{reduce_groups} workgroups in one reduction for {} trajectories in points of {} (the device allows {})",
                self.paths,
                self.replicas.unwrap_or(1),
                l.max_workgroups_per_dim
            ));
        }
        let wg = self.target.workgroup().max(64);
        if dev.workgroup_invocations < wg || dev.workgroup_x < wg {
            out.push(format!(
                "workgroups of {wg} invocations (the device allows {} of at most {} in x)",
                dev.workgroup_invocations, dev.workgroup_x
            ));
        }
        // The integration kernel binds the states, the input tables and the adaptive
        // counters (and a derived system's tally); the reduction the states and the partials.
        let storage =
            (1 + (self.tables > 0) as u32 + self.adaptive as u32 + (self.tally > 0) as u32).max(2);
        if dev.storage_per_stage < storage {
            out.push(format!(
                "{storage} storage buffers in one kernel (the device allows {})",
                dev.storage_per_stage
            ));
        }
        out
    }

    /// Bytes of buffer `b` (0 for a buffer this run does not use).
    pub fn buffer_bytes(&self, b: Buf) -> u64 {
        let nsaves = self.save_steps.len() as u64;
        let obs = &self.observers;
        let hist = nsaves * obs.save_words() * 4;
        let kept = nsaves * obs.keep * self.dim as u64 * self.real_bytes;
        let states = self.capacity * self.rows as u64 * self.real_bytes;
        match b {
            Buf::Uniform => self.uniform_slots * self.uniform_align,
            Buf::States => self.capacity * (self.rows + self.scratch_rows) as u64 * self.real_bytes,
            Buf::Partials => self.slots * self.slot_bytes,
            Buf::PartialsRead(_) => self.slots * self.read_slot_bytes(),
            Buf::Blocks => self.combine as u64 * self.slots * self.read_slot_bytes(),
            Buf::StatesRead => self.keep_states as u64 * states,
            Buf::Inputs => self.tables as u64 * self.capacity * self.real_bytes,
            Buf::Events | Buf::EventsRead => self.adaptive as u64 * 8,
            Buf::Hist => hist,
            Buf::HistRead => obs.active() as u64 * hist,
            Buf::Ranges => nsaves * obs.specs.len() as u64 * 2 * self.real_bytes,
            Buf::Kept => kept,
            Buf::SaveSteps => self.fused as u64 * (nsaves + 1) * 4,
            Buf::KeptRead => obs.active() as u64 * kept,
            Buf::Tally | Buf::TallyRead => self.tally * 8,
            Buf::Data => self.data * self.real_bytes,
        }
    }

    /// The dispatches of the integration kernel in one chunk: each segment between save
    /// times, cut at `dispatch_steps`.
    pub fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut step0 = 0u64;
        for (s, &save_step) in self.save_steps.iter().enumerate() {
            while step0 < save_step {
                let steps = (save_step - step0).min(self.dispatch_steps.unwrap_or(u64::MAX));
                out.push(Segment {
                    save_index: s,
                    step0,
                    steps,
                    ends_segment: step0 + steps == save_step,
                });
                step0 += steps;
            }
        }
        out
    }

    fn dispatches_per_chunk(&self) -> u64 {
        if self.fused {
            self.fused_dispatches().len() as u64
        } else {
            self.segments().len() as u64
        }
    }

    /// The dispatches of the fused integration kernel in one chunk: the segments joined
    /// up to the end of each batch of save times, each at most `dispatch_steps` long.
    pub fn fused_dispatches(&self) -> Vec<FusedDispatch> {
        let bound = self.dispatch_steps.unwrap_or(u64::MAX);
        let nsaves = self.nsaves();
        let (mut out, mut done, mut in_batch) = (Vec::new(), 0usize, 0u64);
        let mut cur: Option<FusedDispatch> = None;
        for seg in self.segments() {
            if cur.as_ref().is_some_and(|c| c.steps + seg.steps > bound) {
                out.extend(cur.take());
            }
            let c = cur.get_or_insert(FusedDispatch {
                step0: seg.step0,
                steps: 0,
                save_index: done,
                read: None,
            });
            c.steps += seg.steps;
            if seg.ends_segment {
                done += 1;
                in_batch += 1;
                let last = done == nsaves;
                if in_batch == self.slots || last {
                    c.read = Some((in_batch as usize, last));
                    out.extend(cur.take());
                    in_batch = 0;
                }
            }
        }
        out.extend(cur);
        out
    }

    /// Invocations of the integration kernel for `count` trajectories.
    pub fn invocations(&self, count: u64) -> u64 {
        count.div_ceil(self.target.lanes as u64)
    }

    pub fn nsaves(&self) -> usize {
        self.save_steps.len()
    }

    /// Bytes of one save time's partials as read back: block partials where combined (a
    /// block is 8 groups), group partials otherwise.
    pub fn read_slot_bytes(&self) -> u64 {
        if self.combine {
            self.slot_bytes / (BLOCK / GROUP) as u64
        } else {
            self.slot_bytes
        }
    }

    /// The buffer read-backs copy partials from.
    pub fn read_source(&self) -> Buf {
        if self.combine {
            Buf::Blocks
        } else {
            Buf::Partials
        }
    }
}

/// One dispatch of the integration kernel: global steps step0 .. step0 + steps, ending at
/// save time `save_index` if `ends_segment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub save_index: usize,
    pub step0: u64,
    pub steps: u64,
    pub ends_segment: bool,
}

/// One dispatch of the fused integration kernel: global steps step0 .. step0 + steps,
/// taking every save time from `save_index` whose step falls in that range; `read`: it ends
/// a batch of that many save times (and the chunk's last, if true), read back after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedDispatch {
    pub step0: u64,
    pub steps: u64,
    pub save_index: usize,
    pub read: Option<(usize, bool)>,
}

/// Bytes between uniform slots: one `ChunkUniform`, rounded up to the device's alignment of
/// dynamic offsets.
fn uniform_stride(dev: &DeviceInfo) -> u64 {
    let size = std::mem::size_of::<crate::kernel::ChunkUniform>() as u64;
    size.next_multiple_of(dev.uniform_align.max(1))
}

/// Why the observers of this run cannot be fused into the integration kernel (None: they
/// can). A group of GROUP trajectories must fit in one subgroup and a workgroup hold whole
/// subgroups; each partial must cover one point (replicas a multiple of GROUP); adaptive
/// methods, derived systems' carried rows and device counters stay unfused.
fn why_not_fused(
    job: &Job,
    lanes: u32,
    dev: &DeviceInfo,
    nsaves: u64,
    obs: &ObserverLayout,
) -> Option<String> {
    let group_invocations = GROUP / lanes;
    let workgroup = BLOCK / lanes;
    let storage =
        3 + (job.tables > 0) as u32 + 2 * (!obs.specs.is_empty()) as u32 + (obs.keep > 0) as u32;
    if job.method.is_adaptive() {
        Some(format!("{} is adaptive", job.method.name()))
    } else if nsaves < 2 {
        Some("the run has one save time (nothing to fuse)".into())
    } else if let Some(r) = job.replicas.filter(|r| r % GROUP as u64 != 0) {
        Some(format!(
            "replicas {r} is not a multiple of {GROUP} (a partial covers {GROUP} trajectories of one point)"
        ))
    } else if !job.system.carried.is_empty() || job.system.tally > 0 {
        Some("derived systems (lyapunov, orbit, basins) are not fused".into())
    } else if storage > dev.storage_per_stage {
        Some(format!(
            "it needs {storage} storage buffers in one kernel, the device allows {}",
            dev.storage_per_stage
        ))
    } else {
        match dev.subgroups {
            None => Some("the device has no subgroup operations".into()),
            Some((min, max)) if min < group_invocations || !workgroup.is_multiple_of(max) => Some(format!(
                "subgroups of {min} to {max} invocations; with {lanes} lanes a group of {GROUP}                  trajectories needs {group_invocations} and a workgroup of {workgroup} whole subgroups"
            )),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::observe::Histogram;
    use crate::{Ensemble, Method, System, TimeGrid};

    pub(crate) fn gbm(paths: u64, steps: u64) -> Job {
        Ensemble::new(System::builtin("gbm").unwrap(), paths)
            .x0(&[1.0])
            .set("mu", 0.05)
            .set("sigma", 0.2)
            .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, steps))
            .unwrap()
    }

    pub(crate) fn saving(every: u64) -> Options {
        Options {
            save_at: SaveAt {
                every: Some(every),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_stepper_holds_every_trajectory_and_lists_all_a_device_lacks() {
        let dev = DeviceInfo::cpu();
        let p = Plan::stepper(&gbm(1000, 8), None, &dev).unwrap();
        assert_eq!((p.capacity, p.chunks.len(), p.stride), (1024, 1, 256));
        assert!(p.target.open_ended && p.target.segmented);
        assert_eq!(p.buffer_bytes(Buf::States), 1024 * 4);
        assert_eq!(p.buffer_bytes(Buf::StatesRead), 1024 * 4);
        // A small device: no f64, a 1 MiB binding, 8 workgroups, one storage buffer.
        let mut small = dev.clone();
        small.f64 = false;
        small.limits.max_storage_binding = 1 << 20;
        small.limits.max_workgroups_per_dim = 8;
        small.storage_per_stage = 1;
        small.workgroup_invocations = 32;
        let mut job = gbm(1 << 19, 8);
        job.precision = Precision::F64;
        let Err(Error::DeviceLacks { lacks, .. }) = Plan::stepper(&job, None, &small) else {
            panic!("the small device cannot run it");
        };
        assert_eq!(lacks.len(), 5, "{lacks:?}");
        assert!(lacks[0].starts_with("SHADER_F64"));
        assert!(
            lacks[1].contains("4194304 bytes for the states"),
            "{}",
            lacks[1]
        );
        assert!(lacks[2].starts_with("2048 workgroups"), "{}", lacks[2]);
        assert!(
            lacks[3].starts_with("workgroups of 64 invocations"),
            "{}",
            lacks[3]
        );
        assert!(lacks[4].starts_with("2 storage buffers"), "{}", lacks[4]);
        // Only the states need to fit: the same job on the CPU twin's limits plans.
        assert!(Plan::stepper(&job, None, &dev).is_ok());
    }

    /// With replicas the reduction has a partial per point segment of each block: chunks
    /// hold no more blocks than one reduce dispatch and one binding of partials allow, the
    /// quantile pilot covers every point, and long fixed-step runs are cut into dispatches.
    #[test]
    fn replicas_bound_chunks_by_the_reduction_and_pilot_every_point() {
        let dev = DeviceInfo::cpu();
        let job = |paths: u64, r: u64| {
            Ensemble::new(System::builtin("gbm").unwrap(), paths)
                .sweep("sigma", 0.1, 0.5)
                .replicas(r)
                .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.01, 8))
                .unwrap()
        };
        for (paths, r) in [(4_200_000u64, 1u64), (4_200_000, 2), (100, 100_000)] {
            let p = Plan::new(&job(paths, r), &Options::default(), &dev).unwrap();
            let groups = (p.blocks * p.segs).div_ceil(64);
            assert!(
                groups <= dev.limits.max_workgroups_per_dim as u64,
                "{paths} x {r}"
            );
            assert!(
                p.slot_bytes <= dev.limits.max_storage_binding,
                "{paths} x {r}"
            );
            assert_eq!(p.chunks.iter().map(|c| c.count).sum::<u64>(), paths * r);
        }
        let mut opts = Options::default();
        opts.save_at.quantiles = vec![0.5];
        let p = Plan::new(&job(64, 1000), &opts, &dev).unwrap();
        assert_eq!(p.pilot, Some(64_000));
        let p = Plan::new(&gbm(1 << 20, 200_000), &Options::default(), &dev).unwrap();
        assert_eq!(p.dispatch_steps, Some(MAX_DISPATCH_STEPS));
        assert!(p.target.segmented);
    }

    #[test]
    fn a_plain_run_is_one_chunk_one_segment_and_its_bytes_add_up() {
        let p = Plan::new(&gbm(1000, 100), &Options::default(), &DeviceInfo::cpu()).unwrap();
        assert_eq!((p.capacity, p.chunks.len(), p.stride), (1024, 1, 256));
        assert_eq!(p.save_steps, [100]);
        assert!(!p.target.segmented);
        assert_eq!(
            p.segments(),
            [Segment {
                save_index: 0,
                step0: 0,
                steps: 100,
                ends_segment: true
            }]
        );
        // 32 groups x (3 + 5) words x 4 bytes of partials per save time, one slot.
        assert_eq!((p.slot_bytes, p.slots), (1024, 1));
        assert_eq!(p.buffer_bytes(Buf::States), 4096);
        let sum: u64 = Buf::ALL.iter().map(|&b| p.buffer_bytes(b).max(16)).sum();
        assert_eq!(p.device_bytes, sum);
    }

    #[test]
    fn segments_cut_at_save_times_and_dispatch_bounds() {
        let mut opts = saving(8);
        opts.dispatch_steps = Some(3);
        let p = Plan::new(&gbm(600, 20), &opts, &DeviceInfo::cpu()).unwrap();
        assert_eq!(p.save_steps, [8, 16, 20]);
        assert!(p.target.segmented);
        let cuts: Vec<(u64, u64, bool)> = p
            .segments()
            .iter()
            .map(|s| (s.step0, s.steps, s.ends_segment))
            .collect();
        assert_eq!(
            cuts,
            [
                (0, 3, false),
                (3, 3, false),
                (6, 2, true),
                (8, 3, false),
                (11, 3, false),
                (14, 2, true),
                (16, 3, false),
                (19, 1, true)
            ]
        );
        assert_eq!(p.uniform_slots, 8);
        assert_eq!(p.buffer_bytes(Buf::Uniform), 8 * 256);
    }

    #[test]
    fn partial_slots_are_batched_within_the_budget() {
        // 2^20 paths, dim 1: 32768 groups x 8 words x 4 bytes = 1 MiB per save time.
        let p = Plan::new(&gbm(1 << 20, 1000), &saving(1), &DeviceInfo::cpu()).unwrap();
        assert_eq!(p.slot_bytes, 1 << 20);
        assert_eq!(p.nsaves(), 1000);
        assert_eq!(p.slots, 16); // 16 MiB / 1 MiB
        assert_eq!(p.buffer_bytes(Buf::Partials), 16 << 20);
    }

    #[test]
    fn chunks_follow_the_cap_and_the_pilot_takes_the_first_trajectories() {
        let mut opts = saving(10);
        opts.chunk = Some(1000);
        opts.save_at.quantiles = vec![0.5];
        let p = Plan::new(&gbm(5000, 20), &opts, &DeviceInfo::cpu()).unwrap();
        assert_eq!(p.capacity, 768);
        assert_eq!(p.chunks.len(), 7);
        assert_eq!(p.pilot, Some(PILOT));
        // Quantile histograms: one per row, QUANTILE_BINS + 2 counters each.
        assert_eq!(p.observers.words, crate::observe::QUANTILE_BINS + 2);
    }

    #[test]
    fn refusals_need_no_device() {
        let job = gbm(1000, 10);
        let mut dev = DeviceInfo::cpu();
        dev.f64 = false;
        let f64_job = Ensemble::new(System::builtin("gbm").unwrap(), 10)
            .precision(Precision::F64)
            .job(Method::EulerMaruyama, TimeGrid::new(0.0, 0.1, 10))
            .unwrap();
        let err = |job: &Job, opts: &Options, dev: &DeviceInfo| {
            Plan::new(job, opts, dev).unwrap_err().to_string()
        };
        assert!(err(&f64_job, &Options::default(), &dev).contains("SHADER_F64"));
        let lanes3 = Options {
            lanes: Some(3),
            ..Default::default()
        };
        assert!(err(&job, &lanes3, &DeviceInfo::cpu()).contains("lanes must be 1, 2 or 4"));
        let zero = Options {
            dispatch_steps: Some(0),
            ..Default::default()
        };
        assert!(err(&job, &zero, &DeviceInfo::cpu()).contains("at most 0 steps"));
        let tiny = Options {
            chunk: Some(100),
            ..Default::default()
        };
        assert!(err(&job, &tiny, &DeviceInfo::cpu()).contains("--chunk must be at least 256"));
        let mut huge = saving(1);
        huge.save_at.hist = vec![Histogram {
            component: 0,
            lo: 0.0,
            hi: 1.0,
            bins: 1 << 20,
        }];
        let mut small = DeviceInfo::cpu();
        small.limits.max_storage_binding = 1 << 24;
        assert!(err(&job, &huge, &small).contains("more than one binding holds"));
    }
}
