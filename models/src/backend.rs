//! Which tensor backend runs the network, chosen at run time.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// libtorch (PyTorch 2.9) through tch: CUDA when libtorch sees a GPU.
    Libtorch,
    /// burn's pure-Rust CPU backend: no native library needed.
    Flex,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unknown backend {0:?}: expected libtorch or flex")]
    Unknown(String),
    #[error(
        "this build has no libtorch support (built without the `tch` feature); use --backend flex"
    )]
    NoLibtorch,
}

impl FromStr for Backend {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "libtorch" | "tch" | "torch" => Ok(Backend::Libtorch),
            "flex" => Ok(Backend::Flex),
            _ => Err(BackendError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Libtorch => "libtorch",
            Backend::Flex => "flex",
        })
    }
}

impl Backend {
    /// libtorch when this build has it, flex otherwise.
    pub fn preferred() -> Backend {
        if cfg!(feature = "tch") {
            Backend::Libtorch
        } else {
            Backend::Flex
        }
    }

    /// The device for inference (no autodiff).
    pub fn device(self) -> Result<Device, BackendError> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Libtorch => libtorch_device(),
        }
    }

    /// Where the work runs, for logs and reports ("flex (cpu)", "libtorch (cuda:0)").
    pub fn describe(self) -> String {
        match self {
            Backend::Flex => "flex (cpu)".into(),
            Backend::Libtorch if cuda_available() => "libtorch (cuda:0)".into(),
            Backend::Libtorch => "libtorch (cpu)".into(),
        }
    }
}

#[cfg(feature = "tch")]
fn cuda_available() -> bool {
    tch::Cuda::is_available()
}

#[cfg(not(feature = "tch"))]
fn cuda_available() -> bool {
    false
}

#[cfg(feature = "tch")]
#[allow(deprecated)] // burn marks tch deprecated; it is still the fastest CPU path we have.
fn libtorch_device() -> Result<Device, BackendError> {
    Ok(if cuda_available() {
        Device::libtorch_cuda(0)
    } else {
        Device::libtorch()
    })
}

#[cfg(not(feature = "tch"))]
fn libtorch_device() -> Result<Device, BackendError> {
    Err(BackendError::NoLibtorch)
}
