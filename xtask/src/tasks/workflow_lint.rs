//! `cargo xtask workflow-lint`: checks a `.github/` folder (see [`crate::checks::workflow_lint`]).

use anyhow::Result;

use crate::base::context::StepContext;
use crate::base::paths;
use crate::checks::workflow_lint;
use crate::flags;

pub fn run(sh: &StepContext, flags: &flags::WorkflowLint) -> Result<()> {
    let root = match &flags.root {
        Some(root) => paths::from_user(root)?,
        None => paths::project_root(),
    };
    workflow_lint::check(sh, &root)
}
