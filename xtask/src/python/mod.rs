//! Everything that talks to Python: the environment, pytest's command line,
//! the pytest child process, and its report log.

pub mod argv;
pub mod child;
pub mod collect;
pub mod env;
pub mod reportlog;
