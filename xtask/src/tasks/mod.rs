//! One module per `cargo xtask <task>`; each owns its `Args` and `run`.

pub mod bench;
pub mod gen;
pub mod init;
pub mod pytest;
pub mod setup;
