//! Checks of the repository's own files that several tasks run: `.github/`'s workflow lint.

pub mod workflow_lint;
