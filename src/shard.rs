//! Scale-out and checkpoints: a run's outcome on disk, to be merged or resumed.
//!
//! A shard ([`Shard`], `Options::shard`) runs a contiguous range of whole reduction blocks
//! and keeps its [`Outcome`] — merge-tree nodes of its statistics, integer histogram counts,
//! kept paths, counters — in a [`Partials`] file with the job's fingerprint. [`merge`] joins
//! the shards' outcomes in shard order ([`Outcome::join`]), which forms exactly the merge
//! trees one machine forms, so the merged results are the single run's bit for bit (on one
//! adapter class: WGSL's `exp`, `log` and `/` are not correctly rounded across vendors, so
//! the adapter is part of the fingerprint). A checkpoint is the same file, written while a
//! run goes, covering its completed chunks; a resumed run continues from its end.
//!
//! File layout: 16 bytes `throng-partials\n`, the format (u32 LE), the payload's length (u64
//! LE), its SHA-256 (32 bytes), then the payload (bincode of [`Partials`]). A file that is
//! short, long, altered or of another format is refused on read, by name.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::exec::Outcome;
use crate::plan::{Options, Plan, Shard};

const MAGIC: &[u8; 16] = b"throng-partials\n";
/// The layout of [`Partials`]; files of another format are refused.
pub const FORMAT: u32 = 1;
/// A shard's partials in its `--out` directory.
pub const PARTIALS: &str = "partials.bin";
/// A shard's manifest beside them, for people and scripts (merging reads only the partials).
pub const MANIFEST: &str = "shard.json";

fn input(what: &str, message: String) -> Error {
    Error::Input {
        what: what.into(),
        message,
    }
}

/// Where a shard's index and count come from when `--shard` is not given: the batch
/// systems' array variables, first found first. `count` is `--shards N`, for Kubernetes
/// Indexed Jobs (which export no count) or to check the one found. `get` reads the
/// environment. Returns the shard and the variables it came from.
pub fn from_env(
    count: Option<u64>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Shard, String)>> {
    let num = |name: &str| -> Result<Option<u64>> {
        match get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                input(
                    "shard",
                    format!("{name}={v} is not a whole number (it names this task's shard)"),
                )
            }),
        }
    };
    let found = if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let n = num("SLURM_ARRAY_TASK_COUNT")?;
        if id < min || (id - min) % step != 0 {
            return Err(input(
                "shard",
                format!(
                    "SLURM_ARRAY_TASK_ID={id} is not MIN {min} + k * STEP {step}: submit the \
                     array as --array=0-N (optionally :STEP), or give --shard I/N"
                ),
            ));
        }
        let from = format!(
            "SLURM_ARRAY_TASK_ID={id}, _MIN={min}, _STEP={step}, _COUNT={}",
            n.map_or("unset".into(), |n| n.to_string())
        );
        Some(((id - min) / step, n, from))
    } else if let Some(i) = num("JOB_COMPLETION_INDEX")? {
        Some((i, None, format!("JOB_COMPLETION_INDEX={i}")))
    } else if let Some(i) = num("AWS_BATCH_JOB_ARRAY_INDEX")? {
        let n = num("AWS_BATCH_JOB_ARRAY_SIZE")?;
        Some((i, n, format!("AWS_BATCH_JOB_ARRAY_INDEX={i}")))
    } else if let Some(i) = num("BATCH_TASK_INDEX")? {
        let n = num("BATCH_TASK_COUNT")?;
        Some((i, n, format!("BATCH_TASK_INDEX={i}")))
    } else {
        None
    };
    let Some((index, env_count, from)) = found else {
        return Ok(None);
    };
    let count = match (env_count, count) {
        (Some(e), Some(c)) if e != c => {
            return Err(input(
                "--shards",
                format!("--shards {c} differs from the {e} shards the environment gives ({from})"),
            ))
        }
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => {
            return Err(input(
                "--shards",
                format!(
                    "{from} names this task's shard, but the environment gives no count \
                     (Kubernetes exports none): pass --shards N, the Job's completions"
                ),
            ))
        }
    };
    let shard = Shard { index, count };
    shard.check()?;
    Ok(Some((shard, from)))
}

/// Feeds formatted text to a hash without building the string (tables can be large).
struct HashWriter(Sha256);

impl std::fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// The job's fingerprint: SHA-256 over everything its results depend on — the system (its
/// WGSL, parameters, noise, tables), the inputs, method, grid, seed, precision, observers,
/// throng's version and the adapter class — and over nothing they do not (chunking, lanes,
/// fusion, where the spec file lies).
pub fn fingerprint(job: &Job, opts: &Options, adapter: &str) -> String {
    use std::fmt::Write as _;
    let mut h = HashWriter(Sha256::new());
    let s = &job.system;
    let _ = write!(
        h,
        "throng {} | {adapter} | {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} | ",
        env!("CARGO_PKG_VERSION"),
        s.name,
        s.state,
        s.params,
        s.noise,
        s.wgsl,
        s.kind,
        s.carried,
        s.tally,
        s.tables
    );
    let _ = write!(
        h,
        "{:?} {} {:?} {} {:?} {} {:?} {:?} {:?} {:?} {:?} {} {:?} | {:?} {} {:?}",
        job.method,
        job.paths,
        job.replicas,
        job.seed,
        job.grid,
        job.steps,
        job.precision,
        job.values,
        job.strides,
        job.init,
        job.inputs,
        job.tables,
        job.brownian,
        opts.save_at,
        opts.keep_states,
        opts.dense,
    );
    hex(&h.0.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A shard's or a checkpoint's outcome with what identifies it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Partials {
    /// throng's version that wrote it.
    pub version: String,
    pub fingerprint: String,
    /// The adapter class it ran on (the fingerprint includes it).
    pub adapter: String,
    /// The shard, if the run was one.
    pub shard: Option<Shard>,
    /// The whole run's trajectories.
    pub paths: u64,
    /// Whether the run is unfinished: a checkpoint to resume, not a shard to merge.
    pub checkpoint: bool,
    /// How to run the job again (the command line's arguments), so that a merge or a resume
    /// can rebuild it; the fingerprint says whether it did.
    pub command: Vec<String>,
    /// The directory the command ran in (its relative paths are relative to it).
    pub cwd: String,
    pub outcome: Outcome,
}

impl Partials {
    /// The file's bytes: header, checksum, payload.
    pub fn encode(&self) -> Vec<u8> {
        let payload = bincode::serialize(self).expect("partials serialize");
        let mut out = Vec::with_capacity(60 + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        out
    }

    /// Reads a file's bytes back, refusing (naming `path`) anything that is not a whole,
    /// unaltered partials file of this format.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Partials> {
        let bad = |why: String| {
            input(
                "partials",
                format!(
                    "{} is not a usable throng partials file: {why}",
                    path.display()
                ),
            )
        };
        if bytes.len() < 60 || &bytes[..16] != MAGIC {
            return Err(bad("it does not start with throng's header".into()));
        }
        let format = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(bad(format!(
                "it is of format {format}; this throng reads format {FORMAT}"
            )));
        }
        let len = u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes"));
        let payload = &bytes[60..];
        if payload.len() as u64 != len {
            return Err(bad(format!(
                "it holds {} bytes of data where its header says {len} (truncated?)",
                payload.len()
            )));
        }
        if Sha256::digest(payload).as_slice() != &bytes[28..60] {
            return Err(bad("its checksum does not match its data (altered?)".into()));
        }
        bincode::deserialize(payload).map_err(|e| bad(format!("its data does not decode: {e}")))
    }

    /// Writes the file atomically: a temporary file beside it, synced, renamed into place,
    /// the directory synced; an error names the path and leaves any previous file whole.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::output::write_atomic(path, &self.encode())
    }

    pub fn read(path: &Path) -> Result<Partials> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            what: path.display().to_string(),
            source,
        })?;
        Partials::decode(&bytes, path)
    }

    /// A one-line description: "shard 2/4 (trajectories 512..768)".
    pub fn describe(&self) -> String {
        let (a, b) = self.outcome.range;
        match self.shard {
            Some(s) => format!("shard {}/{} (trajectories {a}..{b})", s.index, s.count),
            None => format!("trajectories {a}..{b}"),
        }
    }
}

/// The manifest written beside a shard's partials: what it is, in JSON.
pub fn manifest(p: &Partials) -> serde_json::Value {
    serde_json::json!({
        "format": FORMAT,
        "throng": p.version,
        "fingerprint": p.fingerprint,
        "adapter": p.adapter,
        "shard": p.shard.map(|s| format!("{}/{}", s.index, s.count)),
        "trajectories": [p.outcome.range.0, p.outcome.range.1],
        "paths": p.paths,
        "completed": p.outcome.completed,
        "partial": p.outcome.partial,
        "command": p.command,
        "cwd": p.cwd,
        "partials": PARTIALS,
    })
}

/// What [`merge`] made: the joined outcome, and the shards absent from it.
pub struct Merged {
    pub outcome: Outcome,
    pub missing: Vec<u64>,
}

/// Joins shards of one job (`plan` is the whole run's) in shard order. Refuses, with one
/// line naming them, shards of different jobs, counts or formats, duplicates, unfinished
/// shards, and (unless `partial`) missing ones.
pub fn merge(mut shards: Vec<(PathBuf, Partials)>, plan: &Plan, partial: bool) -> Result<Merged> {
    let name = |p: &PathBuf| p.display().to_string();
    let Some((p0, first)) = shards.first() else {
        return Err(input("merge", "no shards to merge".into()));
    };
    let (p0, fp) = (p0.clone(), first.fingerprint.clone());
    for (p, s) in &shards {
        if s.fingerprint != fp {
            return Err(input(
                "merge",
                format!(
                    "{} is of another job than {} (fingerprint {}…, not {}…)",
                    name(p),
                    name(&p0),
                    &s.fingerprint[..12],
                    &fp[..12]
                ),
            ));
        }
        if s.checkpoint || s.outcome.partial {
            return Err(input(
                "merge",
                format!(
                    "{} is unfinished ({} of its trajectories done): resume it with --resume first",
                    name(p),
                    s.outcome.completed
                ),
            ));
        }
    }
    let Some(count) = shards[0].1.shard.map(|s| s.count) else {
        return Err(input(
            "merge",
            format!("{} is not a shard (it ran without --shard)", name(&p0)),
        ));
    };
    for (p, s) in &shards {
        match s.shard {
            Some(sh) if sh.count == count => {}
            Some(sh) => {
                return Err(input(
                    "merge",
                    format!(
                        "{} is shard {}/{}, but {} is of {count} shards: their ranges overlap",
                        name(p),
                        sh.index,
                        sh.count,
                        name(&p0)
                    ),
                ))
            }
            None => {
                return Err(input(
                    "merge",
                    format!("{} is not a shard (it ran without --shard)", name(p)),
                ))
            }
        }
    }
    shards.sort_by_key(|(_, s)| s.shard.map(|s| s.index));
    for w in shards.windows(2) {
        if w[0].1.shard == w[1].1.shard {
            let i = w[0].1.shard.map_or(0, |s| s.index);
            return Err(input(
                "merge",
                format!(
                    "shard {i}/{count} is given twice: {} and {}",
                    name(&w[0].0),
                    name(&w[1].0)
                ),
            ));
        }
    }
    let have: Vec<u64> = shards
        .iter()
        .filter_map(|(_, s)| s.shard.map(|s| s.index))
        .collect();
    let missing: Vec<u64> = (0..count).filter(|i| !have.contains(i)).collect();
    if !missing.is_empty() && !partial {
        let list: Vec<String> = missing.iter().map(|i| i.to_string()).collect();
        return Err(input(
            "merge",
            format!(
                "shards {} of {count} are missing (merge what is here with --partial)",
                list.join(", ")
            ),
        ));
    }
    let mut it = shards.into_iter();
    let (_, first) = it.next().expect("at least one shard");
    let mut outcome = first.outcome;
    for (_, s) in it {
        outcome.join(&s.outcome, plan)?;
    }
    if !missing.is_empty() {
        outcome.partial = true;
    }
    Ok(Merged { outcome, missing })
}
