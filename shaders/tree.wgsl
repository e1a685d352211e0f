// The Brownian tree (`--brownian tree`): each (trajectory, channel) path is a standard
// Brownian motion B on [0, 1] defined by dyadic bisection, B(1) = block 0's first normal, the
// midpoint of node n = 2^l + i (interval [i 2^-l, (i + 1) 2^-l]) at
// (B(a) + B(b))/2 + 2^{-(l+2)/2} z(n), z(n) from Philox blocks (node, channel block,
// trajectory, stream 2) laid out as src/rng/tree.rs's `Layout` says: one block per node and
// four channels, or (TREE_PACKED, one channel) one block per two levels. A run of
// 2^TREE_DEPTH steps reads its step normals from the increments, so runs of 2^m steps for
// any m see one path. f32 throughout, as the twin (src/rng/tree.rs) computes it.
//
// Walks are unrolled (#for over constants): a loop here would count towards llvmpipe's
// silent limit of 65535 loop iterations per invocation, which a dispatch of 2^14 steps at
// depth 16 would pass. Branches on constants (a level's parity) fold away.

const STREAM_TREE: u32 = 2u;

alias TreeNormals = array<R32, 4>;

fn tree_normals(node: U, cblock: u32, traj: U) -> TreeNormals {
    let n = normals4(philox4x32_10(Words(node, U(cblock), traj, U(STREAM_TREE)), SEED));
    return TreeNormals(n.z0, n.z1, n.z2, n.z3);
}

// 2^{-(l+2)/2}, exactly as the twin forms it.
fn tree_bridge_scale(level: u32) -> f32 {
    let odd = ((level + 2u) & 1u) == 1u;
    return ldexp(select(1.0, 0.70710677, odd), -i32((level + 2u) / 2u));
}

fn tree_mid(a: TreeNormals, b: TreeNormals, level: u32, z: TreeNormals) -> TreeNormals {
    let s = tree_bridge_scale(level);
    var m: TreeNormals;
#for c in 4
    m[$c] = (a[$c] + b[$c]) * 0.5 + s * z[$c];
#endfor
    return m;
}

fn tree_mid1(a: R32, b: R32, level: u32, z: R32) -> R32 {
    return (a + b) * 0.5 + tree_bridge_scale(level) * z;
}

// 2^{TREE_DEPTH/2}: B's increments at depth TREE_DEPTH to standard normals.
fn tree_step_scale() -> f32 {
    return ldexp(select(1.0, 1.4142135, (TREE_DEPTH & 1u) == 1u), i32(TREE_DEPTH / 2u));
}

#ifdef TREE_PACKED
// One channel: block 0 holds B(1) and z of levels 0 and 1; the block of node 2^l + i,
// l even >= 2, z of that node and of its two children. A pair: a node's z and its children's.
struct TreePair {
    n: R32,
    l: R32,
    r: R32,
}

fn tree_pair(level: u32, i: U, traj: U, b0: Normals) -> TreePair {
    if (level == 0u) {
        return TreePair(b0.z1, b0.z2, b0.z3);
    }
    let n = normals4(philox4x32_10(Words(U(1u << level) + i, U(0u), traj, U(STREAM_TREE)), SEED));
    return TreePair(n.z0, n.z1, n.z2);
}

fn tree_root(traj: U) -> Normals {
    return normals4(philox4x32_10(Words(U(0u), U(0u), traj, U(STREAM_TREE)), SEED));
}

// z of node i of odd level from its parent's pair.
fn tree_child_z(pair: TreePair, i: U) -> R32 {
    return select(pair.l, pair.r, (i & U(1u)) == U(1u));
}

// A walk down from the root: the ends a, b of the current node, the last even level's pair.
struct PackedWalk {
    a: R32,
    b: R32,
    pair: TreePair,
    b0: Normals,
}

fn packed_walk(traj: U) -> PackedWalk {
    let b0 = tree_root(traj);
    return PackedWalk(R32(0.0), b0.z0, TreePair(), b0);
}

// Node i of level l (a constant at every call, so the parity test folds away): at even l
// its own pair, at odd l its z (from `parent`, its parent's pair) in every field.
fn packed_z(l: u32, i: U, parent: TreePair, traj: U, b0: Normals) -> TreePair {
    if ((l & 1u) == 0u) {
        return tree_pair(l, i, traj, b0);
    }
    let z = tree_child_z(parent, i);
    return TreePair(z, z, z);
}

// One level l of a walk: the midpoint of node ni, then the right half where `right`, else
// the left. After an even level `pair` is the node's own, which its child's z comes from.
fn packed_walk_level(w: ptr<function, PackedWalk>, l: u32, ni: U, right: B, traj: U) {
    (*w).pair = packed_z(l, ni, (*w).pair, traj, (*w).b0);
    let m = tree_mid1((*w).a, (*w).b, l, (*w).pair.n);
    (*w).a = select((*w).a, m, right);
    (*w).b = select(m, (*w).b, right);
}
#endif

#ifdef TREE_NOISE
// The standard normals of steps 16 sg .. 16 sg + 15 (zeros past the run's end): a walk to
// the group's node of level TREE_TOP = TREE_DEPTH - TREE_SUB (its two ends), then TREE_SUB
// (4, or the depth if less) levels of bisection below it; B's increments scaled by
// 2^{TREE_DEPTH/2}. Points p[j] sit 16 >> TREE_SUB apart.
#ifdef TREE_PACKED
fn tree_steps(sg: u32, traj: U) -> array<R32, 16> {
    var w = packed_walk(traj);
#for l in TREE_TOP
    packed_walk_level(&w, $lu, U(sg >> (TREE_TOP - $lu)), B(((sg >> (TREE_TOP - $lu - 1u)) & 1u) == 1u), traj);
#endfor
    return tree_steps_below(sg, w.a, w.b, w.pair, traj, w.b0);
}

// The expansion of tree_steps below node sg of level TREE_TOP with ends a, b; `pair` is the
// walk's last pair (the parent's, for odd TREE_TOP), b0 the root block.
fn tree_steps_below(sg: u32, a: R32, b: R32, pair: TreePair, traj: U, b0: Normals) -> array<R32, 16> {
    var p: array<R32, 17>;
    p[0] = a;
    p[16] = b;
    let q0 = packed_z(TREE_TOP, U(sg), pair, traj, b0);
    if (TREE_SUB >= 1u) {
        p[8] = tree_mid1(p[0], p[16], TREE_TOP, q0.n);
    }
    var q1: array<TreePair, 2>;
    if (TREE_SUB >= 2u) {
#for j in 2
        q1[$j] = packed_z(TREE_TOP + 1u, U(2u * sg + $ju), q0, traj, b0);
        p[8u * $ju + 4u] = tree_mid1(p[8u * $ju], p[8u * $ju + 8u], TREE_TOP + 1u, q1[$j].n);
#endfor
    }
    var q2: array<TreePair, 4>;
    if (TREE_SUB >= 3u) {
#for j in 4
        q2[$j] = packed_z(TREE_TOP + 2u, U(4u * sg + $ju), q1[$ju / 2u], traj, b0);
        p[4u * $ju + 2u] = tree_mid1(p[4u * $ju], p[4u * $ju + 4u], TREE_TOP + 2u, q2[$j].n);
#endfor
    }
    if (TREE_SUB >= 4u) {
#for j in 8
        p[2u * $ju + 1u] = tree_mid1(p[2u * $ju], p[2u * $ju + 2u], TREE_TOP + 3u,
            packed_z(TREE_TOP + 3u, U(8u * sg + $ju), q2[$ju / 2u], traj, b0).n);
#endfor
    }
    let stride = 16u >> TREE_SUB;
    let scale = tree_step_scale();
    var out: array<R32, 16>;
#for s in 16
    out[$s] = (p[min(($su + 1u) * stride, 16u)] - p[min($su * stride, 16u)]) * scale;
#endfor
    return out;
}

#ifdef TREE_QUAD
// TREE_TOP even and >= 2: the ends of the four 16-step nodes of level TREE_TOP under node qg
// of level TREE_QTOP = TREE_TOP - 2, by a walk there and its pair: one walk per 64 steps.
fn tree_quad(qg: u32, traj: U) -> array<R32, 5> {
    var w = packed_walk(traj);
#for l in TREE_QTOP
    packed_walk_level(&w, $lu, U(qg >> (TREE_QTOP - $lu)), B(((qg >> (TREE_QTOP - $lu - 1u)) & 1u) == 1u), traj);
#endfor
    let a = w.a;
    let b = w.b;
    let pair = packed_z(TREE_QTOP, U(qg), w.pair, traj, w.b0);
    let m = tree_mid1(a, b, TREE_QTOP, pair.n);
    return array<R32, 5>(a, tree_mid1(a, m, TREE_QTOP + 1u, pair.l), m,
        tree_mid1(m, b, TREE_QTOP + 1u, pair.r), b);
}
#endif
#else
fn tree_steps(sg: u32, cblock: u32, traj: U) -> array<TreeNormals, 16> {
    var a: TreeNormals;
    var b = tree_normals(U(0u), cblock, traj);
#for l in TREE_TOP
    {
        let m = tree_mid(a, b, $lu, tree_normals(U((1u << $lu) + (sg >> (TREE_TOP - $lu))), cblock, traj));
        if (((sg >> (TREE_TOP - $lu - 1u)) & 1u) == 1u) {
            a = m;
        } else {
            b = m;
        }
    }
#endfor
    var p: array<TreeNormals, 17>;
    p[0] = a;
    p[16] = b;
    let first = 1u << TREE_TOP;
    if (TREE_SUB >= 1u) {
        p[8] = tree_mid(p[0], p[16], TREE_TOP, tree_normals(U(first + sg), cblock, traj));
    }
    if (TREE_SUB >= 2u) {
#for j in 2
        p[8u * $ju + 4u] = tree_mid(p[8u * $ju], p[8u * $ju + 8u], TREE_TOP + 1u,
            tree_normals(U(2u * first + 2u * sg + $ju), cblock, traj));
#endfor
    }
    if (TREE_SUB >= 3u) {
#for j in 4
        p[4u * $ju + 2u] = tree_mid(p[4u * $ju], p[4u * $ju + 4u], TREE_TOP + 2u,
            tree_normals(U(4u * first + 4u * sg + $ju), cblock, traj));
#endfor
    }
    if (TREE_SUB >= 4u) {
#for j in 8
        p[2u * $ju + 1u] = tree_mid(p[2u * $ju], p[2u * $ju + 2u], TREE_TOP + 3u,
            tree_normals(U(8u * first + 8u * sg + $ju), cblock, traj));
#endfor
    }
    let stride = 16u >> TREE_SUB;
    let scale = tree_step_scale();
    var out: array<TreeNormals, 16>;
#for s in 16
    {
        let q = p[min(($su + 1u) * stride, 16u)];
        let o = p[min($su * stride, 16u)];
#for c in 4
        out[$s][$c] = (q[$c] - o[$c]) * scale;
#endfor
    }
#endfor
    return out;
}
#endif
#endif

#ifdef TREE_LEAF_WALK
// B at position k of depth TREE_LEAF (time k 2^-TREE_LEAF of the span, 0 <= k <=
// 2^TREE_LEAF), per lane, for channels 4 cblock .. 4 cblock + 3: a walk of TREE_LEAF nodes,
// the same number for every k. B(1) is the root's right end, which the walk to the last
// point carries unchanged.
fn tree_at(k: U, cblock: u32, traj: U) -> TreeNormals {
    let top = U(1u << TREE_LEAF);
    let kk = min(k, top - U(1u));
    let last = k == top;
    var out: TreeNormals;
#ifdef TREE_PACKED
    var w = packed_walk(traj);
#for l in TREE_LEAF
    packed_walk_level(&w, $lu, kk >> U(TREE_LEAF - $lu), ((kk >> U(TREE_LEAF - $lu - 1u)) & U(1u)) == U(1u), traj);
#endfor
    out[0] = select(w.a, w.b, last);
#else
    var a: TreeNormals;
    var b = tree_normals(U(0u), cblock, traj);
#for l in TREE_LEAF
    {
        let m = tree_mid(a, b, $lu, tree_normals(U(1u << $lu) + (kk >> U(TREE_LEAF - $lu)), cblock, traj));
        let right = ((kk >> U(TREE_LEAF - $lu - 1u)) & U(1u)) == U(1u);
#for c in 4
        a[$c] = select(m[$c], a[$c], !right);
        b[$c] = select(b[$c], m[$c], !right);
#endfor
    }
#endfor
#for c in 4
    out[$c] = select(a[$c], b[$c], last);
#endfor
#endif
    return out;
}
#endif

#ifdef TREE_AREA
// The area tree (src/rng/tree.rs, `area_at`): B and its space-time Lévy area by Foster's
// bisection, from stream 3, two blocks per node and channel block. At point k of depth
// TREE_LEAF, per lane: B there and the area from 0 to there, accumulated along the walk.
const STREAM_AREA: u32 = 3u;
const INV_SQRT12: f32 = 0.28867513;

struct TreeArea {
    w: TreeNormals,
    a: TreeNormals,
}

fn area_normals(node: U, block: u32, traj: U) -> TreeNormals {
    let n = normals4(philox4x32_10(Words(node, U(block), traj, U(STREAM_AREA)), SEED));
    return TreeNormals(n.z0, n.z1, n.z2, n.z3);
}

fn tree_area_at(k: U, cblock: u32, traj: U) -> TreeArea {
    let top = U(1u << TREE_LEAF);
    let kk = min(k, top - U(1u));
    let r1 = area_normals(U(0u), 2u * cblock, traj);
    let r2 = area_normals(U(0u), 2u * cblock + 1u, traj);
    var root_a: TreeNormals;
#for c in 4
    root_a[$c] = r2[$c] * INV_SQRT12;
#endfor
    var ws: TreeNormals;
    var a0s: TreeNormals;
    var wsu = r1;
    var asu = root_a;
    var s = R32(0.0);
#for l in TREE_LEAF
    {
        let node = U(1u << $lu) + (kk >> U(TREE_LEAF - $lu));
        let z1 = area_normals(node, 2u * cblock, traj);
        let z2 = area_normals(node, 2u * cblock + 1u, traj);
        let r = ldexp(select(1.0, 0.70710677, ($lu & 1u) == 1u), -i32($lu / 2u));
        let sz = r * 0.25;
        let sm = r * INV_SQRT12;
        let q = ldexp(1.0, -i32($lu) - 2);
        let inv = ldexp(1.5, i32($lu));
        let right = ((kk >> U(TREE_LEAF - $lu - 1u)) & U(1u)) == U(1u);
#for c in 4
        {
            let z = z1[$c] * sz;
            let m = z2[$c] * sm;
            let wst = 0.5 * wsu[$c] + inv * asu[$c] + z;
            let wtu = wsu[$c] - wst;
            let ast = 0.125 * asu[$c] - q * z + q * m;
            let atu = 0.125 * asu[$c] - q * z - q * m;
            a0s[$c] = select(a0s[$c], a0s[$c] + ast + 0.5 * ((2.0 * q) * ws[$c] - s * wst), right);
            ws[$c] = select(ws[$c], ws[$c] + wst, right);
            wsu[$c] = select(wst, wtu, right);
            asu[$c] = select(ast, atu, right);
        }
#endfor
        s = select(s, s + 2.0 * q, right);
    }
#endfor
    let last = k == top;
    var out: TreeArea;
#for c in 4
    out.w[$c] = select(ws[$c], r1[$c], last);
    out.a[$c] = select(a0s[$c], root_a[$c], last);
#endfor
    return out;
}
#endif
