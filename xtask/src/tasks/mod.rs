//! One module per `cargo xtask <task>`; each owns its `Args` and `run`.

pub mod audit;
pub mod bench;
pub mod init;
pub mod preflight;
pub mod pytest;
pub mod setup;
