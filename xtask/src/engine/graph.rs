//! A run as a graph of steps: each [`Node`] names the nodes it needs, and starts, on a
//! thread of its own, as soon as they have all passed; independent nodes run side by side.
//! The first failure or signal stops the run: every running node is stopped (its waits
//! return [`Cancelled`](signals::Cancelled) or [`Interrupted`], its children are stopped and
//! reaped as it unwinds), no other node starts, and then the `always` nodes (cleanup) run.
//! Without fail-fast ([`FailFast::No`]), a failure stops nothing: every node whose needs
//! passed still runs, and a node that only comes `after` another runs once that one has
//! ended. How each node
//! shows itself is the [`Runner`]'s business; failure detection is here, once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use anyhow::{Result, anyhow, bail};

use crate::base::context::{Seed, StepContext};
use crate::base::signals::{self, CancelToken, Interrupted};
use crate::engine::steps::{self, Runner, State, Step};

/// One row of the table.
pub struct Node<C> {
    pub name: &'static str,
    /// The nodes that must pass before this one starts (it uses what they make); each
    /// comes earlier in the table.
    pub needs: &'static [&'static str],
    /// The nodes that come first only so that a failure shows sooner (the pytest stages'
    /// order): under fail-fast they must pass too; without, they must only have ended.
    pub after: &'static [&'static str],
    /// Cleanup: starts once its needs have ended, passed or not, after a failure or a
    /// signal too.
    pub always: bool,
    /// The Python lane of a row that runs once per lane, handed to its body as `step.lane`.
    pub lane: Option<usize>,
    /// What the node does, handed its step's context (a shell of its own in the run's
    /// folder, the step's log, its cancel token) and the step's face.
    pub body: fn(&C, &StepContext, &mut Step) -> Result<()>,
}

impl<C> Node<C> {
    pub const fn new(
        name: &'static str,
        needs: &'static [&'static str],
        body: fn(&C, &StepContext, &mut Step) -> Result<()>,
    ) -> Node<C> {
        Node {
            name,
            needs,
            after: &[],
            always: false,
            lane: None,
            body,
        }
    }

    /// This node, coming after `after` (see [`Node::after`]).
    pub const fn after(self, after: &'static [&'static str]) -> Node<C> {
        Node { after, ..self }
    }

    pub const fn always(
        name: &'static str,
        needs: &'static [&'static str],
        body: fn(&C, &StepContext, &mut Step) -> Result<()>,
    ) -> Node<C> {
        Node {
            always: true,
            ..Node::new(name, needs, body)
        }
    }
}

/// Checks that names are unique and that every need names an earlier node, so that the
/// table reads in an order that can run.
pub fn check<C>(nodes: &[Node<C>]) -> Result<()> {
    for (index, node) in nodes.iter().enumerate() {
        if nodes[..index].iter().any(|other| other.name == node.name) {
            bail!("two nodes are called `{}`", node.name);
        }
        for need in node.needs.iter().chain(node.after) {
            if !nodes[..index].iter().any(|other| other.name == *need) {
                bail!(
                    "`{}` needs `{need}`, which is not an earlier node",
                    node.name
                );
            }
        }
    }
    Ok(())
}

/// The nodes to run for `only`: each named node and what it needs, with the `always` nodes
/// that need any of them (the cleanup of what they start). Names match with `-` for spaces.
pub fn select<C>(nodes: &[Node<C>], only: &[String]) -> Result<Vec<bool>> {
    if only.is_empty() {
        return Ok(vec![true; nodes.len()]);
    }
    let mut selected = vec![false; nodes.len()];
    for name in only {
        let index = position(nodes, name).ok_or_else(|| {
            let names: Vec<String> = nodes.iter().map(|n| steps::slug(n.name)).collect();
            anyhow!("no step `{name}`: use one of {}", names.join(", "))
        })?;
        selected[index] = true;
    }
    // Needs come earlier in the table: one pass from the end reaches them all. What a node
    // comes after is selected too, as it always ran before it.
    for index in (0..nodes.len()).rev() {
        if selected[index] {
            for need in nodes[index].needs.iter().chain(nodes[index].after) {
                selected[position(nodes, need).expect("checked")] = true;
            }
        }
    }
    for (index, node) in nodes.iter().enumerate() {
        let cleans_up = node
            .needs
            .iter()
            .any(|need| selected[position(nodes, need).expect("checked")]);
        if node.always && cleans_up {
            selected[index] = true;
        }
    }
    Ok(selected)
}

/// The table as `--list` shows it: each node, what it needs, and which nodes are cleanup.
pub fn list<C>(nodes: &[Node<C>]) -> String {
    list_selected(nodes, &vec![true; nodes.len()])
}

/// The `selected` nodes as `--list` shows them, in the table's order, which is an order
/// they can run in (`--only X --list`: a dry run).
pub fn list_selected<C>(nodes: &[Node<C>], selected: &[bool]) -> String {
    let chosen = nodes.iter().zip(selected).filter(|(_, chosen)| **chosen);
    let width = steps::name_width(chosen.clone().map(|(node, _)| node.name));
    let lines = chosen.map(|(node, _)| {
        let needs: Vec<&str> = node.needs.iter().chain(node.after).copied().collect();
        let needs = match needs.as_slice() {
            [] => "needs nothing: starts at once".to_owned(),
            needs => format!("after {}", needs.join(", ")),
        };
        let always = if node.always {
            " (always: runs after a failure too)"
        } else {
            ""
        };
        format!("{:<width$} {needs}{always}", node.name)
    });
    lines.collect::<Vec<_>>().join("\n")
}

fn position<C>(nodes: &[Node<C>], name: &str) -> Option<usize> {
    nodes
        .iter()
        .position(|node| node.name == name || steps::slug(node.name) == name)
}

/// Whether the first failure stops the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailFast {
    /// It does: running nodes are stopped and no other starts but the cleanup.
    Yes,
    /// It does not: every node whose needs passed still runs (`ci --no-fail-fast`).
    No,
}

/// What wakes the scheduler.
enum Wake {
    /// A node ended: its index, its step, its result (boxed: a step is large).
    Ended(Box<(usize, Step, Result<()>)>),
    Signal,
}

/// Where a node is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    Running,
    Ended(State),
}

/// Runs the selected nodes; returns the first failure's error (a signal's, if a signal came).
/// Every selected node ends in the runner's outcomes, those that never started as not run.
pub fn run<C: Sync>(
    nodes: &[Node<C>],
    selected: &[bool],
    fail_fast: FailFast,
    context: &C,
    sh: &StepContext,
    runner: &mut Runner,
) -> Result<()> {
    check(nodes)?;
    let seed = sh.seed();
    let mut schedule = Schedule::new(nodes.len(), fail_fast);
    // One channel wakes the scheduler: a node's end, or a signal.
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>();
    let _listening = signals::on_wake({
        let wake = wake_tx.clone();
        move || {
            let _ = wake.send(Wake::Signal);
        }
    });
    std::thread::scope(|scope| {
        loop {
            let stopping = schedule.stopping();
            for index in ready(nodes, selected, &schedule.slots, stopping, fail_fast) {
                let token = schedule.start(index);
                let mut step = runner.begin(index + 1, nodes[index].name);
                step.lane = nodes[index].lane;
                let start = Start {
                    index,
                    body: nodes[index].body,
                    token,
                    done: wake_tx.clone(),
                };
                start.spawn(scope, step, context, &seed);
            }
            if schedule.running.is_empty() {
                break;
            }
            let Ok(Wake::Ended(ended)) = wake_rx.recv() else {
                // A signal: the loop looks again at what may start (cleanup only).
                continue;
            };
            schedule.ended(runner, *ended);
        }
    });
    schedule.not_run(nodes, selected, runner);
    schedule.result()
}

/// A node about to start on a thread of its own: what it runs, the token that stops it,
/// and where it tells its end.
struct Start<C> {
    index: usize,
    body: fn(&C, &StepContext, &mut Step) -> Result<()>,
    token: CancelToken,
    done: mpsc::Sender<Wake>,
}

impl<C: Sync> Start<C> {
    /// Runs the node's body on a thread of `scope`; a panic is the step's failure, not the
    /// run's end, so that the scheduler still stops the others and runs the cleanup.
    fn spawn<'scope, 'env>(
        self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        mut step: Step,
        context: &'env C,
        seed: &'env Seed,
    ) {
        let Start {
            index,
            body,
            token,
            done,
        } = self;
        scope.spawn(move || {
            let result = step.run(seed, token, |cx, step| {
                catch_unwind(AssertUnwindSafe(|| body(context, cx, step)))
                    .unwrap_or_else(|_| Err(anyhow!("the step panicked")))
            });
            let _ = done.send(Wake::Ended(Box::new((index, step, result))));
        });
    }
}

/// Where the run is: each node's slot, the running nodes' tokens, and what stops the run.
struct Schedule {
    fail_fast: FailFast,
    slots: Vec<Slot>,
    running: Vec<(usize, CancelToken)>,
    first_error: Option<anyhow::Error>,
    interrupted: Option<anyhow::Error>,
}

impl Schedule {
    fn new(nodes: usize, fail_fast: FailFast) -> Schedule {
        Schedule {
            fail_fast,
            slots: vec![Slot::Waiting; nodes],
            running: Vec::new(),
            first_error: None,
            interrupted: None,
        }
    }

    /// Marks node `index` running; returns the token that stops it.
    fn start(&mut self, index: usize) -> CancelToken {
        let token = CancelToken::default();
        self.running.push((index, token.clone()));
        self.slots[index] = Slot::Running;
        token
    }

    /// Every selected node that never started, as not run in the runner's outcomes, so
    /// that the summary and the reports name it.
    fn not_run<C>(&self, nodes: &[Node<C>], selected: &[bool], runner: &mut Runner) {
        for (index, node) in nodes.iter().enumerate() {
            if selected[index] && self.slots[index] == Slot::Waiting {
                runner.not_run(index + 1, node.name);
            }
        }
    }

    /// Whether the run stops (only cleanup starts): after a failure under fail-fast, an
    /// interruption that a node saw, or a signal.
    fn stopping(&self) -> bool {
        let failed = self.first_error.is_some() && self.fail_fast == FailFast::Yes;
        failed || self.interrupted.is_some() || signals::received().is_some()
    }

    /// Takes a node's end: its outcome to the runner, and, for the first failure (unless
    /// fail-fast is off) or an interruption, every running node cancelled.
    fn ended(&mut self, runner: &mut Runner, (index, step, result): (usize, Step, Result<()>)) {
        self.running.retain(|(i, _)| *i != index);
        let state = steps::state_of(&result);
        self.slots[index] = Slot::Ended(state);
        runner.finish(step, &result, state);
        let Err(error) = result else { return };
        // The first failure stops the run (unless fail-fast is off); so does an
        // interruption that a node saw first (its wait returned it before the scheduler
        // was woken).
        let interrupts = error.chain().any(|e| e.is::<Interrupted>());
        let fails = state == State::Failed && self.fail_fast == FailFast::Yes;
        if fails || interrupts {
            for (_, token) in &self.running {
                token.cancel();
            }
        }
        match state {
            State::Failed if self.first_error.is_none() => self.first_error = Some(error),
            _ if interrupts && self.interrupted.is_none() => self.interrupted = Some(error),
            _ => {}
        }
    }

    /// The run's result: a signal's, else the first failure's, else an interruption's.
    fn result(self) -> Result<()> {
        match (signals::received(), self.first_error, self.interrupted) {
            (Some(signal), ..) => Err(signal.into()),
            (None, Some(error), _) | (None, None, Some(error)) => Err(error),
            (None, None, None) => Ok(()),
        }
    }
}

/// The nodes that can start now: selected, waiting, and with every need passed; or, for an
/// `always` node, with every need ended, however it ended. While the run stops, only
/// `always` nodes start, and a need that never started counts as ended. A node waits for
/// what it comes `after` to pass, or without fail-fast only to end.
fn ready<C>(
    nodes: &[Node<C>],
    selected: &[bool],
    slots: &[Slot],
    stopping: bool,
    fail_fast: FailFast,
) -> Vec<usize> {
    let slot_of = |name: &str| {
        let index = position(nodes, name).expect("checked");
        (selected[index], slots[index])
    };
    let passed = |name: &&str| slot_of(name).1 == Slot::Ended(State::Passed);
    let ended = |name: &&str| match slot_of(name) {
        (false, _) | (_, Slot::Ended(_)) => true,
        (true, Slot::Waiting) => stopping,
        (true, Slot::Running) => false,
    };
    (0..nodes.len())
        .filter(|&index| selected[index] && slots[index] == Slot::Waiting)
        .filter(|&index| {
            let node = &nodes[index];
            if node.always {
                // Cleanup waits for its needs and for every step that uses what they made
                // (server down for the stages that test against the server), also those
                // it does not name: `--only` may leave out the one it names.
                let users = users_of(nodes, index).map(|user| nodes[user].name);
                node.needs.iter().all(ended) && users.collect::<Vec<_>>().iter().all(ended)
            } else {
                let before = |name: &&str| match fail_fast {
                    FailFast::Yes => passed(name),
                    FailFast::No => ended(name),
                };
                !stopping && node.needs.iter().all(passed) && node.after.iter().all(before)
            }
        })
        .collect()
}

/// The steps that need, directly or not, a need of the `always` step at `cleanup`, but not
/// the cleanup itself: a step after the cleanup (a report of what the server did, say)
/// cannot be waited for by it.
fn users_of<C>(nodes: &[Node<C>], cleanup: usize) -> impl Iterator<Item = usize> + '_ {
    let made_by: Vec<usize> = nodes[cleanup]
        .needs
        .iter()
        .map(|need| position(nodes, need).expect("checked"))
        .collect();
    (0..nodes.len()).filter(move |&index| {
        !nodes[index].always
            && !needs(nodes, index, cleanup)
            && made_by.iter().any(|&need| needs(nodes, index, need))
    })
}

/// Whether the step at `index` needs the one at `need`, directly or through others.
fn needs<C>(nodes: &[Node<C>], index: usize, need: usize) -> bool {
    nodes[index].needs.iter().any(|name| {
        let direct = position(nodes, name).expect("checked");
        direct == need || needs(nodes, direct, need)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::steps::Mode;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// What the nodes of a test share: the order things happened in.
    #[derive(Default)]
    struct Log {
        events: Mutex<Vec<String>>,
        started: AtomicUsize,
    }

    impl Log {
        fn push(&self, event: &str) {
            self.events.lock().unwrap().push(event.to_owned());
        }
        fn events(&self) -> Vec<String> {
            self.events.lock().unwrap().clone()
        }
    }

    fn shell() -> StepContext {
        StepContext::terminal(xshell::Shell::new().unwrap())
    }

    fn runner() -> (tempfile::TempDir, Runner) {
        let dir = tempfile::tempdir().unwrap();
        let logs = camino::Utf8PathBuf::try_from(dir.path().to_owned()).unwrap();
        let runner = Runner::new(Mode::Plain, logs, 8).unwrap();
        (dir, runner)
    }

    fn states(runner: &Runner) -> Vec<(String, State)> {
        let outcomes = runner.in_order();
        outcomes.iter().map(|o| (o.name.clone(), o.state)).collect()
    }

    /// Waits until `n` nodes have started, or fails after 10 s; a stop ends the wait.
    fn wait_for_started(log: &Log, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.started.load(Ordering::SeqCst) < n {
            if Instant::now() > deadline {
                bail!("the other node never started");
            }
            signals::sleep(&Default::default(), Duration::from_millis(5))?;
        }
        Ok(())
    }

    #[test]
    fn a_node_starts_after_its_needs_and_independent_nodes_overlap() {
        const NODES: &[Node<Log>] = &[
            Node::new("a", &[], |log, _, _| {
                log.started.fetch_add(1, Ordering::SeqCst);
                // Passes only if `b` runs at the same time.
                wait_for_started(log, 2)?;
                log.push("a");
                Ok(())
            }),
            Node::new("b", &[], |log, _, _| {
                log.started.fetch_add(1, Ordering::SeqCst);
                wait_for_started(log, 2)?;
                log.push("b");
                Ok(())
            }),
            Node::new("c", &["a", "b"], |log, _, _| {
                log.push("c");
                Ok(())
            }),
        ];
        let (_dir, mut runner) = runner();
        let log = Log::default();
        run(
            NODES,
            &[true; 3],
            FailFast::Yes,
            &log,
            &shell(),
            &mut runner,
        )
        .unwrap();
        let events = log.events();
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[2], "c", "c ran before what it needs: {events:?}");
        assert!(states(&runner).iter().all(|(_, s)| *s == State::Passed));
    }

    const FAILING: &[Node<Log>] = &[
        Node::new("long", &[], |log, cx, _| {
            log.push("long started");
            // Runs until stopped: a stop ends this wait with `Cancelled`.
            cx.sleep(Duration::from_secs(60))?;
            log.push("long finished");
            Ok(())
        }),
        Node::new("broken", &[], |_, _, _| bail!("it broke")),
        Node::new("after broken", &["broken"], |log, _, _| {
            log.push("after broken");
            Ok(())
        }),
        Node::always("cleanup", &["long", "after broken"], |log, _, _| {
            log.push("cleanup");
            Ok(())
        }),
    ];

    #[test]
    fn the_first_failure_stops_running_nodes_skips_dependants_and_runs_cleanup() {
        let (_dir, mut runner) = runner();
        let log = Log::default();
        let started = Instant::now();
        let error = run(
            FAILING,
            &[true; 4],
            FailFast::Yes,
            &log,
            &shell(),
            &mut runner,
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "it broke");
        assert!(started.elapsed() < Duration::from_secs(30), "not stopped");
        assert_eq!(
            states(&runner),
            [
                ("long".to_owned(), State::Stopped),
                ("broken".to_owned(), State::Failed),
                ("after broken".to_owned(), State::NotRun),
                ("cleanup".to_owned(), State::Passed),
            ]
        );
        assert_eq!(log.events().last().unwrap(), "cleanup");
        assert!(!log.events().contains(&"long finished".to_owned()));
        assert_eq!(
            runner.totals().failed,
            1,
            "a failed step counts as a failure"
        );
    }

    #[test]
    fn without_fail_fast_a_failure_stops_nothing_and_what_comes_after_it_runs() {
        const NODES: &[Node<Log>] = &[
            Node::new("broken", &[], |log, _, _| {
                log.push("broken");
                bail!("it broke")
            }),
            Node::new("slow", &[], |log, cx, _| {
                // Still running when `broken` has failed: stopped under fail-fast alone.
                while !log.events().contains(&"broken".to_owned()) {
                    cx.sleep(Duration::from_millis(5))?;
                }
                cx.sleep(Duration::from_millis(600))?;
                log.push("slow");
                Ok(())
            }),
            Node::new("needs broken", &["broken"], |log, _, _| {
                log.push("needs broken");
                Ok(())
            }),
            Node::new("after broken", &["slow"], |log: &Log, _, _| {
                log.push("after broken");
                Ok(())
            })
            .after(&["broken"]),
        ];
        let (_dir, mut runner) = runner();
        let log = Log::default();
        let error = run(NODES, &[true; 4], FailFast::No, &log, &shell(), &mut runner).unwrap_err();
        assert_eq!(error.to_string(), "it broke");
        assert_eq!(log.events(), ["broken", "slow", "after broken"]);
        let states: Vec<State> = states(&runner).into_iter().map(|(_, s)| s).collect();
        use State::*;
        assert_eq!(states, [Failed, Passed, NotRun, Passed]);
        // Fail-fast, the same table stops `slow` and runs nothing after `broken`.
        let (_other_dir, mut runner) = super::tests::runner();
        let log = Log::default();
        run(
            NODES,
            &[true; 4],
            FailFast::Yes,
            &log,
            &shell(),
            &mut runner,
        )
        .unwrap_err();
        assert_eq!(log.events(), ["broken"]);
    }

    #[test]
    fn cleanup_runs_after_an_interruption_too() {
        const NODES: &[Node<Log>] = &[
            Node::new("start", &[], |log, _, _| {
                log.push("start");
                Ok(())
            }),
            // What a node's wait returns when a signal comes.
            Node::new("interrupted", &["start"], |_, _, _| {
                Err(Interrupted(libc::SIGINT).into())
            }),
            Node::new("later", &["interrupted"], |log, _, _| {
                log.push("later");
                Ok(())
            }),
            Node::always("cleanup", &["start", "later"], |log, _, _| {
                log.push("cleanup");
                Ok(())
            }),
        ];
        let (_dir, mut runner) = runner();
        let log = Log::default();
        let error = run(
            NODES,
            &[true; 4],
            FailFast::Yes,
            &log,
            &shell(),
            &mut runner,
        )
        .unwrap_err();
        assert!(error.downcast_ref::<Interrupted>().is_some(), "{error:#}");
        assert_eq!(log.events(), ["start", "cleanup"]);
        // An interruption is no failure: the node was stopped, and nothing failed.
        assert_eq!(states(&runner)[1].1, State::Stopped);
        assert_eq!(states(&runner)[2].1, State::NotRun);
        assert_eq!(runner.totals().failed, 0);
    }

    /// `--only user`: the cleanup does not name `user`, yet must not stop what `user` uses
    /// while it runs (server down for `--only pytest-integration`).
    #[test]
    fn cleanup_waits_for_every_step_that_uses_what_it_cleans_up() {
        const NODES: &[Node<Log>] = &[
            Node::new("server up", &[], |log, _, _| {
                log.push("server up");
                Ok(())
            }),
            Node::new("user", &["server up"], |log, _, _| {
                // Long enough for a cleanup that does not wait to show up.
                let cleaned = |log: &Log| log.events().contains(&"server down".to_owned());
                let early = (0..30).any(|_| {
                    std::thread::sleep(Duration::from_millis(10));
                    cleaned(log)
                });
                if early {
                    bail!("the server went down while its user ran");
                }
                log.push("user");
                Ok(())
            }),
            Node::new("last user", &["user"], |_, _, _| Ok(())),
            Node::always("server down", &["server up", "last user"], |log, _, _| {
                log.push("server down");
                Ok(())
            }),
        ];
        let (_dir, mut runner) = runner();
        let log = Log::default();
        let selected = select(NODES, &["user".to_owned()]).unwrap();
        assert_eq!(selected, [true, true, false, true]);
        run(NODES, &selected, FailFast::Yes, &log, &shell(), &mut runner).unwrap();
        assert_eq!(log.events(), ["server up", "user", "server down"]);
    }

    /// A step after the cleanup that also uses what it cleaned up (the coverage report,
    /// which reads the server's profile) once waited for the cleanup while the cleanup
    /// waited for it: neither ran, and the run passed.
    #[test]
    fn a_step_after_the_cleanup_runs_after_it() {
        const NODES: &[Node<Log>] = &[
            Node::new("server up", &[], |log, _, _| {
                log.push("server up");
                Ok(())
            }),
            Node::new("user", &["server up"], |log, _, _| {
                log.push("user");
                Ok(())
            }),
            Node::always("server down", &["server up", "user"], |log, _, _| {
                log.push("server down");
                Ok(())
            }),
            Node::new("report", &["user", "server down"], |log, _, _| {
                log.push("report");
                Ok(())
            }),
        ];
        let (_dir, mut runner) = runner();
        let log = Log::default();
        run(
            NODES,
            &[true; 4],
            FailFast::Yes,
            &log,
            &shell(),
            &mut runner,
        )
        .unwrap();
        assert_eq!(log.events(), ["server up", "user", "server down", "report"]);
    }

    #[test]
    fn only_selects_a_node_what_it_needs_and_its_cleanup() {
        let only = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            select(FAILING, &names)
        };
        assert_eq!(only(&[]).unwrap(), [true; 4]);
        assert_eq!(only(&["after-broken"]).unwrap(), [false, true, true, true]);
        assert_eq!(only(&["broken"]).unwrap(), [false, true, false, false]);
        let error = only(&["nope"]).unwrap_err().to_string();
        assert!(
            error.contains("no step `nope`: use one of long, broken"),
            "{error}"
        );
    }

    #[test]
    fn only_and_list_show_what_would_run_in_order() {
        let selected = select(FAILING, &["after-broken".to_owned()]).unwrap();
        let listed = list_selected(FAILING, &selected);
        let names: Vec<&str> = listed
            .lines()
            .map(|l| l.split("  ").next().unwrap())
            .collect();
        let all = list(FAILING);
        assert_eq!(names, ["broken", "after broken", "cleanup"], "{listed}");
        assert!(
            all.contains(&listed),
            "the order is the table's:\n{all}\n{listed}"
        );
    }

    #[test]
    fn a_table_out_of_order_is_refused() {
        let nodes: &[Node<Log>] = &[
            Node::new("b", &["a"], |_, _, _| Ok(())),
            Node::new("a", &[], |_, _, _| Ok(())),
        ];
        let error = check(nodes).unwrap_err().to_string();
        assert_eq!(error, "`b` needs `a`, which is not an earlier node");
    }
}
