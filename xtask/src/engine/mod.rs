//! The run engine: a run as a graph of steps, what each step shows, which steps a change calls for, and the tests' history across runs.

pub mod events;
pub mod graph;
pub mod history;
pub mod junit;
pub mod output;
pub mod routing;
pub mod steps;
