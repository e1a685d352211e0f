//! One error type for everything a user can get wrong or a device can refuse.

use thiserror::Error;

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
    #[error("GPU error: {0}")]
    Gpu(String),
    #[error("shader: {0}")]
    Shader(String),
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
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;
