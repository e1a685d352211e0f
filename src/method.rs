//! Integration methods.

use crate::error::{Error, Result};
use crate::system::{Noise, System};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Euler–Maruyama, Itô (the explicit Euler method on ODEs). Strong order 0.5, weak 1.
    EulerMaruyama,
    /// Derivative-free Milstein (Rößler's Runge–Kutta form), Itô, for diagonal, scalar or
    /// additive noise with g_i depending on x_i only (commutative noise). Strong order 1.
    Milstein,
    /// Stochastic Heun (predictor–corrector), Stratonovich. Strong order 1 for commutative
    /// noise.
    Heun,
    /// Stochastic exponential Euler for semilinear systems (the system defines
    /// `fn linear(t, p) -> S`, the diagonal of A), Itô; exact in law for Ornstein–Uhlenbeck.
    Setd1,
    /// Second-order exponential Runge–Kutta (Cox–Matthews ETD2RK) for the deterministic part,
    /// the noise as in SETD1.
    Etdrk2,
    /// Fourth-order exponential Runge–Kutta (Cox–Matthews ETDRK4) for the deterministic
    /// part, the noise as in SETD1.
    Etdrk4,
    /// Classic fourth-order Runge–Kutta, for ODEs.
    Rk4,
    /// Dormand–Prince 5(4), adaptive: each trajectory controls its own step, for ODEs.
    Dopri5(Controller),
}

/// Step-size control of the adaptive method, per trajectory: a step is accepted when the
/// RMS over components of err_i / (atol + rtol max(|x_i|, |x_i'|)) is at most 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Controller {
    pub rtol: f64,
    pub atol: f64,
    /// Steps are never shorter; a step of dt_min is accepted whatever its error.
    pub dt_min: f64,
    /// Steps are never longer (0: no limit but the interval).
    pub dt_max: f64,
    /// Accepted plus rejected steps a trajectory may take; one that has not reached t1 by
    /// then is reported as unfinished and its state as NaN.
    pub max_steps: u32,
}

impl Default for Controller {
    fn default() -> Self {
        Controller {
            rtol: 1e-6,
            atol: 1e-6,
            dt_min: 0.0,
            dt_max: 0.0,
            max_steps: 100_000,
        }
    }
}

/// How the stochastic integral of a method is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpretation {
    Ito,
    Stratonovich,
    /// An ODE method: no stochastic integral.
    None,
}

impl Method {
    pub fn parse(name: &str) -> Result<Method> {
        match name {
            "em" | "euler-maruyama" => Ok(Method::EulerMaruyama),
            "milstein" => Ok(Method::Milstein),
            "heun" => Ok(Method::Heun),
            "setd1" => Ok(Method::Setd1),
            "etdrk2" => Ok(Method::Etdrk2),
            "etdrk4" => Ok(Method::Etdrk4),
            "rk4" => Ok(Method::Rk4),
            "dopri5" => Ok(Method::Dopri5(Controller::default())),
            _ => Err(Error::UnknownMethod(name.to_string())),
        }
    }

    /// The short name used by the CLI and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::EulerMaruyama => "em",
            Method::Milstein => "milstein",
            Method::Heun => "heun",
            Method::Setd1 => "setd1",
            Method::Etdrk2 => "etdrk2",
            Method::Etdrk4 => "etdrk4",
            Method::Rk4 => "rk4",
            Method::Dopri5(_) => "dopri5",
        }
    }

    pub fn interpretation(self) -> Interpretation {
        match self {
            Method::EulerMaruyama
            | Method::Milstein
            | Method::Setd1
            | Method::Etdrk2
            | Method::Etdrk4 => Interpretation::Ito,
            Method::Heun => Interpretation::Stratonovich,
            Method::Rk4 | Method::Dopri5(_) => Interpretation::None,
        }
    }

    /// Whether each trajectory chooses its own steps.
    pub fn is_adaptive(self) -> bool {
        matches!(self, Method::Dopri5(_))
    }

    /// An error if this method cannot integrate `system`.
    pub fn check_fits(self, system: &System) -> Result<()> {
        let name = &system.name;
        match (self, &system.noise) {
            (Method::Rk4 | Method::Dopri5(_), n) if *n != Noise::None => Err(Error::Invalid(format!(
                "method {} integrates ODEs, but `{name}` is an SDE; use --method em, milstein or heun",
                self.name()
            ))),
            (Method::Milstein | Method::Heun, Noise::None) => Err(Error::Invalid(format!(
                "method {} integrates SDEs, but `{name}` is an ODE; use --method rk4 or em",
                self.name()
            ))),
            (Method::Setd1 | Method::Etdrk2 | Method::Etdrk4, _) if !crate::kernel::defines(&system.wgsl, "linear") => {
                Err(Error::Invalid(format!(
                    "method {} needs the linear part: `fn linear(t: F, p: Params) -> S`, the diagonal of A, in `{name}`",
                    self.name()
                )))
            }
            (Method::Setd1 | Method::Etdrk2 | Method::Etdrk4, Noise::General { .. } | Noise::Correlated { .. } | Noise::Scalar) => {
                Err(Error::Invalid(format!(
                    "method {} needs diagonal or additive noise; `{name}` has {} noise",
                    self.name(),
                    system.noise.name()
                )))
            }
            (Method::Milstein, Noise::General { .. } | Noise::Correlated { .. }) => Err(Error::Invalid(format!(
                "method milstein needs diagonal, scalar or additive noise; `{name}` has {} noise (use em or heun)",
                system.noise.name()
            ))),
            _ => Ok(()),
        }
    }
}
