//! The audit's rule groups, each a set of `Scan` methods the walk in
//! [`super::scan`] calls for the nodes they handle.

mod calls;
mod fixtures;
mod literals;
mod state;
