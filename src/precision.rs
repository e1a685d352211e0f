//! Floating-point precision of a run's state, parameters and arithmetic.

use crate::error::{Error, Result};

/// The precision kernels integrate in. Noise is drawn the same way in both: Philox words
/// turned into f32 normals (README, "Noise"), which f64 runs widen exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    /// Needs the adapter's SHADER_F64.
    F64,
}

impl Precision {
    pub fn parse(name: &str) -> Result<Precision> {
        match name {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            _ => Err(Error::Input {
                what: "precision".into(),
                message: format!("unknown precision `{name}` (f32 or f64)"),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes of one value.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }

    /// `v` rounded to this precision.
    pub fn round(self, v: f64) -> f64 {
        match self {
            Precision::F32 => v as f32 as f64,
            Precision::F64 => v,
        }
    }

    /// A WGSL literal of this precision that parses back to exactly `round(v)`.
    pub fn literal(self, v: f64) -> String {
        match self {
            Precision::F32 => format!("{:?}f", v as f32),
            Precision::F64 => format!("{v:?}lf"),
        }
    }
}
