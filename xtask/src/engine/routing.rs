//! Where a changed file goes, for `watch`: which of the bindings, their README tests and the
//! server must be rebuilt, and which tests run after. A pure function of the paths, so that
//! the table is tested as a table.

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};

use crate::base::paths;

/// What must be brought up to date before the tests run, in the order it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rebuild {
    /// The bindings (their Rust, the transport they wrap, their dependencies): as `venv` does.
    Bindings,
    /// The README's tests, extracted again.
    ReadmeTests,
    /// The server: built, then restarted on the same port with a fresh store.
    Server,
}

/// Which tests a change calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// None: the change touches no component (xtask itself, the notes, ...).
    Nothing,
    /// Those that talk to a server: only the server changed.
    NeedingAServer,
    /// The whole chosen suite.
    Suite,
}

/// What to do after a set of changes: rebuilds, then the changed test files on their own,
/// then the tests of `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub rebuild: BTreeSet<Rebuild>,
    /// Changed test files, relative to the bindings' folder, as pytest takes them.
    pub test_files: BTreeSet<Utf8PathBuf>,
    pub scope: Scope,
    /// The changed files that called for something, relative to the workspace root.
    pub changed: BTreeSet<Utf8PathBuf>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            rebuild: BTreeSet::new(),
            test_files: BTreeSet::new(),
            scope: Scope::Nothing,
            changed: BTreeSet::new(),
        }
    }
}

impl Plan {
    /// Nothing to rebuild and nothing to run.
    pub fn is_empty(&self) -> bool {
        self.rebuild.is_empty() && self.scope == Scope::Nothing
    }

    /// Both plans' work, each step once.
    pub fn merge(&mut self, other: Plan) {
        self.rebuild.extend(other.rebuild);
        self.test_files.extend(other.test_files);
        self.scope = self.scope.max(other.scope);
        self.changed.extend(other.changed);
    }

    /// "tests/test_a.py", "src/lib.rs and 3 more": what changed, for the `watch:` line.
    pub fn what_changed(&self) -> String {
        let mut names = self.changed.iter().map(|path| short_name(path));
        match (names.next(), self.changed.len()) {
            (None, _) => "no change".to_owned(),
            (Some(first), 1) => first,
            (Some(first), 2) => format!("{first} and {}", names.next().unwrap_or_default()),
            (Some(first), n) => format!("{first} and {} more", n - 1),
        }
    }
}

/// A path as short as it can be while still telling the components apart: relative to the
/// bindings' folder for the bindings' files.
fn short_name(path: &Utf8Path) -> String {
    match path.strip_prefix(paths::BINDINGS) {
        Ok(inside) => inside.to_string(),
        Err(_) => path.to_string(),
    }
}

const TRANSPORT: &str = "experiments/bindings/ws-transport";
const SERVER: &str = "experiments/simd-r-drive-ws-server";

/// The plan for `changed`, paths relative to the workspace root. Paths that belong to no
/// component call for nothing.
pub fn route(changed: &BTreeSet<Utf8PathBuf>) -> Plan {
    let mut plan = Plan::default();
    for path in changed {
        let one = route_one(path);
        if !one.is_empty() {
            plan.merge(one);
        }
    }
    plan
}

fn route_one(path: &Utf8Path) -> Plan {
    let (rebuild, scope, test_file): (&[Rebuild], Scope, Option<Utf8PathBuf>) =
        if let Ok(inside) = path.strip_prefix(paths::BINDINGS) {
            bindings_file(inside)
        } else if path.starts_with(TRANSPORT) {
            (&[Rebuild::Bindings], Scope::Suite, None)
        } else if path.starts_with(SERVER) {
            (&[Rebuild::Server], Scope::NeedingAServer, None)
        } else if path == "Cargo.toml" || path == "Cargo.lock" {
            // The workspace's manifest and lock: the transport's and the server's.
            (&[Rebuild::Bindings, Rebuild::Server], Scope::Suite, None)
        } else {
            (&[], Scope::Nothing, None)
        };
    let mut plan = Plan {
        rebuild: rebuild.iter().copied().collect(),
        test_files: test_file.into_iter().collect(),
        scope,
        changed: BTreeSet::new(),
    };
    if !plan.is_empty() {
        plan.changed.insert(path.to_owned());
    }
    plan
}

/// A file of the bindings' folder, given relative to it.
fn bindings_file(inside: &Utf8Path) -> (&'static [Rebuild], Scope, Option<Utf8PathBuf>) {
    let is_python = inside.extension() == Some("py");
    let name = inside.file_name().unwrap_or_default();
    if inside == "README.md" {
        (&[Rebuild::ReadmeTests], Scope::Suite, None)
    } else if inside.starts_with("tests") && is_python && name.starts_with("test_") {
        (&[], Scope::Suite, Some(inside.to_owned()))
    } else if (inside.starts_with("tests") || inside.starts_with("python"))
        && inside.extension().is_some()
    {
        // conftest.py, helpers, data, the package and its stubs: every test may use them.
        // A name without an extension is a tool's temp file (sed's `sedXXXXXX`), not a source.
        (&[], Scope::Suite, None)
    } else if inside.starts_with("src")
        || ["Cargo.toml", "Cargo.lock", "pyproject.toml", "uv.lock"].contains(&inside.as_str())
    {
        (&[Rebuild::Bindings], Scope::Suite, None)
    } else {
        (&[], Scope::Nothing, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(paths: &[&str]) -> Plan {
        route(&paths.iter().map(Utf8PathBuf::from).collect())
    }

    fn steps(rebuild: &[Rebuild]) -> BTreeSet<Rebuild> {
        rebuild.iter().copied().collect()
    }

    #[test]
    fn each_change_goes_where_it_belongs() {
        use Rebuild::*;
        let b = |path: &str| format!("{}/{path}", paths::BINDINGS);
        let cases: Vec<(String, &[Rebuild], Scope, Option<&str>)> = vec![
            (
                b("tests/test_errors.py"),
                &[],
                Scope::Suite,
                Some("tests/test_errors.py"),
            ),
            (b("tests/conftest.py"), &[], Scope::Suite, None),
            (b("tests/data/sample.bin"), &[], Scope::Suite, None),
            (
                b("python/simd_r_drive_ws_client/__init__.py"),
                &[],
                Scope::Suite,
                None,
            ),
            (
                b("python/simd_r_drive_ws_client/__init__.pyi"),
                &[],
                Scope::Suite,
                None,
            ),
            (b("README.md"), &[ReadmeTests], Scope::Suite, None),
            (b("src/lib.rs"), &[Bindings], Scope::Suite, None),
            (b("Cargo.toml"), &[Bindings], Scope::Suite, None),
            (b("pyproject.toml"), &[Bindings], Scope::Suite, None),
            (
                "experiments/bindings/ws-transport/src/lib.rs".into(),
                &[Bindings],
                Scope::Suite,
                None,
            ),
            (
                "experiments/simd-r-drive-ws-server/src/main.rs".into(),
                &[Server],
                Scope::NeedingAServer,
                None,
            ),
            ("Cargo.lock".into(), &[Bindings, Server], Scope::Suite, None),
            ("xtask/src/main.rs".into(), &[], Scope::Nothing, None),
            ("README.md".into(), &[], Scope::Nothing, None),
            (b("notes.txt"), &[], Scope::Nothing, None),
            (b("tests/sedjHbdG6"), &[], Scope::Nothing, None),
        ];
        for (path, rebuild, scope, test_file) in cases {
            let got = plan(&[&path]);
            assert_eq!(got.rebuild, steps(rebuild), "{path}");
            assert_eq!(got.scope, scope, "{path}");
            let files: Vec<&str> = got.test_files.iter().map(|f| f.as_str()).collect();
            assert_eq!(files, test_file.into_iter().collect::<Vec<_>>(), "{path}");
            assert_eq!(got.changed.is_empty(), scope == Scope::Nothing, "{path}");
        }
    }

    #[test]
    fn several_components_do_each_step_once_in_order() {
        let b = |path: &str| format!("{}/{path}", paths::BINDINGS);
        let got = plan(&[
            "experiments/simd-r-drive-ws-server/src/main.rs",
            &b("README.md"),
            &b("src/lib.rs"),
            "experiments/bindings/ws-transport/src/lib.rs",
            &b("tests/test_a.py"),
            &b("tests/test_b.py"),
            "xtask/src/main.rs",
        ]);
        let order: Vec<Rebuild> = got.rebuild.iter().copied().collect();
        assert_eq!(
            order,
            [Rebuild::Bindings, Rebuild::ReadmeTests, Rebuild::Server]
        );
        assert_eq!(got.scope, Scope::Suite, "the widest scope wins");
        assert_eq!(got.test_files.len(), 2);
        assert_eq!(got.changed.len(), 6, "xtask's own file is not named");
    }

    #[test]
    fn only_a_server_change_narrows_the_tests() {
        let mut got = plan(&["experiments/simd-r-drive-ws-server/src/store.rs"]);
        assert_eq!(got.scope, Scope::NeedingAServer);
        got.merge(plan(&[&format!("{}/tests/conftest.py", paths::BINDINGS)]));
        assert_eq!(got.scope, Scope::Suite);
    }

    #[test]
    fn what_changed_is_short() {
        let b = |path: &str| format!("{}/{path}", paths::BINDINGS);
        assert_eq!(
            plan(&[&b("tests/test_a.py")]).what_changed(),
            "tests/test_a.py"
        );
        assert_eq!(
            plan(&[&b("src/lib.rs"), "Cargo.lock"]).what_changed(),
            "Cargo.lock and src/lib.rs"
        );
        assert_eq!(
            plan(&[&b("src/a.rs"), &b("src/b.rs"), &b("src/c.rs")]).what_changed(),
            "src/a.rs and 2 more"
        );
        assert!(plan(&["xtask/src/main.rs"]).is_empty());
    }
}
