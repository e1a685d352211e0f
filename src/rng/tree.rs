//! A Brownian path on Philox as a dyadic tree (`--brownian tree`), the twin of
//! `shaders/tree.wgsl`. The path B of each (trajectory, channel) is a standard Brownian
//! motion on [0, 1] (the run's span, scaled: W(t0 + s T) = √T B(s)), defined at the dyadic
//! points k 2^-L of any depth L by bisection:
//!
//! - B(0) = 0 and B(1) = z(0);
//! - node n = 2^l + i (level l, index i < 2^l) is the interval [i 2^-l, (i + 1) 2^-l], and
//!   B at its midpoint is the Brownian bridge's draw (B(a) + B(b))/2 + 2^{-(l+2)/2} z(n);
//! - z(n) comes from Philox4x32-10 blocks (Box–Muller normals as for the path noise) with
//!   counter (node, channel block, trajectory, 2) and the seed's key, laid out as `Layout`
//!   says: with several channels one block per node and four channels, with one channel
//!   one block per two levels.
//!
//! B at a point is the same at every depth that contains it (it is drawn once, by the node
//! whose midpoint it is), so runs with 2^m steps for different m see one path. Arithmetic is
//! f32, in the order written here, on the device as on the host.

use super::normal::normals4;
use super::philox::philox4x32_10;

/// Counter word 3 of the tree's normals (0: path noise, 1: random initial states).
pub const STREAM_TREE: u32 = 2;

/// How a tree's normals sit in Philox blocks. Each block gives four normals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One block per node and group of four channels: z(n) for channel c is normal c % 4
    /// of the block with counter (n, c / 4, traj, 2).
    Binary,
    /// One channel: a block bisects twice. Block 0 holds B(1) (normal 0) and z of nodes 1, 2
    /// and 3 (levels 0 and 1); the block with counter (2^l + i, 0, traj, 2), l even ≥ 2,
    /// holds z of node 2^l + i (normal 0) and of its children (normals 1 and 2). A walk
    /// draws one block per two levels, where `Binary` would use one normal of four per level.
    Packed,
}

impl Layout {
    /// The layout of a system with `channels` noise channels.
    pub fn of(channels: usize) -> Layout {
        if channels <= 1 {
            Layout::Packed
        } else {
            Layout::Binary
        }
    }
}

/// The four normals of block `node` for channels 4 `cblock` .. 4 `cblock` + 3.
pub fn node_normals(key: [u32; 2], node: u32, cblock: u32, traj: u32) -> [f32; 4] {
    normals4(philox4x32_10([node, cblock, traj, STREAM_TREE], key))
}

/// z of node 2^`level` + `i` for channels 4 `cblock` .. 4 `cblock` + 3 (`Packed`: channel 0,
/// the rest 0).
pub fn node_z(
    key: [u32; 2],
    layout: Layout,
    traj: u32,
    cblock: u32,
    level: u32,
    i: u32,
) -> [f32; 4] {
    match layout {
        Layout::Binary => node_normals(key, (1u32 << level) + i, cblock, traj),
        Layout::Packed => {
            let (block, word) = match level {
                0 => (0, 1),
                1 => (0, 2 + i as usize),
                l if l % 2 == 0 => ((1u32 << l) + i, 0),
                l => ((1u32 << (l - 1)) + i / 2, 1 + (i & 1) as usize),
            };
            [node_normals(key, block, 0, traj)[word], 0.0, 0.0, 0.0]
        }
    }
}

/// B(1) for channels 4 `cblock` .. 4 `cblock` + 3: normal c % 4 of block 0 in either layout.
fn root(key: [u32; 2], layout: Layout, traj: u32, cblock: u32) -> [f32; 4] {
    let z = node_normals(key, 0, cblock, traj);
    match layout {
        Layout::Binary => z,
        Layout::Packed => [z[0], 0.0, 0.0, 0.0],
    }
}

/// 2^{-(l+2)/2}: the bridge's standard deviation at the midpoint of a level-l interval.
pub fn bridge_scale(level: u32) -> f32 {
    let half = if (level + 2) % 2 == 1 {
        std::f32::consts::FRAC_1_SQRT_2
    } else {
        1.0
    };
    half * (2.0f32).powi(-(((level + 2) / 2) as i32))
}

/// The bridge's midpoint values of a level-`level` interval with ends `a`, `b`.
fn midpoint(a: [f32; 4], b: [f32; 4], level: u32, z: [f32; 4]) -> [f32; 4] {
    std::array::from_fn(|c| (a[c] + b[c]) * 0.5 + bridge_scale(level) * z[c])
}

/// The tree of one trajectory and channel block.
#[derive(Clone, Copy, Debug)]
pub struct Path {
    pub key: [u32; 2],
    pub layout: Layout,
    pub traj: u32,
    pub cblock: u32,
}

impl Path {
    fn z(&self, level: u32, i: u64) -> [f32; 4] {
        node_z(
            self.key,
            self.layout,
            self.traj,
            self.cblock,
            level,
            i as u32,
        )
    }

    /// B at both ends of node `i` of level `level` (i < 2^level): a walk of `level` nodes
    /// down from the root.
    fn walk(&self, level: u32, i: u64) -> ([f32; 4], [f32; 4]) {
        let mut a = [0.0f32; 4];
        let mut b = root(self.key, self.layout, self.traj, self.cblock);
        for l in 0..level {
            let m = midpoint(a, b, l, self.z(l, i >> (level - l)));
            if (i >> (level - l - 1)) & 1 == 1 {
                a = m;
            } else {
                b = m;
            }
        }
        (a, b)
    }

    /// B at position `k` of level `depth` (time k 2^-depth, 0 ≤ k ≤ 2^depth): a walk of
    /// `depth` nodes.
    pub fn at(&self, depth: u32, k: u64) -> [f32; 4] {
        if k == 1 << depth {
            return root(self.key, self.layout, self.traj, self.cblock);
        }
        self.walk(depth, k).0
    }

    /// The standard normals of steps 4g .. 4g + 3 of a run of 2^`depth` steps:
    /// z = (B(k + 1) − B(k)) 2^{depth/2} at level `depth`, [step][channel] (zeros past the
    /// run's end). As the kernel forms them: the 17 points of the 16 steps 16 (g / 4) ..
    /// by a walk to their node of level depth − 4 (its two ends) and 4 levels of bisection
    /// below it (fewer for depth < 4: then the points of the whole run).
    pub fn group(&self, depth: u32, g: u64) -> [[f32; 4]; 4] {
        let sub = depth.min(4);
        let top = depth - sub;
        let sg = g / 4;
        let (a, b) = self.walk(top, sg);
        // points[j]: B at point 2^sub sg + j of level `depth`.
        let n = 1usize << sub;
        let mut points = vec![[0.0f32; 4]; n + 1];
        points[0] = a;
        points[n] = b;
        for e in 0..sub {
            let span = n >> e;
            for j in 0..1usize << e {
                let z = self.z(top + e, (sg << e) + j as u64);
                points[j * span + span / 2] =
                    midpoint(points[j * span], points[(j + 1) * span], top + e, z);
            }
        }
        let scale = (2.0f32).powi(depth as i32 / 2)
            * if depth % 2 == 1 {
                std::f32::consts::SQRT_2
            } else {
                1.0
            };
        let first = 4 * (g % 4) as usize;
        std::array::from_fn(|s| {
            std::array::from_fn(
                |c| match (points.get(first + s), points.get(first + s + 1)) {
                    (Some(p), Some(q)) => (q[c] - p[c]) * scale,
                    _ => 0.0,
                },
            )
        })
    }
}

/// B at position `k` of level `depth` for channels 4 `cblock` .. 4 `cblock` + 3 of a
/// system with `channels` noise channels (`Path::at`).
pub fn brownian_at(
    key: [u32; 2],
    channels: usize,
    traj: u32,
    cblock: u32,
    depth: u32,
    k: u64,
) -> [f32; 4] {
    Path {
        key,
        layout: Layout::of(channels),
        traj,
        cblock,
    }
    .at(depth, k)
}

/// The standard normals of steps 4g .. 4g + 3 of a run of 2^`depth` steps, channel block
/// `cblock`, of a system with `channels` noise channels (`Path::group`).
pub fn group_normals(
    key: [u32; 2],
    channels: usize,
    traj: u32,
    cblock: u32,
    depth: u32,
    g: u64,
) -> [[f32; 4]; 4] {
    Path {
        key,
        layout: Layout::of(channels),
        traj,
        cblock,
    }
    .group(depth, g)
}

/// Counter word 3 of the area tree's normals (`area_at`).
pub const STREAM_AREA: u32 = 3;

/// 1/sqrt(12) in f32, the root area's scale.
const INV_SQRT12: f32 = 0.288_675_13;

/// 2^{-l/2}, exactly as the kernel forms it.
fn half_pow(l: u32) -> f32 {
    let odd = if l % 2 == 1 {
        std::f32::consts::FRAC_1_SQRT_2
    } else {
        1.0
    };
    odd * (2.0f32).powi(-((l / 2) as i32))
}

/// The area tree (`area_at`): a Brownian path B on [0, 1] and its space-time Lévy area,
/// by Foster's bisection. Node n of level l (length ℓ = 2^-l) with increment W and area A
/// (A = ∫ (B_r − B_s − (r − s)/ℓ W) dr over it) splits at its midpoint with
/// z = ζ1 √ℓ / 4 and m = ζ2 √(ℓ/12) (ζ1, ζ2: normals c % 4 of the blocks with counters
/// (n, 2 (c / 4), traj, 3) and (n, 2 (c / 4) + 1, traj, 3)) into
/// W_left = W/2 + (3/(2ℓ)) A + z, W_right = W − W_left,
/// A_left = A/8 − (ℓ/4) z + (ℓ/4) m, A_right = A/8 − (ℓ/4) z − (ℓ/4) m;
/// the root has W = ζ1, A = ζ2 / sqrt(12). Returns, for channels 4 `cblock` .. + 3, B at
/// point `k` of depth `depth` and the area from 0 to there, A_{0,k}, accumulated along the
/// walk by A_{0,t} = A_{0,s} + A_{s,t} + ((t − s) B_s − s W_{s,t}) / 2. A point's values are
/// the same at every depth that contains it. Its path is not `brownian_at`'s: the area must
/// shape the midpoints (a top-down area consistent with a fixed path would be a sum over
/// the whole subtree).
pub fn area_at(key: [u32; 2], traj: u32, cblock: u32, depth: u32, k: u64) -> ([f32; 4], [f32; 4]) {
    let blocks = |node: u32| {
        (
            normals4(philox4x32_10([node, 2 * cblock, traj, STREAM_AREA], key)),
            normals4(philox4x32_10(
                [node, 2 * cblock + 1, traj, STREAM_AREA],
                key,
            )),
        )
    };
    let (r1, r2) = blocks(0);
    let root_a: [f32; 4] = std::array::from_fn(|c| r2[c] * INV_SQRT12);
    if k == 1 << depth {
        return (r1, root_a);
    }
    let (mut ws, mut a0s) = ([0.0f32; 4], [0.0f32; 4]);
    let (mut wsu, mut asu) = (r1, root_a);
    let mut s = 0.0f32;
    for l in 0..depth {
        let (z1, z2) = blocks((1u32 << l) + (k >> (depth - l)) as u32);
        let r = half_pow(l);
        let (sz, sm) = (r * 0.25, r * INV_SQRT12);
        let q = (2.0f32).powi(-(l as i32) - 2);
        let inv = 1.5 * (2.0f32).powi(l as i32);
        let right = (k >> (depth - l - 1)) & 1 == 1;
        for c in 0..4 {
            let z = z1[c] * sz;
            let m = z2[c] * sm;
            let wst = 0.5 * wsu[c] + inv * asu[c] + z;
            let wtu = wsu[c] - wst;
            let ast = 0.125 * asu[c] - q * z + q * m;
            let atu = 0.125 * asu[c] - q * z - q * m;
            if right {
                a0s[c] = a0s[c] + ast + 0.5 * ((2.0 * q) * ws[c] - s * wst);
                ws[c] += wst;
                wsu[c] = wtu;
                asu[c] = atu;
            } else {
                wsu[c] = wst;
                asu[c] = ast;
            }
        }
        if right {
            s += 2.0 * q;
        }
    }
    (ws, a0s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u32; 2] = [11, 22];

    /// The area tree: a point's B and area from 0 are the same at every depth that contains
    /// it, bit for bit; over intervals [k0, k1] of depth 10 (any, not only nodes) the
    /// increment has variance h and the area A (from the walks by A_{k0,k1} = A_{0,k1} −
    /// A_{0,k0} − (h B_{k0} − t0 ΔB) / 2) variance h³/12, i.e. the normalised area A/h has
    /// (t − s)/12, and A is uncorrelated with the increment: each within 4 standard errors
    /// over 20000 paths (a variance's standard error is var √(2/n), a correlation's 1/√n).
    #[test]
    fn the_area_tree_has_the_law_of_brownian_motion_and_its_area() {
        for traj in 0..20 {
            for depth in 4..12u32 {
                for k in 0..=16u64 {
                    let fine = area_at(KEY, traj, 0, depth, k << (depth - 4));
                    assert_eq!(fine, area_at(KEY, traj, 0, 4, k), "{traj} {depth} {k}");
                }
            }
        }
        let n = 20000u32;
        let d = 10u32;
        for (k0, k1) in [
            (0u64, 1024u64),
            (3, 7),
            (100, 613),
            (1023, 1024),
            (512, 768),
        ] {
            let (t0, t1) = (k0 as f64 / 1024.0, k1 as f64 / 1024.0);
            let h = t1 - t0;
            let (mut sw, mut sa, mut swa) = (0.0, 0.0, 0.0);
            for traj in 0..n {
                let (w0, a0) = area_at(KEY, traj, 0, d, k0);
                let (w1, a1) = area_at(KEY, traj, 0, d, k1);
                let dw = (w1[0] - w0[0]) as f64;
                let a = a1[0] as f64 - a0[0] as f64 - 0.5 * (h * w0[0] as f64 - t0 * dw);
                sw += dw * dw;
                sa += a * a;
                swa += dw * a;
            }
            let nf = n as f64;
            let (vw, va) = (sw / nf, sa / nf);
            let z = |got: f64, want: f64| (got - want).abs() / (want * (2.0 / nf).sqrt());
            assert!(z(vw, h) < 4.0, "[{k0}, {k1}]: var W {vw} vs {h}");
            assert!(
                z(va, h.powi(3) / 12.0) < 4.0,
                "[{k0}, {k1}]: var A {va} vs {}",
                h.powi(3) / 12.0
            );
            let corr = swa / nf / (vw * va).sqrt();
            assert!(corr.abs() < 4.0 / nf.sqrt(), "[{k0}, {k1}]: corr {corr}");
        }
    }

    /// B(1) is block 0's first normal at every depth (in both layouts), and B at a dyadic
    /// point is the same at every depth that contains it, bit for bit.
    #[test]
    fn the_path_is_the_same_at_every_depth() {
        for (channels, cblock) in [(1usize, 0u32), (6, 1)] {
            for traj in 0..50 {
                let end = brownian_at(KEY, channels, traj, cblock, 0, 1);
                assert_eq!(end[0], node_normals(KEY, 0, cblock, traj)[0]);
                for depth in 0..12 {
                    assert_eq!(
                        brownian_at(KEY, channels, traj, cblock, depth, 1 << depth),
                        end
                    );
                }
                for depth in 3..12u32 {
                    for k in 0..=8u64 {
                        let fine =
                            brownian_at(KEY, channels, traj, cblock, depth, k << (depth - 3));
                        let coarse = brownian_at(KEY, channels, traj, cblock, 3, k);
                        assert_eq!(fine, coarse, "{channels} {traj} {depth} {k}");
                    }
                }
            }
        }
    }

    /// The group normals are the walks' increments, scaled, in both layouts, for runs
    /// shorter than a group of 16 steps, of one, and of many with the group's node at an
    /// even or an odd level.
    #[test]
    fn group_normals_are_scaled_increments_of_the_walks() {
        for channels in [1usize, 3] {
            for depth in 0..10u32 {
                let steps = 1u64 << depth;
                let scale = ((1u64 << depth) as f64).sqrt();
                for g in 0..steps.div_ceil(4) {
                    let zs = group_normals(KEY, channels, 3, 0, depth, g);
                    for s in 0..4u64 {
                        let k = 4 * g + s;
                        if k >= steps {
                            assert_eq!(zs[s as usize], [0.0; 4]);
                            continue;
                        }
                        let (p, q) = (
                            brownian_at(KEY, channels, 3, 0, depth, k),
                            brownian_at(KEY, channels, 3, 0, depth, k + 1),
                        );
                        for c in 0..4 {
                            let want = (q[c] - p[c]) as f64 * scale;
                            let got = zs[s as usize][c] as f64;
                            assert!(
                                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                                "{channels} {depth} {k} {c}: {got} {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Every node's bisection gets its own normal, in both layouts: over 20000
    /// trajectories, the 64 increments of depth 6 (drawn through levels of both parities,
    /// so through every normal of the packed blocks) each have variance 1/64 within 4.5
    /// standard errors (√(2/n) v; 4.5 for the 127 checks together), and neighbours are
    /// uncorrelated within 4.5/√n (a normal used twice would correlate siblings).
    #[test]
    fn every_bisection_has_its_own_normal() {
        let n = 20000u32;
        let nf = n as f64;
        for channels in [1usize, 2] {
            let mut sq = [0.0f64; 64];
            let mut cross = [0.0f64; 63];
            for traj in 0..n {
                let b: Vec<f64> = (0..=64u64)
                    .map(|k| brownian_at(KEY, channels, traj, 0, 6, k)[channels - 1] as f64)
                    .collect();
                let inc: Vec<f64> = b.windows(2).map(|w| w[1] - w[0]).collect();
                for k in 0..64 {
                    sq[k] += inc[k] * inc[k];
                }
                for k in 0..63 {
                    cross[k] += inc[k] * inc[k + 1];
                }
            }
            let v = 1.0 / 64.0;
            for (k, s) in sq.iter().enumerate() {
                let var = s / nf;
                assert!(
                    (var - v).abs() < 4.5 * v * (2.0 / nf).sqrt(),
                    "{channels} {k}: var {var}"
                );
            }
            for (k, c) in cross.iter().enumerate() {
                let corr = c / (sq[k] * sq[k + 1]).sqrt();
                assert!(corr.abs() < 4.5 / nf.sqrt(), "{channels} {k}: corr {corr}");
            }
        }
    }

    /// Increments over intervals have variance equal to their length, and disjoint ones are
    /// uncorrelated: over 20000 trajectories, at depth 10, the variance of B(3/8) − B(1/8)
    /// within 4 standard errors of 1/4 (the sample variance's SE √(2/n) v), and the
    /// correlation of B(1/8) − B(0) with B(1) − B(5/8) within 4/√n of 0; the step normals
    /// of a run of 2^10 steps have mean 0 and variance 1 within 4 SE. Both layouts.
    #[test]
    fn increments_have_the_brownian_law() {
        for (channels, c) in [(1usize, 0usize), (4, 1)] {
            let n = 20000u32;
            let (mut s1, mut s2, mut cross, mut a2, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for traj in 0..n {
                let at = |k: u64| brownian_at(KEY, channels, traj, 0, 10, k)[c] as f64;
                let inc = at(384) - at(128);
                s1 += inc;
                s2 += inc * inc;
                let (x, y) = (at(128), at(1024) - at(640));
                cross += x * y;
                a2 += x * x;
                b2 += y * y;
            }
            let nf = n as f64;
            let var = s2 / nf - (s1 / nf).powi(2);
            assert!(
                (var - 0.25).abs() < 4.0 * 0.25 * (2.0 / nf).sqrt(),
                "{channels}: var {var}"
            );
            let corr = cross / (a2 * b2).sqrt();
            assert!(corr.abs() < 4.0 / nf.sqrt(), "{channels}: corr {corr}");
            let (mut m, mut v, mut count) = (0.0, 0.0, 0.0);
            for traj in 0..40 {
                for g in 0..256 {
                    for s in group_normals(KEY, channels, traj, 0, 10, g) {
                        m += s[c] as f64;
                        v += (s[c] as f64).powi(2);
                        count += 1.0;
                    }
                }
            }
            let (m, v) = (m / count, v / count);
            assert!(m.abs() < 4.0 / count.sqrt(), "{channels}: mean {m}");
            assert!(
                (v - 1.0).abs() < 4.0 * (2.0 / count).sqrt(),
                "{channels}: var {v}"
            );
        }
    }
}
