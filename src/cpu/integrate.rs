//! The twin of `shaders/integrate.wgsl`, the entry point every method shares: each
//! trajectory of the chunk starts from its initial state (or the state the previous segment
//! stored), is advanced through the dispatch's steps by its method's twin, and is stored.

use bytemuck::Pod;

use super::fixed::{self, Sde};
use super::{controller, rk4, sde_controller, Real};
use crate::ensemble::Job;
use crate::kernel::ChunkUniform;
use crate::method::Method;
use crate::plan::Plan;

/// Trajectory `traj`'s rows before its first step (its initial state, and an adaptive
/// method's controller rows) and its parameters, in precision `T`.
pub fn start<T: Real>(job: &Job, traj: u64, dense: bool) -> (Vec<T>, Vec<T>) {
    let (x, p) = job.inputs_at(traj);
    let x: Vec<T> = x.into_iter().map(T::of).collect();
    let p = p.into_iter().map(T::of).collect();
    let row = match job.method {
        Method::Dopri5(_)
        | Method::AdaptiveHeun(_)
        | Method::AdaptiveMilstein(_)
        | Method::AdaptiveSra1(_) => controller::start_row(job, x, dense),
        _ => x,
    };
    (row, p)
}

/// Advances one trajectory's rows through steps step0 .. step0 + steps with its method
/// (`dense`: an adaptive method's dense output, `Plan::target`). Returns whether an adaptive
/// trajectory ran out of steps.
pub fn advance<T: Real>(
    job: &Job,
    traj: u64,
    p: &[T],
    row: &mut [T],
    (step0, steps): (u64, u64),
    dense: bool,
) -> bool {
    let dim = job.system.dim();
    match job.method {
        Method::Rk4 => {
            let sys = job.system.twin.expect("checked by cpu::solve");
            rk4::rk4_advance(sys, &mut row[..dim], p, &rk4::Steps::of(job, steps), step0);
            false
        }
        Method::Dopri5(_) => controller::segment(job, p, row, step0, steps, dense),
        Method::AdaptiveHeun(_) | Method::AdaptiveMilstein(_) | Method::AdaptiveSra1(_) => {
            sde_controller::segment(job, traj, p, row, step0, steps)
        }
        // Maps have no Rust twins; `cpu::solve` refuses them.
        Method::Iterate => unreachable!("no CPU twin iterates a map"),
        _ => {
            let mut s = Sde::new(job, p.to_vec());
            let mut x = row[..dim].to_vec();
            fixed::advance(job, traj, &mut s, &mut x, step0, steps);
            row[..dim].copy_from_slice(&x);
            false
        }
    }
}

/// One dispatch over a chunk, on all cores: `states` holds the chunk's rows component-major
/// (`states[c * capacity + j]`), `events` the unfinished count and lowest unfinished index.
pub fn dispatch<T: Real + Pod>(
    job: &Job,
    plan: &Plan,
    u: &ChunkUniform,
    states: &mut [T],
    events: &mut [u32],
) {
    let (n, cap) = (u.count as usize, plan.capacity as usize);
    let (rows, dense) = (plan.rows + plan.scratch_rows, plan.target.dense);
    let (step0, steps) = (u.step0 as u64, u.steps as u64);
    let first = u.first as u64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.max(1));
    let per = n.div_ceil(threads);
    let view: &[T] = states;
    // Each thread returns its trajectories' rows (row-major) and the unfinished ones.
    let parts: Vec<(Vec<T>, Vec<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let (lo, hi) = ((t * per).min(n), ((t + 1) * per).min(n));
                    let mut out = Vec::with_capacity((hi - lo) * rows);
                    let mut unfinished = Vec::new();
                    for j in lo..hi {
                        let traj = first + j as u64;
                        let (mut row, p) = start::<T>(job, traj, dense);
                        if step0 > 0 {
                            for (c, v) in row.iter_mut().enumerate() {
                                *v = view[c * cap + j];
                            }
                        }
                        if advance(job, traj, &p, &mut row, (step0, steps), dense) {
                            unfinished.push(traj);
                        }
                        out.extend(row);
                    }
                    (out, unfinished)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Counted once, at the end: a trajectory out of steps stays out in later segments.
    let final_segment = step0 + steps >= job.steps as u64;
    let mut j = 0;
    for (out, unfinished) in parts {
        for row in out.chunks_exact(rows) {
            for (c, &v) in row.iter().enumerate() {
                states[c * cap + j] = v;
            }
            j += 1;
        }
        if final_segment {
            for traj in unfinished {
                events[0] += 1;
                events[1] = events[1].min(traj as u32);
            }
        }
    }
}
