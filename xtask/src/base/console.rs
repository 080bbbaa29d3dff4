//! The one writer. Everything xtask prints goes through here, so that a closed stdout or
//! stderr (a closed terminal after SIGHUP, a pipe whose reader left) is ignored instead of
//! panicking the way `println!` does, on whichever thread hits it first.
//!
//! Lines come in two kinds: what the user asked for (`outln!`, `errln!`), and the trace of
//! what xtask does (`traceln!(cx, ...)`: the `$ cmd` echoes, notes such as "venv is up to
//! date"), which goes where the `StepContext` it is given says: a step's log, or stderr.

use std::fmt::Arguments;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use camino::Utf8Path;

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

/// With `--verbose`, a step's log copied to stderr as it grows, each line after the step's
/// name, so that nothing is hidden and the lines of steps that run at once can be told
/// apart; until dropped.
pub struct Echo {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start(path: &Utf8Path, prefix: String) -> std::io::Result<Echo> {
        let reader = File::open(path)?;
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let done = done.clone();
            move || copy_as_it_grows(reader, &prefix, &done)
        });
        Ok(Echo {
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
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
    style(colour).for_stderr().apply_to(text).to_string()
}

/// `text` in `colour` when stdout takes colours, for the results (`failed:`), which go
/// there.
pub fn paint_stdout(text: &str, colour: Colour) -> String {
    style(colour).for_stdout().apply_to(text).to_string()
}

/// The `console` crate's style for a colour, once its idea of whether each stream takes
/// colours is ours (see [`colours_wanted`]): it reads `CLICOLOR`, but lets a
/// `CLICOLOR_FORCE` override `NO_COLOR`, and an empty `NO_COLOR` turn colours off.
fn style(colour: Colour) -> ::console::Style {
    static DECIDED: std::sync::Once = std::sync::Once::new();
    DECIDED.call_once(|| {
        use std::io::IsTerminal;
        let var = |name| std::env::var(name).ok();
        let wanted = |terminal| {
            colours_wanted(
                terminal,
                var("NO_COLOR").as_deref(),
                var("CLICOLOR_FORCE").as_deref(),
            )
        };
        ::console::set_colors_enabled_stderr(wanted(std::io::stderr().is_terminal()));
        ::console::set_colors_enabled(wanted(std::io::stdout().is_terminal()));
    });
    let style = ::console::Style::new();
    match colour {
        Colour::Green => style.green(),
        Colour::Red => style.red(),
        Colour::Yellow => style.yellow(),
    }
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

/// A line of xtask's trace, where the context `$cx` sends it: its step's log, or stderr.
#[macro_export]
macro_rules! traceln {
    ($cx:expr, $($arg:tt)*) => { $cx.trace(format_args!($($arg)*)) };
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
