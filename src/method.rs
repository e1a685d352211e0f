//! Integration methods.

use crate::error::{Error, Result};
use crate::system::{Noise, System};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Euler–Maruyama, Itô interpretation, diagonal noise (the explicit Euler method on ODEs).
    EulerMaruyama,
    /// Classic fourth-order Runge–Kutta, for ODEs.
    Rk4,
}

impl Method {
    pub fn parse(name: &str) -> Result<Method> {
        match name {
            "em" | "euler-maruyama" => Ok(Method::EulerMaruyama),
            "rk4" => Ok(Method::Rk4),
            _ => Err(Error::UnknownMethod(name.to_string())),
        }
    }

    /// The short name used by the CLI and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::EulerMaruyama => "em",
            Method::Rk4 => "rk4",
        }
    }

    /// An error if this method cannot integrate `system`.
    pub fn check_fits(self, system: &System) -> Result<()> {
        if self == Method::Rk4 && system.noise != Noise::None {
            return Err(Error::Invalid(format!(
                "method rk4 integrates ODEs, but `{}` is an SDE; use --method em",
                system.name
            )));
        }
        Ok(())
    }
}
