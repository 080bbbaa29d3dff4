//! The one writer. Everything xtask prints goes through here, so that a closed stdout or
//! stderr (a closed terminal after SIGHUP, a pipe whose reader left) is ignored instead of
//! panicking the way `println!` does, on whichever thread hits it first.
//!
//! Lines come in two kinds: what the user asked for (`outln!`, `errln!`), and the trace of
//! what xtask does (`traceln!`: the `$ cmd` echoes, notes such as "venv is up to date").
//! While a [`Trace`] is active, the trace goes to its log file instead of stderr, so that a
//! concise run keeps every detail without showing it.

use std::fmt::Arguments;
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

/// Where trace lines go while a step of a concise run is active.
static TRACE: Mutex<Option<TraceTarget>> = Mutex::new(None);

struct TraceTarget {
    log: File,
    /// Also copy trace lines to stderr (verbose and GitHub runs).
    echo: bool,
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
    let echo = {
        let mut target = lock();
        match target.as_mut() {
            Some(TraceTarget { log, echo }) => {
                let _ = writeln!(log, "{args}");
                *echo
            }
            None => true,
        }
    };
    // Outside the lock: a write to stderr can block (a full pipe), and the lock must not
    // be held meanwhile.
    if echo {
        stderr_line(args);
    }
}

/// A clone of the active trace log, for a child's output to go to; `None` when output
/// should go to the terminal.
pub fn trace_file() -> Option<File> {
    lock()
        .as_ref()
        .and_then(|target| target.log.try_clone().ok())
}

/// Sends trace lines to `log` until dropped.
#[allow(dead_code)] // The concise ci runner is its user.
pub struct Trace(());

#[allow(dead_code)]
impl Trace {
    pub fn to(log: File, echo: bool) -> Trace {
        *lock() = Some(TraceTarget { log, echo });
        Trace(())
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        *lock() = None;
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<TraceTarget>> {
    TRACE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `println!` that cannot panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::stdout_line(format_args!($($arg)*)) };
}

/// `eprintln!` that cannot panic.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::stderr_line(format_args!($($arg)*)) };
}

/// A line of xtask's trace: the step's log in a concise run, stderr otherwise.
#[macro_export]
macro_rules! traceln {
    ($($arg:tt)*) => { $crate::console::trace_line(format_args!($($arg)*)) };
}
