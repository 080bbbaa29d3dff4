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
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use camino::Utf8Path;

/// Where trace lines go while a step of a concise run is active.
static TRACE: Mutex<Option<File>> = Mutex::new(None);

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
    {
        let mut target = lock();
        if let Some(log) = target.as_mut() {
            let _ = writeln!(log, "{args}");
            return;
        }
    }
    // Outside the lock: a write to stderr can block (a full pipe), and the lock must not
    // be held meanwhile.
    stderr_line(args);
}

/// A clone of the active trace log, for a child's output to go to; `None` when output
/// should go to the terminal.
pub fn trace_file() -> Option<File> {
    lock().as_ref().and_then(|log| log.try_clone().ok())
}

/// Sends trace lines, and the output of the children started meanwhile, to a log file until
/// dropped; with `echo`, a thread also copies that file to stderr as it grows, so that
/// nothing is hidden (verbose runs, GitHub Actions).
pub struct Trace {
    echo: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Trace {
    pub fn to(path: &Utf8Path, echo: bool) -> std::io::Result<Trace> {
        let log = File::options().create(true).append(true).open(path)?;
        *lock() = Some(log);
        let echo = if echo {
            let reader = File::open(path)?;
            let done = Arc::new(AtomicBool::new(false));
            let thread = std::thread::spawn({
                let done = done.clone();
                move || copy_as_it_grows(reader, &done)
            });
            Some((done, thread))
        } else {
            None
        };
        Ok(Trace { echo })
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        *lock() = None;
        if let Some((done, thread)) = self.echo.take() {
            done.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }
}

/// Copies what is appended to `file` to stderr until `done`, and then the rest.
fn copy_as_it_grows(mut file: File, done: &AtomicBool) {
    let mut buffer = Vec::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        buffer.clear();
        if file.read_to_end(&mut buffer).is_ok() && !buffer.is_empty() {
            stderr_bytes(&buffer);
        }
        if finished {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<File>> {
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
