//! The CPython interpreters of this machine, found and never downloaded: on PATH
//! (`python3.X`), as uv lists them (downloads off), in pyenv's versions folder (`pyenv
//! root`, else `~/.pyenv`), and in mise's and asdf's install folders. Each candidate is run
//! once to learn what it is: a pyenv shim of a version that is not selected refuses to run,
//! and is dropped.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{Context, Result, bail, ensure};
use camino::{Utf8Path, Utf8PathBuf};
use regex::Regex;
use xshell::{Shell, cmd};

use crate::base::context::StepContext;
use crate::base::process::{Job, Sink};
use crate::base::{paths, tools};
use crate::errln;

/// A CPython version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// `3.12`: what a lane is named after.
    pub fn minor_name(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One interpreter found and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub version: Version,
    /// The real executable (`sys.executable`), not the shim or link that led to it.
    pub path: Utf8PathBuf,
}

/// What `--python` asks for, item by item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `3.12` (any patch) or `3.12.1` (that one).
    Version {
        minor: (u32, u32),
        patch: Option<u32>,
    },
    /// An interpreter named by its path.
    Path(Utf8PathBuf),
    /// Every minor version from the package's `requires-python` to the newest found.
    All,
}

/// Reads `--python`: `all`, or a comma-separated list of versions and paths.
pub fn parse(text: &str) -> Result<Vec<Request>> {
    let version = Regex::new(r"^(\d+)\.(\d+)(?:\.(\d+))?$").unwrap();
    let mut requests = Vec::new();
    for item in text.split(',').map(str::trim) {
        let request = if item == "all" {
            Request::All
        } else if let Some(captures) = version.captures(item) {
            let number = |i: usize| captures.get(i).map(|m| m.as_str().parse::<u32>());
            Request::Version {
                minor: (number(1).unwrap()?, number(2).unwrap()?),
                patch: number(3).transpose()?,
            }
        } else if item.contains('/') || item.starts_with("python") {
            Request::Path(Utf8PathBuf::from(item))
        } else {
            bail!(
                "--python {text}: `{item}` is neither a version (3.12), a path \
                 (/usr/bin/python3.12) nor `all`"
            );
        };
        requests.push(request);
    }
    ensure!(
        !(requests.contains(&Request::All) && requests.len() > 1),
        "--python {text}: `all` stands alone"
    );
    Ok(requests)
}

/// The lowest `3.X` of `requires-python = ">=3.X"` in a pyproject.toml.
pub fn required_minimum(pyproject: &str) -> Result<(u32, u32)> {
    let pattern = Regex::new(r#"(?m)^requires-python\s*=\s*">=\s*(\d+)\.(\d+)"#).unwrap();
    let captures = pattern
        .captures(pyproject)
        .context("no `requires-python = \">=3.X\"` in the bindings' pyproject.toml")?;
    Ok((captures[1].parse()?, captures[2].parse()?))
}

/// What `--python` resolved to: the interpreters to test on, and the versions the package
/// claims (with `all`) that this machine lacks.
#[derive(Debug, PartialEq, Eq)]
pub struct Chosen {
    pub interpreters: Vec<Interpreter>,
    pub missing: Vec<(u32, u32)>,
}

/// Picks an interpreter for each request among `found` (paths are run by `probe`), the
/// newest patch of a minor version first.
pub fn choose(
    requests: &[Request],
    found: &[Interpreter],
    minimum: (u32, u32),
    probe: impl Fn(&Utf8Path) -> Option<Interpreter>,
) -> Result<Chosen> {
    let mut chosen = Chosen {
        interpreters: Vec::new(),
        missing: Vec::new(),
    };
    let newest_of = |minor: (u32, u32), patch: Option<u32>| {
        found
            .iter()
            .filter(|i| (i.version.major, i.version.minor) == minor)
            .filter(|i| patch.is_none_or(|p| i.version.patch == p))
            .max_by_key(|i| i.version)
            .cloned()
    };
    for request in requests {
        match request {
            Request::Version { minor, patch } => {
                let interpreter = newest_of(*minor, *patch).with_context(|| {
                    let wanted = match patch {
                        Some(p) => format!("{}.{}.{p}", minor.0, minor.1),
                        None => format!("{}.{}", minor.0, minor.1),
                    };
                    not_found(&wanted, found)
                })?;
                chosen.interpreters.push(interpreter);
            }
            Request::Path(path) => {
                let interpreter = probe(path).with_context(|| {
                    format!("--python {path}: not a CPython interpreter that runs here")
                })?;
                chosen.interpreters.push(interpreter);
            }
            Request::All => {
                let newest = found
                    .iter()
                    .map(|i| (i.version.major, i.version.minor))
                    .max();
                let Some(newest) = newest.filter(|&newest| newest >= minimum) else {
                    bail!(not_found(
                        &format!("all ({}.{} or newer)", minimum.0, minimum.1),
                        found
                    ));
                };
                for minor in minimum.1..=newest.1 {
                    match newest_of((minimum.0, minor), None) {
                        Some(interpreter) => chosen.interpreters.push(interpreter),
                        None => chosen.missing.push((minimum.0, minor)),
                    }
                }
            }
        }
    }
    if let Some(old) = chosen
        .interpreters
        .iter()
        .find(|i| (i.version.major, i.version.minor) < minimum)
    {
        bail!(
            "--python: {} is CPython {}, which the package does not claim \
             (requires-python >={}.{}): name {}.{} or newer",
            old.path,
            old.version,
            minimum.0,
            minimum.1,
            minimum.0,
            minimum.1
        );
    }
    let mut seen = BTreeSet::new();
    chosen.interpreters.retain(|i| seen.insert(i.path.clone()));
    Ok(chosen)
}

/// The one line of a version not found: what there is, and how to get it.
fn not_found(wanted: &str, found: &[Interpreter]) -> String {
    let versions: BTreeSet<Version> = found.iter().map(|i| i.version).collect();
    let versions = if versions.is_empty() {
        "none".to_owned()
    } else {
        let versions: Vec<String> = versions.iter().map(Version::to_string).collect();
        versions.join(", ")
    };
    format!(
        "--python {wanted}: no such CPython here (found: {versions}; looked on PATH, in uv's \
         list, pyenv's, mise's and asdf's folders); install it (`pyenv install 3.X`, your \
         package manager, python.org) or name an interpreter by its path"
    )
}

/// Resolves `--python TEXT` on this machine. With `all`, names the claimed versions that
/// are missing on a line of their own. What it runs goes to a log, not the terminal.
pub fn resolve(sh: &StepContext, text: &str) -> Result<Vec<Interpreter>> {
    let requests = parse(text)?;
    let pyproject = paths::bindings_dir().join("pyproject.toml");
    let pyproject =
        std::fs::read_to_string(&pyproject).with_context(|| format!("cannot read {pyproject}"))?;
    let minimum = required_minimum(&pyproject)?;
    let log = paths::xtask_dir()?.join("logs/python-discovery.log");
    let chosen = {
        let sh = &sh.logging_to(&log)?;
        // The real executables first; shims and uv's list (which runs every shim it sees,
        // seconds each) only when those do not have what is asked.
        let mut found = probe_all(sh, direct_candidates(sh));
        match choose(&requests, &found, minimum, |path| probe(sh, path)) {
            Ok(chosen) if chosen.missing.is_empty() => chosen,
            _ => {
                found.extend(probe_all(sh, indirect_candidates(sh)));
                let mut seen = BTreeSet::new();
                found.retain(|i| seen.insert(i.path.clone()));
                found.sort_by_key(|i| i.version);
                choose(&requests, &found, minimum, |path| probe(sh, path))?
            }
        }
    };
    if !chosen.missing.is_empty() {
        let missing: Vec<String> = chosen
            .missing
            .iter()
            .map(|(major, minor)| format!("{major}.{minor}"))
            .collect();
        errln!(
            "not tested: CPython {} (claimed by requires-python, not found here; \
             `pyenv install` it to test it)",
            missing.join(", ")
        );
    }
    Ok(chosen.interpreters)
}

/// The `python3` on PATH (3.10 or newer, as [`tools::python3`] checks), as an interpreter:
/// the one lane of `ci --wheel` without `--python`.
pub fn default_python(sh: &StepContext) -> Result<Interpreter> {
    let python = tools::python3(sh)?;
    probe(sh, &python).with_context(|| format!("{python} is not a CPython that runs"))
}

/// Executables that are what they say: the version folders of pyenv, mise and asdf, and
/// PATH's `python3.X` outside a shims folder.
fn direct_candidates(sh: &StepContext) -> Vec<Utf8PathBuf> {
    let mut candidates: Vec<Utf8PathBuf> = on_path().into_iter().filter(|p| !is_shim(p)).collect();
    for root in manager_roots(sh) {
        candidates.extend(in_versions_folder(&root));
    }
    candidates
}

/// Shims (which run the selected version, or refuse) and what uv lists.
fn indirect_candidates(sh: &StepContext) -> Vec<Utf8PathBuf> {
    let mut candidates: Vec<Utf8PathBuf> = on_path().into_iter().filter(|p| is_shim(p)).collect();
    candidates.extend(from_uv(sh));
    candidates
}

fn is_shim(path: &Utf8Path) -> bool {
    path.parent().and_then(Utf8Path::file_name) == Some("shims")
}

/// Runs every candidate once, side by side (each is a Python start-up), each echo in the
/// log of `sh`; the CPythons that ran, each real executable once, oldest first.
fn probe_all(sh: &StepContext, mut candidates: Vec<Utf8PathBuf>) -> Vec<Interpreter> {
    let mut unique = BTreeSet::new();
    candidates.retain(|path| unique.insert(path.clone()));
    let (log, cancel, seed) = (sh.log(), sh.cancel_token(), sh.seed());
    // A context each: a `Shell` is not `Sync`.
    let probed: Vec<Option<Interpreter>> = std::thread::scope(|scope| {
        let probes: Vec<_> = candidates
            .iter()
            .map(|path| {
                let seed = &seed;
                scope.spawn(move || {
                    let cx = match log {
                        Some(log) => {
                            StepContext::for_step(seed, log.clone(), cancel.clone()).ok()?
                        }
                        None => StepContext::terminal(Shell::new().ok()?),
                    };
                    probe(&cx, path)
                })
            })
            .collect();
        probes
            .into_iter()
            .map(|probe| probe.join().ok().flatten())
            .collect()
    });
    let mut seen = BTreeSet::new();
    let mut found: Vec<Interpreter> = probed
        .into_iter()
        .flatten()
        .filter(|i| seen.insert(i.path.clone()))
        .collect();
    found.sort_by_key(|i| i.version);
    found
}

/// Runs `path` to learn its version and real executable; `None` if it does not run (a shim
/// of a version not selected) or is not CPython.
pub fn probe(sh: &StepContext, path: &Utf8Path) -> Option<Interpreter> {
    let script = "import sys; print(sys.implementation.name, '%d.%d.%d' % sys.version_info[:3], sys.executable)";
    let said = Job::new(sh, cmd!(sh, "{path} -I -S -c {script}"))
        .stderr(Sink::Null)
        .read()
        .ok()?;
    parse_probe(&said)
}

/// `cpython 3.12.1 /path/to/python3.12` into an interpreter; other implementations are not
/// what the abi3 wheel serves.
fn parse_probe(said: &str) -> Option<Interpreter> {
    let mut words = said.trim().splitn(3, ' ');
    if words.next()? != "cpython" {
        return None;
    }
    let mut numbers = words.next()?.split('.').map(|n| n.parse::<u32>().ok());
    let version = Version {
        major: numbers.next()??,
        minor: numbers.next()??,
        patch: numbers.next()??,
    };
    let path = words.next().filter(|p| !p.is_empty())?;
    Some(Interpreter {
        version,
        path: Utf8PathBuf::from(path),
    })
}

/// `python3` and `python3.X` in every folder of PATH.
fn on_path() -> Vec<Utf8PathBuf> {
    let name = Regex::new(r"^python3(\.\d+)?$").unwrap();
    let mut found = Vec::new();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let Ok(dir) = Utf8PathBuf::try_from(dir) else {
            continue;
        };
        let Ok(entries) = dir.read_dir_utf8() else {
            continue;
        };
        let mut names: Vec<_> = entries
            .flatten()
            .filter(|entry| name.is_match(entry.file_name()))
            .map(|entry| entry.path().to_owned())
            .collect();
        names.sort();
        found.extend(names);
    }
    found
}

/// The interpreters uv knows, without downloading any.
fn from_uv(sh: &StepContext) -> Vec<Utf8PathBuf> {
    let Ok(uv) = tools::uv(sh) else {
        return Vec::new();
    };
    let list = cmd!(
        sh,
        "{uv} python list --only-installed --no-python-downloads --output-format json"
    );
    let listed = Job::new(sh, list)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .stderr(Sink::Null)
        .read()
        .unwrap_or_default();
    uv_paths(&listed)
}

/// The paths in `uv python list --output-format json`.
fn uv_paths(json: &str) -> Vec<Utf8PathBuf> {
    let listed: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    listed
        .iter()
        .filter_map(|python| python.get("path")?.as_str())
        .map(Utf8PathBuf::from)
        .collect()
}

/// The folders whose `<version>/bin/python3` are interpreters: pyenv's (`pyenv root`,
/// `$PYENV_ROOT` or `~/.pyenv`), mise's and asdf's.
fn manager_roots(sh: &StepContext) -> Vec<Utf8PathBuf> {
    let home = std::env::var("HOME").map(Utf8PathBuf::from).ok();
    let env_dir = |name: &str| std::env::var(name).ok().map(Utf8PathBuf::from);
    let pyenv_root = tools::require(&["pyenv"], "")
        .ok()
        .and_then(|pyenv| {
            Job::new(sh, cmd!(sh, "{pyenv} root"))
                .stderr(Sink::Null)
                .read()
                .ok()
        })
        .map(|root| Utf8PathBuf::from(root.trim()))
        .or_else(|| env_dir("PYENV_ROOT"))
        .or_else(|| home.as_ref().map(|home| home.join(".pyenv")));
    let mise = env_dir("MISE_DATA_DIR")
        .or_else(|| home.as_ref().map(|home| home.join(".local/share/mise")));
    let asdf = env_dir("ASDF_DATA_DIR").or_else(|| home.as_ref().map(|home| home.join(".asdf")));
    [
        pyenv_root.map(|root| root.join("versions")),
        mise.map(|root| root.join("installs/python")),
        asdf.map(|root| root.join("installs/python")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `<root>/<version>/bin/python3` for every version folder that has one.
fn in_versions_folder(root: &Utf8Path) -> Vec<Utf8PathBuf> {
    let Ok(entries) = root.read_dir_utf8() else {
        return Vec::new();
    };
    let mut found: Vec<Utf8PathBuf> = entries
        .flatten()
        .map(|entry| entry.path().join("bin/python3"))
        .filter(|python| python.is_file())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(version: &str, path: &str) -> Interpreter {
        parse_probe(&format!("cpython {version} {path}")).unwrap()
    }

    fn found() -> Vec<Interpreter> {
        vec![
            interpreter("3.10.13", "/p/3.10.13/bin/python3.10"),
            interpreter("3.11.2", "/usr/bin/python3.11"),
            interpreter("3.11.7", "/p/3.11.7/bin/python3.11"),
            interpreter("3.13.0", "/p/3.13.0/bin/python3.13"),
        ]
    }

    #[test]
    fn python_flags_read_as_requests() {
        let version = |major, minor, patch| Request::Version {
            minor: (major, minor),
            patch,
        };
        let cases: &[(&str, Vec<Request>)] = &[
            ("3.12", vec![version(3, 12, None)]),
            ("3.12.1", vec![version(3, 12, Some(1))]),
            (
                "3.10,3.13",
                vec![version(3, 10, None), version(3, 13, None)],
            ),
            (
                "3.10, /opt/py/bin/python3",
                vec![
                    version(3, 10, None),
                    Request::Path("/opt/py/bin/python3".into()),
                ],
            ),
            ("python3.11", vec![Request::Path("python3.11".into())]),
            ("all", vec![Request::All]),
        ];
        for (text, expected) in cases {
            assert_eq!(&parse(text).unwrap(), expected, "{text}");
        }
        for bad in ["3", "three", "all,3.12", "3.x", ""] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("--python {bad}")),
                "{bad}: {error}"
            );
        }
    }

    /// `--python`, the paths chosen, the claimed versions missing.
    type Case = (&'static str, &'static [&'static str], &'static [(u32, u32)]);

    #[test]
    fn requests_pick_the_newest_patch_and_all_names_what_is_missing() {
        let none = |_: &Utf8Path| None;
        let paths = |chosen: &Chosen| -> Vec<String> {
            chosen
                .interpreters
                .iter()
                .map(|i| i.path.to_string())
                .collect()
        };
        let cases: &[Case] = &[
            ("3.11", &["/p/3.11.7/bin/python3.11"], &[]),
            ("3.11.2", &["/usr/bin/python3.11"], &[]),
            (
                "3.13,3.10,3.13",
                &["/p/3.13.0/bin/python3.13", "/p/3.10.13/bin/python3.10"],
                &[],
            ),
            (
                "all",
                &[
                    "/p/3.10.13/bin/python3.10",
                    "/p/3.11.7/bin/python3.11",
                    "/p/3.13.0/bin/python3.13",
                ],
                &[(3, 12)],
            ),
        ];
        for (text, expected, missing) in cases {
            let chosen = choose(&parse(text).unwrap(), &found(), (3, 10), none).unwrap();
            assert_eq!(paths(&chosen), *expected, "{text}");
            assert_eq!(chosen.missing, *missing, "{text}");
        }
    }

    #[test]
    fn a_version_not_found_is_one_line_that_lists_what_there_is() {
        let none = |_: &Utf8Path| None;
        let old = vec![interpreter("3.9.18", "/p/3.9.18/bin/python3.9")];
        let cases = [
            ("3.12", found(), "found: 3.10.13, 3.11.2, 3.11.7, 3.13.0;"),
            ("3.11.9", found(), "found: 3.10.13, 3.11.2, 3.11.7, 3.13.0;"),
            (
                "all",
                old,
                "--python all (3.10 or newer): no such CPython here (found: 3.9.18;",
            ),
            ("all", Vec::new(), "found: none;"),
        ];
        for (text, found, says) in cases {
            let error = choose(&parse(text).unwrap(), &found, (3, 10), none)
                .unwrap_err()
                .to_string();
            assert!(!error.contains('\n'), "{error}");
            assert!(error.starts_with(&format!("--python {text}")), "{error}");
            assert!(error.contains(says), "{error}");
            assert!(error.contains("install it"), "{error}");
        }
    }

    #[test]
    fn a_path_is_run_to_learn_what_it_is() {
        let probe = |path: &Utf8Path| {
            (path == "/opt/py").then(|| interpreter("3.12.4", "/opt/py-real/bin/python3.12"))
        };
        let chosen = choose(&parse("/opt/py").unwrap(), &[], (3, 10), probe).unwrap();
        assert_eq!(chosen.interpreters[0].version.to_string(), "3.12.4");
        let error = choose(&parse("/bin/nope").unwrap(), &[], (3, 10), probe).unwrap_err();
        assert!(error.to_string().contains("/bin/nope"), "{error}");
        let old = |_: &Utf8Path| Some(interpreter("3.9.18", "/p/3.9.18/bin/python3.9"));
        let error = choose(&parse("/p/old").unwrap(), &[], (3, 10), old).unwrap_err();
        assert!(
            error.to_string().contains("requires-python >=3.10"),
            "{error}"
        );
    }

    #[test]
    fn only_cpython_that_says_its_version_counts() {
        let cases = [
            ("cpython 3.12.1 /usr/bin/python3.12\n", Some("3.12.1")),
            ("pypy 3.10.14 /usr/bin/pypy3", None),
            ("cpython 3.12 /usr/bin/python3.12", None),
            ("cpython 3.12.1 ", None),
            ("", None),
        ];
        for (said, version) in cases {
            let got = parse_probe(said).map(|i| i.version.to_string());
            assert_eq!(got.as_deref(), version, "{said:?}");
        }
    }

    #[test]
    fn requires_python_gives_the_lowest_version_claimed() {
        let cases = [
            ("requires-python = \">=3.10\"\n", Some((3, 10))),
            ("[project]\nrequires-python = \">= 3.9, <4\"", Some((3, 9))),
            ("requires-python = \"~=3.10\"", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(required_minimum(text).ok(), expected, "{text:?}");
        }
    }

    #[test]
    fn uv_lists_paths_as_json() {
        let json = r#"[{"version":"3.11.7","path":"/a/python3"},{"path":"/b"},{"version":"x"}]"#;
        assert_eq!(uv_paths(json), ["/a/python3", "/b"]);
        assert!(uv_paths("error").is_empty());
    }

    /// A pyenv root with a working interpreter, a shim-like one that refuses to run, and an
    /// old Python; only the first is found.
    #[cfg(unix)]
    #[test]
    fn a_versions_folder_yields_what_runs() {
        use std::os::unix::fs::PermissionsExt;
        let (_guard, root) = paths::test_dir();
        let scripts = [
            ("3.12.1", "#!/bin/sh\necho \"cpython 3.12.1 $0\"\n"),
            (
                "3.13.0",
                "#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n",
            ),
            ("2.7.18", "#!/bin/sh\necho 'AttributeError' >&2\nexit 1\n"),
        ];
        for (version, script) in scripts {
            let python = root.join(version).join("bin/python3");
            std::fs::create_dir_all(python.parent().unwrap()).unwrap();
            std::fs::write(&python, script).unwrap();
            std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::create_dir_all(root.join("empty/bin")).unwrap();
        let candidates = in_versions_folder(&root);
        assert_eq!(candidates.len(), 3, "{candidates:?}");
        let sh = StepContext::terminal(Shell::new().unwrap());
        let found: Vec<String> = candidates
            .iter()
            .filter_map(|path| probe(&sh, path))
            .map(|i| i.version.to_string())
            .collect();
        assert_eq!(found, ["3.12.1"]);
    }
}
