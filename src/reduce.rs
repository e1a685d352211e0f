//! Statistics of states: per-group f32 partials (from `shaders/reduce.wgsl`, from the
//! integration kernel itself when observers are fused, or from the twin `cpu::reduce`)
//! merged on the host in f64 with Chan's update, in one fixed binary tree over the partials'
//! places in the run ([`MergeTree`]), so that any contiguous pieces of a run (chunks, shards
//! on other machines, a checkpoint and its resumption) merge to the same bits.

use serde::{Deserialize, Serialize};

/// Trajectories per block; a chunk is a whole number of blocks, and a workgroup of the
/// integration kernels covers exactly one block.
pub const BLOCK: u32 = 256;

/// Trajectories per reduction group: one partial per group of GROUP consecutive
/// trajectories (aligned at multiples of GROUP in the whole run), each sum a perfect
/// pairwise tree over the group's positions in index order, so the fused observers (lanes
/// within an invocation, then shuffles between invocations) and the reduce kernel compute
/// it bit for bit alike.
pub const GROUP: u32 = 32;

/// Words per reduction block for a system of dimension `dim`.
pub fn partial_words(dim: usize) -> usize {
    3 + 5 * dim
}

/// Partials per reduction group when every `replicas` consecutive trajectories form a
/// point: one per point the group touches (a group of GROUP trajectories aligned at a
/// multiple of GROUP meets at most (GROUP - 1) / replicas + 2 points, and exactly one when
/// replicas is a multiple of GROUP); 1 without points.
pub fn segments_per_group(replicas: Option<u64>) -> u64 {
    let g = GROUP as u64;
    match replicas {
        None => 1,
        Some(r) if r % g == 0 => 1,
        Some(r) => ((g - 1) / r.max(1) + 2).min(g),
    }
}

/// How many non-finite trajectory indices statistics keep.
pub const MAX_REPORTED: usize = 8;

/// Count, mean, sum of squared deviations, min and max per component, over finite
/// trajectories; `nonfinite` trajectories (any component NaN or infinite) are excluded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

    /// Back to [`Stats::empty`], keeping the allocations.
    pub fn clear(&mut self) {
        self.count = 0;
        self.nonfinite = 0;
        self.first_nonfinite.clear();
        self.mean.fill(0.0);
        self.m2.fill(0.0);
        self.min.fill(f64::INFINITY);
        self.max.fill(f64::NEG_INFINITY);
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
        chan(
            &mut self.count,
            [&mut self.mean, &mut self.m2, &mut self.min, &mut self.max],
            n,
            [mean, m2, min, max],
        );
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

    /// Merges statistics of the trajectories after this one's (Chan's update; non-finite
    /// indices kept in order).
    pub fn join(&mut self, b: &Stats) {
        self.nonfinite += b.nonfinite;
        let room = MAX_REPORTED.saturating_sub(self.first_nonfinite.len());
        self.first_nonfinite
            .extend(b.first_nonfinite.iter().take(room));
        self.merge(b.count, &b.mean, &b.m2, &b.min, &b.max);
    }

    /// Merges one block's (or segment's) partial.
    pub fn absorb(&mut self, p: &Partial) {
        self.nonfinite += p.bad;
        if let Some(i) = p.first_bad {
            if self.first_nonfinite.len() < MAX_REPORTED {
                self.first_nonfinite.push(i);
            }
        }
        self.merge(p.count, &p.mean, &p.m2, &p.lo, &p.hi);
    }
}

/// Chan's update of (count, [mean, m2, min, max]) with another part's; an empty side takes
/// the other's values as they are.
fn chan(count: &mut u64, a: [&mut [f64]; 4], n: u64, b: [&[f64]; 4]) {
    if n == 0 {
        return;
    }
    let [mean, m2, min, max] = a;
    if *count == 0 {
        mean.copy_from_slice(b[0]);
        m2.copy_from_slice(b[1]);
        min.copy_from_slice(b[2]);
        max.copy_from_slice(b[3]);
        *count = n;
        return;
    }
    let na = *count as f64;
    let nb = n as f64;
    let f = nb / (na + nb);
    for c in 0..mean.len() {
        let d = b[0][c] - mean[c];
        mean[c] += d * f;
        m2[c] += b[1][c] + d * d * (na * f);
        min[c] = min[c].min(b[2][c]);
        max[c] = max[c].max(b[3][c]);
    }
    *count += n;
}

/// A complete subtree of a [`MergeTree`]: leaves `index << level .. (index + 1) << level`
/// merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub level: u32,
    pub index: u64,
    pub stats: Stats,
}

impl Node {
    /// The first leaf after this node's leaves.
    pub fn end(&self) -> u64 {
        (self.index + 1) << self.level
    }

    /// Its first leaf.
    pub fn start(&self) -> u64 {
        self.index << self.level
    }
}

/// Statistics of leaves (block or segment partials, numbered by their place in the whole
/// run) merged in one fixed tree: node (l, i) merges (l - 1, 2i) with (l - 1, 2i + 1), and the
/// root of a run of n leaves merges the complete nodes of n's binary digits from the right.
/// Leaves arrive in order from any start; the tree keeps only the complete nodes not yet
/// merged (O(log n)). Nodes of contiguous pieces pushed in order form the same nodes as the
/// whole run would, so floating-point results do not depend on how the run was cut.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MergeTree {
    pub dim: usize,
    pub nodes: Vec<Node>,
    /// Statistics of merged nodes, reused for new leaves: a run pushes millions.
    #[serde(skip)]
    spare: Vec<Stats>,
}

impl PartialEq for MergeTree {
    fn eq(&self, other: &MergeTree) -> bool {
        self.dim == other.dim && self.nodes == other.nodes
    }
}

impl MergeTree {
    pub fn new(dim: usize) -> MergeTree {
        MergeTree {
            dim,
            nodes: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Adds leaf `leaf`, the next in the run after the leaves pushed so far.
    pub fn push(&mut self, leaf: u64, p: &Partial) {
        let mut stats = match self.spare.pop() {
            Some(mut s) => {
                s.clear();
                s
            }
            None => Stats::empty(self.dim),
        };
        stats.absorb(p);
        self.push_node(Node {
            level: 0,
            index: leaf,
            stats,
        });
    }

    /// Adds a complete node that follows the nodes so far, merging it with its left
    /// siblings up the tree.
    pub fn push_node(&mut self, mut node: Node) {
        while node.index % 2 == 1 {
            match self.nodes.last() {
                Some(top) if top.level == node.level && top.index + 1 == node.index => {
                    let mut left = self.nodes.pop().expect("a top node").stats;
                    left.join(&node.stats);
                    self.spare.push(node.stats);
                    node = Node {
                        level: node.level + 1,
                        index: node.index / 2,
                        stats: left,
                    };
                }
                _ => break,
            }
        }
        self.nodes.push(node);
    }

    /// Adds the partials in `words` (layout in `shaders/reduce.wgsl`; the scaled f32
    /// moments are unscaled exactly in f64) as leaves `first..`.
    pub fn absorb32(&mut self, first: u64, words: &[u32]) {
        let dim = self.dim;
        for_each_block32(words, dim, |k, p| self.push(first + k as u64, p));
    }

    /// The same for the f64 kernel, whose words are f64 values (counts too).
    pub fn absorb64(&mut self, first: u64, words: &[f64]) {
        let dim = self.dim;
        for_each_block64(words, dim, |k, p| self.push(first + k as u64, p));
    }

    /// Adds another tree's nodes, which follow this one's.
    pub fn append(&mut self, other: &MergeTree) {
        for n in &other.nodes {
            self.push_node(n.clone());
        }
    }

    /// The leaves covered: `start..end` when they are contiguous.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((self.nodes.first()?.start(), self.nodes.last()?.end()))
    }

    /// The statistics of every leaf pushed: the root of the tree over them.
    pub fn total(&self) -> Stats {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return Stats::empty(self.dim);
        };
        let mut acc = last.stats.clone();
        for n in nodes {
            let mut left = n.stats.clone();
            left.join(&acc);
            acc = left;
        }
        acc
    }
}

/// One reduction group's (or point segment's) statistics, decoded to f64.
#[derive(Clone, Debug)]
pub struct Partial {
    pub count: u64,
    pub bad: u64,
    pub first_bad: Option<u64>,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

/// Decodes f32 partial words group by group, in order: `f(k, partial)` for partial k.
pub fn for_each_block32(words: &[u32], dim: usize, f: impl FnMut(usize, &Partial)) {
    decode(
        words,
        dim,
        |w| f32::from_bits(w) as f64,
        |w| w as u64,
        |w| (w != u32::MAX).then_some(w as u64),
        f,
    );
}

/// The same for the f64 kernel's words (f64 values, counts too).
pub fn for_each_block64(words: &[f64], dim: usize, f: impl FnMut(usize, &Partial)) {
    decode(
        words,
        dim,
        |w| w,
        |w| w as u64,
        |w| (w >= 0.0).then_some(w as u64),
        f,
    );
}

fn decode<W: Copy>(
    words: &[W],
    dim: usize,
    f: impl Fn(W) -> f64,
    n: impl Fn(W) -> u64,
    index: impl Fn(W) -> Option<u64>,
    mut sink: impl FnMut(usize, &Partial),
) {
    // One Partial reused: millions of partials arrive per run with many save times.
    let mut p = Partial {
        count: 0,
        bad: 0,
        first_bad: None,
        mean: vec![0.0; dim],
        m2: vec![0.0; dim],
        lo: vec![0.0; dim],
        hi: vec![0.0; dim],
    };
    for (k, block) in words.chunks_exact(partial_words(dim)).enumerate() {
        p.count = n(block[0]);
        p.bad = n(block[1]);
        p.first_bad = index(block[2]);
        for c in 0..dim {
            let w = &block[3 + 5 * c..];
            let inv = f(w[4]);
            p.mean[c] = f(w[0]) / inv;
            p.m2[c] = f(w[1]) / (inv * inv);
            p.lo[c] = f(w[2]);
            p.hi[c] = f(w[3]);
        }
        sink(k, &p);
    }
}

/// Statistics per parameter point (runs with replicas): for point p and row c, entry
/// `p * rows + c` of `mean`, `m2`, `min` and `max`; `count` and `nonfinite` per point. Each
/// point's segments are merged in block order, as [`Stats`] merges blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointStats {
    pub points: u64,
    pub rows: usize,
    pub count: Vec<u64>,
    pub nonfinite: Vec<u64>,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl PointStats {
    pub fn empty(points: u64, rows: usize) -> PointStats {
        let n = points as usize * rows;
        PointStats {
            points,
            rows,
            count: vec![0; points as usize],
            nonfinite: vec![0; points as usize],
            mean: vec![0.0; n],
            m2: vec![0.0; n],
            min: vec![f64::INFINITY; n],
            max: vec![f64::NEG_INFINITY; n],
        }
    }

    /// Merges another piece's statistics of the points it holds (count > 0) after this
    /// one's: where only one piece holds a point (shards are whole points) it is copied.
    pub fn join(&mut self, b: &PointStats) {
        for p in 0..self.points as usize {
            if b.count[p] == 0 && b.nonfinite[p] == 0 {
                continue;
            }
            let r = p * self.rows..(p + 1) * self.rows;
            self.nonfinite[p] += b.nonfinite[p];
            chan(
                &mut self.count[p],
                [
                    &mut self.mean[r.clone()],
                    &mut self.m2[r.clone()],
                    &mut self.min[r.clone()],
                    &mut self.max[r.clone()],
                ],
                b.count[p],
                [
                    &b.mean[r.clone()],
                    &b.m2[r.clone()],
                    &b.min[r.clone()],
                    &b.max[r],
                ],
            );
        }
    }

    /// Merges a segment's partial into point `p`.
    pub fn absorb(&mut self, p: usize, part: &Partial) {
        let r = p * self.rows..(p + 1) * self.rows;
        self.nonfinite[p] += part.bad;
        chan(
            &mut self.count[p],
            [
                &mut self.mean[r.clone()],
                &mut self.m2[r.clone()],
                &mut self.min[r.clone()],
                &mut self.max[r],
            ],
            part.count,
            [&part.mean, &part.m2, &part.lo, &part.hi],
        );
    }

    /// Unbiased sample variance of point p's row c (NaN with fewer than two trajectories).
    pub fn var(&self, p: usize, c: usize) -> f64 {
        if self.count[p] > 1 {
            self.m2[p * self.rows + c] / (self.count[p] - 1) as f64
        } else {
            f64::NAN
        }
    }

    /// Bytes of host memory a `PointStats` of this size holds.
    pub fn bytes(points: u64, rows: usize) -> u64 {
        points * (16 + 32 * rows as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(k: u64) -> Partial {
        let x = ((k * 2654435761) % 1000) as f64 / 7.0 + 1e3;
        Partial {
            count: 1 + k % 5,
            bad: (k % 7 == 3) as u64,
            first_bad: (k % 7 == 3).then_some(k * 32),
            mean: vec![x, -x / 3.0],
            m2: vec![x.sqrt(), 0.5],
            lo: vec![x - 1.0, -x],
            hi: vec![x + 1.0, 0.0],
        }
    }

    /// Leaves pushed in contiguous pieces from any cut points (as chunks, shards and
    /// checkpoints cut a run) merge to the same bits as all at once; a plain left fold of
    /// the same leaves does not, so the tree is what makes them agree.
    #[test]
    fn merge_trees_of_contiguous_pieces_equal_the_whole_bit_for_bit() {
        let n = 1000u64;
        let mut whole = MergeTree::new(2);
        let mut fold = Stats::empty(2);
        for k in 0..n {
            whole.push(k, &leaf(k));
            fold.absorb(&leaf(k));
        }
        let total = whole.total();
        assert_eq!(total.count, fold.count);
        assert_eq!(total.first_nonfinite, fold.first_nonfinite);
        assert_ne!(total.m2, fold.m2, "the fold's order shows in the bits");
        assert!((total.m2[0] - fold.m2[0]).abs() < 1e-9 * fold.m2[0]);
        for cuts in [
            vec![1],
            vec![3, 500, 501, 999],
            vec![256, 512, 768],
            vec![17, 18, 640],
        ] {
            let mut bounds = vec![0];
            bounds.extend(&cuts);
            bounds.push(n);
            let mut joined = MergeTree::new(2);
            for w in bounds.windows(2) {
                let mut piece = MergeTree::new(2);
                for k in w[0]..w[1] {
                    piece.push(k, &leaf(k));
                }
                assert_eq!(piece.span(), Some((w[0], w[1])));
                joined.append(&piece);
            }
            assert_eq!(joined, whole, "cut at {cuts:?}");
            assert_eq!(joined.total(), total);
        }
    }

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
