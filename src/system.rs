//! Systems: the drift (and diffusion) of an ODE or SDE, written once in WGSL for the kernels
//! and once in Rust for the CPU twin.

use crate::error::{Error, Result};

/// How a system is driven by noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// An ODE: no diffusion term.
    None,
    /// One independent Wiener process per state component, g(t, x) diagonal (Itô).
    Diagonal,
}

/// The built-in systems, each with a CPU twin in `cpu::systems`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Gbm,
    Ou,
    Lorenz,
    Linear,
}

/// A system: names, dimensions, parameters with defaults, and its WGSL.
#[derive(Clone, Debug)]
pub struct System {
    pub name: &'static str,
    pub description: &'static str,
    /// Names of the state components, in order.
    pub state: &'static [&'static str],
    /// Parameter names and their default values, in the order of the WGSL `Params` struct.
    pub params: &'static [(&'static str, f64)],
    pub noise: Noise,
    /// WGSL defining `drift` (and `diffusion` for SDEs) over `S`, `R` and `Params`.
    pub wgsl: &'static str,
    pub builtin: Builtin,
}

const BUILTINS: &[System] = &[
    System {
        name: "gbm",
        description: "geometric Brownian motion dX = mu X dt + sigma X dW",
        state: &["x"],
        params: &[("mu", 0.05), ("sigma", 0.2)],
        noise: Noise::Diagonal,
        wgsl: include_str!("../shaders/systems/gbm.wgsl"),
        builtin: Builtin::Gbm,
    },
    System {
        name: "ou",
        description: "Ornstein-Uhlenbeck dX = theta (mu - X) dt + sigma dW",
        state: &["x"],
        params: &[("theta", 1.0), ("mu", 0.0), ("sigma", 1.0)],
        noise: Noise::Diagonal,
        wgsl: include_str!("../shaders/systems/ou.wgsl"),
        builtin: Builtin::Ou,
    },
    System {
        name: "lorenz",
        description: "Lorenz 1963 convection model (chaotic at the defaults)",
        state: &["x", "y", "z"],
        params: &[("sigma", 10.0), ("rho", 28.0), ("beta", 8.0 / 3.0)],
        noise: Noise::None,
        wgsl: include_str!("../shaders/systems/lorenz.wgsl"),
        builtin: Builtin::Lorenz,
    },
    System {
        name: "linear",
        description: "linear ODE x' = a x, exact solution x0 exp(a t)",
        state: &["x"],
        params: &[("a", -1.0)],
        noise: Noise::None,
        wgsl: include_str!("../shaders/systems/linear.wgsl"),
        builtin: Builtin::Linear,
    },
];

impl System {
    /// A built-in system by name.
    pub fn builtin(name: &str) -> Result<System> {
        BUILTINS
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| {
                Error::UnknownSystem(
                    name.to_string(),
                    BUILTINS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
    }

    /// All built-in systems.
    pub fn all() -> &'static [System] {
        BUILTINS
    }

    pub fn dim(&self) -> usize {
        self.state.len()
    }

    /// Number of independent Wiener processes.
    pub fn noise_channels(&self) -> usize {
        match self.noise {
            Noise::None => 0,
            Noise::Diagonal => self.dim(),
        }
    }

    /// Index of a parameter by name.
    pub fn param_index(&self, name: &str) -> Result<usize> {
        self.params
            .iter()
            .position(|p| p.0 == name)
            .ok_or_else(|| Error::UnknownParameter {
                system: self.name.to_string(),
                name: name.to_string(),
                known: self
                    .params
                    .iter()
                    .map(|p| p.0)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}
