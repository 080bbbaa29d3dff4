//! `cargo xtask wheel`: builds the release wheel and sdist and checks them (see
//! [`crate::python::wheel`]), a line per step.

use anyhow::Result;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::engine::steps::{Mode, Runner};
use crate::python::{venv, wheel};
use crate::{errln, flags};

pub fn run(sh: &StepContext, flags: &flags::Wheel) -> Result<()> {
    let log_dir = paths::xtask_dir()?.join("logs/wheel");
    let mut runner = Runner::new(Mode::detect(false), log_dir, 4)?;
    // Only when stale: a sync would take the editable bindings out of an up-to-date venv.
    runner.step(sh, "venv deps", |sh, step| {
        if venv::is_current(None, venv::Profile::Dev)? {
            step.note("up to date");
            return Ok(());
        }
        venv::dependencies_only(sh, None)
    })?;
    if let Some(path) = &flags.check {
        let path = paths::from_user(path)?;
        runner.step(sh, "check wheel", |sh, _| wheel::check(sh, &path))?;
        errln!("{path}: as the package claims");
        return Ok(());
    }
    let built = runner.step(sh, "build", |sh, _| wheel::build(sh))?;
    runner.step(sh, "check wheel", |sh, _| wheel::check(sh, &built.wheel))?;
    if !flags.no_sdist {
        runner.step(sh, "check sdist", |sh, step| {
            if !wheel::check_sdist(sh, &built.sdist)? {
                step.note("built a wheel before");
            }
            Ok(())
        })?;
    }
    errln!("wheel: {}", paths::display_path(&built.wheel));
    errln!("sdist: {}", paths::display_path(&built.sdist));
    Ok(())
}
