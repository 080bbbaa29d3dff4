//! The one writer. Everything xtask prints goes through here, so that a closed stdout or
//! stderr (a closed terminal after SIGHUP, a pipe whose reader left) is ignored instead of
//! panicking the way `println!` does, on whichever thread hits it first.
//!
//! Lines come in two kinds: what the user asked for (`outln!`, `errln!`), and the trace of
//! what xtask does (`traceln!`: the `$ cmd` echoes, notes such as "venv is up to date").
//! While a [`Trace`] is active on a thread, that thread's trace, and the output of the
//! children it starts, go to the trace's log file instead of stderr, so that a concise run
//! keeps every detail without showing it. The target belongs to the thread, not to the
//! process: `ci` runs its steps side by side, each on a thread of its own with a log of its
//! own, and their outputs never mix.

use std::cell::RefCell;
use std::fmt::Arguments;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use camino::Utf8Path;

thread_local! {
    /// Where this thread's trace lines go while it runs a step of a concise run.
    static STEP_LOG: RefCell<Option<File>> = const { RefCell::new(None) };
}

/// A line on stdout; a closed stdout is ignored.
pub fn stdout_line(args: Arguments<'_>) {
    if cfg!(test) {
        // The test harness captures `println!` only.
        println!("{args}");
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{args}");
    let _ = out.flush();
}

/// A line on stderr; a closed stderr is ignored.
pub fn stderr_line(args: Arguments<'_>) {
    if cfg!(test) {
        eprintln!("{args}");
        return;
    }
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// Raw bytes on stderr, such as a server log being streamed.
pub fn stderr_bytes(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// A trace line: into the active [`Trace`]'s log, or on stderr when there is none.
pub fn trace_line(args: Arguments<'_>) {
    let written = STEP_LOG.with_borrow_mut(|target| match target {
        Some(log) => {
            let _ = writeln!(log, "{args}");
            true
        }
        None => false,
    });
    if !written {
        stderr_line(args);
    }
}

/// A clone of the active trace log, for a child's output to go to; `None` when output
/// should go to the terminal.
pub fn trace_file() -> Option<File> {
    STEP_LOG.with_borrow(|target| target.as_ref().and_then(|log| log.try_clone().ok()))
}

/// Sends this thread's trace lines, and the output of the children it starts meanwhile, to
/// a log file until dropped. With an `echo` prefix, another thread also copies that file to
/// stderr as it grows, each line after the prefix, so that nothing is hidden and the lines
/// of steps that run at once can be told apart (`--verbose`).
pub struct Trace {
    echo: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Trace {
    pub fn to(path: &Utf8Path, echo: Option<String>) -> std::io::Result<Trace> {
        let log = File::options().create(true).append(true).open(path)?;
        STEP_LOG.set(Some(log));
        let echo = match echo {
            Some(prefix) => {
                let reader = File::open(path)?;
                let done = Arc::new(AtomicBool::new(false));
                let thread = std::thread::spawn({
                    let done = done.clone();
                    move || copy_as_it_grows(reader, &prefix, &done)
                });
                Some((done, thread))
            }
            None => None,
        };
        Ok(Trace { echo })
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        STEP_LOG.set(None);
        if let Some((done, thread)) = self.echo.take() {
            done.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }
}

/// Copies the lines appended to `file` to stderr, each after `prefix`, until `done`, and
/// then the rest.
fn copy_as_it_grows(mut file: File, prefix: &str, done: &AtomicBool) {
    let mut lines = crate::base::tail::Lines::default();
    let mut buffer = Vec::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        buffer.clear();
        if file.read_to_end(&mut buffer).is_ok() && !buffer.is_empty() {
            for line in lines.push(&buffer) {
                stderr_line(format_args!("{prefix}{line}"));
            }
        }
        if finished {
            // An unfinished last line, if any.
            for line in lines
                .push(b"\n")
                .into_iter()
                .filter(|line| !line.is_empty())
            {
                stderr_line(format_args!("{prefix}{line}"));
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The colours of xtask's own marks (`✓`, `✗`, `slow:`, `error:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Green,
    Red,
    Yellow,
}

/// `error:`, in red where colours are wanted: the mark of every error xtask prints.
pub fn error_mark() -> String {
    paint("error:", Colour::Red)
}

/// `text` in `colour` when stderr takes colours (see [`colours_wanted`]), else as it is.
pub fn paint(text: &str, colour: Colour) -> String {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *ON.get_or_init(|| {
        use std::io::IsTerminal;
        let var = |name| std::env::var(name).ok();
        colours_wanted(
            std::io::stderr().is_terminal(),
            var("NO_COLOR").as_deref(),
            var("CLICOLOR_FORCE").as_deref(),
        )
    });
    if !on {
        return text.to_owned();
    }
    let code = match colour {
        Colour::Green => 32,
        Colour::Red => 31,
        Colour::Yellow => 33,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Whether to colour: never with a non-empty `NO_COLOR` (no-color.org), always with a
/// `CLICOLOR_FORCE` other than `0`, else only on a terminal, as cargo and pytest do.
pub fn colours_wanted(terminal: bool, no_color: Option<&str>, force: Option<&str>) -> bool {
    if no_color.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if force.is_some_and(|v| v != "0") {
        return true;
    }
    terminal
}

/// `println!` that cannot panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::base::console::stdout_line(format_args!($($arg)*)) };
}

/// `eprintln!` that cannot panic.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::base::console::stderr_line(format_args!($($arg)*)) };
}

/// A line of xtask's trace: the step's log in a concise run, stderr otherwise.
#[macro_export]
macro_rules! traceln {
    ($($arg:tt)*) => { $crate::base::console::trace_line(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_the_terminal_no_color_and_clicolor_force() {
        assert!(colours_wanted(true, None, None));
        assert!(!colours_wanted(false, None, None), "a pipe gets no colour");
        assert!(!colours_wanted(true, Some("1"), None));
        assert!(
            colours_wanted(true, Some(""), None),
            "an empty NO_COLOR is unset"
        );
        assert!(colours_wanted(false, None, Some("1")));
        assert!(!colours_wanted(false, None, Some("0")));
        assert!(!colours_wanted(true, Some("1"), Some("1")), "NO_COLOR wins");
    }
}
