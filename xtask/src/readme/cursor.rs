//! One line of Markdown, read from left to right by columns, as CommonMark counts them: a
//! tab advances to the next multiple of four. Container prefixes (`>`, list indentation)
//! are taken off the front; a tab that is only partly needed is split into spaces, so that
//! what is left keeps its columns.

/// The unread rest of a line, and the column it starts at.
#[derive(Clone)]
pub struct Cursor {
    rest: String,
    column: usize,
}

impl Cursor {
    pub fn new(line: &str) -> Self {
        Cursor {
            rest: line.to_owned(),
            column: 0,
        }
    }

    pub fn rest(&self) -> &str {
        &self.rest
    }

    pub fn column(&self) -> usize {
        self.column
    }

    pub fn is_blank(&self) -> bool {
        self.rest.trim_matches([' ', '\t']).is_empty()
    }

    /// Columns of spaces and tabs before the first other character.
    pub fn indent(&self) -> usize {
        let mut column = self.column;
        for b in self.rest.bytes() {
            match b {
                b' ' => column += 1,
                b'\t' => column = next_tab_stop(column),
                _ => break,
            }
        }
        column - self.column
    }

    /// The rest after its indentation.
    pub fn text(&self) -> &str {
        self.rest.trim_start_matches([' ', '\t'])
    }

    /// Takes off up to `columns` columns of indentation.
    pub fn skip_indent(&mut self, columns: usize) {
        let target = self.column + columns;
        let mut taken = 0;
        while self.column < target {
            match self.rest.as_bytes().get(taken) {
                Some(b' ') => self.column += 1,
                Some(b'\t') => {
                    let stop = next_tab_stop(self.column);
                    if stop > target {
                        // Keep the part of the tab past `target` as spaces.
                        let spaces = " ".repeat(stop - target);
                        self.rest.replace_range(taken..=taken, &spaces);
                        self.column = target;
                        break;
                    }
                    self.column = stop;
                }
                _ => break,
            }
            taken += 1;
        }
        self.rest.drain(..taken);
    }

    /// Takes off `len` bytes of a marker (`>`, `-`, `12.`): ASCII, one column each.
    pub fn skip_marker(&mut self, len: usize) {
        self.rest.drain(..len);
        self.column += len;
    }
}

fn next_tab_stop(column: usize) -> usize {
    column + 4 - column % 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_count_to_the_next_stop_and_split_when_partly_taken() {
        let mut cursor = Cursor::new("\tx");
        assert_eq!(cursor.indent(), 4);
        cursor.skip_indent(2);
        assert_eq!((cursor.rest(), cursor.column()), ("  x", 2));
        let mut cursor = Cursor::new("-\tx");
        cursor.skip_marker(1);
        assert_eq!(cursor.indent(), 3);
        cursor.skip_indent(1);
        assert_eq!(
            (cursor.rest(), cursor.column(), cursor.indent()),
            ("  x", 2, 2)
        );
        let mut cursor = Cursor::new("  \t x");
        cursor.skip_indent(10);
        assert_eq!((cursor.rest(), cursor.column()), ("x", 5));
        assert!(Cursor::new(" \t ").is_blank());
        assert_eq!(Cursor::new(" \tab").text(), "ab");
    }
}
