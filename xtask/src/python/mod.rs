//! The Python side: the interpreters of this machine (`--python`), the bindings' venvs (one
//! per lane), the pytest runner, and the release wheel's build and checks.

pub mod interpreters;
pub mod pytest_runner;
pub mod venv;
pub mod wheel;
