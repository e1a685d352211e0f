//! A Brownian path on Philox as a dyadic tree (`--brownian tree`), the twin of
//! `shaders/tree.wgsl`. The path B of each (trajectory, channel) is a standard Brownian
//! motion on [0, 1] (the run's span, scaled: W(t0 + s T) = √T B(s)), defined at the dyadic
//! points k 2^-L of any depth L by bisection:
//!
//! - B(0) = 0 and B(1) = z(0);
//! - node n = 2^l + i (level l, index i < 2^l) is the interval [i 2^-l, (i + 1) 2^-l], and
//!   B at its midpoint is the Brownian bridge's draw (B(a) + B(b))/2 + 2^{-(l+2)/2} z(n);
//! - z(n) for channel c is normal c % 4 (Box–Muller as for the path noise) of the
//!   Philox4x32-10 block with counter (n, c / 4, trajectory, 2) and the seed's key.
//!
//! B at a point is the same at every depth that contains it (it is drawn once, by the node
//! whose midpoint it is), so runs with 2^m steps for different m see one path. Arithmetic is
//! f32, in the order written here, on the device as on the host.

use super::normal::normals4;
use super::philox::philox4x32_10;

/// Counter word 3 of the tree's normals (0: path noise, 1: random initial states).
pub const STREAM_TREE: u32 = 2;

/// The four normals of node `node` for channels 4 `cblock` .. 4 `cblock` + 3.
pub fn node_normals(key: [u32; 2], node: u32, cblock: u32, traj: u32) -> [f32; 4] {
    normals4(philox4x32_10([node, cblock, traj, STREAM_TREE], key))
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

/// The bridge's midpoint value of a level-`level` interval with ends `a`, `b`.
fn midpoint(a: f32, b: f32, level: u32, z: f32) -> f32 {
    (a + b) * 0.5 + bridge_scale(level) * z
}

/// B at both ends of node `i` of level `level` (i < 2^level): a walk of `level` nodes down
/// from the root.
fn walk(key: [u32; 2], traj: u32, cblock: u32, level: u32, i: u64) -> ([f32; 4], [f32; 4]) {
    let mut a = [0.0f32; 4];
    let mut b = node_normals(key, 0, cblock, traj);
    for l in 0..level {
        let z = node_normals(key, (1u32 << l) + (i >> (level - l)) as u32, cblock, traj);
        let m: [f32; 4] = std::array::from_fn(|c| midpoint(a[c], b[c], l, z[c]));
        if (i >> (level - l - 1)) & 1 == 1 {
            a = m;
        } else {
            b = m;
        }
    }
    (a, b)
}

/// B at position `k` of level `depth` (time k 2^-depth, 0 ≤ k ≤ 2^depth) for channels
/// 4 `cblock` .. 4 `cblock` + 3: a walk of `depth` nodes.
pub fn brownian_at(key: [u32; 2], traj: u32, cblock: u32, depth: u32, k: u64) -> [f32; 4] {
    if k == 1 << depth {
        return node_normals(key, 0, cblock, traj);
    }
    walk(key, traj, cblock, depth, k).0
}

/// The standard normals of steps 4g .. 4g + 3 of a run of 2^`depth` steps, channel-block
/// `cblock`: z = (B(k + 1) − B(k)) 2^{depth/2} at level `depth`, [step][channel]. As the
/// kernel does: a walk to the level-(depth − 2) node of the group (its two ends), then its
/// midpoint and its children's (runs of 1 or 2 steps: the root's ends and midpoint).
pub fn group_normals(key: [u32; 2], traj: u32, cblock: u32, depth: u32, g: u64) -> [[f32; 4]; 4] {
    let top = depth.saturating_sub(2);
    let (a, b) = walk(key, traj, cblock, top, g);
    // The 5 points of the group at level `depth` (fewer used when depth < 2).
    let g32 = g as u32;
    let zm = node_normals(key, (1u32 << top) + g32, cblock, traj);
    let mid: [f32; 4] = std::array::from_fn(|c| midpoint(a[c], b[c], top, zm[c]));
    let points: Vec<[f32; 4]> = match depth {
        0 => vec![a, b],
        1 => vec![a, mid, b],
        _ => {
            let zl = node_normals(key, (2u32 << top) + 2 * g32, cblock, traj);
            let zr = node_normals(key, (2u32 << top) + 2 * g32 + 1, cblock, traj);
            let q1: [f32; 4] = std::array::from_fn(|c| midpoint(a[c], mid[c], top + 1, zl[c]));
            let q3: [f32; 4] = std::array::from_fn(|c| midpoint(mid[c], b[c], top + 1, zr[c]));
            vec![a, q1, mid, q3, b]
        }
    };
    let scale = (2.0f32).powi(depth as i32 / 2)
        * if depth % 2 == 1 {
            std::f32::consts::SQRT_2
        } else {
            1.0
        };
    std::array::from_fn(|s| {
        std::array::from_fn(|c| match (points.get(s), points.get(s + 1)) {
            (Some(p), Some(q)) => (q[c] - p[c]) * scale,
            _ => 0.0,
        })
    })
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

    /// B(1) is z(0) at every depth, and B at a dyadic point is the same at every depth that
    /// contains it, bit for bit.
    #[test]
    fn the_path_is_the_same_at_every_depth() {
        for traj in 0..50 {
            let end = brownian_at(KEY, traj, 0, 0, 1);
            for depth in 0..12 {
                assert_eq!(brownian_at(KEY, traj, 0, depth, 1 << depth), end);
            }
            for depth in 3..12u32 {
                for k in 0..=8u64 {
                    let fine = brownian_at(KEY, traj, 1, depth, k << (depth - 3));
                    assert_eq!(fine, brownian_at(KEY, traj, 1, 3, k), "{traj} {depth} {k}");
                }
            }
        }
    }

    /// The group normals are the walks' increments, scaled.
    #[test]
    fn group_normals_are_scaled_increments_of_the_walks() {
        for depth in 0..8u32 {
            let steps = 1u64 << depth;
            let scale = ((1u64 << depth) as f64).sqrt();
            for g in 0..steps.div_ceil(4) {
                let zs = group_normals(KEY, 3, 0, depth, g);
                for s in 0..4u64 {
                    let k = 4 * g + s;
                    if k >= steps {
                        assert_eq!(zs[s as usize], [0.0; 4]);
                        continue;
                    }
                    let (p, q) = (
                        brownian_at(KEY, 3, 0, depth, k),
                        brownian_at(KEY, 3, 0, depth, k + 1),
                    );
                    for c in 0..4 {
                        let want = (q[c] - p[c]) as f64 * scale;
                        let got = zs[s as usize][c] as f64;
                        assert!(
                            (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                            "{depth} {k} {c}: {got} {want}"
                        );
                    }
                }
            }
        }
    }

    /// Increments over intervals have variance equal to their length, and disjoint ones are
    /// uncorrelated: over 20000 trajectories, at depth 10, the variance of B(3/8) − B(1/8)
    /// within 4 standard errors of 1/4 (the sample variance's SE √(2/n) v), and the
    /// correlation of B(1/8) − B(0) with B(1) − B(5/8) within 4/√n of 0; the step normals
    /// of a run of 2^10 steps have mean 0 and variance 1 within 4 SE.
    #[test]
    fn increments_have_the_brownian_law() {
        let n = 20000u32;
        let (mut s1, mut s2, mut cross, mut a2, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for traj in 0..n {
            let at = |k: u64| brownian_at(KEY, traj, 0, 10, k)[0] as f64;
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
            "var {var}"
        );
        let corr = cross / (a2 * b2).sqrt();
        assert!(corr.abs() < 4.0 / nf.sqrt(), "corr {corr}");
        let (mut m, mut v, mut count) = (0.0, 0.0, 0.0);
        for traj in 0..40 {
            for g in 0..256 {
                for s in group_normals(KEY, traj, 0, 10, g) {
                    m += s[1] as f64;
                    v += (s[1] as f64).powi(2);
                    count += 1.0;
                }
            }
        }
        let (m, v) = (m / count, v / count);
        assert!(m.abs() < 4.0 / count.sqrt(), "mean {m}");
        assert!((v - 1.0).abs() < 4.0 * (2.0 / count).sqrt(), "var {v}");
    }
}
