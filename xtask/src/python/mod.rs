//! The Python side: the bindings' venv and the pytest runner.

pub mod pytest_runner;
pub mod venv;
