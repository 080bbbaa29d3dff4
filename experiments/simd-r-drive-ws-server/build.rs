//! Empty on purpose. It exists so that the server's `[build-dependencies]` count: they pin the
//! features of syn on the compiler's side to those of `cargo test --workspace` (see the
//! server's Cargo.toml), so that building the server alone compiles no proc-macro again.

fn main() {}
