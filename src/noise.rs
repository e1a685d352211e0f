//! How a system is driven by noise: the kinds of Wiener increments a `diffusion` multiplies.

/// How a system is driven by noise.
#[derive(Clone, Debug, PartialEq)]
pub enum Noise {
    /// An ODE: no `diffusion`.
    None,
    /// One independent Wiener process per component; `diffusion` returns g_i (type `S`).
    Diagonal,
    /// One Wiener process shared by all components; `diffusion` returns g_i (type `S`).
    Scalar,
    /// Diagonal noise whose g does not depend on x (type `S`).
    Additive,
    /// `channels` independent Wiener processes; `diffusion` returns the d x m matrix g
    /// row-major as `G = array<R, DIM * NOISE>`: g[i * NOISE + j] multiplies dW_j in dx_i.
    General { channels: usize },
    /// One Wiener process per component with correlation matrix `corr` (d x d, row-major):
    /// dW = L dZ with L L^T = corr (Cholesky on the host); `diffusion` returns g_i (type `S`).
    Correlated { corr: Vec<f64> },
}

impl Noise {
    pub fn name(&self) -> &'static str {
        match self {
            Noise::None => "none",
            Noise::Diagonal => "diagonal",
            Noise::Scalar => "scalar",
            Noise::Additive => "additive",
            Noise::General { .. } => "general",
            Noise::Correlated { .. } => "correlated",
        }
    }
}

/// Where the step normals of a fixed-step SDE method come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Brownian {
    /// The path noise stream: normal (step, channel) of the trajectory (README, "Noise").
    #[default]
    Stream,
    /// The Brownian tree (`rng::tree`): the scaled increments of one path per trajectory and
    /// channel, the same for every number of steps 2^m, so runs at different dt see one
    /// path. Needs a power of two steps.
    Tree,
}

impl Brownian {
    pub fn name(self) -> &'static str {
        match self {
            Brownian::Stream => "stream",
            Brownian::Tree => "tree",
        }
    }
}
