//! `cargo xtask venv`: makes or refreshes the bindings' venv (see [`crate::python::venv`]).

use anyhow::Result;

use crate::base::context::StepContext;
use crate::flags;
use crate::python::venv;

pub fn run(sh: &StepContext, flags: &flags::Venv) -> Result<()> {
    if flags.deps_only {
        return venv::dependencies_only(sh, flags.python.as_deref());
    }
    let profile = if flags.release {
        venv::Profile::Release
    } else {
        venv::Profile::Dev
    };
    venv::ensure(sh, flags.python.as_deref(), flags.recreate, profile)
}
