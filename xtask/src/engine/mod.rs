//! The run engine: a run as a graph of steps, what each step shows, and which steps a change calls for.

pub mod events;
pub mod graph;
pub mod routing;
pub mod steps;
