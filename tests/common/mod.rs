//! Shared by the integration tests. There is no skipping: without an adapter these tests
//! fail with throng's own message (`.ci/run` installs lavapipe where there is no GPU).
#![allow(dead_code)]

use throng::{AdapterChoice, Context};

pub fn ctx() -> Context {
    std::env::set_var(
        "XDG_RUNTIME_DIR",
        std::env::var("XDG_RUNTIME_DIR").unwrap_or("/tmp".into()),
    );
    match Context::new(&AdapterChoice::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Random123's known-answer vectors: (counter, key, output).
pub fn kat() -> Vec<([u32; 4], [u32; 2], [u32; 4])> {
    let text = include_str!("../data/philox4x32_10_kat.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<u32> = l
                .split_whitespace()
                .map(|h| u32::from_str_radix(h, 16).unwrap())
                .collect();
            assert_eq!(w.len(), 10, "malformed KAT line: {l}");
            (
                [w[0], w[1], w[2], w[3]],
                [w[4], w[5]],
                [w[6], w[7], w[8], w[9]],
            )
        })
        .collect()
}
