//! The Python side of the bindings as users get it: the interpreters on this machine and
//! the release wheel.

pub mod interpreters;
pub mod wheel;
