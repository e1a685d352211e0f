//! Scale-out: shards merged, checkpoints resumed and faulted runs give the single run's
//! results bit for bit, and damaged or foreign pieces are refused by name.

mod common;

use std::cell::RefCell;
use std::path::PathBuf;

use throng::exec::{Outcome, Resume};
use throng::observe::Histogram;
use throng::shard::{self, Partials};
use throng::{Context, Ensemble, Error, Job, Method, Options, SaveAt, Shard, Solution, System};
use throng::{Precision, TimeGrid};

/// GBM with every observer: saves, a histogram, quantiles (their pilot), kept paths.
fn gbm(paths: u64, precision: Precision) -> Job {
    Ensemble::new(System::builtin("gbm").unwrap(), paths)
        .x0(&[1.0])
        .set("mu", 0.05)
        .sweep("sigma", 0.1, 0.4)
        .precision(precision)
        .seed(7)
        .job(Method::EulerMaruyama, TimeGrid::until(0.0, 1.0, 32))
        .unwrap()
}

/// The same over 60 points of 170 replicas each (points straddle chunks, not shards).
fn gbm_points() -> Job {
    Ensemble::new(System::builtin("gbm").unwrap(), 60)
        .x0(&[1.0])
        .sweep("mu", -0.2, 0.2)
        .set("sigma", 0.3)
        .replicas(170)
        .seed(5)
        .job(Method::Milstein, TimeGrid::until(0.0, 1.0, 16))
        .unwrap()
}

fn options(chunk: u64) -> Options {
    Options {
        chunk: Some(chunk),
        save_at: SaveAt {
            every: Some(8),
            hist: vec![Histogram {
                component: 0,
                lo: 0.0,
                hi: 3.0,
                bins: 24,
            }],
            quantiles: vec![0.05, 0.5, 0.95],
            keep_paths: 6,
            keep_every: 997,
            ..Default::default()
        },
        ..Default::default()
    }
}

const ADAPTER: &str = "test adapter";

/// A finished piece's partials, through their file format and back.
fn stamp(job: &Job, opts: &Options, outcome: Outcome, checkpoint: bool) -> Partials {
    let p = Partials {
        version: "test".into(),
        fingerprint: shard::fingerprint(job, opts, ADAPTER),
        adapter: ADAPTER.into(),
        shard: opts.shard,
        paths: job.paths,
        checkpoint,
        command: vec![],
        cwd: String::new(),
        outcome,
    };
    Partials::decode(&p.encode(), &PathBuf::from("piece")).unwrap()
}

fn assemble(job: &Job, opts: &Options, outcome: Outcome) -> Solution {
    let plan = throng::plan::Plan::new(job, opts, &throng::plan::DeviceInfo::cpu()).unwrap();
    throng::solve::Run {
        plan,
        outcome,
        timing: Default::default(),
        adapter: ADAPTER.into(),
    }
    .solution(job, &opts.save_at)
}

/// Every result a run reports, to compare bit for bit.
fn results(s: &Solution) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {}",
        s.stats, s.saves, s.points, s.tally, s.adaptive, s.completed
    )
}

fn shards(ctx: &Context, job: &Job, opts: &Options, n: u64) -> Solution {
    let pieces = (0..n)
        .map(|index| {
            let o = Options {
                shard: Some(Shard { index, count: n }),
                ..opts.clone()
            };
            let run = throng::solve::run(ctx, job, &o, Resume::default()).unwrap();
            (
                PathBuf::from(format!("shard-{index}")),
                stamp(job, &o, run.outcome, false),
            )
        })
        .rev()
        .collect();
    let plan = throng::plan::Plan::new(job, opts, &throng::plan::DeviceInfo::cpu()).unwrap();
    let merged = shard::merge(pieces, &plan, false).unwrap();
    assert!(merged.missing.is_empty());
    assemble(job, opts, merged.outcome)
}

/// Shards 1, 2, 3 and 7 of a run, merged (given in reverse order), equal the single run
/// bit for bit: moments at every save time, histograms, quantiles, kept paths, per-point
/// statistics; in f32 and f64, with several chunks per shard.
#[test]
fn shards_merge_to_the_single_run_bit_for_bit() {
    let ctx = common::ctx();
    for (job, chunk) in [
        (gbm(20_000, Precision::F32), 2048),
        (gbm(9_000, Precision::F64), 1024),
        (gbm_points(), 1024),
    ] {
        let opts = options(chunk);
        let single = throng::solve(&ctx, &job, &opts).unwrap();
        assert_eq!(single.completed, job.paths);
        for n in [1, 2, 3, 7] {
            let merged = shards(&ctx, &job, &opts, n);
            assert_eq!(
                results(&merged),
                results(&single),
                "{n} shards of {}",
                job.paths
            );
        }
    }
}

/// A run that checkpoints after every chunk, resumed from each checkpoint in turn, ends
/// with the uninterrupted run's results bit for bit (per-point statistics included, whose
/// points straddle the chunks).
#[test]
fn resuming_from_any_checkpoint_gives_the_uninterrupted_run() {
    let ctx = common::ctx();
    for job in [gbm(6_000, Precision::F32), gbm_points()] {
        let opts = options(1024);
        let whole = throng::solve(&ctx, &job, &opts).unwrap();
        let snaps = RefCell::new(Vec::new());
        let resume = Resume {
            prior: None,
            checkpoint: Some((
                0.0,
                Box::new(|o: &Outcome| {
                    snaps.borrow_mut().push(stamp(&job, &opts, o.clone(), true));
                    Ok(())
                }),
            )),
        };
        let run = throng::solve::run(&ctx, &job, &opts, resume).unwrap();
        assert_eq!(results(&run.solution(&job, &opts.save_at)), results(&whole));
        let snaps = snaps.into_inner();
        let chunks = job.paths.div_ceil(1024) as usize;
        assert_eq!(
            snaps.len(),
            chunks - 1,
            "a checkpoint after every chunk but the last"
        );
        for snap in snaps {
            let end = snap.outcome.range.1;
            let o = Options {
                start: Some(end),
                ..opts.clone()
            };
            let resume = Resume {
                prior: Some(snap.outcome),
                checkpoint: None,
            };
            let rest = throng::solve::run(&ctx, &job, &o, resume).unwrap();
            assert_eq!(
                results(&rest.solution(&job, &o.save_at)),
                results(&whole),
                "resumed at {end}"
            );
        }
    }
}

/// A device fault injected in chunk 3 ends the run with an error naming the chunk; the
/// checkpoint then holds the two completed chunks, and resuming from it finishes the run
/// as if nothing had happened. A sharded run's fault names its own chunk.
#[test]
fn an_injected_fault_names_its_chunk_and_the_checkpoint_finishes_the_run() {
    let ctx = common::ctx();
    let job = gbm(8_000, Precision::F32);
    let opts = options(1024);
    let whole = throng::solve(&ctx, &job, &opts).unwrap();
    let last = RefCell::new(None);
    let faulty = Options {
        fault_at_chunk: Some(3),
        ..opts.clone()
    };
    let resume = Resume {
        prior: None,
        checkpoint: Some((
            0.0,
            Box::new(|o: &Outcome| {
                *last.borrow_mut() = Some(o.clone());
                Ok(())
            }),
        )),
    };
    let err = match throng::solve::run(&ctx, &job, &faulty, resume) {
        Err(e) => e,
        Ok(_) => panic!("the fault was not reported"),
    };
    let line = err.to_string();
    assert!(
        line.starts_with("chunk 3 of 8 (trajectories 2048..3072) failed (the device was lost"),
        "{line}"
    );
    assert!(
        matches!(
            err,
            Error::ChunkFailed {
                completed: 2048,
                ..
            }
        ),
        "{err:?}"
    );
    let kept = last.into_inner().expect("a checkpoint before the fault");
    assert_eq!((kept.range, kept.completed), ((0, 2048), 2048));
    let o = Options {
        start: Some(2048),
        ..opts.clone()
    };
    let rest = throng::solve::run(
        &ctx,
        &job,
        &o,
        Resume {
            prior: Some(kept),
            checkpoint: None,
        },
    )
    .unwrap();
    assert_eq!(results(&rest.solution(&job, &o.save_at)), results(&whole));
    let sharded = Options {
        shard: Some(Shard { index: 1, count: 2 }),
        fault_at_chunk: Some(2),
        ..opts.clone()
    };
    let err = throng::solve::run(&ctx, &job, &sharded, Resume::default())
        .err()
        .expect("the fault was reported");
    assert!(
        err.to_string()
            .starts_with("chunk 2 of 4 (trajectories 5120..6144) failed"),
        "{err}"
    );
}

/// Truncated, altered and foreign partials are refused, each with one line naming the file;
/// so are missing and duplicate shards, unless a partial merge is asked for.
#[test]
fn damaged_foreign_missing_and_duplicate_pieces_are_refused_by_name() {
    let ctx = common::ctx();
    let job = gbm(6_000, Precision::F32);
    let opts = options(1024);
    let piece = |job: &Job, index: u64, count: u64| {
        let o = Options {
            shard: Some(Shard { index, count }),
            ..opts.clone()
        };
        let run = throng::solve::run(&ctx, job, &o, Resume::default()).unwrap();
        stamp(job, &o, run.outcome, false)
    };
    let a = piece(&job, 0, 3);
    let bytes = a.encode();
    let path = PathBuf::from("runs/shard-0/partials.bin");
    let refused = |b: &[u8]| Partials::decode(b, &path).err().unwrap().to_string();
    let short = refused(&bytes[..bytes.len() - 10]);
    assert!(
        short.contains("runs/shard-0/partials.bin") && short.contains("truncated"),
        "{short}"
    );
    let mut altered = bytes.clone();
    let k = altered.len() - 5;
    altered[k] ^= 1;
    assert!(
        refused(&altered).contains("checksum"),
        "{}",
        refused(&altered)
    );
    assert!(refused(b"not a partials file at all, no, not even close to one").contains("header"));

    let plan = throng::plan::Plan::new(&job, &opts, &throng::plan::DeviceInfo::cpu()).unwrap();
    let (b, c) = (piece(&job, 1, 3), piece(&job, 2, 3));
    let named = |v: Vec<(&str, &Partials)>| -> Vec<(PathBuf, Partials)> {
        v.into_iter()
            .map(|(n, p)| (PathBuf::from(n), p.clone()))
            .collect()
    };
    let err = |v, partial| {
        shard::merge(named(v), &plan, partial)
            .err()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        err(vec![("s0", &a), ("s2", &c)], false),
        "shards 1 of 3 are missing (merge what is here with --partial)"
    );
    assert_eq!(
        err(
            vec![("s0", &a), ("s1", &b), ("again", &b), ("s2", &c)],
            false
        ),
        "shard 1/3 is given twice: s1 and again"
    );
    let other = piece(&gbm(6_000, Precision::F64), 1, 3);
    let e = err(vec![("s0", &a), ("f64", &other), ("s2", &c)], false);
    assert!(e.starts_with("f64 is of another job than s0"), "{e}");
    let fourths = piece(&job, 1, 4);
    let e = err(vec![("s0", &a), ("q1", &fourths)], false);
    assert!(
        e.starts_with("q1 is shard 1/4, but s0 is of 3 shards"),
        "{e}"
    );
    // A partial merge covers the shards present, and says so.
    let m = shard::merge(named(vec![("s2", &c), ("s0", &a)]), &plan, true).unwrap();
    assert_eq!(m.missing, vec![1]);
    assert!(m.outcome.partial);
    assert_eq!(
        m.outcome.completed,
        a.outcome.completed + c.outcome.completed
    );
}

/// The batch systems' array variables give the shard; the flag's count must agree with the
/// environment's, and Kubernetes needs it.
#[test]
fn the_shard_comes_from_the_batch_systems_variables() {
    let from = |vars: &[(&str, &str)], count: Option<u64>| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        shard::from_env(count, &|k| {
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    };
    let got =
        |vars: &[(&str, &str)], count| from(vars, count).unwrap().map(|(s, _)| (s.index, s.count));
    assert_eq!(got(&[], None), None);
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "7"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_STEP", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    assert_eq!(got(&slurm, None), Some((3, 4)));
    assert_eq!(got(&[("JOB_COMPLETION_INDEX", "2")], Some(5)), Some((2, 5)));
    assert_eq!(
        got(
            &[
                ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
                ("AWS_BATCH_JOB_ARRAY_SIZE", "3")
            ],
            None
        ),
        Some((0, 3))
    );
    assert_eq!(
        got(
            &[("BATCH_TASK_INDEX", "4"), ("BATCH_TASK_COUNT", "5")],
            None
        ),
        Some((4, 5))
    );
    let refused = |vars: &[(&str, &str)], count| from(vars, count).err().unwrap().to_string();
    assert!(refused(&[("JOB_COMPLETION_INDEX", "2")], None).contains("pass --shards N"));
    assert!(refused(&slurm, Some(5)).contains("differs"));
    assert!(refused(
        &[("BATCH_TASK_INDEX", "5"), ("BATCH_TASK_COUNT", "5")],
        None
    )
    .contains("does not exist"));
    let stepped = [
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_STEP", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    assert!(refused(&stepped, None).contains("not MIN 1 + k * STEP 2"));
}
