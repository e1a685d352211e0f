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
    about = "Ensembles of ODE/SDE trajectories on any GPU, or on CPUs through lavapipe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Integrate an ensemble and print terminal statistics
    Run(Box<cli::run::RunArgs>),
    /// Print consecutive Philox4x32-10 blocks (four 8-digit hex words per line)
    Rng(cli::rng::RngArgs),
    /// Describe the adapter: name, backend, type, limits, f64
    Info {
        /// List every adapter instead of the chosen one
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        adapter: cli::AdapterArgs,
    },
    /// List the catalog of systems, or show one (its spec and WGSL)
    Systems {
        /// A system to show
        name: Option<String>,
    },
    /// Measure trajectory-steps/s for the benchmark workloads on the device and the CPU twins
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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        Command::Run(a) => cli::run::run(*a),
        Command::Rng(a) => cli::rng::rng(a),
        Command::Info { all, adapter } => cli::info::info(all, adapter),
        Command::Systems { name } => cli::systems::systems(name),
        Command::Bench(a) => cli::bench::bench(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// Bad input: one line `error: ...`, status 1.
fn fail(message: &str) -> ExitCode {
    eprintln!("error: {}", message.replace('\n', " "));
    ExitCode::from(1)
}

/// Help and version go to stdout. A value that does not parse is bad input like any other
/// (status 1), named by its flag; anything else clap refuses (an unknown flag, a missing
/// one) is a usage error: clap's first line, without the usage block, and status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::ValueValidation => {
            let flag = match e.get(ContextKind::InvalidArg) {
                // "--t1 <T1>": the flag without its value name.
                Some(ContextValue::String(a)) => a.split(' ').next().unwrap_or(a).to_string(),
                _ => String::new(),
            };
            let why =
                std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            if flag.is_empty() || why.starts_with(&flag) {
                fail(&why)
            } else {
                fail(&format!("{flag}: {why}"))
            }
        }
        _ => {
            let text = e.render().to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            ExitCode::from(2)
        }
    }
}
