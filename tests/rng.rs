//! Philox4x32-10 on the CPU and the device: known answers, bit equality, normals.

mod common;

use throng::cpu::normal::{noise, normals4};
use throng::gpu::rng_blocks as gpu_blocks;
use throng::kernel::Target;
use throng::rng::{counter_add, philox4x32_10};

#[test]
fn philox_matches_random123_vectors_on_cpu() {
    let kat = common::kat();
    assert_eq!(kat.len(), 3);
    for (c, k, want) in kat {
        assert_eq!(philox4x32_10(c, k), want, "counter {c:08x?} key {k:08x?}");
    }
}

fn targets(ctx: &throng::Context) -> Vec<Target> {
    // The emulated 16-bit multiply always; the 64-bit one where the device has it.
    let mut t = vec![Target {
        int64: false,
        lanes: 1,
        segmented: false,
        open_ended: false,
        dense: false,
    }];
    if ctx.has_int64() {
        t.push(Target {
            int64: true,
            lanes: 1,
            segmented: false,
            open_ended: false,
            dense: false,
        });
    }
    t
}

#[test]
fn philox_matches_random123_vectors_on_gpu() {
    let ctx = common::ctx();
    for t in targets(&ctx) {
        for (c, k, want) in common::kat() {
            let (blocks, _) = gpu_blocks(&ctx, c, k, 1, Some(t)).unwrap();
            assert_eq!(blocks[0], want, "{t:?} counter {c:08x?}");
        }
    }
}

#[test]
fn gpu_philox_equals_cpu_bit_for_bit_over_a_million_counters_with_carries() {
    let ctx = common::ctx();
    // Word 0 wraps after 2^16 counters, carrying through words 1 and 2 into word 3.
    let start = [0xFFFF_0000, 0xFFFF_FFFF, 0xFFFF_FFFF, 7];
    let key = [0x1234_5678, 0x9ABC_DEF0];
    let n = 1 << 20;
    for t in targets(&ctx) {
        let (blocks, normals) = gpu_blocks(&ctx, start, key, n, Some(t)).unwrap();
        let mut worst = 0f32;
        for i in 0..n as usize {
            let c = counter_add(start, i as u64);
            let w = philox4x32_10(c, key);
            assert_eq!(blocks[i], w, "{t:?} block {i}, counter {c:08x?}");
            let z = normals4(w);
            for k in 0..4 {
                // Relative to 1 + |z|: absolute near 0, relative in the tails.
                let err = (normals[i][k] - z[k]).abs() / (1.0 + z[k].abs());
                worst = worst.max(err);
            }
        }
        assert_eq!(counter_add(start, 0x1_0000), [0, 0, 0, 8]);
        // Same formulas on both sides; Vulkan lets division and sqrt round within 2.5 ulp.
        assert!(worst < 5e-7, "{t:?}: worst normal difference {worst:e}");
    }
}

#[test]
fn normals_have_standard_moments() {
    // 2^20 normals from the CPU stream: mean and variance within 4 standard errors.
    let n = 1 << 20;
    let key = [7, 0];
    let zs: Vec<f64> = (0..n / 4)
        .flat_map(|b| normals4(philox4x32_10([b, 0, 3, 0], key)))
        .map(|z| z as f64)
        .collect();
    let nf = zs.len() as f64;
    let mean = zs.iter().sum::<f64>() / nf;
    let var = zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let kurt = zs.iter().map(|z| (z - mean).powi(4)).sum::<f64>() / nf;
    assert!(mean.abs() < 4.0 / nf.sqrt(), "mean {mean}");
    // Var of the sample variance of N(0,1) is 2 / (n - 1).
    assert!(
        (var - 1.0).abs() < 4.0 * (2.0 / (nf - 1.0)).sqrt(),
        "var {var}"
    );
    // The fourth moment is 3 with standard error sqrt(96 / n).
    assert!(
        (kurt - 3.0).abs() < 4.0 * (96.0 / nf).sqrt(),
        "kurtosis {kurt}"
    );
}

#[test]
fn noise_layout_uses_every_word_of_every_block() {
    // With 3 channels, normals k = 3 step + channel fill blocks k / 4 word by word.
    let key = [1, 2];
    let traj = 9;
    let mut seen = vec![];
    for step in 0..4u64 {
        for ch in 0..3u32 {
            seen.push(noise(key, traj, step, ch, 3));
        }
    }
    let direct: Vec<f32> = (0..3)
        .flat_map(|b| normals4(philox4x32_10([b, 0, traj, 0], key)))
        .collect();
    assert_eq!(seen, direct);
}
