//! throng: ensembles of ODE and SDE trajectories in WGSL compute shaders.
//!
//! A run joins separate values: a [`System`] (drift, diffusion), an [`Ensemble`] (how many
//! trajectories, their parameters and initial states, the seed), a [`Method`], a
//! [`TimeGrid`], and [`Options`]; [`solve`] runs it on a [`Context`]'s device and
//! [`cpu::solve`] runs the same job on the CPU twin.

pub mod catalog;
pub mod chaos;
pub mod chart;
pub mod context;
pub mod cpu;
pub mod diffusion;
pub mod ensemble;
pub mod error;
pub mod exec;
pub mod gpu;
pub mod kernel;
pub mod method;
pub mod noise;
pub mod observe;
pub mod output;
pub mod pictures;
pub mod plan;
pub mod plot;
pub mod precision;
pub mod record;
pub mod reduce;
pub mod report;
pub mod request;
pub mod rng;
pub mod sample;
pub mod sampler;
pub mod schedule;
pub mod shader;
pub mod shard;
pub mod solution;
pub mod solve;
pub mod spec;
pub mod stepper;
pub mod system;
pub mod tangent;
pub mod values;

pub use context::{AdapterChoice, Context};
pub use ensemble::{Ensemble, Init, Job, TimeGrid, Value};
pub use error::{Error, Result};
pub use method::Method;
pub use observe::{Save, SaveAt};
pub use plan::{Options, Shard};
pub use precision::Precision;
pub use reduce::Stats;
pub use solution::{Solution, Timing};
pub use solve::solve;
pub use stepper::{StateLayout, Stepper, StepperOptions};
pub use system::{Noise, System};
