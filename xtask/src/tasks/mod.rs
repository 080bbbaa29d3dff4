//! The subcommands, one module each. A task uses the shared modules above it (processes,
//! the test server, the venv, ...) and never another task.

pub mod bench;
pub mod ci;
pub mod extract;
pub mod flaky;
pub mod junit_merge;
pub mod lint;
pub mod pytest;
pub mod server;
pub mod stress;
pub mod venv;
pub mod watch;
pub mod wheel;
pub mod workflow_lint;
