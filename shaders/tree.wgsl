// The Brownian tree (`--brownian tree`): each (trajectory, channel) path is a standard
// Brownian motion B on [0, 1] defined by dyadic bisection, B(1) = z(node 0), the midpoint of
// node n = 2^l + i (interval [i 2^-l, (i + 1) 2^-l]) at (B(a) + B(b))/2 + 2^{-(l+2)/2} z(n),
// z(n) from the Philox block (n, channel block, trajectory, stream 2). A run of 2^TREE_DEPTH
// steps reads its step normals from the increments, so runs of 2^m steps for any m see one
// path. f32 throughout, as the twin (src/rng/tree.rs) computes it.

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

fn tree_diff(q: TreeNormals, p: TreeNormals, scale: f32) -> TreeNormals {
    var d: TreeNormals;
#for c in 4
    d[$c] = (q[$c] - p[$c]) * scale;
#endfor
    return d;
}

// The standard normals of steps 4g .. 4g + 3 for channels 4 cblock .. 4 cblock + 3,
// [step][channel]: a walk to the group's node at level TREE_DEPTH - 2 (its two ends), then
// its midpoint and its children's; B's increments scaled by 2^{TREE_DEPTH/2}.
// The walk is unrolled (TREE_TOP levels, a constant): a loop here would count towards
// llvmpipe's silent limit of 65535 loop iterations per invocation, which a dispatch of
// 2^14 steps at depth 16 would pass.
fn tree_group(g: u32, cblock: u32, traj: U) -> array<TreeNormals, 4> {
    var a: TreeNormals;
    var b = tree_normals(U(0u), cblock, traj);
    let top = TREE_TOP;
#for l in TREE_TOP
    {
        let m = tree_mid(a, b, $lu, tree_normals(U((1u << $lu) + (g >> (top - $lu))), cblock, traj));
        if (((g >> (top - $lu - 1u)) & 1u) == 1u) {
            a = m;
        } else {
            b = m;
        }
    }
#endfor
    let mid = tree_mid(a, b, top, tree_normals(U((1u << top) + g), cblock, traj));
    let scale = ldexp(select(1.0, 1.4142135, (TREE_DEPTH & 1u) == 1u), i32(TREE_DEPTH / 2u));
    var out: array<TreeNormals, 4>;
    if (TREE_DEPTH == 0u) {
        out[0] = tree_diff(b, a, scale);
    } else if (TREE_DEPTH == 1u) {
        out[0] = tree_diff(mid, a, scale);
        out[1] = tree_diff(b, mid, scale);
    } else {
        let q1 = tree_mid(a, mid, top + 1u, tree_normals(U((2u << top) + 2u * g), cblock, traj));
        let q3 = tree_mid(mid, b, top + 1u, tree_normals(U((2u << top) + 2u * g + 1u), cblock, traj));
        out[0] = tree_diff(q1, a, scale);
        out[1] = tree_diff(mid, q1, scale);
        out[2] = tree_diff(q3, mid, scale);
        out[3] = tree_diff(b, q3, scale);
    }
    return out;
}

#ifdef TREE_LEAF_WALK
// B at position k of depth TREE_LEAF (time k 2^-TREE_LEAF of the span, 0 <= k <=
// 2^TREE_LEAF), per lane, for channels 4 cblock .. 4 cblock + 3: a walk of TREE_LEAF nodes
// (unrolled, for llvmpipe's loop limit), the same number for every k. B(1) is the root's
// right end, which the walk to the last point carries unchanged.
fn tree_at(k: U, cblock: u32, traj: U) -> TreeNormals {
    let top = U(1u << TREE_LEAF);
    let kk = min(k, top - U(1u));
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
    let last = k == top;
    var out: TreeNormals;
#for c in 4
    out[$c] = select(a[$c], b[$c], last);
#endfor
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
