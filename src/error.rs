//! One error type for everything a user can get wrong or a device can refuse. Each variant
//! says what went wrong and carries what a caller may act on; each renders as the one line
//! the command line prints after `error: ` (a shader error adds the offending source line
//! after it, which the command line folds into its line).

use std::fmt;

use thiserror::Error;

/// A place in a file: `file`, `file:line` or `file:line:column` (1-based), as errors print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, or a built-in shader module's name.
    pub file: String,
    pub line: Option<usize>,
    /// Only with a line.
    pub column: Option<usize>,
}

impl Location {
    /// A whole file.
    pub fn file(file: impl Into<String>) -> Location {
        Location {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// A line of a file.
    pub fn line(file: impl Into<String>, line: usize) -> Location {
        Location {
            line: Some(line),
            ..Location::file(file)
        }
    }

    /// A line and column of a file.
    pub fn at(file: impl Into<String>, line: usize, column: usize) -> Location {
        Location {
            line: Some(line),
            column: Some(column),
            ..Location::file(file)
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// `place: message`, then the source line under it where there is one.
fn shader_text(at: &Option<Location>, message: &str, code: &Option<String>) -> String {
    let mut s = match at {
        Some(at) => format!("{at}: {message}"),
        None => message.to_string(),
    };
    if let Some(code) = code {
        s += &format!("\n  | {code}");
    }
    s
}

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "no GPU or software Vulkan adapter found{detail}. On Debian/Ubuntu install Mesa's CPU driver: \
         `sudo apt-get install mesa-vulkan-drivers` (lavapipe); elsewhere install your GPU's Vulkan, Metal or DX12 driver"
    )]
    NoAdapter { detail: String },
    #[error("could not open the device on adapter {adapter}: {reason}")]
    Device { adapter: String, reason: String },
    #[error("the device was lost: {0}")]
    DeviceLost(String),
    /// A run's device (or submission) failed in a chunk: which, and the trajectories the
    /// completed chunks cover (kept in the last checkpoint, where one was asked for).
    #[error("{chunk} failed ({source})")]
    ChunkFailed {
        /// "chunk 3 of 8 (trajectories 3072..4096)" or "the quantile pilot".
        chunk: String,
        completed: u64,
        source: Box<Error>,
    },
    #[error("GPU error: {0}")]
    Gpu(String),
    /// WGSL that does not compose, parse or validate, or that lacks what the kernels call:
    /// where (in the user's file, with the line their spec gives it, or in a built-in module;
    /// none when naga names no place), what, and the source line there.
    #[error("shader: {}", shader_text(.at, .message, .code))]
    Shader {
        at: Option<Location>,
        message: String,
        code: Option<String>,
    },
    /// A spec file (TOML) that does not say what it must: where and what.
    #[error("{at}: {message}")]
    Spec { at: Location, message: String },
    /// A system defined wrongly: a name, a parameter given twice or not finite, the shape of
    /// its noise.
    #[error("system `{system}`: {message}")]
    System { system: String, message: String },
    #[error("unknown system `{0}` (known: {1})")]
    UnknownSystem(String, String),
    #[error("unknown method `{name}` (known: {known})")]
    UnknownMethod { name: String, known: String },
    #[error("system `{system}` has no parameter `{name}` (its parameters: {known})")]
    UnknownParameter {
        system: String,
        name: String,
        known: String,
    },
    /// A method that cannot integrate the system (the kind of noise, a missing `linear`, its
    /// `stop`/`event`/`payoff`) or cannot run as asked (lanes, dispatch bounds, controller
    /// options). `message` is the line, naming what fits instead where something does.
    #[error("{message}")]
    MethodDoesNotFit {
        method: &'static str,
        system: String,
        message: String,
    },
    /// A count or size outside what throng or the device can hold: `got` of `what` where at
    /// most `max` fit (a few also refuse too few: `got` 0 paths). `message` is the line.
    #[error("{message}")]
    Limit {
        what: String,
        got: u64,
        max: u64,
        message: String,
    },
    /// Something this adapter (or the CPU) cannot do: `feature` is SHADER_F64, SHADER_INT64
    /// or a CPU twin. `message` is the line, saying what to do instead.
    #[error("{message}")]
    Unsupported {
        feature: &'static str,
        message: String,
    },
    /// Everything a device (an application's, when embedding) lacks for a job, found in one
    /// check before anything is built: each item names what the job needs and what the
    /// device allows.
    #[error("device `{adapter}` lacks what this job needs: {}", .lacks.join("; "))]
    DeviceLacks { adapter: String, lacks: Vec<String> },
    /// A value the user gave (or left out) that throng cannot use: out of its range, not
    /// finite, not one of the names it may be, or at odds with another. `what` names it (a
    /// setting, a flag, a file); `message` is the line.
    #[error("{message}")]
    Input { what: String, message: String },
    /// A file that could not be read or written; `what` names it as the line does.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of each variant.
    fn one_of_each() -> Vec<Error> {
        let s = String::from;
        vec![
            Error::NoAdapter { detail: s("") },
            Error::Device {
                adapter: s("llvmpipe"),
                reason: s("no memory"),
            },
            Error::DeviceLost(s("timeout")),
            Error::ChunkFailed {
                chunk: s("chunk 2 of 4 (trajectories 256..512)"),
                completed: 256,
                source: Box::new(Error::DeviceLost(s("timeout"))),
            },
            Error::Gpu(s("validation")),
            Error::Shader {
                at: Some(Location::at("lorenz.toml", 12, 5)),
                message: s("unknown identifier `sgima`"),
                code: Some(s("return sgima * x;")),
            },
            Error::Spec {
                at: Location::at("my.toml", 3, 1),
                message: s("unknown field `nosie`"),
            },
            Error::System {
                system: s("gbm"),
                message: s("parameter `mu` given twice"),
            },
            Error::UnknownSystem(s("gmb"), s("gbm, ou")),
            Error::UnknownMethod {
                name: s("rk5"),
                known: s("rk4"),
            },
            Error::UnknownParameter {
                system: s("gbm"),
                name: s("nu"),
                known: s("mu, sigma"),
            },
            Error::MethodDoesNotFit {
                method: "rk4",
                system: s("gbm"),
                message: s("method rk4 integrates ODEs, but `gbm` is an SDE"),
            },
            Error::Limit {
                what: s("paths"),
                got: 0,
                max: 1 << 32,
                message: s("paths must be between 1 and 4294967296, got 0"),
            },
            Error::Unsupported {
                feature: "SHADER_INT64",
                message: s("the adapter lacks SHADER_INT64"),
            },
            Error::DeviceLacks {
                adapter: s("llvmpipe"),
                lacks: vec![s("SHADER_F64 (the job is f64)")],
            },
            Error::Input {
                what: s("quantiles"),
                message: s("quantile 2 is not in (0, 1)"),
            },
            Error::Io {
                what: s("out/mean.npy"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
            },
        ]
    }

    #[test]
    fn every_error_is_one_line_but_a_shaders_source_line() {
        for e in one_of_each() {
            let text = e.to_string();
            assert!(!text.is_empty(), "{e:?}");
            match e {
                Error::Shader { .. } => {
                    let (first, code) = text.split_once('\n').expect("the source line");
                    assert_eq!(
                        first,
                        "shader: lorenz.toml:12:5: unknown identifier `sgima`"
                    );
                    assert_eq!(code, "  | return sgima * x;");
                }
                _ => assert!(!text.contains('\n'), "{text}"),
            }
        }
    }

    #[test]
    fn places_and_sources_render_as_before() {
        assert_eq!(Location::file("a.toml").to_string(), "a.toml");
        assert_eq!(Location::line("a.toml", 3).to_string(), "a.toml:3");
        assert_eq!(Location::at("a.toml", 3, 7).to_string(), "a.toml:3:7");
        let e = Error::Spec {
            at: Location::file("a.toml"),
            message: "missing `wgsl`".into(),
        };
        assert_eq!(e.to_string(), "a.toml: missing `wgsl`");
        let e = Error::Shader {
            at: None,
            message: "expected `;`".into(),
            code: None,
        };
        assert_eq!(e.to_string(), "shader: expected `;`");
        let io = Error::Io {
            what: "cannot read spec `x.toml`".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(io.to_string(), "cannot read spec `x.toml`: gone");
        assert!(std::error::Error::source(&io).is_some());
    }
}
