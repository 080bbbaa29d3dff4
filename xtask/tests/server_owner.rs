//! SIGKILL of `cargo xtask server` (issue 19, finding 11), with the real server: no
//! destructor runs in xtask, yet the server stops by itself within seconds (it watches a
//! pipe whose write end only xtask held), and the next xtask run removes the temp store
//! that the killed one left.

mod common;

use common::DiesWithTheTest;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::is_gone;
use std::sync::mpsc;
use std::time::Duration;

/// Well within the test's own timeouts, with room for a machine under heavy load.
const PROMPTLY: Duration = Duration::from_secs(10);
/// The first run may build the server.
const READY: Duration = Duration::from_secs(300);

/// A running `cargo xtask server --port 0`: its process, its server's pid and storage.
struct XtaskServer {
    child: Child,
    server_pid: i32,
    storage: PathBuf,
}

impl XtaskServer {
    /// SIGTERM, as Ctrl-C in a terminal would; returns whether xtask exited within
    /// [`PROMPTLY`] (it then has stopped its server and removed the temp store).
    fn terminate(&mut self) -> bool {
        // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        common::wait_until(PROMPTLY, || !matches!(self.child.try_wait(), Ok(None)))
    }
}

impl Drop for XtaskServer {
    /// After a failed assertion too: nothing of the test may outlive it.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) && !self.terminate() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if self.server_pid > 0 && !is_gone(self.server_pid) {
            // SAFETY: kill has no memory-safety preconditions; only a server this test
            // started, whose pid its own log gave, and which still runs.
            unsafe { libc::kill(self.server_pid, libc::SIGKILL) };
        }
    }
}

/// Starts `cargo xtask server --port 0` (the built xtask, which builds the real server if
/// needed, or takes the one ci names in `XTASK_SERVER_BIN`: the archive's under `ci --from`,
/// where a build would compile) in a process group of its own, as a shell would, and waits until it is ready.
/// Its temp dir is `tmp`: a folder of the test's own, so that the temp-store reaper of
/// another xtask run on the machine (every server start reaps) cannot remove the killed
/// run's store before this test looks at it.
fn start(tmp: &Path) -> XtaskServer {
    let mut child = common::xtask()
        .args(["server", "--port", "0"])
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .dies_with_the_test()
        .spawn()
        .unwrap();
    let lines = read_until_ready(BufReader::new(child.stdout.take().unwrap()));
    let value = |prefix: &str| {
        let line = lines.iter().find_map(|l| l.strip_prefix(prefix));
        let line = line.unwrap_or_else(|| panic!("no `{prefix}` line in {lines:?}"));
        PathBuf::from(line.split(" (").next().unwrap())
    };
    let storage = value("storage: ");
    let mut xtask = XtaskServer {
        child,
        server_pid: 0,
        storage,
    };
    // Shown relative to the repository root.
    let root = common::manifest_dir().join("..");
    xtask.server_pid = server_pid(&root.join(value("log: ")));
    xtask
}

/// xtask's stdout lines up to "press Ctrl-C to stop", read on a thread so that a hung
/// xtask fails the test instead of hanging it.
fn read_until_ready(stdout: impl BufRead + Send + 'static) -> Vec<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in stdout.lines().map_while(Result::ok) {
            let done = line.starts_with("press Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = sender.send(lines);
    });
    let lines = receiver
        .recv_timeout(READY)
        .expect("xtask server ready in time");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("press Ctrl-C")),
        "xtask server did not get ready: {lines:?}"
    );
    lines
}

/// The pid in the server's `serving ... pid=N` log line, which follows its readiness line.
fn server_pid(log: &Path) -> i32 {
    let (mut pid, mut text) = (None, String::new());
    let found = common::wait_until(PROMPTLY, || {
        text = std::fs::read_to_string(log).unwrap_or_default();
        pid = text
            .split_whitespace()
            .find_map(|word| word.strip_prefix("pid=")?.parse().ok());
        pid.is_some()
    });
    assert!(found, "no pid in the server log: {text}");
    pid.unwrap()
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    assert!(
        common::wait_until(limit, done),
        "{what}: not within {limit:?}"
    );
}

#[test]
fn sigkill_of_xtask_leaves_no_server_and_the_next_run_removes_its_store() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = start(tmp.path());
    let folder = first.storage.parent().unwrap().to_path_buf();
    assert!(first.storage.is_file(), "{}", first.storage.display());
    // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet.
    assert_eq!(
        unsafe { libc::kill(first.child.id() as i32, libc::SIGKILL) },
        0
    );
    first.child.wait().unwrap();

    let pid = first.server_pid;
    wait_until("the server stops after its xtask", PROMPTLY, || {
        is_gone(pid)
    });
    assert!(folder.exists(), "nothing removed the temp store yet");

    let mut second = start(tmp.path());
    assert!(
        !folder.exists(),
        "the next run removes {}",
        folder.display()
    );
    assert!(second.storage.is_file());
    assert!(second.terminate(), "xtask server exits on SIGTERM");
    assert!(!second.storage.exists());
}

/// Issue 31 item 5: every xtask run reaps, not only a server's start, and what another user
/// can plant in the temp dir (a FIFO as a store, `owner.pid` as a link to `/dev/zero`)
/// neither blocks it nor is removed. `cargo xtask extract` starts no server.
#[test]
fn any_xtask_run_reaps_and_planted_fifos_do_not_block_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id().to_string();
    child.wait().unwrap();
    let folder = |name: &str| {
        let dir = tmp.path().join(format!("xtask-server-{name}"));
        std::fs::create_dir(&dir).unwrap();
        dir
    };
    let dead = folder("dead");
    std::fs::write(dead.join("owner.pid"), &gone).unwrap();
    std::fs::write(dead.join("store.bin"), b"").unwrap();
    let fifo = folder("fifo");
    std::fs::write(fifo.join("owner.pid"), &gone).unwrap();
    let name = std::ffi::CString::new(fifo.join("store.bin").into_os_string().into_encoded_bytes());
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.unwrap().as_ptr(), 0o600) }, 0);
    let zero = folder("zero");
    std::os::unix::fs::symlink("/dev/zero", zero.join("owner.pid")).unwrap();

    let mut run = common::xtask()
        .arg("extract")
        .arg("--out")
        .arg(tmp.path().join("test_readme_blocks.py"))
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .dies_with_the_test()
        .spawn()
        .unwrap();
    let finished = common::wait_until(READY, || !matches!(run.try_wait(), Ok(None)));
    if !finished {
        let _ = run.kill();
        // Unblock an open() of the FIFO, so that the killed run can be reaped.
        let _ = std::fs::File::options()
            .write(true)
            .open(fifo.join("store.bin"));
    }
    let status = run.wait().unwrap();
    assert!(
        finished,
        "xtask blocked on what was planted in its temp dir"
    );
    assert!(status.success(), "{status}");
    assert!(!dead.exists(), "the dead run's store is removed");
    assert!(
        fifo.exists() && zero.exists(),
        "what it cannot judge is left"
    );
}
