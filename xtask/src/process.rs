//! Children in their own process groups, stopped with SIGTERM then SIGKILL and always
//! reaped, and reachable from the signal handler; plus the exit codes xtask passes on.

use std::fmt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::interrupt;

/// How long a group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// An error that carries the exit code xtask should exit with (pytest's, cargo's, ...).
#[derive(Debug)]
pub struct Failed {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

/// The exit code for an error: the code of the tool that failed, or 1.
pub fn exit_code_of(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failed>())
        .map_or(1, |failed| failed.code)
}

/// "exit code 3" or "signal 9", as people say it.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The exit code a shell would report for `status`.
pub fn shell_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

/// Runs a command to completion in a process group of its own, owned like the server: a
/// signal to xtask alone, not only a terminal's Ctrl-C to the whole group, stops it and all
/// it started (cargo's test binaries, maturin's rustc). Stdin is closed: nothing may prompt.
/// A failure becomes [`Failed`] with the command's own exit code.
pub fn run_owned(cmd: xshell::Cmd<'_>) -> anyhow::Result<()> {
    eprintln!("$ {cmd}");
    let shown = cmd.to_string();
    let mut command = Command::from(cmd);
    command.stdin(Stdio::null());
    let group = ProcessGroup::new("the command");
    group
        .spawn(command)
        .map_err(|error| anyhow::anyhow!("cannot run `{shown}`: {error}"))?;
    let status = group.wait();
    if status.success() {
        return Ok(());
    }
    Err(Failed {
        code: shell_code(status),
        message: format!("`{shown}` failed: {}", describe(status)),
    }
    .into())
}

/// Owns at most one child, started in a process group of its own, and a temp dir to remove
/// once that child is gone. Dropping it stops the child, like rust-analyzer's `JodChild`.
pub struct ProcessGroup {
    owned: Arc<Owned>,
    registration: u64,
}

pub struct Owned {
    label: &'static str,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    child: Option<Child>,
    temp_dir: Option<PathBuf>,
}

impl ProcessGroup {
    /// Registered with the signal handler from the start, so that nothing it later owns
    /// can be missed.
    pub fn new(label: &'static str) -> ProcessGroup {
        let owned = Arc::new(Owned {
            label,
            state: Mutex::default(),
        });
        let registration = interrupt::register(owned.clone());
        ProcessGroup {
            owned,
            registration,
        }
    }

    /// Creates a private (0700) temp dir that is removed when this group is stopped.
    pub fn create_temp_dir(&self, prefix: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let mut state = self.owned.lock();
        let dir = std::env::temp_dir().join(unique_name(prefix));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        state.temp_dir = Some(dir.clone());
        Ok(dir)
    }

    /// Spawns `command` as the leader of a new process group and returns its stdout, if
    /// piped.
    pub fn spawn(&self, mut command: Command) -> std::io::Result<Option<ChildStdout>> {
        let mut state = self.owned.lock();
        assert!(state.child.is_none(), "a ProcessGroup owns one child");
        // Checked under the lock that the signal handler's stop takes: a child is either
        // spawned before that stop, which then ends it, or not at all.
        if interrupt::stopping() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "xtask is stopping on a signal",
            ));
        }
        let mut child = command.process_group(0).spawn()?;
        let stdout = child.stdout.take();
        state.child = Some(child);
        Ok(stdout)
    }

    #[cfg(test)]
    pub fn pid(&self) -> Option<u32> {
        self.owned.lock().child.as_ref().map(Child::id)
    }

    /// The child's exit status if it has exited (it is then reaped), without blocking.
    pub fn try_status(&self) -> Option<ExitStatus> {
        let mut state = self.owned.lock();
        state.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the child to exit. It polls rather than blocks in `wait`, which would hold
    /// the lock that the signal handler needs to stop the child.
    pub fn wait(&self) -> ExitStatus {
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the child and removes the temp dir; later calls do nothing. Returns how the
    /// child ended, if this call stopped it.
    pub fn stop(&self) -> Option<Stopped> {
        stop_all(std::slice::from_ref(&self.owned)).pop().flatten()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop();
        interrupt::unregister(self.registration);
    }
}

/// How a stopped child ended.
pub struct Stopped {
    pub status: ExitStatus,
    /// True when SIGTERM was not enough.
    pub killed: bool,
    /// False when the child had exited by itself before the stop.
    pub was_running: bool,
}

impl Owned {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not keep cleanup from running.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Stops all groups at once: SIGTERM to each, one shared grace period for the leaders,
/// then SIGKILL to every group with a member left, and reap. A leader that exited may
/// leave members behind (a grandchild that ignores SIGTERM); they get SIGKILL at once
/// rather than a wait, as orphans cannot be told from zombies that init has yet to reap.
/// Locks are held throughout, so a concurrent call waits for the first one to finish
/// rather than returning while a child still runs.
pub fn stop_all(groups: &[Arc<Owned>]) -> Vec<Option<Stopped>> {
    let mut states: Vec<_> = groups.iter().map(|group| group.lock()).collect();
    let mut stopping: Vec<Option<Stopping>> = states
        .iter_mut()
        .map(|state| state.child.take().map(Stopping::start))
        .collect();
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && stopping.iter_mut().flatten().any(Stopping::alive) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let results = stopping
        .into_iter()
        .zip(groups)
        .map(|(stopping, group)| stopping.and_then(|s| s.finish(group.label)))
        .collect();
    for state in &mut states {
        if let Some(dir) = state.temp_dir.take() {
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    note(format_args!("cannot remove {}: {error}", dir.display()));
                }
            }
        }
    }
    results
}

/// One group on its way down: its leader, reaped as soon as it exits, and its id, which
/// stays valid while any member is left.
struct Stopping {
    child: Child,
    pgid: libc::pid_t,
    status: Option<ExitStatus>,
    was_running: bool,
}

impl Stopping {
    fn start(mut child: Child) -> Stopping {
        let was_running = matches!(child.try_wait(), Ok(None));
        let pgid = child.id() as libc::pid_t;
        if was_running || group_exists(pgid) {
            signal_group(pgid, libc::SIGTERM);
        }
        Stopping {
            child,
            pgid,
            status: None,
            was_running,
        }
    }

    /// Whether the leader still runs.
    fn alive(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_none()
    }

    fn finish(mut self, label: &str) -> Option<Stopped> {
        let killed = self.alive();
        if killed {
            note(format_args!(
                "{label} ignored SIGTERM for {GRACE:?}; sending SIGKILL"
            ));
        }
        if killed || group_exists(self.pgid) {
            signal_group(self.pgid, libc::SIGKILL);
        }
        let status = match self.status {
            Some(status) => status,
            None => self.child.wait().ok()?,
        };
        Some(Stopped {
            status,
            killed,
            was_running: self.was_running,
        })
    }
}

/// A line on stderr that cannot fail: after a SIGHUP the terminal is gone, and `eprintln!`
/// would panic on the write error, before the cleanup that follows it.
pub fn note(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if cfg!(test) {
        // The test harness captures `eprintln!` only; tests have a stderr.
        eprintln!("xtask: {message}");
    } else {
        let _ = writeln!(std::io::stderr(), "xtask: {message}");
    }
}

fn group_exists(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that a member of the group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions. The group id cannot have been reused:
    // a pid stays reserved while it names a group that has members, and `group_exists` is
    // checked before a group whose leader was reaped is signalled.
    unsafe { libc::kill(-pgid, signal) };
}

/// A name no other run of xtask, in this or another process, will pick.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}
