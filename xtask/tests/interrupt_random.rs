//! A randomised interrupt test of the real thing: `cargo xtask pytest` on a long test, with
//! SIGINT, SIGTERM or SIGHUP sent to xtask alone or to its whole process group at a random
//! moment of its first seconds (while the venv is checked, the server starts, or the test
//! runs). Every run must exit 128 + the signal, print no panic, and leave no process and no
//! temp dir behind. Slow (about a minute) and it needs the venv, so it is opt-in:
//!
//! ```sh
//! cargo xtask venv && cargo test -p xtask --test interrupt_random -- --ignored --nocapture
//! ```

mod common;

use common::DiesWithTheTest;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bindings_dir, scratch_dir};

const RUNS: u32 = 20;

#[test]
#[ignore = "slow; needs the venv: run with --ignored"]
fn random_signals_at_random_moments() {
    assert!(
        bindings_dir().join(".venv/bin/python").is_file(),
        "no venv: run `cargo xtask venv` first"
    );
    let mut random = Random::seeded();
    for run in 0..RUNS {
        let signal = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP][random.below(3) as usize];
        let whole_group = random.below(2) == 1;
        let delay = Duration::from_millis(random.below(4000));
        let took = interrupt_once(run, signal, whole_group, delay);
        eprintln!(
            "run {run:2}: signal {signal:2} to {:<5} after {delay:>7.2?}: exited in {took:.2?}",
            if whole_group { "group" } else { "xtask" }
        );
    }
}

/// One run; returns how long xtask took to exit after the signal.
fn interrupt_once(run: u32, signal: i32, whole_group: bool, delay: Duration) -> Duration {
    let scratch = scratch_dir(&format!("random-{run}"));
    let test_file = scratch.join("test_long.py");
    std::fs::write(
        &test_file,
        "import time\n\ndef test_long():\n    time.sleep(60)\n",
    )
    .unwrap();
    let marker = format!("xtask-random-{}-{run}", std::process::id());
    let stderr = std::fs::File::create(scratch.join("stderr")).unwrap();
    let mut child = common::xtask()
        .args(["pytest", "--"])
        .arg(&test_file)
        .env("XTASK_RANDOM_RUN", &marker)
        .env("TMPDIR", &scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .dies_with_the_test()
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    assert!(
        child.try_wait().unwrap().is_none(),
        "xtask ended before the signal: {}",
        std::fs::read_to_string(scratch.join("stderr")).unwrap()
    );
    let pid = child.id() as i32;
    let start = Instant::now();
    // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet.
    unsafe { libc::kill(if whole_group { -pid } else { pid }, signal) };
    let status = child.wait().unwrap();
    let took = start.elapsed();
    let output = std::fs::read_to_string(scratch.join("stderr")).unwrap();
    assert_eq!(status.code(), Some(128 + signal), "{output}");
    assert!(!output.contains("panicked"), "{output}");
    let survivors = processes_with(&marker);
    assert!(
        survivors.is_empty(),
        "left running: {survivors:?}\n{output}"
    );
    let leftovers = xtask_temp_entries(&scratch);
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}\n{output}");
    took
}

/// Processes whose environment holds `marker`: xtask's descendants. An orphan is reaped by
/// init a moment after it dies, so they get a second to go.
fn processes_with(marker: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let found = scan_processes(marker);
        if found.is_empty() || Instant::now() > deadline {
            for &pid in &found {
                // SAFETY: as above; cleans up after a failed run.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(target_os = "linux")]
fn scan_processes(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ
            .split(|&b| b == 0)
            .any(|var| var == format!("XTASK_RANDOM_RUN={marker}").as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

#[cfg(not(target_os = "linux"))]
fn scan_processes(marker: &str) -> Vec<i32> {
    // `ps eww` shows each process's environment after its command on macOS and the BSDs.
    let output = std::process::Command::new("ps")
        .args(["eww", "-ax", "-o", "pid=,command="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(&format!("XTASK_RANDOM_RUN={marker}")))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

/// What xtask made in the temp dir and should have removed.
fn xtask_temp_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("xtask-"))
        .collect()
}

/// A small xorshift generator seeded from the clock; the seed is printed so that a failing
/// sequence can be told apart.
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        eprintln!("seed {nanos}");
        Random(nanos | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}
