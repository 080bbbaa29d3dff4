//! `ci --python ...` and `ci --wheel`: the pytest stages once per Python lane. The table
//! gets each stage row ([`super::PER_LANE`]) once per lane, named after it (`pytest unit
//! (py3.12)`), with a venv of the lane's own before them; every build before them is
//! shared (the bindings are abi3: one build serves every lane). Each lane has its own
//! venv, server, store, report logs and JUnit reports, so no lane sees another's results.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use super::{Ci, NODES, PER_LANE};
use crate::base::context::StepContext;
use crate::engine::graph::Node;
use crate::engine::output::Output;
use crate::engine::steps::Step;
use crate::python::interpreters::Interpreter;
use crate::python::{venv, wheel};
use crate::server::test_server::Server;

/// One Python lane: its interpreter, and what its steps make for the next ones.
pub struct Lane {
    /// `py3.12`: in its steps' names, its files' names and its JUnit reports.
    pub name: String,
    pub interpreter: Interpreter,
    /// The lane venv's Python, once `venv (LANE)` made it.
    pub python: Output<Utf8PathBuf>,
    /// The lane's own server, once `server up (LANE)` started it.
    pub server: Output<Server>,
}

/// Lanes named by minor version, or by whole version where two share a minor one.
pub fn lanes(interpreters: Vec<Interpreter>) -> Vec<Lane> {
    let minors: Vec<String> = interpreters
        .iter()
        .map(|i| i.version.minor_name())
        .collect();
    interpreters
        .into_iter()
        .enumerate()
        .map(|(index, interpreter)| {
            let minor = &minors[index];
            let shared = minors.iter().filter(|m| *m == minor).count() > 1;
            let version = if shared {
                interpreter.version.to_string()
            } else {
                minor.clone()
            };
            Lane {
                name: format!("py{version}"),
                interpreter,
                python: Output::new("lane venv", "venv (LANE)"),
                server: Output::new("lane server", "server up (LANE)"),
            }
        })
        .collect()
}

/// The row name of `row` in lane `lane`: `pytest unit (py3.12)`. Leaked: a table's names
/// live as long as the run, and the table's rows take `&'static str`, as the const table's.
fn lane_row(row: &str, lane: &Lane) -> &'static str {
    Box::leak(format!("{row} ({})", lane.name).into_boxed_str())
}

/// `ci`'s table for these lanes: the shared rows of [`NODES`], the wheel's build and
/// checks with `--wheel`, then each lane's venv and stage rows.
pub fn table(lanes: &[Lane], wheel: bool) -> &'static [Node<Ci>] {
    let mut table: Vec<Node<Ci>> = Vec::new();
    // A shared row that needs a lane's row (the `coverage` report, which refuses lanes)
    // has no one row to wait for: it is left out.
    let shared = NODES.iter().filter(|node| {
        !PER_LANE.contains(&node.name) && !node.needs.iter().any(|need| PER_LANE.contains(need))
    });
    for node in shared {
        let mut row = Node {
            lane: None,
            ..*node
        };
        // The wheel check's test checks the wheel this run builds, instead of building one
        // of its own beside it.
        if wheel && row.name == "xtask venv tests" {
            row.needs = leak([row.needs, &["wheel"]].concat());
        }
        table.push(row);
        if wheel && node.name == "venv deps" {
            table.push(Node::new("wheel", &["venv deps"], |ci: &Ci, sh, step| {
                build_wheel(sh, step, ci.archive.packages()?, &ci.wheel, &ci.sdist)
            }));
            table.push(Node::new("sdist", &["wheel"], |ci: &Ci, sh, step| {
                if ci.archive.packages()?.is_some() {
                    // It builds a wheel: the archive's build checked it.
                    step.note("where the archive was made");
                    return Ok(());
                }
                check_sdist(sh, step, ci.sdist.made()?)
            }));
        }
    }
    let installed = if wheel { "wheel" } else { "bindings" };
    for (index, lane) in lanes.iter().enumerate() {
        let venv_row = lane_row("venv", lane);
        table.push(Node {
            lane: Some(index),
            ..Node::new(venv_row, leak(vec![installed]), |ci: &Ci, sh, step| {
                let lane = ci.lane(step).context("a lane's venv without a lane")?;
                // `--from` builds nothing: every lane tests the archive's wheel.
                let archived = ci.archive.packages()?.map(|(wheel, _)| wheel);
                let wheel = ci.wheel.get().filter(|_| ci.flags.wheel);
                lane_venv(sh, step, lane, wheel.or(archived.as_ref()))
            })
        });
        for node in NODES.iter().filter(|node| PER_LANE.contains(&node.name)) {
            let needs: Vec<&'static str> = node
                .needs
                .iter()
                .map(|need| match *need {
                    "bindings" => venv_row,
                    need if PER_LANE.contains(&need) => lane_row(need, lane),
                    need => need,
                })
                .collect();
            // The stage a stage comes after (`--no-fail-fast`'s order) is the lane's own.
            let after: Vec<&'static str> =
                node.after.iter().map(|row| lane_row(row, lane)).collect();
            table.push(Node {
                name: lane_row(node.name, lane),
                needs: leak(needs),
                after: leak(after),
                lane: Some(index),
                ..*node
            });
        }
    }
    Box::leak(table.into_boxed_slice())
}

fn leak(needs: Vec<&'static str>) -> &'static [&'static str] {
    Box::leak(needs.into_boxed_slice())
}

/// `wheel`: the release wheel, built (or the archive's) and checked as `cargo xtask wheel`
/// does.
fn build_wheel(
    sh: &StepContext,
    step: &mut Step,
    archived: Option<(Utf8PathBuf, Utf8PathBuf)>,
    wheel_out: &Output<Utf8PathBuf>,
    sdist_out: &Output<Utf8PathBuf>,
) -> Result<()> {
    // With `--from`, the archive's, checked as a built one is.
    let built = match archived {
        Some((wheel, sdist)) => wheel::Built { wheel, sdist },
        None => wheel::build(sh)?,
    };
    wheel::check(sh, &built.wheel)?;
    step.note(built.wheel.file_name().unwrap_or_default());
    sdist_out.set(built.sdist);
    wheel_out.set(built.wheel);
    Ok(())
}

/// `sdist`: the sdist builds a wheel of its own (skipped when this sdist did before).
fn check_sdist(sh: &StepContext, step: &mut Step, sdist: &Utf8Path) -> Result<()> {
    if !wheel::check_sdist(sh, sdist)? {
        step.note("built a wheel before");
    }
    Ok(())
}

/// `venv (LANE)`: the lane's own venv, with the dev build or the wheel.
fn lane_venv(
    sh: &StepContext,
    step: &mut Step,
    lane: &Lane,
    wheel: Option<&Utf8PathBuf>,
) -> Result<()> {
    let install = match wheel {
        Some(wheel) => venv::Install::Wheel(wheel),
        None => venv::Install::Editable,
    };
    let python = venv::ensure_lane(sh, &lane.interpreter, install)?;
    step.note(&format!(
        "{} {}",
        lane.interpreter.version, lane.interpreter.path
    ));
    lane.python.set(python);
    Ok(())
}

/// A rerun line of a lane's failed test, with the lane's `--python`.
pub fn rerun_in(line: &str, lane: &Lane) -> String {
    let python = lane.name.trim_start_matches("py");
    line.replacen(
        "cargo xtask pytest ",
        &format!("cargo xtask pytest --python {python} "),
        1,
    )
}

/// At most as many pytest stages at once as there are cores: more would only slow each
/// down, and tests with time budgets would pay for it.
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held slot; dropping it frees it.
pub struct Slot<'a>(&'a Slots);

impl Slots {
    pub fn for_cores() -> Slots {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Slots {
            free: Mutex::new(cores),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot; a stop or a signal ends the wait.
    pub fn take(&self, cx: &StepContext) -> Result<Slot<'_>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            cx.check()?;
            if *free > 0 {
                *free -= 1;
                return Ok(Slot(self));
            }
            // Timed, so that a stop is seen while every slot stays taken.
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::graph;

    fn lane_set(versions: &[&str]) -> Vec<Lane> {
        let interpreters = versions
            .iter()
            .map(|v| Interpreter {
                version: {
                    let n: Vec<u32> = v.split('.').map(|n| n.parse().unwrap()).collect();
                    crate::python::interpreters::Version {
                        major: n[0],
                        minor: n[1],
                        patch: n[2],
                    }
                },
                path: Utf8PathBuf::from(format!("/p/{v}/bin/python3")),
            })
            .collect();
        lanes(interpreters)
    }

    #[test]
    fn lanes_are_named_by_minor_version_unless_two_share_one() {
        let names = |versions: &[&str]| -> Vec<String> {
            lane_set(versions).into_iter().map(|l| l.name).collect()
        };
        assert_eq!(names(&["3.10.13", "3.13.0"]), ["py3.10", "py3.13"]);
        assert_eq!(
            names(&["3.12.1", "3.12.4", "3.13.0"]),
            ["py3.12.1", "py3.12.4", "py3.13"]
        );
    }

    #[test]
    fn each_lane_gets_every_stage_after_its_own_venv() {
        for wheel in [false, true] {
            let lanes = lane_set(&["3.10.13", "3.12.1"]);
            let table = table(&lanes, wheel);
            graph::check(table).unwrap();
            let names: Vec<&str> = table.iter().map(|n| n.name).collect();
            for stage in PER_LANE {
                assert!(!names.contains(stage), "{stage} stays shared: {names:?}");
                for lane in ["py3.10", "py3.12"] {
                    assert!(
                        names.contains(&format!("{stage} ({lane})").as_str()),
                        "{names:?}"
                    );
                }
            }
            let unit = table
                .iter()
                .find(|n| n.name == "pytest unit (py3.12)")
                .unwrap();
            assert_eq!(unit.needs, ["extract", "venv (py3.12)"]);
            assert_eq!(unit.lane, Some(1));
            let e2e = table.iter().find(|n| n.name == "pytest e2e (py3.10)");
            assert_eq!(e2e.unwrap().after, ["pytest integration (py3.10)"]);
            let venv = table.iter().find(|n| n.name == "venv (py3.10)").unwrap();
            assert_eq!(venv.needs, [if wheel { "wheel" } else { "bindings" }]);
            let down = table
                .iter()
                .find(|n| n.name == "server down (py3.10)")
                .unwrap();
            assert!(down.always);
            assert_eq!(down.needs, ["server up (py3.10)", "pytest e2e (py3.10)"]);
        }
    }
}
