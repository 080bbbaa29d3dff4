//! Which tests a README makes: one per visible Python block or interactive session, named
//! after the nearest heading, with the hidden setup that precedes it, the `output` block
//! that follows it, and the words (`skip`, `continue`, `xfail`) and `<!-- xtask: reset -->`
//! that shape it. Every mistake is an error naming its line, so that a typo never silently
//! drops a test.

use std::mem;

use super::info::{Info, Kind};
use super::markdown::{Block, Item, LineError, error};

/// The words a Python block's info string may carry after the language.
const PYTHON_WORDS: [&str; 3] = ["skip", "continue", "xfail"];

/// A visible Python block of the README, as one test.
#[derive(Debug, Clone)]
pub struct Test {
    /// 1-based position among the tests, in README order.
    pub index: usize,
    /// `test_readme_block_3_quick_start`: the index keeps it unique, the slug readable.
    pub name: String,
    pub block: Block,
    /// An interactive session (`>>> `), run by `doctest`, rather than a module.
    pub session: bool,
    /// The test whose namespace this one continues (`continue`).
    pub continues: Option<usize>,
    /// Hidden setup blocks, run first, in this block's namespace.
    pub setup: Vec<Block>,
    /// The `output` block right after this one: what it must print.
    pub output: Option<Block>,
    /// Why the test is skipped: `skip`, or continuing a skipped block.
    pub skip: Option<String>,
    /// `xfail`: the block must fail.
    pub xfail: bool,
}

pub fn plan(items: Vec<Item>) -> Result<Vec<Test>, LineError> {
    let mut planner = Planner::default();
    for item in items {
        planner.item(item)?;
    }
    planner.finish()
}

#[derive(Default)]
struct Planner {
    tests: Vec<Test>,
    heading: String,
    /// Setup blocks waiting for the next visible Python block.
    setup: Vec<Block>,
    /// The line of a reset read since the last Python block.
    reset: Option<usize>,
    /// Whether the last item was a Python block, which an `output` block may follow.
    after_python: bool,
}

impl Planner {
    fn item(&mut self, item: Item) -> Result<(), LineError> {
        let after_python = mem::take(&mut self.after_python);
        match item {
            Item::Heading { text, .. } => self.heading = text,
            Item::Setup(block) => self.setup.push(block),
            Item::Reset { line } => self.reset = Some(line),
            Item::Fence(block) => {
                let info = Info::parse(&block.info);
                match info.kind() {
                    Kind::Python | Kind::Session => {
                        self.python(block, &info)?;
                        self.after_python = true;
                    }
                    Kind::Output => self.output(block, &info, after_python)?,
                    Kind::Other => refuse_glued_python(&block, &info)?,
                }
            }
        }
        Ok(())
    }

    fn python(&mut self, block: Block, info: &Info) -> Result<(), LineError> {
        let line = block.fence_line;
        if let Some(word) = info
            .words
            .iter()
            .find(|w| !PYTHON_WORDS.contains(&w.as_str()))
        {
            return Err(error(
                line,
                format!(
                    "unknown word `{word}` after ```{}: use `skip`, `continue` or `xfail` \
                     (attributes are written key=value)",
                    info.language
                ),
            ));
        }
        let index = self.tests.len() + 1;
        let continues = if info.has_word("continue") {
            if let Some(reset) = self.reset {
                return Err(error(
                    line,
                    format!(
                        "a `continue` block cannot follow `<!-- xtask: reset -->` (line \
                         {reset}): drop one of them"
                    ),
                ));
            }
            if index == 1 {
                return Err(error(
                    line,
                    "a `continue` block needs a Python block before it",
                ));
            }
            Some(index - 1)
        } else {
            None
        };
        let skip = if info.has_word("skip") {
            Some("skipped in README".to_owned())
        } else {
            continues
                .filter(|&previous| self.tests[previous - 1].skip.is_some())
                .map(|previous| format!("continues block {previous}, skipped in README"))
        };
        self.reset = None;
        self.tests.push(Test {
            index,
            name: test_name(index, &self.heading),
            session: info.kind() == Kind::Session || is_session(&block.text),
            continues,
            setup: mem::take(&mut self.setup),
            output: None,
            skip,
            xfail: info.has_word("xfail"),
            block,
        });
        Ok(())
    }

    fn output(&mut self, block: Block, info: &Info, after_python: bool) -> Result<(), LineError> {
        let line = block.fence_line;
        if !after_python || !block.follows_block {
            return Err(error(
                line,
                "an `output` block must come right after a ```python block, with only blank \
                 lines between",
            ));
        }
        if let Some(word) = info.words.first() {
            return Err(error(
                line,
                format!("unknown word `{word}` after ```output"),
            ));
        }
        let test = self.tests.last_mut().expect("after a Python block");
        if test.session {
            return Err(error(
                line,
                format!(
                    "the session on line {} shows its own output: drop this `output` block",
                    test.block.fence_line
                ),
            ));
        }
        test.output = Some(block);
        Ok(())
    }

    fn finish(self) -> Result<Vec<Test>, LineError> {
        if let Some(setup) = self.setup.first() {
            return Err(error(
                setup.fence_line,
                "no visible ```python block follows this setup",
            ));
        }
        Ok(self.tests)
    }
}

/// A block whose first line of code is a `>>> ` prompt is an interactive session. Blank
/// lines and comments before it do not count (`# Python 3.8+` above a session is common),
/// and such a block could never run as a module anyway.
fn is_session(text: &str) -> bool {
    let mut code = text.lines().map(str::trim_start);
    let first = code
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    first == ">>>" || first.starts_with(">>> ")
}

/// ```` ```python,skip ```` is not Python to GitHub's eyes, but it is meant to be: an error
/// rather than a block that silently is not tested.
fn refuse_glued_python(block: &Block, info: &Info) -> Result<(), LineError> {
    match info.glued_python() {
        Some((language, _)) => Err(error(
            block.fence_line,
            format!(
                "```{} is not a Python fence: separate the words with spaces, as in \
                 ```{language} skip",
                info.language
            ),
        )),
        None => Ok(()),
    }
}

fn test_name(index: usize, heading: &str) -> String {
    match slug(heading) {
        slug if slug.is_empty() => format!("test_readme_block_{index}"),
        slug => format!("test_readme_block_{index}_{slug}"),
    }
}

/// Longest slug kept, so that test ids stay readable.
const SLUG_MAX: usize = 40;

/// `heading` as the tail of a Python identifier: lowercase ASCII letters and digits, words
/// joined by one `_`. Accented Latin letters lose their accent, link targets and any other
/// character only separate words, so that every heading gives a valid name.
pub fn slug(heading: &str) -> String {
    let mut slug = String::new();
    for c in without_link_targets(heading).chars() {
        match ascii_letters(c) {
            Some(letters) => slug.push_str(&letters),
            None if !slug.is_empty() && !slug.ends_with('_') => slug.push('_'),
            None => {}
        }
    }
    if slug.len() > SLUG_MAX {
        let cut = slug[..=SLUG_MAX].rfind('_').unwrap_or(SLUG_MAX);
        slug.truncate(cut);
    }
    slug.trim_end_matches('_').to_owned()
}

/// `[text](target)` becomes `[text]`.
fn without_link_targets(heading: &str) -> String {
    let mut out = String::with_capacity(heading.len());
    let mut rest = heading;
    while let Some(start) = rest.find("](") {
        out.push_str(&rest[..=start]);
        rest = &rest[start + 2..];
        rest = rest.find(')').map_or("", |end| &rest[end + 1..]);
    }
    out.push_str(rest);
    out
}

/// The lowercase ASCII spelling of a letter or digit; `None` for anything else.
fn ascii_letters(c: char) -> Option<String> {
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_lowercase().to_string());
    }
    let folded = match c.to_lowercase().next()? {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
        'œ' => "oe",
        'ß' => "ss",
        'ś' | 'š' => "s",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ł' => "l",
        _ => return None,
    };
    Some(folded.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readme::items::parse;

    fn plan_of(md: &str) -> Result<Vec<Test>, LineError> {
        plan(parse(md)?)
    }

    #[test]
    fn slugs_are_identifiers() {
        for (heading, expected) in [
            ("Quick start", "quick_start"),
            ("The whole API", "the_whole_api"),
            (
                "`batch_read` and `batch_write`",
                "batch_read_and_batch_write",
            ),
            ("  Latency & TCP_NODELAY!  ", "latency_tcp_nodelay"),
            ("Café: déjà vu, Straße", "cafe_deja_vu_strasse"),
            ("日本語", ""),
            ("日本語 guide 2", "guide_2"),
            ("See [the docs](https://x.org/a_b)", "see_the_docs"),
            ("", ""),
            ("___", ""),
            (
                "a very long heading that goes on and on about many things",
                "a_very_long_heading_that_goes_on_and_on",
            ),
            ("x".repeat(60).as_str(), &"x".repeat(40)),
        ] {
            assert_eq!(slug(heading), expected, "{heading:?}");
        }
    }

    #[test]
    fn names_carry_the_nearest_heading() {
        let md = "```py\nx\n```\n# Quick start\n```py\nx\n```\n## Sub\n\ntext\n\n```py\nx\n```\n";
        let names: Vec<_> = plan_of(md).unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "test_readme_block_1",
                "test_readme_block_2_quick_start",
                "test_readme_block_3_sub"
            ]
        );
    }

    #[test]
    fn setup_output_and_words_attach_to_their_block() {
        let md = "<!-- xtask: setup\n```py\nimport os\n```\n-->\n\n```py xfail\nprint(1)\n```\n\n\
                  ```output\n1\n```\n```py skip\n```\n```py continue\n```\n";
        let tests = plan_of(md).unwrap();
        assert_eq!(tests.len(), 3);
        assert_eq!(tests[0].setup.len(), 1);
        assert_eq!(tests[0].setup[0].text, "import os\n");
        assert!(tests[0].xfail);
        assert_eq!(tests[0].output.as_ref().unwrap().text, "1\n");
        assert_eq!(tests[1].skip.as_deref(), Some("skipped in README"));
        assert_eq!(tests[2].continues, Some(2));
        assert_eq!(
            tests[2].skip.as_deref(),
            Some("continues block 2, skipped in README")
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        for (md, line, message) in [
            (
                "```py\n```\n\n```python skp\n```\n",
                4,
                "unknown word `skp` after ```python",
            ),
            ("```py title=x tilte\n```\n", 1, "unknown word `tilte`"),
            (
                "```python,skip\n```\n",
                1,
                "```python,skip is not a Python fence: separate the words with spaces",
            ),
            (
                "```pycon\n>>> 1\n1\n```\n```output\n1\n```\n",
                5,
                "the session on line 1 shows its own output",
            ),
            ("```py continue\n```\n", 1, "needs a Python block before it"),
            (
                "```py\n```\n<!-- xtask: reset -->\n```py continue\n```\n",
                4,
                "cannot follow `<!-- xtask: reset -->` (line 3)",
            ),
            ("```output\n```\n", 1, "right after a ```python block"),
            ("```py\n```\ntext\n```output\n```\n", 4, "right after"),
            ("```py\n```\n```sh\n```\n```output\n```\n", 5, "right after"),
            (
                "```py\n```\n```output\n```\n```output\n```\n",
                5,
                "right after",
            ),
            (
                "```py\n```\n```output text\n```\n",
                3,
                "unknown word `text` after ```output",
            ),
            (
                "<!-- xtask: setup\n```py\n```\n-->\n```sh\n```\n",
                2,
                "no visible ```python block follows",
            ),
        ] {
            let error = plan_of(md).unwrap_err();
            assert_eq!(error.line, line, "{md:?}: {error}");
            assert!(error.message.contains(message), "{md:?}: {error}");
        }
    }

    #[test]
    fn a_reset_ends_continue_chains_only_until_the_next_block() {
        let md = "```py\n```\n<!-- xtask: reset -->\n```py\n```\n```py continue\n```\n";
        let tests = plan_of(md).unwrap();
        assert_eq!(tests[1].continues, None);
        assert_eq!(tests[2].continues, Some(2));
    }

    /// Bugs 3 and 4: spellings and attributes that real docs use, which were dropped or
    /// refused.
    #[test]
    fn spellings_and_attributes_of_real_docs() {
        let md = "```Python\nprint(1)\n```\n\n```Output\n1\n```\n\
                  ```python title=\"example one.py\" linenums=\"1\" hl_lines=\"2 3\"\nx\n```\n\
                  ```{.python .numberLines startFrom=\"3\"}\ny\n```\n\
                  ```PY3\nnot python\n```\n";
        let tests = plan_of(md).unwrap();
        let firsts: Vec<_> = tests.iter().map(|t| t.block.first_line()).collect();
        assert_eq!(firsts, [2, 9, 12]);
        assert_eq!(tests[0].output.as_ref().unwrap().text, "1\n");
    }

    #[test]
    fn sessions_are_pycon_or_start_with_a_prompt() {
        let md = "```pycon\n>>> 1\n1\n```\n```python\n\n>>> sorted([3, 1, 2])\n[1, 2, 3]\n```\n\
                  ```py\nx = 1  # >>> not a prompt\n```\n```pycon continue\n>>> x\n```\n\
                  ```py\n# Python 3.8+\n\n>>> (a := 1)\n1\n```\n";
        let tests = plan_of(md).unwrap();
        let sessions: Vec<_> = tests.iter().map(|t| t.session).collect();
        assert_eq!(sessions, [true, true, false, true, true]);
        assert_eq!(tests[3].continues, Some(3));
    }
}
