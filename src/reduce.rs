//! Statistics of terminal states: per-block f32 partials (from `shaders/reduce.wgsl` or its
//! twin `cpu::reduce`) merged on the host in f64, in block order, with Chan's update.

use serde::Serialize;

/// Trajectories per reduction block; a chunk is a whole number of blocks, and a workgroup of
/// the integration kernels covers exactly one block.
pub const BLOCK: u32 = 256;

/// Words per reduction block for a system of dimension `dim`.
pub fn partial_words(dim: usize) -> usize {
    3 + 5 * dim
}

/// How many non-finite trajectory indices statistics keep.
pub const MAX_REPORTED: usize = 8;

/// Count, mean, sum of squared deviations, min and max per component, over finite
/// trajectories; `nonfinite` trajectories (any component NaN or infinite) are excluded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub nonfinite: u64,
    /// Indices of non-finite trajectories, to replay them with the same seed: the first of
    /// each of the first `MAX_REPORTED` reduction blocks that have any (so the first entry
    /// is the lowest index overall).
    pub first_nonfinite: Vec<u64>,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl Stats {
    pub fn empty(dim: usize) -> Stats {
        Stats {
            count: 0,
            nonfinite: 0,
            first_nonfinite: Vec::new(),
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
            min: vec![f64::INFINITY; dim],
            max: vec![f64::NEG_INFINITY; dim],
        }
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Unbiased sample variance per component (NaN with fewer than two trajectories).
    pub fn var(&self) -> Vec<f64> {
        self.m2
            .iter()
            .map(|m2| {
                if self.count > 1 {
                    m2 / (self.count - 1) as f64
                } else {
                    f64::NAN
                }
            })
            .collect()
    }

    /// Merges another set of statistics into this one (Chan et al. 1979).
    pub fn merge(&mut self, n: u64, mean: &[f64], m2: &[f64], min: &[f64], max: &[f64]) {
        if n == 0 {
            return;
        }
        let na = self.count as f64;
        let nb = n as f64;
        let nt = na + nb;
        for c in 0..self.dim() {
            let d = mean[c] - self.mean[c];
            self.mean[c] += d * (nb / nt);
            self.m2[c] += m2[c] + d * d * (na * nb / nt);
            self.min[c] = self.min[c].min(min[c]);
            self.max[c] = self.max[c].max(max[c]);
        }
        self.count += n;
    }

    /// Components `at..` as statistics of their own (same counts).
    pub fn split_off(&mut self, at: usize) -> Stats {
        Stats {
            count: self.count,
            nonfinite: self.nonfinite,
            first_nonfinite: self.first_nonfinite.clone(),
            mean: self.mean.split_off(at),
            m2: self.m2.split_off(at),
            min: self.min.split_off(at),
            max: self.max.split_off(at),
        }
    }

    /// Merges reduction blocks, in order, from their words (layout in `shaders/reduce.wgsl`):
    /// the scaled f32 moments are unscaled exactly in f64.
    pub fn absorb_blocks(&mut self, words: &[u32]) {
        self.absorb_words(
            words,
            |w| f32::from_bits(w) as f64,
            |w| w as u64,
            |w| (w != u32::MAX).then_some(w as u64),
        );
    }

    /// The same for the f64 kernel, whose words are f64 values (counts too).
    pub fn absorb_blocks64(&mut self, words: &[f64]) {
        self.absorb_words(
            words,
            |w| w,
            |w| w as u64,
            |w| (w >= 0.0).then_some(w as u64),
        );
    }

    fn absorb_words<W: Copy>(
        &mut self,
        words: &[W],
        f: impl Fn(W) -> f64,
        n: impl Fn(W) -> u64,
        index: impl Fn(W) -> Option<u64>,
    ) {
        let dim = self.dim();
        let (mut mean, mut m2, mut lo, mut hi) = (
            vec![0.0; dim],
            vec![0.0; dim],
            vec![0.0; dim],
            vec![0.0; dim],
        );
        for block in words.chunks_exact(partial_words(dim)) {
            self.nonfinite += n(block[1]);
            if let Some(i) = index(block[2]) {
                if self.first_nonfinite.len() < MAX_REPORTED {
                    self.first_nonfinite.push(i);
                }
            }
            for c in 0..dim {
                let w = &block[3 + 5 * c..];
                let inv = f(w[4]);
                mean[c] = f(w[0]) / inv;
                m2[c] = f(w[1]) / (inv * inv);
                lo[c] = f(w[2]);
                hi[c] = f(w[3]);
            }
            self.merge(n(block[0]), &mean, &m2, &lo, &hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chan_merge_equals_direct_moments() {
        let data: Vec<f64> = (0..1000)
            .map(|i| ((i * 37 % 101) as f64).sin() * 3.0 + 7.0)
            .collect();
        let mut s = Stats::empty(1);
        for part in data.chunks(77) {
            let n = part.len() as f64;
            let m = part.iter().sum::<f64>() / n;
            let m2 = part.iter().map(|v| (v - m) * (v - m)).sum::<f64>();
            let mn = part.iter().cloned().fold(f64::INFINITY, f64::min);
            let mx = part.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            s.merge(part.len() as u64, &[m], &[m2], &[mn], &[mx]);
        }
        let n = data.len() as f64;
        let m = data.iter().sum::<f64>() / n;
        let v = data.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        assert_eq!(s.count, 1000);
        assert!((s.mean[0] - m).abs() < 1e-12 * m.abs());
        assert!((s.var()[0] - v).abs() < 1e-12 * v);
    }
}
