//! `cargo xtask`: the developer tasks of this workspace, in Rust, so that they run the same
//! on every machine. See `cargo xtask --help`.

mod ci;
mod extract;
mod flags;
mod guard;
mod interrupt;
mod paths;
mod process;
mod pytest;
mod readme;
mod server;
mod tools;
mod venv;
mod workflow_lint;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use xshell::Shell;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let result = try_main(flags);
    interrupt::wait_if_stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not `eprintln!`, which panics when stderr is gone (a closed terminal).
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            ExitCode::from(process::exit_code_of(&error))
        }
    }
}

fn try_main(flags: flags::Xtask) -> anyhow::Result<()> {
    // Registered before anything is spawned, so that no child can outlive a Ctrl-C.
    interrupt::install()?;
    let sh = Shell::new()?;
    // Only the shell moves: the process keeps the caller's directory, which `pytest` needs
    // to resolve the paths it is given.
    sh.change_dir(paths::project_root());
    match flags.command {
        flags::Command::Server(flags) => server::run(&sh, &flags),
        flags::Command::Extract(flags) => extract::run(&sh, &flags),
        flags::Command::Venv(flags) => venv::run(&sh, &flags),
        flags::Command::Pytest(flags) => pytest::run(&sh, &flags),
        flags::Command::Ci(flags) => ci::run(&sh, &flags),
    }
}
