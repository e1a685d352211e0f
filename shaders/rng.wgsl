// Raw Philox4x32-10 blocks and their Box–Muller normals for consecutive 128-bit counters:
// the audit stream behind `throng rng --gpu` and the GPU == CPU tests.
#import philox
#import normal

struct RngArgs {
    counter: vec4<u32>,
    key: vec2<u32>,
    count: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> args: RngArgs;
@group(0) @binding(1) var<storage, read_write> blocks: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> normals: array<vec4<f32>>;

// c + n as 128-bit integers, word 0 least significant.
fn counter_add(c: vec4<u32>, n: u32) -> vec4<u32> {
    let x = c.x + n;
    var carry = select(0u, 1u, x < c.x);
    let y = c.y + carry;
    carry = select(0u, 1u, y < carry);
    let z = c.z + carry;
    carry = select(0u, 1u, z < carry);
    return vec4<u32>(x, y, z, c.w + carry);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= args.count) {
        return;
    }
    let c = counter_add(args.counter, i);
    let w = philox4x32_10(Words(c.x, c.y, c.z, c.w), args.key);
    blocks[i] = vec4<u32>(w.x, w.y, w.z, w.w);
    let z = normals4(w);
    normals[i] = vec4<f32>(z.z0, z.z1, z.z2, z.z3);
}
