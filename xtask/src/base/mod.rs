//! The base every layer stands on: child processes, signals, the console, paths, tools.

pub mod console;
pub mod context;
pub mod fingerprint;
pub mod github;
pub mod paths;
pub mod process;
pub mod signals;
pub mod tail;
pub mod tools;
