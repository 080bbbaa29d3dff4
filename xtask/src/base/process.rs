//! The one way xtask runs a child. Every child (cargo, uv, maturin, pytest, the server)
//! is described by a [`Job`], echoed as `$ cmd` when it starts, started as the leader of a
//! process group of its own, and owned by a [`ProcessGroup`] whose `Drop` stops the whole
//! group (SIGTERM, [`GRACE`], SIGKILL) and reaps it, like rust-analyzer's `JodChild`.
//! A job is made from a [`StepContext`]: its echo and its output go to the context's trace, and
//! its waits end at once with `Interrupted` on a signal, or `Cancelled` when the context's
//! step is stopped.
//!
//! A wait sleeps on a channel, not on a tick: a waiter thread says when the child has
//! exited, reader threads hand over what a followed stream printed, and a signal or a stop
//! wakes it through [`signals::on_wake`].
//!
//! Live groups are also listed here, for [`stop_everything`]: the fallback that the signal
//! handler runs when the main thread is stuck.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::base::console;
use crate::base::context::{Log, StepContext};
use crate::base::signals::{self, CancelToken, Interrupted};

/// How long a group gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);
/// How often a wait with a watcher calls it (to follow a report file, to check a server);
/// the child's exit, its output and a signal each end the sleep at once.
const TICK: Duration = Duration::from_millis(50);

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

/// An error that was already shown in full (a ci run prints its failure before its
/// summary), so that `main` only exits with its code.
#[derive(Debug)]
pub struct Reported {
    pub code: u8,
}

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed (see above)")
    }
}

impl std::error::Error for Reported {}

/// The exit code for an error: 128 + the signal after a signal, the code of the tool that
/// failed, or 1.
pub fn exit_code_of(error: &anyhow::Error) -> u8 {
    if let Some(interrupted) = error.chain().find_map(|e| e.downcast_ref::<Interrupted>()) {
        return interrupted.exit_code();
    }
    if let Some(reported) = error.chain().find_map(|e| e.downcast_ref::<Reported>()) {
        return reported.code;
    }
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

/// Where a child's stdout or stderr goes.
pub enum Sink {
    /// xtask's trace: the log of the job's step, else the terminal.
    Trace,
    /// A pipe that xtask reads.
    Pipe,
    /// A file of the caller's, such as the server's log or a tool's report.
    File(File),
    /// Nowhere: noise that helps nobody (a probe's warnings).
    Null,
    /// xtask's own stderr or stdout, even while the trace goes to a log: what the user
    /// asked to see (pytest's report under `cargo xtask pytest`).
    Terminal,
}

/// A command to run: what to run, the environment it gets (shown in the echo), and where its
/// output goes. Stdin is always closed: in a group of its own, a child that read the
/// terminal would be stopped, and nothing may prompt.
pub struct Job {
    command: Command,
    shown: String,
    stdout: Sink,
    stderr: Sink,
    /// The trace of the context it was made in, where `Sink::Trace` and its echo go.
    log: Option<Log>,
    cancel: CancelToken,
    /// The streams also handed, as they come, to [`Job::run_following`]'s reader.
    followed: Vec<Stream>,
}

/// One of a child's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a wait hands its watcher: a piece of a followed stream, or the tick of a watcher
/// that follows something else (a report file, a server).
pub enum Event<'a> {
    Output(Stream, &'a [u8]),
    Tick,
}

impl Job {
    /// `cmd`, run in `cx`: echoed to its trace, stopped with it.
    pub fn new(cx: &StepContext, cmd: xshell::Cmd<'_>) -> Job {
        Job {
            shown: cmd.to_string(),
            command: Command::from(cmd),
            stdout: Sink::Trace,
            stderr: Sink::Trace,
            log: cx.log().cloned(),
            cancel: cx.cancel_token().clone(),
            followed: Vec::new(),
        }
    }

    /// Hands what the child prints on `stream` to [`Job::run_following`]'s reader as it
    /// comes, besides sending it where its sink says: a tool's output read live.
    pub fn follow(mut self, stream: Stream) -> Job {
        self.followed.push(stream);
        self
    }

    /// Sets an environment variable and shows it in the echo, as `NAME=value cmd`.
    pub fn env(mut self, name: &str, value: impl AsRef<str>) -> Job {
        self.shown = format!("{name}={} {}", value.as_ref(), self.shown);
        self.command.env(name, value.as_ref());
        self
    }

    /// Adds a note to the echo, such as where the output goes.
    pub fn note(mut self, note: impl fmt::Display) -> Job {
        self.shown = format!("{}  ({note})", self.shown);
        self
    }

    pub fn stdout(mut self, sink: Sink) -> Job {
        self.stdout = sink;
        self
    }

    pub fn stderr(mut self, sink: Sink) -> Job {
        self.stderr = sink;
        self
    }

    /// Runs to completion in a group of its own. A failure becomes [`Failed`] with the
    /// command's own exit code.
    pub fn run(self) -> Result<()> {
        self.run_following(|_| Ok(()))
    }

    /// As [`Job::run`], handing `reader` each piece of the followed streams as it comes
    /// ([`Job::follow`]), and a tick now and then ([`Event::Tick`]) for what it follows
    /// otherwise. An error from `reader` stops the child.
    pub fn run_following(self, reader: impl FnMut(Event<'_>) -> Result<()>) -> Result<()> {
        let shown = self.shown.clone();
        let group = ProcessGroup::new("the command");
        group.spawn(self)?;
        let status = group.wait_following(reader)?;
        check_status(&shown, status)
    }

    /// Runs to completion and returns what it printed on stdout.
    pub fn read(self) -> Result<String> {
        let shown = self.shown.clone();
        let mut text = Vec::new();
        let result = self
            .stdout(Sink::Null)
            .follow(Stream::Stdout)
            .run_following(|event| {
                if let Event::Output(_, bytes) = event {
                    text.extend_from_slice(bytes);
                }
                Ok(())
            });
        result?;
        String::from_utf8(text).with_context(|| format!("`{shown}` printed something not UTF-8"))
    }

    /// Runs to completion, its stdout going where it goes, its stderr shown as usual (into
    /// the trace) and also returned, for an error whose advice depends on what it said.
    pub fn run_keeping_stderr(self) -> (Result<()>, String) {
        let mut text = Vec::new();
        let result = self.follow(Stream::Stderr).run_following(|event| {
            if let Event::Output(_, bytes) = event {
                text.extend_from_slice(bytes);
            }
            Ok(())
        });
        (result, String::from_utf8_lossy(&text).into_owned())
    }

    /// The command with its output connected, for a spawn, and where the followed streams'
    /// copies go (where their sinks say).
    fn into_command(mut self) -> Result<(Command, Vec<(Stream, Copy)>)> {
        let log = self.log.as_ref();
        let mut followed = Vec::new();
        for (stream, sink) in [(Stream::Stdout, self.stdout), (Stream::Stderr, self.stderr)] {
            let stdio = if self.followed.contains(&stream) {
                followed.push((stream, Copy::of(sink, log, stream)));
                Stdio::piped()
            } else {
                stdio(sink, log)?
            };
            match stream {
                Stream::Stdout => self.command.stdout(stdio),
                Stream::Stderr => self.command.stderr(stdio),
            };
        }
        self.command.stdin(Stdio::null());
        Ok((self.command, followed))
    }

    /// A line of the trace of the job's context.
    fn trace(&self, line: std::fmt::Arguments<'_>) {
        trace_to(self.log.as_ref(), line);
    }
}

fn trace_to(log: Option<&Log>, line: std::fmt::Arguments<'_>) {
    match log {
        Some(log) => log.line(line),
        None => console::stderr_line(line),
    }
}

fn stdio(sink: Sink, log: Option<&Log>) -> Result<Stdio> {
    Ok(match sink {
        Sink::Trace => match log.and_then(Log::file) {
            Some(log) => Stdio::from(log),
            None => Stdio::inherit(),
        },
        Sink::Pipe => Stdio::piped(),
        Sink::File(file) => Stdio::from(file),
        Sink::Null => Stdio::null(),
        Sink::Terminal => Stdio::inherit(),
    })
}

/// Where a followed stream's output is copied: where its sink would have sent it.
enum Copy {
    File(File),
    Stdout,
    Stderr,
    Nowhere,
}

impl Copy {
    fn of(sink: Sink, log: Option<&Log>, stream: Stream) -> Copy {
        let terminal = match stream {
            Stream::Stdout => Copy::Stdout,
            Stream::Stderr => Copy::Stderr,
        };
        match sink {
            Sink::Trace => log.and_then(Log::file).map_or(terminal, Copy::File),
            Sink::File(file) => Copy::File(file),
            Sink::Terminal => terminal,
            Sink::Pipe | Sink::Null => Copy::Nowhere,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write as _;
        match self {
            Copy::File(file) => {
                let _ = file.write_all(bytes);
            }
            Copy::Stdout => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
            }
            Copy::Stderr => console::stderr_bytes(bytes),
            Copy::Nowhere => {}
        }
    }
}

fn check_status(shown: &str, status: ExitStatus) -> Result<()> {
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
/// once that child is gone. Dropping it stops the child.
pub struct ProcessGroup {
    owned: Arc<Owned>,
    /// Where the waiter and reader threads (and a signal) say what happened...
    wakes: Sender<Wake>,
    /// ... and where a wait hears it.
    woken: Mutex<Receiver<Wake>>,
    /// How many followed streams the child has.
    followed: AtomicUsize,
}

/// What ends a wait's sleep.
enum Wake {
    /// The child exited (it is left to be reaped by the wait).
    Exited,
    /// A piece of a followed stream.
    Output(Stream, Vec<u8>),
    /// A followed stream reached its end.
    Closed,
    /// A signal came, or a step was stopped: the wait checks which.
    Signal,
}

struct Owned {
    label: &'static str,
    /// The signal that asks the group to stop: SIGTERM, or SIGINT for a child that reports
    /// what it saw when interrupted (pytest prints its summary on Ctrl-C, not on SIGTERM).
    stop_signal: AtomicI32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    child: Option<Child>,
    temp_dir: Option<PathBuf>,
    /// The spawned job's: where the stop's notes go, and what ends its waits.
    log: Option<Log>,
    cancel: CancelToken,
}

/// Every live group, for the fallback; `CLOSED` once it ran, so that no child starts after.
static LIVE: Mutex<Vec<Weak<Owned>>> = Mutex::new(Vec::new());
static CLOSED: AtomicBool = AtomicBool::new(false);

impl ProcessGroup {
    /// Listed for the fallback from the start, so that nothing it later owns can be missed.
    pub fn new(label: &'static str) -> ProcessGroup {
        let owned = Arc::new(Owned {
            label,
            stop_signal: AtomicI32::new(libc::SIGTERM),
            state: Mutex::default(),
        });
        live().push(Arc::downgrade(&owned));
        let (wakes, woken) = mpsc::channel();
        ProcessGroup {
            owned,
            wakes,
            woken: Mutex::new(woken),
            followed: AtomicUsize::new(0),
        }
    }

    /// Asks the group to stop with `signal` instead of SIGTERM (SIGKILL still follows the
    /// grace period).
    pub fn stopping_with(self, signal: libc::c_int) -> ProcessGroup {
        self.owned.stop_signal.store(signal, Ordering::SeqCst);
        self
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

    /// Echoes and spawns `job` as the leader of a new process group; returns its stdout if
    /// piped (and not followed). After a signal, nothing is spawned.
    pub fn spawn(&self, job: Job) -> Result<Option<ChildStdout>> {
        let shown = job.shown.clone();
        let (log, cancel) = (job.log.clone(), job.cancel.clone());
        job.trace(format_args!("$ {shown}"));
        let (mut command, followed) = job.into_command()?;
        let mut state = self.owned.lock();
        assert!(state.child.is_none(), "a ProcessGroup owns one child");
        // Checked under the lock that a stop takes: a child is either spawned before that
        // stop, which then ends it, or not at all.
        signals::check(&cancel)?;
        if CLOSED.load(Ordering::SeqCst) {
            anyhow::bail!("xtask is stopping");
        }
        state.log = log;
        state.cancel = cancel;
        let mut child = command
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run `{shown}`"))?;
        let pid = child.id() as libc::pid_t;
        let pipes: Vec<Followed> = followed
            .into_iter()
            .filter_map(|(stream, copy)| {
                let pipe: Box<dyn Read + Send> = match stream {
                    Stream::Stdout => Box::new(child.stdout.take()?),
                    Stream::Stderr => Box::new(child.stderr.take()?),
                };
                Some(Followed { stream, pipe, copy })
            })
            .collect();
        let stdout = child.stdout.take();
        state.child = Some(child);
        drop(state);
        self.followed.store(pipes.len(), Ordering::SeqCst);
        for followed in pipes {
            let wakes = self.wakes.clone();
            spawn_thread("xtask-reader", move || followed.forward(&wakes))?;
        }
        let wakes = self.wakes.clone();
        spawn_thread("xtask-waiter", move || wait_for_exit(pid, wakes))?;
        Ok(stdout)
    }

    pub fn pid(&self) -> Option<u32> {
        self.owned.lock().child.as_ref().map(Child::id)
    }

    /// The child's exit status if it has exited (it is then reaped), without blocking.
    pub fn try_status(&self) -> Option<ExitStatus> {
        let mut state = self.owned.lock();
        state.child.as_mut()?.try_wait().ok().flatten()
    }

    /// `Err(Interrupted)` after a signal, `Err(Cancelled)` once the spawned job's step was
    /// stopped: for a wait on something the child does (a readiness line, say).
    pub fn check(&self) -> Result<()> {
        signals::check(&self.owned.lock().cancel)
    }

    /// Sleeps for `duration`, or less: ended at once as [`ProcessGroup::check`] says.
    pub fn sleep(&self, duration: Duration) -> Result<()> {
        let cancel = self.owned.lock().cancel.clone();
        signals::sleep(&cancel, duration)
    }

    /// Waits for the child to exit, calling `tick` every [`TICK`] (to watch a server, or to
    /// read a report as it grows); an error from `tick` or a signal ends the wait.
    pub fn wait_while(&self, mut tick: impl FnMut() -> Result<()>) -> Result<ExitStatus> {
        self.wait_for(Some(TICK), |_| tick())
    }

    /// Waits for the child to exit, handing `reader` what its followed streams print as it
    /// comes, and after the exit the rest of it; an error from `reader` or a signal ends
    /// the wait.
    pub fn wait_following(
        &self,
        reader: impl FnMut(Event<'_>) -> Result<()>,
    ) -> Result<ExitStatus> {
        self.wait_for(None, reader)
    }

    /// The one wait: asleep on the group's channel until the child exits, a followed stream
    /// prints, a signal or a stop comes, or (with `ticks`) the next tick is due. After the
    /// exit, the followed streams are read to their end, for at most [`GRACE`]: a grandchild
    /// that keeps a pipe open must not hold the wait.
    fn wait_for(
        &self,
        ticks: Option<Duration>,
        mut reader: impl FnMut(Event<'_>) -> Result<()>,
    ) -> Result<ExitStatus> {
        let cancel = self.owned.lock().cancel.clone();
        let woken = self
            .woken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let wakes = Mutex::new(self.wakes.clone());
        let _listening = signals::on_wake(move || {
            let wakes = wakes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let _ = wakes.send(Wake::Signal);
        });
        let mut open = self.followed.load(Ordering::SeqCst);
        let mut exited: Option<(ExitStatus, Instant)> = None;
        let mut next_tick = ticks.map(|every| Instant::now() + every);
        loop {
            signals::check(&cancel)?;
            if exited.is_none() {
                let mut state = self.owned.lock();
                let Some(child) = state.child.as_mut() else {
                    // Stopped by another thread (the fallback): nothing is left to wait for.
                    anyhow::bail!("{} was stopped while it was waited for", self.owned.label);
                };
                let status = child.try_wait().ok().flatten();
                exited = status.map(|status| (status, Instant::now()));
            }
            if let Some((status, at)) = exited {
                if open == 0 || at.elapsed() >= GRACE {
                    return Ok(status);
                }
            }
            if let (Some(every), Some(due)) = (ticks, next_tick) {
                if Instant::now() >= due {
                    reader(Event::Tick)?;
                    next_tick = Some(Instant::now() + every);
                }
            }
            let drained = exited.map(|(_, at)| at + GRACE);
            let wake = match [next_tick, drained].into_iter().flatten().min() {
                Some(until) => woken.recv_timeout(until.saturating_duration_since(Instant::now())),
                None => woken.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match wake {
                Ok(Wake::Output(stream, bytes)) => reader(Event::Output(stream, &bytes))?,
                Ok(Wake::Closed) => open = open.saturating_sub(1),
                // Looked at above, on the next turn.
                Ok(Wake::Exited | Wake::Signal) | Err(RecvTimeoutError::Timeout) => {}
                // The group holds a sender: never.
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the waiter of {} is gone", self.owned.label)
                }
            }
        }
    }

    /// Stops the child and removes the temp dir; later calls do nothing. Returns how the
    /// child ended, if this call stopped it.
    pub fn stop(&self) -> Option<Stopped> {
        stop_all(std::slice::from_ref(&self.owned), Notes::Print)
            .pop()
            .flatten()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop();
        live().retain(|weak| weak.strong_count() > 0 && !weak.ptr_eq(&Arc::downgrade(&self.owned)));
    }
}

/// A followed stream of a child: its pipe, and where its copy goes.
struct Followed {
    stream: Stream,
    pipe: Box<dyn Read + Send>,
    copy: Copy,
}

impl Followed {
    /// On a thread of its own until the pipe closes: each piece to its copy and to the
    /// wait. The copy goes on after the wait has gone (a stop), so that the log is whole.
    fn forward(mut self, wakes: &Sender<Wake>) {
        let mut buffer = [0; 16 * 1024];
        loop {
            match self.pipe.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    self.copy.write(&buffer[..n]);
                    let _ = wakes.send(Wake::Output(self.stream, buffer[..n].to_vec()));
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = wakes.send(Wake::Closed);
    }
}

/// Blocks until the child `pid` has exited, then says so. `WNOWAIT` leaves it unreaped: its
/// owner reaps it, so that the pid stays the child's until then and a stop can still
/// signal its group.
fn wait_for_exit(pid: libc::pid_t, wakes: Sender<Wake>) {
    loop {
        // SAFETY: waitid only writes into `info`, which lives through the call.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let options = libc::WEXITED | libc::WNOWAIT;
        // SAFETY: as above; a pid that is no longer our child gives ECHILD.
        let result = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, options) };
        let interrupted = std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
        if result == 0 || !interrupted {
            break;
        }
    }
    let _ = wakes.send(Wake::Exited);
}

fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .with_context(|| format!("cannot start a thread ({name})"))?;
    Ok(())
}

fn live() -> MutexGuard<'static, Vec<Weak<Owned>>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fallback for a stuck main thread: stops every live group at once and removes their
/// temp dirs; nothing can be spawned afterwards.
pub fn stop_everything(_signal: libc::c_int) {
    CLOSED.store(true, Ordering::SeqCst);
    // The newest first: pytest before the server it talks to.
    let groups: Vec<Arc<Owned>> = live().iter().rev().filter_map(Weak::upgrade).collect();
    // Silent: the stuck main thread may hold stderr.
    stop_all(&groups, Notes::Silent);
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
/// rather than returning while a child still runs. Not interruptible: this is the cleanup.
fn stop_all(groups: &[Arc<Owned>], notes: Notes) -> Vec<Option<Stopped>> {
    let mut states: Vec<_> = groups.iter().map(|group| group.lock()).collect();
    let mut stopping: Vec<Option<Stopping>> = states
        .iter_mut()
        .zip(groups)
        .map(|(state, group)| {
            let signal = group.stop_signal.load(Ordering::SeqCst);
            state
                .child
                .take()
                .map(|child| Stopping::start(child, signal))
        })
        .collect();
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && stopping.iter_mut().flatten().any(Stopping::alive) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let results = stopping
        .into_iter()
        .zip(groups)
        .zip(&states)
        .map(|((stopping, group), state)| {
            let notes = (notes == Notes::Print).then_some(state.log.as_ref());
            stopping.and_then(|s| s.finish(group.label, notes))
        })
        .collect();
    for state in &mut states {
        if let Some(dir) = state.temp_dir.take() {
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                if error.kind() != std::io::ErrorKind::NotFound && notes == Notes::Print {
                    let dir = dir.display();
                    trace_to(
                        state.log.as_ref(),
                        format_args!("xtask: cannot remove {dir}: {error}"),
                    );
                }
            }
        }
    }
    results
}

/// Whether a stop may print what went wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notes {
    Print,
    Silent,
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
    fn start(mut child: Child, signal: libc::c_int) -> Stopping {
        let was_running = matches!(child.try_wait(), Ok(None));
        let pgid = child.id() as libc::pid_t;
        if was_running || group_exists(pgid) {
            signal_group(pgid, signal);
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

    /// `notes`: where to say what went wrong (the trace of the group's job), if anywhere.
    fn finish(mut self, label: &str, notes: Option<Option<&Log>>) -> Option<Stopped> {
        let killed = self.alive();
        if let (true, Some(log)) = (killed, notes) {
            let note =
                format_args!("xtask: {label} did not stop within {GRACE:?}; sending SIGKILL");
            trace_to(log, note);
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

/// A folder that the children of a run get as their `TMPDIR`, removed with all it holds
/// when dropped: a test process that a stop kills (SIGKILL after the grace period) leaves
/// its scratch there, not in the user's temp dir.
pub struct ChildrenTemp(PathBuf);

impl ChildrenTemp {
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// A private (0700) folder in the temp dir, named `PREFIX-PID-...`. The folders of
    /// `PREFIX` that a run killed outright left (its process is gone) go first.
    pub fn create(prefix: &str) -> Result<ChildrenTemp> {
        ChildrenTemp::create_in(&std::env::temp_dir(), prefix)
    }

    fn create_in(parent: &std::path::Path, prefix: &str) -> Result<ChildrenTemp> {
        use std::os::unix::fs::DirBuilderExt;
        remove_gone_runs(parent, prefix);
        let dir = parent.join(unique_name(prefix));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ChildrenTemp(dir))
    }
}

impl Drop for ChildrenTemp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the folders `PREFIX-PID-...` under `parent` that are ours and whose run is gone.
/// The temp dir is shared: a symlink or another user's folder is left alone.
fn remove_gone_runs(parent: &std::path::Path, prefix: &str) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = parent.read_dir() else {
        return;
    };
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(prefix)?.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next()?.parse::<libc::pid_t>().ok());
        let ours = std::fs::symlink_metadata(entry.path())
            .is_ok_and(|meta| meta.is_dir() && meta.uid() == uid);
        if ours && pid.is_some_and(|pid| pid > 0 && !process_runs(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_runs(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; EPERM means it does.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A name no other run of xtask, in this or another process, will pick.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::AtomicU32;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::paths;

    fn shell() -> StepContext {
        StepContext::terminal(paths::shell().unwrap())
    }

    /// What a followed stream prints reaches the reader whole, in order, and its sink too.
    #[test]
    fn a_followed_stream_is_handed_over_whole_and_copied_to_its_sink() {
        let (_guard, dir) = paths::test_dir();
        let copy = dir.join("stdout");
        let sh = shell();
        let script = "for n in 1 2 3; do echo line $n; done; printf said >&2; exit 3";
        let job = Job::new(&sh, xshell::cmd!(sh, "sh -c {script}"))
            .stdout(Sink::File(File::create(&copy).unwrap()))
            .stderr(Sink::Null)
            .follow(Stream::Stdout)
            .follow(Stream::Stderr);
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let result = job.run_following(|event| {
            match event {
                Event::Output(Stream::Stdout, bytes) => stdout.extend_from_slice(bytes),
                Event::Output(Stream::Stderr, bytes) => stderr.extend_from_slice(bytes),
                Event::Tick => {}
            }
            Ok(())
        });
        let error = result.unwrap_err();
        assert_eq!(exit_code_of(&error), 3, "{error:#}");
        assert_eq!(
            String::from_utf8(stdout).unwrap(),
            "line 1\nline 2\nline 3\n"
        );
        assert_eq!(stderr, b"said");
        let copied = std::fs::read_to_string(&copy).unwrap();
        assert_eq!(copied, "line 1\nline 2\nline 3\n");
    }

    /// A grandchild that keeps the followed pipe open (a daemon) does not hold the wait
    /// past the grace period, and is stopped with the group.
    #[test]
    fn a_grandchild_holding_the_pipe_does_not_hold_the_wait() {
        let sh = shell();
        let (_guard, dir) = paths::test_dir();
        let pid_file = dir.join("pid");
        let script = format!("sleep 60 & echo $! > {pid_file}; echo done");
        let started = Instant::now();
        let said = Job::new(&sh, xshell::cmd!(sh, "sh -c {script}"))
            .read()
            .unwrap();
        assert_eq!(said, "done\n");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the wait held on"
        );
        let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL was sent when the group was dropped; its delivery takes a moment.
        let gone = Instant::now() + Duration::from_secs(10);
        while process_runs(pid) && !is_zombie(pid) {
            assert!(Instant::now() < gone, "the grandchild outlived its group");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A reaped-by-init orphan may linger as a zombie for a moment: it no longer runs.
    fn is_zombie(pid: libc::pid_t) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    }

    #[test]
    fn a_gone_runs_temp_is_removed_and_a_live_ones_kept() {
        let (_guard, parent) = paths::test_dir();
        let mut gone = Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let gone_dir = parent.join(format!("xtask-run-{}-1-0", gone.id()));
        let live = std::os::unix::process::parent_id();
        let live_dir = parent.join(format!("xtask-run-{live}-1-0"));
        let other = parent.join(format!("other-{}-1-0", gone.id()));
        for dir in [&gone_dir, &live_dir, &other] {
            std::fs::create_dir_all(dir.join("left/behind")).unwrap();
        }
        let run = ChildrenTemp::create_in(parent.as_std_path(), "xtask-run").unwrap();
        assert!(run.path().is_dir());
        assert!(!gone_dir.exists(), "a gone run's folder is kept");
        assert!(live_dir.exists() && other.exists());
        std::fs::write(run.path().join("file"), "").unwrap();
        let ours = run.path().to_owned();
        drop(run);
        assert!(!ours.exists(), "the run's folder outlives it");
    }
}
