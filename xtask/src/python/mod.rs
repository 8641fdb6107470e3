//! Everything that talks to Python: the environment, pytest's command line,
//! the pytest child processes, the collection, and the xtask's own plugin.

pub mod argv;
pub mod child;
pub mod collect;
pub mod env;
pub mod plugin;
pub mod workers_plugin;
