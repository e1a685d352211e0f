//! Integration methods.

use crate::error::{Error, Result};

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
    /// Stochastic Heun with an embedded Euler–Maruyama error estimate, adaptive per
    /// trajectory on the Brownian tree, for additive noise (Gotta Go Fast's pair, re-querying
    /// the same path on rejection). Strong order 1.
    AdaptiveHeun(Controller),
    /// Derivative-free Milstein with the Euler–Maruyama error estimate taken from the state
    /// alone (the Milstein term at its mean size, so the step choice is adapted),
    /// adaptive per trajectory on the Brownian tree, Itô, for diagonal, scalar or additive
    /// noise. Strong order 1.
    AdaptiveMilstein(Controller),
    /// Rößler's SRA1 for additive noise (strong order 1.5 with fixed steps), which needs the
    /// step's space-time Lévy area: adaptive per trajectory on the area tree
    /// (`rng::tree::area_at`), the error its embedded Euler–Maruyama step's.
    AdaptiveSra1(Controller),
    /// x_{n+1} = map(n, x_n): the one method of discrete maps (`kind = "map"`).
    Iterate,
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

impl Controller {
    /// rtol = atol = 1e-6, no bounds on the step, 100000 steps.
    pub const DEFAULT: Controller = Controller {
        rtol: 1e-6,
        atol: 1e-6,
        dt_min: 0.0,
        dt_max: 0.0,
        max_steps: 100_000,
    };
}

impl Default for Controller {
    fn default() -> Self {
        Controller::DEFAULT
    }
}

/// Controller exponents (Hairer's DOPRI5 PI control, beta = 0.04): a step scales by
/// 0.9 / (err^0.17 err_prev^-0.04), within [0.2, 10]. On the squared norm: halves.
pub const EXP_ERR2: f32 = 0.085;
pub const EXP_PREV2: f32 = 0.02;

/// How the stochastic integral of a method is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpretation {
    Ito,
    Stratonovich,
    /// An ODE method: no stochastic integral.
    None,
}

/// What throng knows about a method; [`METHODS`] has one per method.
#[derive(Clone, Copy, Debug)]
pub struct MethodInfo {
    /// The short name used by the CLI and in JSON.
    pub name: &'static str,
    /// Other names [`Method::parse`] accepts.
    pub aliases: &'static [&'static str],
    /// What [`Method::parse`] gives for it (the adaptive one with the default controller).
    pub method: Method,
    /// One line for people.
    pub summary: &'static str,
    pub interpretation: Interpretation,
    /// Strong order on SDEs with commutative noise (diagonal, scalar, additive); None for an
    /// ODE method.
    pub strong_order: Option<f64>,
    /// Weak order on SDEs; None for an ODE method.
    pub weak_order: Option<f64>,
    /// Order on ODEs; None for a method that refuses them.
    pub ode_order: Option<u32>,
    /// The noise kinds it fits, by [`Noise::name`] ("none": ODEs).
    pub noise: &'static [&'static str],
    /// Whether the system must define `fn linear(t: F, p: Params) -> S`, the diagonal of A.
    pub needs_linear: bool,
    /// Whether each trajectory chooses its own steps (driver `shaders/controller.wgsl`,
    /// else `shaders/fixed.wgsl`).
    pub adaptive: bool,
    /// Its WGSL module, `shaders/{shader}.wgsl`: the step the driver calls.
    pub shader: &'static str,
}

const ALL_NOISE: &[&str] = &[
    "none",
    "diagonal",
    "scalar",
    "additive",
    "general",
    "correlated",
];

/// Every method, in the order the CLI lists them.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "em",
        aliases: &["euler-maruyama"],
        method: Method::EulerMaruyama,
        summary: "Euler–Maruyama, Itô (the explicit Euler method on ODEs)",
        interpretation: Interpretation::Ito,
        strong_order: Some(0.5),
        weak_order: Some(1.0),
        ode_order: Some(1),
        noise: ALL_NOISE,
        needs_linear: false,
        adaptive: false,
        shader: "methods/em",
    },
    MethodInfo {
        name: "milstein",
        aliases: &[],
        method: Method::Milstein,
        summary:
            "derivative-free Milstein (Rößler's Runge–Kutta form), Itô, g_i depending on x_i only",
        interpretation: Interpretation::Ito,
        strong_order: Some(1.0),
        weak_order: Some(1.0),
        ode_order: None,
        noise: &["diagonal", "scalar", "additive"],
        needs_linear: false,
        adaptive: false,
        shader: "methods/milstein",
    },
    MethodInfo {
        name: "heun",
        aliases: &[],
        method: Method::Heun,
        summary: "stochastic Heun (predictor–corrector), Stratonovich",
        interpretation: Interpretation::Stratonovich,
        strong_order: Some(1.0),
        weak_order: Some(1.0),
        ode_order: None,
        noise: &["diagonal", "scalar", "additive", "general", "correlated"],
        needs_linear: false,
        adaptive: false,
        shader: "methods/heun",
    },
    MethodInfo {
        name: "setd1",
        aliases: &[],
        method: Method::Setd1,
        summary: "stochastic exponential Euler, Itô; exact in law for Ornstein–Uhlenbeck",
        interpretation: Interpretation::Ito,
        strong_order: Some(0.5),
        weak_order: Some(1.0),
        ode_order: Some(1),
        noise: &["none", "diagonal", "additive"],
        needs_linear: true,
        adaptive: false,
        shader: "methods/setd1",
    },
    MethodInfo {
        name: "etdrk2",
        aliases: &[],
        method: Method::Etdrk2,
        summary:
            "Cox–Matthews exponential Runge–Kutta of order 2 for the drift, the noise as setd1",
        interpretation: Interpretation::Ito,
        strong_order: Some(0.5),
        weak_order: Some(1.0),
        ode_order: Some(2),
        noise: &["none", "diagonal", "additive"],
        needs_linear: true,
        adaptive: false,
        shader: "methods/etdrk2",
    },
    MethodInfo {
        name: "etdrk4",
        aliases: &[],
        method: Method::Etdrk4,
        summary:
            "Cox–Matthews exponential Runge–Kutta of order 4 for the drift, the noise as setd1",
        interpretation: Interpretation::Ito,
        strong_order: Some(0.5),
        weak_order: Some(1.0),
        ode_order: Some(4),
        noise: &["none", "diagonal", "additive"],
        needs_linear: true,
        adaptive: false,
        shader: "methods/etdrk4",
    },
    MethodInfo {
        name: "rk4",
        aliases: &[],
        method: Method::Rk4,
        summary: "classic fourth-order Runge–Kutta, for ODEs",
        interpretation: Interpretation::None,
        strong_order: None,
        weak_order: None,
        ode_order: Some(4),
        noise: &["none"],
        needs_linear: false,
        adaptive: false,
        shader: "methods/rk4",
    },
    MethodInfo {
        name: "dopri5",
        aliases: &[],
        method: Method::Dopri5(Controller::DEFAULT),
        summary: "Dormand–Prince 5(4) with a step size per trajectory, for ODEs",
        interpretation: Interpretation::None,
        strong_order: None,
        weak_order: None,
        ode_order: Some(5),
        noise: &["none"],
        needs_linear: false,
        adaptive: true,
        shader: "methods/dopri5",
    },
    MethodInfo {
        name: "adaptive-heun",
        aliases: &[],
        method: Method::AdaptiveHeun(Controller::DEFAULT),
        summary: "stochastic Heun with an Euler–Maruyama error estimate, a step per trajectory on the Brownian tree, for additive noise",
        interpretation: Interpretation::Ito,
        strong_order: Some(1.0),
        weak_order: Some(1.0),
        ode_order: None,
        noise: &["additive"],
        needs_linear: false,
        adaptive: true,
        shader: "methods/adaptive_heun",
    },
    MethodInfo {
        name: "adaptive-milstein",
        aliases: &[],
        method: Method::AdaptiveMilstein(Controller::DEFAULT),
        summary: "derivative-free Milstein with an Euler–Maruyama error estimate from the state alone, a step per trajectory on the Brownian tree, Itô",
        interpretation: Interpretation::Ito,
        strong_order: Some(1.0),
        weak_order: Some(1.0),
        ode_order: None,
        noise: &["diagonal", "scalar", "additive"],
        needs_linear: false,
        adaptive: true,
        shader: "methods/adaptive_milstein",
    },
    MethodInfo {
        name: "adaptive-sra1",
        aliases: &[],
        method: Method::AdaptiveSra1(Controller::DEFAULT),
        summary: "Rößler's SRA1 with the space-time Lévy area, a step per trajectory on the area tree, for additive noise",
        interpretation: Interpretation::Ito,
        strong_order: Some(1.5),
        weak_order: Some(2.0),
        ode_order: None,
        noise: &["additive"],
        needs_linear: false,
        adaptive: true,
        shader: "methods/adaptive_sra1",
    },
    MethodInfo {
        name: "iterate",
        aliases: &[],
        method: Method::Iterate,
        summary: "x_{n+1} = map(n, x_n), for discrete maps (kind = \"map\"); random maps take w",
        interpretation: Interpretation::None,
        strong_order: None,
        weak_order: None,
        ode_order: None,
        noise: &["none", "general"],
        needs_linear: false,
        adaptive: false,
        shader: "methods/iterate",
    },
];

/// The methods' names, for messages: "em, milstein, ...".
pub fn names() -> String {
    METHODS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Method {
    /// Its row of [`METHODS`].
    pub fn info(self) -> &'static MethodInfo {
        let kind = std::mem::discriminant(&self);
        METHODS
            .iter()
            .find(|m| std::mem::discriminant(&m.method) == kind)
            .expect("every method has a row in METHODS")
    }

    pub fn parse(name: &str) -> Result<Method> {
        METHODS
            .iter()
            .find(|m| m.name == name || m.aliases.contains(&name))
            .map(|m| m.method)
            .ok_or_else(|| Error::UnknownMethod {
                name: name.to_string(),
                known: names(),
            })
    }

    /// The short name used by the CLI and in JSON.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn interpretation(self) -> Interpretation {
        self.info().interpretation
    }

    /// Whether each trajectory chooses its own steps.
    pub fn is_adaptive(self) -> bool {
        self.info().adaptive
    }

    /// An adaptive method's controller.
    pub fn controller(self) -> Option<Controller> {
        let mut m = self;
        m.controller_mut().copied()
    }

    /// Whether the method reads the space-time Lévy area: it steps on the area tree
    /// (`rng::tree::area_at`, stream 3), whose path differs from `brownian_at`'s.
    pub fn uses_area(self) -> bool {
        matches!(self, Method::AdaptiveSra1(_))
    }

    /// An adaptive method's controller, to change.
    pub fn controller_mut(&mut self) -> Option<&mut Controller> {
        match self {
            Method::Dopri5(c)
            | Method::AdaptiveHeun(c)
            | Method::AdaptiveMilstein(c)
            | Method::AdaptiveSra1(c) => Some(c),
            _ => None,
        }
    }

    /// An adaptive SDE method: steps per trajectory on the Brownian tree
    /// (`shaders/sde_controller.wgsl`).
    pub fn is_adaptive_sde(self) -> bool {
        self.is_adaptive() && self.info().ode_order.is_none()
    }

    /// The exponent the step-size controller raises the squared error norm to: −1/(2q) for
    /// local errors of order h^q (Dormand–Prince's PI control has its own, [`EXP_ERR2`]).
    /// The adaptive Heun pair's difference is the Euler–Maruyama drift error, O(h^1.5) for
    /// additive noise; the Milstein pair's is the Milstein term's mean size, O(h).
    pub fn error_exponent(self) -> f32 {
        match self {
            Method::AdaptiveHeun(_) | Method::AdaptiveSra1(_) => 1.0 / 3.0,
            Method::AdaptiveMilstein(_) => 0.5,
            _ => EXP_ERR2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_method_once_and_parses_back() {
        for (i, m) in METHODS.iter().enumerate() {
            assert!(
                METHODS[..i].iter().all(|o| o.name != m.name),
                "{} twice",
                m.name
            );
            assert_eq!(m.method.info().name, m.name);
            assert_eq!(Method::parse(m.name).unwrap(), m.method);
            for alias in m.aliases {
                assert_eq!(Method::parse(alias).unwrap(), m.method);
            }
            assert_eq!(m.adaptive, m.method.is_adaptive());
            assert!(m.noise.iter().all(|k| ALL_NOISE.contains(k)), "{}", m.name);
            // A method for ODEs only has no stochastic orders, and the others have them (but
            // iterating a map, random or not, has no order at all).
            let ode_only = m.noise == ["none"] || matches!(m.method, Method::Iterate);
            assert_eq!(m.strong_order.is_none(), ode_only, "{}", m.name);
            assert_eq!(m.weak_order.is_none(), ode_only, "{}", m.name);
            // Every method for flows without noise has an order; iterating a map has none.
            assert_eq!(
                m.ode_order.is_some(),
                m.noise.contains(&"none") && !matches!(m.method, Method::Iterate),
                "{}",
                m.name
            );
        }
        let err = Method::parse("leapfrog").unwrap_err().to_string();
        assert_eq!(
            err,
            format!("unknown method `leapfrog` (known: {})", names())
        );
        for m in METHODS {
            assert!(err.contains(m.name), "{err}");
        }
    }

    #[test]
    fn the_readme_lists_the_methods_of_the_table_in_order() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("--method {")
            .expect("README shows --method {...}")
            + 10;
        let end = start + readme[start..].find('}').unwrap();
        let listed: Vec<&str> = readme[start..end].split(',').collect();
        let table: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        assert_eq!(listed, table);
    }
}
