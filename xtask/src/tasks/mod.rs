//! One module per `cargo xtask <task>`; each owns its `Args` and `run`.

pub mod bench;
pub mod coverage;
pub mod init;
pub mod pytest;
pub mod setup;
pub mod timings;
pub mod verify;
