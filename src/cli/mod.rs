//! The subcommands of the `throng` binary, one module each. The library never depends on
//! this: it is the last layer, free to use anything the library exports.

pub mod basins;
pub mod bench;
pub mod info;
pub mod lyapunov;
pub mod merge;
pub mod orbit;
pub mod plot;
pub mod progress;
pub mod request;
pub mod rng;
pub mod run;
pub mod sample;
pub mod systems;

use throng::{AdapterChoice, Error};

/// The methods `--method` takes, with the reading of the noise named, for help text. The one
/// place that lists them, until the library has a method table to draw the list from.
pub fn method_names() -> String {
    throng::method::METHODS
        .iter()
        .map(|m| format!("{} ({})", m.name, m.summary))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which system: one of the catalog's, or a spec file's.
#[derive(clap::Args)]
pub struct SystemArgs {
    /// A catalog system (`throng systems`), NAME:N for resizable ones
    #[arg(long)]
    pub system: Option<String>,
    /// A spec file (TOML) with your own system, and optionally a [run] table
    #[arg(long)]
    pub spec: Option<std::path::PathBuf>,
}

/// The `--grid` axes of a request, as a picture's axes and their sizes (the first varying
/// fastest).
pub fn grid_axes(req: &throng::spec::RunRequest) -> Vec<(throng::plot::Axis, usize)> {
    req.grid
        .iter()
        .map(|s| {
            let axis = throng::plot::Axis {
                label: s.name.clone(),
                lo: s.value.lo,
                hi: s.value.hi,
            };
            (axis, s.value.n as usize)
        })
        .collect()
}

/// Where results go.
#[derive(clap::Args)]
pub struct OutArgs {
    /// Write NPY arrays (and pictures), then summary.json, into DIR (locked while writing)
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// With --out: replace the files of a previous run in DIR
    #[arg(long, requires = "out")]
    pub force: bool,
}

impl OutArgs {
    /// Locks and checks the directory before any work is done.
    pub fn open(&self) -> Result<Option<throng::output::OutDir>, Error> {
        self.out
            .as_deref()
            .map(|dir| throng::output::OutDir::open(dir, self.force))
            .transpose()
    }
}

#[derive(clap::Args, Clone, Default)]
pub struct AdapterArgs {
    /// Use the first adapter whose name contains this text (see `throng info --all`)
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Restrict adapters to one backend: vulkan, metal or dx12
    #[arg(long, global = true)]
    backend: Option<String>,
}

impl AdapterArgs {
    pub fn choice(&self) -> AdapterChoice {
        AdapterChoice {
            name: self.adapter.clone(),
            backend: self.backend.clone(),
        }
    }
}

/// A flag's value (or its absence) that the command cannot use: `what` names the flags,
/// `message` is the line.
fn input(what: &str, message: impl Into<String>) -> Error {
    Error::Input {
        what: what.into(),
        message: message.into(),
    }
}
