//! The README compiler on real documentation from public projects (see
//! `fixtures/real_docs/SOURCES.md`): no error, and one test per Python fence that a
//! CommonMark parser finds there, at the same lines.

mod common;

use common::scratch_dir;

/// `(file, fence lines)`, as markdown-it-py found them.
const DOCS: &[(&str, &[usize])] = &[
    ("tomli.md", &[60, 81, 94, 108, 141]),
    ("python-fire.md", &[35, 55]),
    (
        "loguru.md",
        &[
            68, 82, 94, 100, 114, 120, 129, 140, 148, 160, 207, 213, 223, 231, 239, 248, 264, 274,
            282, 308, 315, 325, 368, 381,
        ],
    ),
];

/// The fence line of each generated test, from its docstring (`"README line N: python"`).
fn fence_lines(generated: &str) -> Vec<usize> {
    generated
        .lines()
        .filter(|line| line.starts_with("    \"") && line.contains(" line "))
        .filter_map(|line| {
            line.rsplit_once(" line ")?
                .1
                .split(':')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn real_docs_make_one_test_per_python_fence() {
    let fixtures = common::manifest_dir().join("tests/fixtures/real_docs");
    let dir = scratch_dir("real-docs");
    for (file, expected) in DOCS {
        let out = dir.join(format!("test_{}.py", file.replace(['.', '-'], "_")));
        let output = common::xtask()
            .arg("extract")
            .arg("--readme")
            .arg(fixtures.join(file))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{file}: {stderr}");
        let generated = std::fs::read_to_string(&out).unwrap();
        assert_eq!(fence_lines(&generated), *expected, "{file}");
        assert!(
            !generated.contains("pytestmark"),
            "{file}: a foreign README is not marked"
        );
        assert!(
            fixtures.join(file.replace(".md", ".LICENSE")).is_file(),
            "{file} keeps its licence"
        );
    }
}
