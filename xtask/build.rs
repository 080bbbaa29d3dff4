//! Empty on purpose. It exists so that xtask's `[build-dependencies]` count: they pin the
//! features of syn on the compiler's side to those of `cargo test --workspace` and of the
//! bindings' build (see xtask/Cargo.toml), so that every proc-macro is compiled once.

fn main() {}
