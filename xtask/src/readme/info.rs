//! A fence's info string: the language, the words that shape the test (`skip`, `continue`,
//! `xfail`), and the attributes other tools put there, which are ignored: `key=value` and
//! `key="value"` (MkDocs Material's `title="x.py"`, `hl_lines="2 3"`) and a braced list
//! (Pandoc's `{.python .numberLines}`). The language is read case-insensitively, as GitHub
//! highlights ```` ```Python ```` as Python.

/// How a fence's language makes it a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `python`, `py`, `python3`: run as a module, or as a session if it starts with `>>> `.
    Python,
    /// `pycon`: always an interactive session, run by `doctest`.
    Session,
    /// `output`: what the Python block above prints.
    Output,
    /// Anything else: not a test.
    Other,
}

/// An info string, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Lowercase.
    pub language: String,
    /// Bare words after the language, in order.
    pub words: Vec<String>,
}

impl Info {
    pub fn parse(info: &str) -> Info {
        let info = info.trim();
        let (language, rest) = match info.strip_prefix('{') {
            Some(braced) => {
                let (inside, after) = braced.split_once('}').unwrap_or((braced, ""));
                (braced_language(inside), after)
            }
            None => {
                let end = info.find([' ', '\t', '{']).unwrap_or(info.len());
                (info[..end].to_owned(), &info[end..])
            }
        };
        Info {
            language: language.to_lowercase(),
            words: words(rest),
        }
    }

    pub fn kind(&self) -> Kind {
        match self.language.as_str() {
            "python" | "py" | "python3" => Kind::Python,
            "pycon" => Kind::Session,
            "output" => Kind::Output,
            _ => Kind::Other,
        }
    }

    pub fn has_word(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    /// A Python language glued to a word by a comma (```` ```python,skip ````): a mistake
    /// that would otherwise drop the block, since the language is not Python. Other
    /// punctuation is left alone: `python:file.py -s 2` is a snippet-inclusion convention
    /// in real docs, and not Python to GitHub either.
    pub fn glued_python(&self) -> Option<(&str, &str)> {
        let split = self.language.find(',')?;
        let (language, rest) = self.language.split_at(split);
        let python = matches!(language, "python" | "py" | "python3" | "pycon");
        python.then_some((language, rest))
    }
}

/// The language of a braced attribute list: its first `.class`, or a bare first word
/// (Quarto's `{python}`).
fn braced_language(inside: &str) -> String {
    let tokens = tokens(inside);
    let class = tokens.iter().find_map(|t| t.strip_prefix('.'));
    let bare = tokens
        .first()
        .filter(|t| !t.starts_with(['.', '#']) && !t.contains('='));
    class.or(bare.map(String::as_str)).unwrap_or("").to_owned()
}

/// The bare words of `rest`: attributes, braced lists included, are left out.
fn words(rest: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = rest;
    while let Some(open) = rest.find('{') {
        words.extend(tokens(&rest[..open]));
        rest = rest[open..].split_once('}').map_or("", |(_, after)| after);
    }
    words.extend(tokens(rest));
    words.retain(|t| !t.contains('='));
    words
}

/// Whitespace-separated tokens; a double- or single-quoted value keeps its spaces.
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                tokens.extend(Some(std::mem::take(&mut current)).filter(|t| !t.is_empty()))
            }
            (None, c) => current.push(c),
        }
    }
    tokens.extend(Some(current).filter(|t| !t.is_empty()));
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_words_and_attributes() {
        for (info, language, words, kind) in [
            ("python", "python", &[][..], Kind::Python),
            ("Python skip", "python", &["skip"][..], Kind::Python),
            ("PY3", "py3", &[], Kind::Other),
            (
                "python3 continue xfail",
                "python3",
                &["continue", "xfail"],
                Kind::Python,
            ),
            ("pycon", "pycon", &[], Kind::Session),
            ("Output", "output", &[], Kind::Output),
            (
                "python title=\"example one.py\" skip",
                "python",
                &["skip"],
                Kind::Python,
            ),
            (
                "python linenums=\"1\" hl_lines=\"2 3\"",
                "python",
                &[],
                Kind::Python,
            ),
            ("python title='a b' x=1", "python", &[], Kind::Python),
            (
                "{.python .numberLines startFrom=\"10\"}",
                "python",
                &[],
                Kind::Python,
            ),
            ("{ .py #id } skip", "py", &["skip"], Kind::Python),
            ("{python}", "python", &[], Kind::Python),
            ("python{.lineno}", "python", &[], Kind::Python),
            (
                "python {linenos=true} xfail",
                "python",
                &["xfail"],
                Kind::Python,
            ),
            ("python skp", "python", &["skp"], Kind::Python),
            ("pythonic", "pythonic", &[], Kind::Other),
            ("", "", &[], Kind::Other),
        ] {
            let parsed = Info::parse(info);
            assert_eq!(
                (
                    parsed.language.as_str(),
                    parsed.words.as_slice(),
                    parsed.kind()
                ),
                (
                    language,
                    words
                        .iter()
                        .map(|w| w.to_string())
                        .collect::<Vec<_>>()
                        .as_slice(),
                    kind
                ),
                "{info}"
            );
        }
    }

    #[test]
    fn punctuation_after_python_is_noticed() {
        assert_eq!(
            Info::parse("python,skip").glued_python(),
            Some(("python", ",skip"))
        );
        assert_eq!(Info::parse("Py,x").glued_python(), Some(("py", ",x")));
        assert_eq!(Info::parse("python:snippets/a.py").glued_python(), None);
        assert_eq!(Info::parse("python").glued_python(), None);
        assert_eq!(Info::parse("pythonx,y").glued_python(), None);
        assert_eq!(Info::parse("c++,x").glued_python(), None);
    }
}
