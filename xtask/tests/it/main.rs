//! The single integration-test binary: every test runs the real xtask on a
//! real Python project (fixtures copied into temporary directories).

mod audit;
mod bundled;
mod ci;
mod cli;
mod config_errors;
mod coverage;
mod engine;
mod faults;
mod gen;
mod init;
mod interrupt;
mod preflight;
mod pytest;
mod real_suites;
mod select;
mod services;
mod setup;
mod shapes;
mod shard;
mod support;
mod tidy;
mod timings;
mod triage;
mod workers;
