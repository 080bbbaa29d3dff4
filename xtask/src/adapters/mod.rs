//! The tool adapters: each turns what one tool says (cargo, nextest, libtest, pytest, linters) into xtask's values.

pub mod cargo_build;
pub mod compiler;
pub mod findings;
pub mod junit;
pub mod libtest;
pub mod nextest;
pub mod pytest_events;
