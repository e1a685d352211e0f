//! The `throng` command line: run ensembles, audit the RNG, describe the adapter, benchmark.
//! Each subcommand lives in `cli/`; this file parses, dispatches, and turns errors into one
//! line on stderr and an exit status.

mod cli;

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "throng",
    version,
    about = "Ensembles of ODE/SDE trajectories on any GPU, or on CPUs through lavapipe",
    after_help = "Examples:
  throng run --system gbm --paths 1e6 --steps 256 --t1 1 --x0 100 --param mu=0.05 --param sigma=0.2
  throng run --system lorenz --paths 4096 --sweep rho=0:50 --steps 2000 --save-every 100 --out lz --plot
  throng systems lorenz
  throng run --help"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate an ensemble and print terminal statistics
    #[command(after_help = "Examples:
  throng run --system gbm --paths 1e6 --steps 256 --t1 1 --x0 100 --param mu=0.05 --param sigma=0.2 --seed 42
  throng run --system ou --paths 1e6 --steps 512 --t1 5 --save-every 8 --quantiles 0.05,0.5,0.95 --hist x=-3:3:60 --out ou --plot
  throng run --system lorenz --paths 64 --replicas 256 --sweep rho=0:60 --steps 2000 --init normal:1,1,1 --out sweep --plot
  throng run --spec examples/specs/duffing_noise.toml --json
  throng run --system gbm --paths 1e9 --steps 256 --t1 1 --shard 0/4 --out shard-0   (then: throng merge shard-*)
  throng run --system gbm --paths 1e9 --steps 256 --t1 1 --out big --resume          (continues after a kill)")]
    Run(Box<cli::run::RunArgs>),
    /// Lyapunov exponents of every trajectory (sweeps and grids included), from tangents
    /// derived from the system's WGSL
    #[command(after_help = "Examples:
  throng lyapunov --system lorenz --exponents 3 --paths 64 --init normal:2,2,2 --x0 1,1,20 --steps 100000 --transient 2000
  throng lyapunov --system lorenz --grid rho=0:60:256 --grid sigma=0:20:256 --x0 1,1,20 --steps 10000 --transient 2000 --out lmap")]
    Lyapunov(Box<cli::lyapunov::LyapunovArgs>),
    /// Orbit (bifurcation) diagrams: every iterate, local maxima or section crossings after a
    /// transient, per trajectory of a sweep
    #[command(after_help = "Examples:
  throng orbit --system logistic --sweep r=2.8:4 --paths 4000 --steps 12000 --transient 2000 --points 0 --range 0:1 --out orbit")]
    Orbit(Box<cli::orbit::OrbitArgs>),
    /// Basins of attraction over a grid of initial states, labelled by the nearest of given
    /// points or by the system's `fn label`
    #[command(after_help = "Examples:
  throng basins --spec well.toml --grid x0.x=-2:2:400 --grid x0.v=-2:2:400 --steps 5000 --attractors \"1,0;-1,0\" --radius 0.5 --out basins")]
    Basins(Box<cli::basins::BasinsArgs>),
    /// Sample a diffusion model (a Gaussian mixture or a WGSL denoiser) with DDIM,
    /// DPM-Solver, DPM-Solver++, SDE and ER-SDE solvers, DEIS, EM or Heun, measured against
    /// the exact target where it is known
    #[command(after_help = "Examples:
  throng sample --model ring8 --sampler dpmpp-2m --nfe 20 --paths 100000
  throng sample --model skew3 --sampler ddim --nfe 50 --reference")]
    Sample(Box<cli::sample::SampleArgs>),
    /// Draw a run's --out directory as pictures (PNG, and SVG with --svg) beside its arrays
    #[command(after_help = "Examples:
  throng plot ou                       (stats.png, hist0.png, hist0_at.png, paths.png, ...)
  throng plot ou --svg --at 2.5
  throng plot lorenz-run --xy 0,2       (a scatter of kept paths' x and z)")]
    Plot(cli::plot::PlotCommand),
    /// Merge shards' partials (`run --shard I/N --out DIR`) into one run's --out files
    #[command(after_help = "Examples:
  throng merge shard-0 shard-1 shard-2 shard-3 --out merged
  throng merge results/shard-*/ --out merged --plot
  throng merge shard-0 shard-2 --out some --partial     (say which shards are missing)")]
    Merge(cli::merge::MergeArgs),
    /// Print consecutive Philox4x32-10 blocks (four 8-digit hex words per line)
    #[command(after_help = "Examples:
  throng rng --key 0,0 --counter 0,0,0,0 --blocks 4
  throng rng --key 1,2 --counter 0,0,0,0 --gpu")]
    Rng(cli::rng::RngArgs),
    /// Describe the adapter: name, backend, type, limits, f64
    #[command(after_help = "Examples:
  throng info
  throng info --all                 (every adapter; then --adapter NAME picks one)")]
    Info {
        /// List every adapter instead of the chosen one
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        adapter: cli::AdapterArgs,
    },
    /// List the catalog of systems, or show one (its spec and WGSL)
    #[command(after_help = "Examples:
  throng systems
  throng systems lorenz > my.toml   (a spec to edit and run with --spec my.toml)")]
    Systems {
        /// A system to show
        name: Option<String>,
    },
    /// Measure trajectory-steps/s for the benchmark workloads on the device and the CPU twins
    #[command(after_help = "Examples:
  throng bench --repeat 5
  throng bench --workload dopri5 --no-cpu")]
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`throng systems | head`) would
    // panic; a command-line tool should just stop, as `ls | head` does.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Mesa's software driver warns on every start without it.
        std::env::set_var("XDG_RUNTIME_DIR", "/tmp");
    }
    // naga logs its validator's internals ("Returning Some(Handle([1]))..."); throng reports
    // the same error at the user's line, so naga stays quiet unless RUST_LOG asks for it.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,naga=off"))
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        Command::Run(a) => cli::run::run(*a),
        Command::Lyapunov(a) => cli::lyapunov::lyapunov(*a),
        Command::Orbit(a) => cli::orbit::orbit(*a),
        Command::Basins(a) => cli::basins::basins(*a),
        Command::Sample(a) => cli::sample::run(*a),
        Command::Merge(a) => cli::merge::merge(a),
        Command::Plot(a) => cli::plot::plot(a).map(|()| ExitCode::SUCCESS),
        Command::Rng(a) => cli::rng::rng(a).map(|()| ExitCode::SUCCESS),
        Command::Info { all, adapter } => cli::info::info(all, adapter).map(|()| ExitCode::SUCCESS),
        Command::Systems { name } => cli::systems::systems(name).map(|()| ExitCode::SUCCESS),
        Command::Bench(a) => cli::bench::bench(a).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&e.to_string()),
    }
}

/// Bad input: one line `error: ...`, status 1.
fn fail(message: &str) -> ExitCode {
    eprintln!("error: {}", message.replace('\n', " "));
    ExitCode::from(1)
}

/// Help and version go to stdout; any other refusal is one line on stderr.
fn usage_error(e: clap::Error) -> ExitCode {
    match usage_line(&e) {
        None => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        Some((line, code)) => {
            eprintln!("{line}");
            ExitCode::from(code)
        }
    }
}

/// The line and status for what clap refused (None: help or version, not an error). A value
/// that does not parse is bad input like any other (status 1), named by its flag; anything
/// else (an unknown flag, a missing one) is a usage error: clap's message in one line,
/// without the usage block, and status 2.
fn usage_line(e: &clap::Error) -> Option<(String, u8)> {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => None,
        ErrorKind::ValueValidation => {
            let flag = match e.get(ContextKind::InvalidArg) {
                // "--t1 <T1>": the flag without its value name.
                Some(ContextValue::String(a)) => a.split(' ').next().unwrap_or(a).to_string(),
                _ => String::new(),
            };
            let why = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
            let message = if flag.is_empty() || why.starts_with(&flag) {
                why
            } else {
                format!("{flag}: {why}")
            };
            Some((format!("error: {}", message.replace('\n', " ")), 1))
        }
        _ => {
            // clap's message runs to the first blank line (a list of missing arguments
            // follows on its own lines): one line of it, without tips and usage.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = if message.is_empty() {
                "error: invalid arguments".to_string()
            } else {
                message.join(" ")
            };
            Some((line, 2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from([&["throng"], args].concat())
    }

    /// The error line and status `main` gives for these arguments.
    fn refused(args: &[&str]) -> (String, u8) {
        usage_line(&parse(args).err().expect("refused")).expect("an error")
    }

    #[test]
    fn flags_parse_into_typed_values() {
        let Command::Run(a) = parse(&[
            "run",
            "--system",
            "gbm",
            "--paths",
            "1e6",
            "--x0",
            "1,2",
            "--sweep",
            "mu=0:1",
            "--grid",
            "sigma=0:1:4",
            "--t1",
            "-1",
            "--init",
            "uniform:0.5",
        ])
        .unwrap()
        .command
        else {
            panic!("not run")
        };
        let r = a.request.into_request();
        assert_eq!(r.paths, Some(1_000_000));
        assert_eq!(r.x0, Some(vec![1.0, 2.0]));
        assert_eq!(r.t1, Some(-1.0));
        assert_eq!(r.sweep[0].name, "mu");
        assert_eq!(r.grid[0].value.n, 4);
        assert_eq!(r.init, Some(throng::Init::Uniform(vec![0.5])));
    }

    #[test]
    fn a_bad_value_is_one_line_naming_the_flag_with_status_1() {
        assert_eq!(
            refused(&["run", "--t1", "abc"]),
            ("error: --t1: `abc` is not a number".into(), 1)
        );
        assert_eq!(
            refused(&["run", "--paths", "12.5"]),
            ("error: --paths: `12.5` is not a whole number".into(), 1)
        );
        assert_eq!(
            refused(&["run", "--sweep", "mu=0"]),
            ("error: --sweep: expected NAME=LO:HI, got `mu=0`".into(), 1)
        );
        // A message that already starts with the flag does not repeat it.
        assert_eq!(
            refused(&["rng", "--key", "1", "--counter", "0,0,0,0"]),
            (
                "error: --key takes 2 comma-separated words, got 1".into(),
                1
            )
        );
    }

    #[test]
    fn unknown_flags_are_usage_errors_with_status_2() {
        let (line, code) = refused(&["run", "--frobnicate"]);
        assert!(
            line.starts_with("error:") && line.contains("--frobnicate"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert_eq!(code, 2);
    }
}
