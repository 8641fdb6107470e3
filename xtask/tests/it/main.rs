//! The single integration-test binary: every test runs the real xtask on a
//! real Python project (fixtures copied into temporary directories).

mod audit;
mod cli;
mod config_errors;
mod init;
mod interrupt;
mod preflight;
mod pytest;
mod setup;
mod support;
mod workers;
