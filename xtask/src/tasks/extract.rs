//! `cargo xtask extract`: writes or checks the README tests file (see [`crate::extract`]).

use anyhow::Result;
use xshell::Shell;

use crate::{extract, flags};

pub fn run(sh: &Shell, flags: &flags::Extract) -> Result<()> {
    extract::run(sh, flags)
}
