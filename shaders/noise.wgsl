// The noise layout (README, "Noise"): normal number k = step * NOISE + channel of trajectory
// `traj` is word k % 4 of Philox block k / 4, whose counter is
// (block low word, block high word, trajectory, stream) and whose key is the seed.
#import philox
#import normal

const STREAM_PATH: u32 = 0u;

fn noise_block(block: u32, traj: U) -> Normals {
    return normals4(philox4x32_10(Words(U(block), U(0u), traj, U(STREAM_PATH)), SEED));
}
