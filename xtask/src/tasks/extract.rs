//! `cargo xtask extract`: writes or checks the README tests file (see [`crate::readme::extract`]).

use anyhow::Result;
use xshell::Shell;

use crate::flags;
use crate::readme::extract;

pub fn run(sh: &Shell, flags: &flags::Extract) -> Result<()> {
    extract::run(sh, flags)
}
