//! Failing README tests in a pytest JUnit report. The generated tests record where they
//! are (`readme_block`) and where they failed (`readme_failure`) as JUnit properties, so
//! that `cargo xtask ci` can point at the README line without reading the README again.

/// A failed README test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The pytest test name, such as `test_readme_block_3_quick_start`.
    pub test: String,
    /// The README, as the generated file names it.
    pub readme: String,
    pub line: usize,
}

/// The failed README tests of a JUnit report, in report order.
pub fn failures(xml: &str) -> Vec<Failure> {
    xml.split("<testcase ")
        .skip(1)
        .filter(|case| case.contains("<failure") || case.contains("<error"))
        .filter_map(failure)
        .collect()
}

fn failure(case: &str) -> Option<Failure> {
    let test = attribute(&format!(" {case}"), "name")?;
    let place = property(case, "readme_failure").or_else(|| property(case, "readme_block"))?;
    let (readme, line) = place.rsplit_once(':')?;
    Some(Failure {
        test,
        readme: readme.to_owned(),
        line: line.parse().ok()?,
    })
}

/// The value of `<property name="NAME" value="..."/>` in a test case.
fn property(case: &str, name: &str) -> Option<String> {
    let start = case.find(&format!("<property name=\"{name}\""))?;
    attribute(&case[start..], "value")
}

/// The value of the first ` NAME="..."` attribute in `text`, unescaped.
fn attribute(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = text[start..].find('"')? + start;
    Some(unescape(&text[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_failing_readme_tests_and_their_lines() {
        let xml = r#"<testsuite><testcase classname="t" name="test_readme_block_1" time="0.1"><properties><property name="readme_block" value="README.md:3" /></properties></testcase>
<testcase classname="t" name="test_readme_block_2_quick_start" time="0.1"><properties><property name="readme_block" value="docs/A &amp; B.md:10" /><property name="readme_failure" value="docs/A &amp; B.md:14" /></properties><failure message="x">README.md:99</failure></testcase>
<testcase classname="t" name="test_readme_block_3" time="0.1"><properties><property name="readme_block" value="README.md:20" /></properties><failure message="[XPASS(strict)]" /></testcase>
<testcase classname="t" name="test_other" time="0.1"><failure message="x" /></testcase></testsuite>"#;
        assert_eq!(
            failures(xml),
            [
                Failure {
                    test: "test_readme_block_2_quick_start".into(),
                    readme: "docs/A & B.md".into(),
                    line: 14
                },
                Failure {
                    test: "test_readme_block_3".into(),
                    readme: "README.md".into(),
                    line: 20
                },
            ]
        );
    }
}
