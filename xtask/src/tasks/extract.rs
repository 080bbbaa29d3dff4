//! `cargo xtask extract`: writes or checks the README tests file (see [`crate::readme::extract`]).

use anyhow::Result;

use crate::base::context::StepContext;
use crate::flags;
use crate::readme::extract;

pub fn run(sh: &StepContext, flags: &flags::Extract) -> Result<()> {
    extract::run(sh, flags)
}
