//! `cargo xtask venv`: makes or refreshes the bindings' venv (see [`crate::venv`]).

use anyhow::Result;
use xshell::Shell;

use crate::{flags, venv};

pub fn run(sh: &Shell, flags: &flags::Venv) -> Result<()> {
    let profile = if flags.release {
        venv::Profile::Release
    } else {
        venv::Profile::Dev
    };
    venv::ensure(sh, flags.python.as_deref(), flags.recreate, profile)
}
