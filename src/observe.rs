//! What a run reports besides terminal statistics (the "save-at" of the run): statistics at
//! save times every k steps, computed on the device where the states live.

use serde::Serialize;

use crate::ensemble::Job;
use crate::error::{Error, Result};
use crate::reduce::Stats;

/// Save times of a run, as step counts from t0: every `every` steps, and always the last
/// step. Fixed-step methods only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SaveAt {
    /// Save every this many steps (None: the end only).
    pub every: Option<u64>,
}

impl SaveAt {
    /// The steps at which the run saves, in order, ending with the job's last step.
    pub fn steps(&self, job: &Job) -> Result<Vec<u64>> {
        let n = job.steps as u64;
        let Some(k) = self.every else {
            return Ok(vec![n]);
        };
        if k == 0 {
            return Err(Error::Invalid("save every 0 steps: give at least 1".into()));
        }
        if job.method.is_adaptive() {
            return Err(Error::Invalid(format!(
                "saving at several times needs a fixed-step method; {} chooses its own steps \
                 (dense output for it is not implemented)",
                job.method.name()
            )));
        }
        let mut out: Vec<u64> = (1..=n / k).map(|j| j * k).collect();
        if out.last() != Some(&n) {
            out.push(n);
        }
        if out.len() > MAX_SAVES {
            return Err(Error::Invalid(format!(
                "{} save times; at most {MAX_SAVES} (save less often)",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// Most save times one run may have.
pub const MAX_SAVES: usize = 1 << 16;

/// Statistics at one save time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Save {
    /// Steps from t0.
    pub step: u64,
    pub t: f64,
    pub stats: Stats,
}
