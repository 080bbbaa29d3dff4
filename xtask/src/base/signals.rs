//! SIGINT, SIGTERM and SIGHUP as events. The handler only records which signal came and
//! wakes every waiter; each wait of xtask then returns [`Interrupted`], the error unwinds
//! through the `Drop`s that stop children and remove temp files, and `main` exits with
//! 128 + the signal. Only if the main thread cannot get there within [`STOP_BOUND`] (it is
//! stuck, say in a write to a pipe nobody reads) does the handler thread run the fallback
//! and exit itself, so that a stuck xtask can never leave orphans behind.
//!
//! A step that `ci` runs beside others can also be stopped because another one failed: it
//! is handed a [`CancelToken`] (in its context), and its waits then return [`Cancelled`].
//!
//! This module imports nothing of xtask's: the fallback is handed in by `main`.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long the main thread gets to clean up after a signal before the fallback runs.
pub const STOP_BOUND: Duration = Duration::from_secs(5);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The signal received, or 0. Set from the signal handler itself, so that a wait sees it
/// even before ctrlc's thread wakes.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// ctrlc's own OS-level handler per signal number, which ours calls after recording.
static CHAINED: [AtomicUsize; 32] = [const { AtomicUsize::new(0) }; 32];
/// Waiters sleep on this; the handler thread wakes them all.
static WAKE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

/// The error every wait returns once a signal has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted(pub libc::c_int);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", name(self.0))
    }
}

impl std::error::Error for Interrupted {}

impl Interrupted {
    /// The exit code a shell reports for a process that this signal ended.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(1)
    }
}

/// Installs the handler. `fallback` runs on the handler thread, with the signal, when the
/// main thread has not exited [`STOP_BOUND`] after the signal; then that thread exits.
pub fn install(fallback: fn(libc::c_int)) -> Result<()> {
    ctrlc::set_handler(move || on_signal(fallback)).context("cannot install a signal handler")?;
    for signal in SIGNALS {
        record_signal_number(signal)?;
    }
    Ok(())
}

/// The signal that arrived, if any.
pub fn received() -> Option<Interrupted> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(Interrupted(signal)),
    }
}

/// The error every wait of a step returns once that step was stopped from outside: another
/// step that ran beside it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped: another step failed")
    }
}

impl std::error::Error for Cancelled {}

/// Stops the waits of one step: the scheduler keeps a clone per running step, the step's
/// context holds it. A default token is never cancelled (a task at the terminal).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Ends every wait that holds this token, at once.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
        wake_all();
    }

    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Whether `error` only says that the run was stopped (a signal, or another step's failure)
/// rather than that something failed.
pub fn is_stop(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<Interrupted>().is_some() || cause.downcast_ref::<Cancelled>().is_some()
    })
}

/// `Err(Interrupted)` once a signal has arrived; `Err(Cancelled)` once `token` was
/// cancelled.
pub fn check(token: &CancelToken) -> Result<()> {
    if let Some(interrupted) = received() {
        return Err(interrupted.into());
    }
    if token.is_cancelled() {
        return Err(Cancelled.into());
    }
    Ok(())
}

/// `Err(Interrupted)` once a signal has arrived: the check of a wait that no step owns
/// (`watch`'s, a probe of a server at the terminal).
pub fn check_received() -> Result<()> {
    match received() {
        Some(interrupted) => Err(interrupted.into()),
        None => Ok(()),
    }
}

/// Sleeps for `duration`, or less: a signal, or `token`'s cancel, ends the sleep at once
/// with its error.
pub fn sleep(token: &CancelToken, duration: Duration) -> Result<()> {
    let (lock, condvar) = &WAKE;
    let guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    check(token)?;
    let _ = condvar.wait_timeout(guard, duration);
    check(token)
}

fn wake_all() {
    {
        let (lock, condvar) = &WAKE;
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        condvar.notify_all();
    }
    let listeners = LISTENERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (_, wake) in listeners.iter() {
        wake();
    }
}

/// Those that wait on a channel of their own rather than on a sleep: each is called when a
/// signal comes (and on a stop of any step, which they may ignore).
type Listener = Box<dyn Fn() + Send>;
static LISTENERS: Mutex<Vec<(usize, Listener)>> = Mutex::new(Vec::new());
static NEXT_LISTENER: AtomicUsize = AtomicUsize::new(0);

/// Calls `wake` whenever a signal comes, until the returned guard is dropped: for a loop
/// that waits on a channel (`wake` sends to it), so that a signal ends its wait at once
/// without a polling tick.
pub fn on_wake(wake: impl Fn() + Send + 'static) -> Listening {
    let id = NEXT_LISTENER.fetch_add(1, Ordering::SeqCst);
    let mut listeners = LISTENERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    listeners.push((id, Box::new(wake)));
    Listening(id)
}

/// Stops the calls of one [`on_wake`] when dropped.
pub struct Listening(usize);

impl Drop for Listening {
    fn drop(&mut self) {
        let mut listeners = LISTENERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        listeners.retain(|(id, _)| *id != self.0);
    }
}

/// "SIGINT", "SIGTERM", "SIGHUP".
pub fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Runs on ctrlc's thread: wakes the waiters, then gives the main thread [`STOP_BOUND`] to
/// clean up and exit. It prints nothing: the main thread may be stuck in a write, holding
/// stderr.
fn on_signal(fallback: fn(libc::c_int)) {
    let signal = received().map_or(libc::SIGINT, |Interrupted(signal)| signal);
    RECEIVED.store(signal, Ordering::SeqCst);
    wake_all();
    std::thread::sleep(STOP_BOUND);
    // Still here: the main thread is stuck.
    fallback(signal);
    // `_exit`, not `process::exit`: the latter flushes stdout, whose lock the stuck main
    // thread may hold.
    // SAFETY: `_exit` has no preconditions; it ends the process without running anything.
    unsafe { libc::_exit(128 + signal) }
}

/// Puts a tiny handler in front of ctrlc's, which cannot say which signal came: it stores
/// the signal number, then calls ctrlc's handler, which wakes ctrlc's thread. Both steps
/// are async-signal-safe.
fn record_signal_number(signal: libc::c_int) -> Result<()> {
    // SAFETY: sigaction with a zeroed, then filled, struct is the documented use; the
    // handler only touches atomics and calls ctrlc's handler.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = record as *const () as usize;
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, &new, &mut old) != 0 {
            bail!("cannot install a handler for signal {signal}");
        }
        let plain_handler = old.sa_flags & libc::SA_SIGINFO == 0
            && old.sa_sigaction != libc::SIG_DFL
            && old.sa_sigaction != libc::SIG_IGN;
        if !plain_handler {
            libc::sigaction(signal, &old, std::ptr::null_mut());
            bail!("ctrlc did not install a handler for signal {signal}");
        }
        CHAINED[signal as usize].store(old.sa_sigaction, Ordering::SeqCst);
    }
    Ok(())
}

extern "C" fn record(signal: libc::c_int) {
    // The first signal decides the exit code; a second Ctrl-C does not turn 143 into 130.
    let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    let chained = CHAINED[signal as usize].load(Ordering::SeqCst);
    if chained != 0 {
        // SAFETY: `chained` is the plain `extern "C" fn(c_int)` handler ctrlc installed for
        // this signal, as checked when it was stored.
        let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(chained) };
        handler(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_names_the_signal_and_its_exit_code() {
        assert_eq!(
            Interrupted(libc::SIGINT).to_string(),
            "interrupted by SIGINT"
        );
        assert_eq!(Interrupted(libc::SIGINT).exit_code(), 130);
        assert_eq!(Interrupted(libc::SIGTERM).exit_code(), 143);
        assert_eq!(Interrupted(libc::SIGHUP).exit_code(), 129);
    }
}
