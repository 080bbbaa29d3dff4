//! `cargo xtask watch` as a user runs it: the real binary, the real server, the venv's
//! pytest, and files written in the bindings' tests folder and the server's folder. Each test
//! writes scratch files with a name of its own (`test_watch_scratch_<id>...`), selects only
//! them with `-k`, and removes them after. The tests take turns: each watcher sees every
//! change in the workspace, and another test's file would start runs of its own.
//!
//! Needs the venv (`cargo xtask venv`) and the server's debug binary (`cargo build -p
//! simd-r-drive-ws-server`, which `cargo test --workspace` builds).

mod common;

use common::DiesWithTheTest;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a run may take on a loaded machine: a start rebuilds nothing but starts the
/// server and pytest (about 2 s idle, over 10 s seen under load).
const LIMIT: Duration = Duration::from_secs(120);

/// One test at a time (see the module's comment).
static TURN: Mutex<()> = Mutex::new(());

/// A running `xtask watch`, in a process group of its own as a shell starts it; stopped
/// (SIGTERM, then SIGKILL) when dropped, after a failed assertion too.
struct Watch {
    child: Child,
    stderr: PathBuf,
    /// Holds the target dir (logs, pytest's report log) and stderr; removed last.
    _scratch: common::Scratch,
}

impl Watch {
    fn start(name: &str, args: &[&str]) -> Watch {
        common::python_with("pytest, pytest_reportlog");
        let scratch = common::scratch_dir(name);
        let stderr = scratch.join("stderr");
        // The server that ci names (the archive's under `ci --from`, whose archive of the
        // venv tests holds no server), else the one built beside xtask.
        let server = std::env::var_os("XTASK_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| common::xtask_exe().with_file_name("simd-r-drive-ws-server"));
        assert!(
            server.is_file(),
            "no server binary at {}; run `cargo build -p simd-r-drive-ws-server`",
            server.display()
        );
        let child = common::xtask()
            .arg("watch")
            .args(args)
            // The watcher's own logs and report log stay in the scratch folder; the venv's
            // stamp does not depend on the target dir, so nothing is rebuilt.
            .env("CARGO_TARGET_DIR", scratch.join("target"))
            .env("XTASK_SERVER_BIN", &server)
            // Lets the scratch tests run (see `HEADER`).
            .env("XTASK_WATCH_SCRATCH", "1")
            .env_remove("CLICOLOR_FORCE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .process_group(0)
            .dies_with_the_test()
            .spawn()
            .unwrap();
        Watch {
            child,
            stderr,
            _scratch: scratch,
        }
    }

    fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        text.lines().map(str::to_owned).collect()
    }

    /// Waits for a line from index `from` on that satisfies `matches`; its index and text.
    fn wait_for(
        &mut self,
        from: usize,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let mut found = None;
        let appeared = common::wait_until(LIMIT, || {
            let exited = !matches!(self.child.try_wait(), Ok(None));
            assert!(!exited, "xtask watch exited:\n{}", self.lines().join("\n"));
            found = self
                .lines()
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, line)| matches(line));
            found.is_some()
        });
        assert!(
            appeared,
            "no line {what} within {LIMIT:?}; xtask watch printed:\n{}",
            self.lines().join("\n")
        );
        found.unwrap()
    }

    /// Waits for the `watch:` line of a run whose label is `label`.
    fn wait_for_run(&mut self, from: usize, label: &str) -> (usize, String) {
        let end = format!("({label})");
        self.wait_for(from, &format!("`watch: ... {end}`"), |line| {
            line.starts_with("watch: ") && line.ends_with(&end)
        })
    }

    /// Sends `signal` to the whole group, as a terminal's Ctrl-C does, and waits for the
    /// exit.
    fn signal_and_wait(&mut self, signal: libc::c_int) -> ExitStatus {
        let pgid = self.child.id() as i32;
        // SAFETY: kill has no memory-safety preconditions; the group is ours.
        unsafe { libc::kill(-pgid, signal) };
        let mut status = None;
        let exited = common::wait_until(LIMIT, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(exited, "xtask watch did not exit after {signal}");
        status.unwrap()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: as in `signal_and_wait`.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        common::wait_until(Duration::from_secs(10), || {
            !matches!(self.child.try_wait(), Ok(None))
        });
        // SAFETY: as above; only what is left of the group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A file this test writes in the workspace, removed when dropped, and also when a signal
/// stops the test process (see [`remove_on_signal`]).
struct Scratch(PathBuf);

impl Scratch {
    fn new(path: PathBuf) -> Scratch {
        remove_on_signal(&path);
        Scratch(path)
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The workspace files of the tests that run, removed if a signal stops this process: `ci`
/// stopped by Ctrl-C, SIGTERM or another step's failure stops nextest, which stops this
/// test with SIGINT or SIGTERM, and no `Drop` would run. (A SIGKILL leaves them to the next
/// run's [`remove_orphans`], and conftest.py and mypy ignore them meanwhile.)
static ON_SIGNAL: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn remove_on_signal(path: &Path) {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        ctrlc::set_handler(|| {
            let paths = ON_SIGNAL.lock().unwrap_or_else(|p| p.into_inner());
            for path in paths.iter() {
                let _ = std::fs::remove_file(path);
            }
            // The `xtask watch` children get SIGTERM from the kernel as this process ends
            // (`dies_with_the_test`).
            std::process::exit(130);
        })
        .expect("cannot install the scratch files' signal handler");
    });
    let mut paths = ON_SIGNAL.lock().unwrap_or_else(|p| p.into_inner());
    paths.push(path.to_owned());
}

/// A name no other run of these tests uses at the same time; the process id comes first,
/// for [`remove_orphans`].
fn unique_id(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("watch_scratch_{}_{nanos}_{test}", std::process::id())
}

fn test_file(id: &str, suffix: &str) -> (Scratch, String) {
    remove_orphans();
    let name = format!("test_{id}{suffix}.py");
    let path = common::bindings_dir().join("tests").join(&name);
    (Scratch::new(path), format!("tests/{name}"))
}

/// Removes the scratch files of test processes that are gone: one killed mid-test (ci stops
/// every running step when another fails) never ran its `Drop`, and its files would stay in
/// the bindings' tests folder.
fn remove_orphans() {
    let folders = [common::bindings_dir().join("tests"), server_dir()];
    let entries = folders.iter().filter_map(|f| std::fs::read_dir(f).ok());
    for entry in entries.flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let name = name.strip_prefix("test_").unwrap_or(&name);
        let Some(rest) = name.strip_prefix("watch_scratch_") else {
            continue;
        };
        let pid = rest
            .split('_')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok());
        if pid.is_some_and(common::is_gone) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The server's folder, where a test writes a file to make the watcher rebuild the server.
fn server_dir() -> PathBuf {
    common::bindings_dir().join("../../simd-r-drive-ws-server")
}

/// The start of every scratch test: `ci` runs pytest beside these tests, in the same folder,
/// so a scratch test skips itself unless a watcher of these tests runs it.
const HEADER: &str = "import os\nimport time\n\nimport pytest\n\n\
    pytestmark = [\n    pytest.mark.unit,\n    pytest.mark.skipif(\n        \
    \"XTASK_WATCH_SCRATCH\" not in os.environ, reason=\"a scratch test of xtask's tests\"\n    \
    ),\n]\n\n\n";

fn passing() -> String {
    format!("{HEADER}def test_passes():\n    assert True\n")
}

/// A test that writes its process id to `pids`, then waits until `release` exists.
fn blocking_test(pids: &Path, release: &Path) -> String {
    format!(
        "{HEADER}def test_blocks_until_released():\n    \
         with open({pids:?}, \"a\") as f:\n        f.write(f\"{{os.getpid()}}\\n\")\n    \
         deadline = time.monotonic() + 120\n    \
         while not os.path.exists({release:?}):\n        \
         assert time.monotonic() < deadline, \"never released\"\n        \
         time.sleep(0.01)\n"
    )
}

/// The server's address and store from its `server: ws://... ready` line.
fn server_line(line: &str) -> (String, PathBuf) {
    let rest = line.strip_prefix("server: ").unwrap();
    let address = rest.split(' ').next().unwrap().to_owned();
    let store = rest
        .split("(store ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    (address, PathBuf::from(store))
}

/// The process whose command line holds `argument` (the server names its store).
fn pid_with_argument(argument: &Path) -> i32 {
    let output = Command::new("pgrep")
        .arg("-f")
        .arg(argument)
        .output()
        .expect("cannot run pgrep");
    let text = String::from_utf8_lossy(&output.stdout);
    let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(
        pids.len(),
        1,
        "one process names {}: {pids:?}",
        argument.display()
    );
    pids[0]
}

fn pids(path: &Path) -> Vec<i32> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|line| line.parse().ok()).collect()
}

fn port_refuses(address: &str) -> bool {
    let host_port = address.trim_start_matches("ws://");
    std::net::TcpStream::connect(host_port).is_err()
}

#[test]
fn the_scratch_files_of_a_killed_test_process_are_removed_by_the_next() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let orphans = [
        common::bindings_dir().join(format!("tests/test_watch_scratch_{}_1_x.py", gone.id())),
        server_dir().join(format!("watch_scratch_{}_1_x.txt", gone.id())),
    ];
    let ours = Scratch::new(server_dir().join(format!("{}.txt", unique_id("ours"))));
    for path in orphans.iter().chain([&ours.0]) {
        std::fs::write(path, "").unwrap();
    }
    remove_orphans();
    for orphan in &orphans {
        assert!(!orphan.exists(), "{} is left", orphan.display());
    }
    assert!(ours.0.exists(), "a live process's file was removed");
}

#[test]
fn a_saved_test_runs_first_a_burst_runs_once_the_server_restarts_on_its_port_and_sigint_cleans_up()
{
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let id = unique_id("save");
    let (test, test_name) = test_file(&id, "");
    let (later, later_name) = test_file(&id, "_later");
    let server_name = format!("experiments/simd-r-drive-ws-server/{id}.txt");
    let server_file = Scratch::new(server_dir().join(format!("{id}.txt")));
    let mut watch = Watch::start(&id, &["--suite", "fast", "--", "-k", &id]);
    let (at, line) = watch.wait_for(0, "`server: ... ready`", |l| l.starts_with("server: "));
    let (address, first_store) = server_line(&line);
    assert!(first_store.is_file(), "{line}");
    let (at, _) = watch.wait_for_run(at, "start");

    // A saved test file: its own run first, then the rest of the suite.
    test.write(&passing());
    let (at, own) = watch.wait_for_run(at, &format!("{test_name}: its tests"));
    assert!(
        own.starts_with("watch: 1 passed, 0 failed, 0 skipped in "),
        "{own}"
    );
    let (at, rest) = watch.wait_for_run(at, &test_name);
    assert!(
        rest.starts_with("watch: 0 passed, 0 failed, 0 skipped"),
        "{rest}"
    );

    // A burst of 50 writes is one run: between it and the next change, one run of it.
    let burst_start = at;
    for n in 0..50 {
        test.write(&format!("{}\n# write {n}\n", passing()));
    }
    let (at, _) = watch.wait_for_run(at, &format!("{test_name}: its tests"));
    let (at, _) = watch.wait_for_run(at, &test_name);
    later.write(&passing());
    let (at, _) = watch.wait_for_run(at, &format!("{later_name}: its tests"));
    let lines = watch.lines();
    let own_runs = lines[burst_start..at]
        .iter()
        .filter(|line| line.ends_with(&format!("({test_name}: its tests)")))
        .count();
    assert_eq!(own_runs, 1, "{:#?}", &lines[burst_start..at]);

    // A change to the server's sources: a new server, on the same port, with a new store.
    server_file.write("not a source, but in the server's folder\n");
    let (at, line) = watch.wait_for(at, "a second `server: ... ready`", |l| {
        l.starts_with("server: ")
    });
    let (new_address, new_store) = server_line(&line);
    assert_eq!(new_address, address, "the server restarts on its port");
    assert_ne!(new_store, first_store, "with a fresh store");
    assert!(!first_store.exists(), "the old store is removed");
    let (at, _) = watch.wait_for_run(at, &server_name);

    // A server that dies is reported, and started again on the next change, on its port.
    let server = pid_with_argument(&new_store);
    // SAFETY: kill has no memory-safety preconditions; the pid is the server's.
    unsafe { libc::kill(server, libc::SIGKILL) };
    assert!(common::wait_until(LIMIT, || common::is_gone(server)));
    test.write(&format!("{}\n# after the crash\n", passing()));
    let (at, _) = watch.wait_for(at, "`server exited unexpectedly`", |l| {
        l.contains("server exited unexpectedly: signal 9")
    });
    let (at, line) = watch.wait_for(at, "a third `server: ... ready`", |l| {
        l.starts_with("server: ")
    });
    let (third_address, third_store) = server_line(&line);
    assert_eq!(third_address, address);
    assert!(!new_store.exists(), "the dead server's store is removed");
    let (_, own) = watch.wait_for_run(at, &format!("{test_name}: its tests"));
    assert!(own.starts_with("watch: 1 passed, 0 failed"), "{own}");
    let new_store = third_store;

    let status = watch.signal_and_wait(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(
        port_refuses(&address),
        "the server still listens at {address}"
    );
    assert!(
        !new_store.exists(),
        "the temp store is left at {}",
        new_store.display()
    );
    assert!(!new_store.parent().unwrap().exists());
    assert!(
        watch
            .lines()
            .iter()
            .any(|l| l.contains("interrupted by SIGINT"))
    );
}

#[test]
fn a_change_during_a_run_is_queued_and_sigterm_stops_the_run() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let id = unique_id("queue");
    let (blocking, blocking_name) = test_file(&id, "");
    let (other, other_name) = test_file(&id, "_other");
    let mut watch = Watch::start(&id, &["--suite", "unit", "--", "-k", &id]);
    let (pid_file, release) = (watch._scratch.join("pids"), watch._scratch.join("release"));
    let (at, _) = watch.wait_for_run(0, "start");

    blocking.write(&blocking_test(&pid_file, &release));
    assert!(common::wait_until(LIMIT, || !pids(&pid_file).is_empty()));
    other.write(&passing());
    // Released only once the change is surely seen: the queued run must not start before.
    std::fs::write(&release, "").unwrap();
    let (at, line) = watch.wait_for_run(at, &format!("{blocking_name}: its tests"));
    assert!(line.starts_with("watch: 1 passed, 0 failed"), "{line}");
    let (at, _) = watch.wait_for_run(at, &blocking_name);
    let (at, line) = watch.wait_for_run(at, &format!("{other_name}: its tests"));
    assert!(line.starts_with("watch: 1 passed, 0 failed"), "{line}");
    watch.wait_for_run(at, &other_name);
    assert!(
        !watch
            .lines()
            .iter()
            .any(|l| l.starts_with("watch: stopped")),
        "a change stopped a run without --restart:\n{}",
        watch.lines().join("\n")
    );

    // SIGTERM during a run stops pytest too.
    std::fs::remove_file(&release).unwrap();
    let before = pids(&pid_file).len();
    blocking.write(&format!(
        "{}\n# again\n",
        blocking_test(&pid_file, &release)
    ));
    assert!(common::wait_until(LIMIT, || pids(&pid_file).len() > before));
    let pytest = *pids(&pid_file).last().unwrap();
    let status = watch.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(
        common::is_gone(pytest),
        "pytest ({pytest}) outlived xtask watch"
    );
}

#[test]
fn restart_stops_the_run_and_starts_over_and_sighup_cleans_up() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let id = unique_id("restart");
    let (blocking, blocking_name) = test_file(&id, "");
    let (other, other_name) = test_file(&id, "_other");
    let mut watch = Watch::start(&id, &["--suite", "unit", "--restart", "--", "-k", &id]);
    let (pid_file, release) = (watch._scratch.join("pids"), watch._scratch.join("release"));
    let (at, _) = watch.wait_for_run(0, "start");

    blocking.write(&blocking_test(&pid_file, &release));
    assert!(common::wait_until(LIMIT, || !pids(&pid_file).is_empty()));
    let first = pids(&pid_file)[0];
    other.write(&passing());
    let (at, line) = watch.wait_for(at, "`watch: restarting`", |l| {
        l.starts_with("watch: restarting")
    });
    assert!(line.contains(&other_name), "{line}");
    assert!(
        common::is_gone(first),
        "the stopped pytest ({first}) still runs"
    );
    // The run starts over: the blocked test runs again, with the new change.
    assert!(common::wait_until(LIMIT, || pids(&pid_file).len() > 1));
    std::fs::write(&release, "").unwrap();
    let (_, line) = watch.wait_for(at, "the run that started over", |l| {
        l.starts_with("watch: 2 passed, 0 failed") && l.contains("its tests")
    });
    assert!(
        line.contains(&other_name) || line.contains(&blocking_name),
        "{line}"
    );

    let status = watch.signal_and_wait(libc::SIGHUP);
    assert_eq!(status.code(), Some(129), "{status:?}");
    assert_eq!(
        status.signal(),
        None,
        "xtask exits by itself, not by the signal"
    );
}

#[test]
fn after_a_failing_edit_the_last_line_says_failed_until_the_test_passes() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let id = unique_id("red");
    let (test, test_name) = test_file(&id, "");
    let mut watch = Watch::start(&id, &["--suite", "unit", "--", "-k", &id]);
    let (at, _) = watch.wait_for_run(0, "start");

    test.write(&format!(
        "{HEADER}def test_fails():\n    assert [b\"a\"] == [b\"b\"]\n"
    ));
    let (at, own) = watch.wait_for_run(at, &format!("{test_name}: its tests"));
    assert!(own.starts_with("watch: 0 passed, 1 failed"), "{own}");
    // The rest of the suite leaves the changed file out and passes; the failure stays last.
    let (at, rest) = watch.wait_for_run(at, &test_name);
    assert!(rest.contains(" 0 failed"), "{rest}");
    let still = format!("watch: 1 failed test has not passed since: {test_name}::test_fails");
    let (at, _) = watch.wait_for(at, &format!("`{still}`"), |l| l == still);
    assert_eq!(watch.lines().len(), at + 1, "{:#?}", &watch.lines()[at..]);

    test.write(&passing());
    let (at, own) = watch.wait_for_run(at, &format!("{test_name}: its tests"));
    assert!(own.starts_with("watch: 1 passed, 0 failed"), "{own}");
    let (at, rest) = watch.wait_for_run(at, &test_name);
    assert!(rest.contains(" 0 failed"), "{rest}");
    let after = &watch.lines()[at..];
    assert!(
        !after.iter().any(|l| l.contains("not passed since")),
        "a test that passed is still named: {after:#?}"
    );
}
