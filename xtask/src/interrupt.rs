//! The one signal handler. On SIGINT, SIGTERM or SIGHUP it stops every child xtask owns
//! (see [`crate::process`]), removes their temp dirs, and exits 128 + the signal number:
//! 130 for SIGINT, 143 for SIGTERM. `process::exit` skips every `Drop`, hence this.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use crate::process::{Owned, note, stop_all};

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static LIVE: Mutex<Vec<(u64, Arc<Owned>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Set once a signal arrived: from then on no child may be spawned (see
/// `ProcessGroup::spawn`), and the main thread must not exit before the handler does.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The last signal received; ctrlc runs our handler but does not say which signal it was.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(libc::SIGINT);
/// ctrlc's own OS-level handler, per signal number, which ours calls after recording.
static CHAINED: [AtomicUsize; 32] = [const { AtomicUsize::new(0) }; 32];

pub fn install() -> Result<()> {
    ctrlc::set_handler(on_signal).context("cannot install the Ctrl-C handler")?;
    for signal in SIGNALS {
        record_signal_number(signal)?;
    }
    Ok(())
}

pub fn register(owned: Arc<Owned>) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    live().push((id, owned));
    id
}

pub fn unregister(id: u64) {
    live().retain(|(entry, _)| *entry != id);
}

pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Called by `main` before it exits: while the handler is stopping children, the exit
/// status and the cleanup are the handler's, so the main thread waits for it to exit.
pub fn wait_if_stopping() {
    while stopping() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<(u64, Arc<Owned>)>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs on ctrlc's thread, so it may lock and wait.
fn on_signal() {
    STOPPING.store(true, Ordering::SeqCst);
    let signal = LAST_SIGNAL.load(Ordering::SeqCst);
    note(format_args!("got {}, stopping", signal_name(signal)));
    // The newest first: pytest before the server it talks to. Stopped all at once, so the
    // whole stop takes one grace period at most.
    let groups: Vec<_> = live()
        .iter()
        .rev()
        .map(|(_, owned)| owned.clone())
        .collect();
    stop_all(&groups);
    std::process::exit(128 + signal);
}

fn signal_name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Puts a tiny handler in front of ctrlc's: it stores the signal number, then calls
/// ctrlc's handler, which wakes ctrlc's thread. Both steps are async-signal-safe.
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
    LAST_SIGNAL.store(signal, Ordering::SeqCst);
    let chained = CHAINED[signal as usize].load(Ordering::SeqCst);
    if chained != 0 {
        // SAFETY: `chained` is the plain `extern "C" fn(c_int)` handler ctrlc installed for
        // this signal, as checked when it was stored.
        let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(chained) };
        handler(signal);
    }
}
