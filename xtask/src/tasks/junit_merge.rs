//! `cargo xtask junit-merge DIR...`: the shards' JUnit reports summed into one verdict
//! (see [`crate::adapters::junit`]), for CI's job after the shard jobs.

use std::io::Write as _;

use anyhow::{Context, Result};

use crate::adapters::junit;
use crate::base::context::StepContext;
use crate::base::paths;
use crate::base::process::Failed;
use crate::{errln, flags, outln};

pub fn run(_sh: &StepContext, flags: &flags::JunitMerge) -> Result<()> {
    let dirs = flags
        .dirs
        .iter()
        .map(|dir| paths::from_user(dir))
        .collect::<Result<Vec<_>>>()?;
    let runs = junit::read_runs(&dirs)?;
    outln!("{}", junit::table(&runs));
    // On GitHub Actions, the table and the totals also go to the run's summary page.
    if let Some(file) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY ({file:?})"))?;
        let summary = junit::markdown(&runs);
        writeln!(file, "## Tests, all shards\n\n{summary}")
            .context("cannot write GITHUB_STEP_SUMMARY")?;
    }
    let totals = junit::totals(&runs);
    // The last line, whatever happened: CI log readers look for it.
    errln!("{}", totals.line("ci"));
    if totals.failed > 0 {
        return Err(Failed {
            code: 1,
            message: format!("{} failed in the shards", totals.failed),
        }
        .into());
    }
    Ok(())
}
