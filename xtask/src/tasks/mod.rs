//! One module per `cargo xtask <task>`; each owns its `Args` and `run`.

pub mod audit;
pub mod bench;
pub mod bisect;
pub mod ci;
pub mod coverage;
pub mod gen;
pub mod init;
pub mod merge;
pub mod order;
pub mod plan;
pub mod preflight;
pub mod prove;
pub mod pytest;
pub mod rollback;
pub mod select;
pub mod setup;
pub mod shard;
pub mod timings;
pub mod triage;
pub mod verify;
