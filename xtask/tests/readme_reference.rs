//! The root README's command reference must say what `--help` says: the same subcommands,
//! the same flags, the same defaults. A flag added, renamed or re-defaulted in `flags.rs`
//! fails here until the README follows.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use regex::Regex;

/// Flag (`--port`, or `<PYTEST_ARGS>` for a positional) to its default, if any.
type Flags = BTreeMap<String, Option<String>>;

fn help(args: &[&str]) -> String {
    let output = Command::new(common::xtask_exe())
        .args(args)
        .arg("--help")
        .output()
        .expect("xtask runs");
    assert!(output.status.success(), "xtask {args:?} --help failed");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

fn subcommands() -> Vec<String> {
    let top = help(&[]);
    let commands = top
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section")
        .split("\n\n")
        .next()
        .unwrap();
    let name = Regex::new(r"^  ([a-z][a-z-]*)  ").unwrap();
    commands
        .lines()
        .filter_map(|line| Some(name.captures(line)?[1].to_owned()))
        .filter(|name| name != "help")
        .collect()
}

/// The options and positionals of `cargo xtask <command> --help`, without help/version.
fn flags_in_help(command: &str) -> Flags {
    let option = Regex::new(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)|^\s+\[([A-Z_]+)\]\.\.\.").unwrap();
    let default = Regex::new(r"\[default: ([^\]]+)\]").unwrap();
    let mut flags = Flags::new();
    let mut current = None;
    for line in help(&[command]).lines() {
        if let Some(captures) = option.captures(line) {
            let flag = match (captures.get(1), captures.get(2)) {
                (Some(long), _) => long.as_str().to_owned(),
                (_, Some(positional)) => format!("<{}>", positional.as_str()),
                _ => unreachable!(),
            };
            flags.insert(flag.clone(), None);
            current = Some(flag);
        }
        if let (Some(flag), Some(captures)) = (&current, default.captures(line)) {
            flags.insert(flag.clone(), Some(captures[1].to_owned()));
        }
    }
    flags.remove("--help");
    flags.remove("--version");
    flags
}

/// The flag table of the README's `### cargo xtask <command>` section: the flag in the
/// first column, and the default when the second column is a single `code` span.
fn flags_in_readme(readme: &str, command: &str) -> Option<Flags> {
    let heading = format!("### `cargo xtask {command}`\n");
    let section = readme.split(&heading).nth(1)?;
    let section = section.split("\n#").next().unwrap();
    let row = Regex::new(r"^\| `(?:-- )?(--[a-z][a-z-]*|<[A-Z_]+>)[^`]*` \|([^|]*)\|").unwrap();
    let code = Regex::new(r"^`([^`]+)`(?: \(.*\))?$").unwrap();
    let flags = section
        .lines()
        .filter_map(|line| {
            let captures = row.captures(line)?;
            let default = code.captures(captures[2].trim()).map(|c| c[1].to_owned());
            Some((captures[1].to_owned(), default))
        })
        .collect();
    Some(flags)
}

#[test]
fn readme_reference_matches_help() {
    let readme = std::fs::read_to_string(common::manifest_dir().join("../README.md"))
        .expect("the root README.md");
    let commands = subcommands();
    assert!(commands.len() >= 5, "subcommands: {commands:?}");
    for command in &commands {
        let in_readme = flags_in_readme(&readme, command)
            .unwrap_or_else(|| panic!("README.md has no ### `cargo xtask {command}` section"));
        let in_help = flags_in_help(command);
        let names = |flags: &Flags| flags.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&in_readme),
            names(&in_help),
            "`cargo xtask {command}`: the README's flag table and --help differ"
        );
        for (flag, default) in &in_help {
            if let Some(default) = default {
                assert_eq!(
                    in_readme[flag].as_ref(),
                    Some(default),
                    "`cargo xtask {command} {flag}`: --help says default {default}"
                );
            }
        }
    }
}

#[test]
fn reference_parser_sees_a_difference() {
    let readme = "### `cargo xtask ci`\n\n| Flag | Default | Meaning |\n| --- | --- | --- |\n\
                  | `--ready-timeout <SECS>` | `31` | x |\n| `-- <PYTEST_ARGS>...` | | y |\n";
    let flags = flags_in_readme(readme, "ci").unwrap();
    assert_eq!(flags["--ready-timeout"].as_deref(), Some("31"));
    assert_eq!(flags["<PYTEST_ARGS>"], None);
    assert_ne!(flags, flags_in_help("ci"));
}
