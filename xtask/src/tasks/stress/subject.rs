//! What `cargo xtask stress TEST` names: a Rust test (nextest's binary id and name, or a
//! unique part of its name) or a pytest node id, and the cargo selection that builds a Rust
//! test's binary alone.

use anyhow::{Result, bail};
use camino::Utf8Path;

use crate::adapters::nextest::TestId;

/// TEST as the user wrote it, before anything is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A Rust test, by the nextest filterset that selects it.
    Rust { filter: String },
    /// A pytest node id whose file exists: the file made absolute, the rest as written.
    Python { nodeid: String },
}

/// Reads TEST: a node id when the part before its first `::` ends in `.py`; a Rust test
/// otherwise: `BINARY_ID NAME` as nextest prints it, or any part of its name. A node id's
/// file is looked for from `bases` in turn (the caller's folder, the repository root, the
/// bindings' folder).
pub fn parse(text: &str, bases: &[&Utf8Path]) -> Result<Named> {
    let text = text.trim();
    if text.is_empty() {
        bail!("name a test: a Rust test as nextest names it, or a pytest node id");
    }
    let file = text.split("::").next().unwrap_or(text);
    if file.ends_with(".py") {
        let found = bases
            .iter()
            .map(|base| base.join(file))
            .find(|path| path.is_file());
        let Some(path) = found else {
            bail!("no test file `{file}` from here, the repository root or the bindings' folder");
        };
        return Ok(Named::Python {
            nodeid: format!("{path}{}", &text[file.len()..]),
        });
    }
    let filter = match text.split_once(' ') {
        Some((binary, name)) => TestId {
            binary_id: binary.to_owned(),
            name: name.trim().to_owned(),
        }
        .filterset(),
        None => format!("test(~{text})"),
    };
    Ok(Named::Rust { filter })
}

/// The one test of a list, or an error that says what the list held.
pub fn only_one(text: &str, listed: Vec<TestId>) -> Result<TestId> {
    match <[TestId; 1]>::try_from(listed) {
        Ok([test]) => Ok(test),
        Err(listed) if listed.is_empty() => bail!(
            "no Rust test matches `{text}`: name one as nextest does (`BINARY_ID NAME`) or by \
             a part of its name"
        ),
        Err(listed) => {
            let names: Vec<String> = listed.iter().take(5).map(ToString::to_string).collect();
            bail!(
                "{} Rust tests match `{text}`, such as {}: name one as `BINARY_ID NAME`",
                listed.len(),
                names.join("; ")
            )
        }
    }
}

/// The cargo arguments that build the binary of nextest's `binary_id` alone: `crate`
/// (its library), `crate::file` (an integration test), `crate::bin/name` and the like.
pub fn cargo_selection(binary_id: &str) -> Vec<String> {
    let (krate, rest) = binary_id.split_once("::").unwrap_or((binary_id, ""));
    let mut args = vec!["-p".to_owned(), krate.to_owned()];
    match rest.split_once('/') {
        _ if rest.is_empty() => args.push("--lib".to_owned()),
        Some((kind, name)) => args.extend([format!("--{kind}"), name.to_owned()]),
        None => args.extend(["--test".to_owned(), rest.to_owned()]),
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::paths;

    fn id(binary_id: &str, name: &str) -> TestId {
        TestId {
            binary_id: binary_id.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn a_test_is_rust_unless_its_file_is_python() {
        let (_guard, dir) = paths::test_dir();
        std::fs::create_dir_all(dir.join("tests")).unwrap();
        std::fs::write(dir.join("tests/test_a.py"), "").unwrap();
        let other = dir.join("elsewhere");
        let bases = [other.as_path(), dir.as_path()];
        let named = parse("tests/test_a.py::test_x[1]", &bases).unwrap();
        let nodeid = format!("{}::test_x[1]", dir.join("tests/test_a.py"));
        assert_eq!(named, Named::Python { nodeid });
        let error = parse("tests/missing.py::test_x", &bases).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no test file `tests/missing.py`")
        );
        assert_eq!(
            parse("xtask::server_owner sigkill", &bases).unwrap(),
            Named::Rust {
                filter: "binary_id(xtask::server_owner) & test(=sigkill)".to_owned()
            }
        );
        assert_eq!(
            parse(" sigkill_of ", &bases).unwrap(),
            Named::Rust {
                filter: "test(~sigkill_of)".to_owned()
            }
        );
        assert!(parse("  ", &bases).is_err());
    }

    #[test]
    fn a_list_must_hold_exactly_one_test() {
        assert_eq!(only_one("x", vec![id("a", "x")]).unwrap(), id("a", "x"));
        let none = only_one("x", Vec::new()).unwrap_err().to_string();
        assert!(none.starts_with("no Rust test matches `x`"), "{none}");
        let two = only_one("x", vec![id("a", "x1"), id("b", "x2")]).unwrap_err();
        assert!(
            two.to_string()
                .starts_with("2 Rust tests match `x`, such as a x1; b x2")
        );
    }

    #[test]
    fn a_binary_id_is_built_alone() {
        let args = |id: &str| cargo_selection(id).join(" ");
        assert_eq!(args("xtask"), "-p xtask --lib");
        assert_eq!(args("xtask::server_owner"), "-p xtask --test server_owner");
        assert_eq!(args("xtask::bin/xtask"), "-p xtask --bin xtask");
        assert_eq!(
            args("simd-r-drive-ws-server::server"),
            "-p simd-r-drive-ws-server --test server"
        );
    }
}
