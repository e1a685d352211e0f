//! `throng rng`: consecutive Philox4x32-10 blocks, from the CPU reference or the device's
//! kernel, to audit the noise.

use std::io::Write;

use throng::spec::form::parse;
use throng::{rng, Context, Error};

use super::{input, AdapterArgs};

#[derive(clap::Args)]
pub struct RngArgs {
    /// Key words K0,K1 (decimal, or hexadecimal with 0x)
    #[arg(long, value_parser = key)]
    key: [u32; 2],
    /// Counter words C0,C1,C2,C3, word 0 least significant (decimal, or hex with 0x)
    #[arg(long, value_parser = counter)]
    counter: [u32; 4],
    /// Number of consecutive blocks
    #[arg(long, default_value = "1", value_parser = parse::<u64>)]
    blocks: u64,
    /// Compute the blocks with the device's kernel instead of the CPU twin
    #[arg(long)]
    gpu: bool,
    #[command(flatten)]
    adapter: AdapterArgs,
}

fn key(s: &str) -> Result<[u32; 2], String> {
    words("--key", s)
}

fn counter(s: &str) -> Result<[u32; 4], String> {
    words("--counter", s)
}

/// `N` comma-separated 32-bit words. Messages start with the flag, which the error line
/// then does not repeat.
fn words<const N: usize>(flag: &str, s: &str) -> Result<[u32; N], String> {
    let parts: Vec<&str> = s.split(',').collect();
    let parts: [&str; N] = parts.try_into().map_err(|p: Vec<&str>| {
        format!("{flag} takes {N} comma-separated words, got {}", p.len())
    })?;
    let mut out = [0u32; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = word(p).ok_or_else(|| {
            format!("{flag}: `{p}` is not a 32-bit word (decimal, or hexadecimal written 0x...)")
        })?;
    }
    Ok(out)
}

fn word(s: &str) -> Option<u32> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse::<u32>().ok(),
    }
}

pub fn rng(args: RngArgs) -> Result<(), Error> {
    let (key, counter, n) = (args.key, args.counter, args.blocks);
    if n == 0 {
        return Err(input("--blocks", "--blocks must be at least 1"));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut emit =
        |w: [u32; 4]| writeln!(out, "{:08x} {:08x} {:08x} {:08x}", w[0], w[1], w[2], w[3]);
    if args.gpu {
        let ctx = Context::new(&args.adapter.choice())?;
        let per = 1u64 << 20;
        let mut done = 0u64;
        while done < n {
            let count = per.min(n - done) as u32;
            let (blocks, _) =
                throng::gpu::rng_blocks(&ctx, rng::counter_add(counter, done), key, count, None)?;
            for b in blocks {
                if emit(b).is_err() {
                    return Ok(()); // the reader closed the pipe
                }
            }
            done += count as u64;
        }
    } else {
        for i in 0..n {
            if emit(rng::philox4x32_10(rng::counter_add(counter, i), key)).is_err() {
                return Ok(());
            }
        }
    }
    let _ = out.flush();
    Ok(())
}
