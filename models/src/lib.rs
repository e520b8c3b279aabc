//! TraderAI's learning half: the universal BiGRU-attention network, boosted
//! trees beside it, their ensemble, training and calibration (drift statistics are in `engine::drift`). No HTTP, no SQL — the server owns
//! jobs, storage and the CLI.

pub mod artifact;
pub mod backend;
pub mod boost;
pub mod conformal;
pub mod data;
pub mod ensemble;
pub mod metrics;
pub mod net;
pub mod pipeline;
pub mod train;
pub mod tune;
