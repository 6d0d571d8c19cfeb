//! Finds the line and column of a field in block-style YAML text.
//!
//! serde_yaml reports positions for type errors, but validation that happens
//! after deserialisation (a zero task count, two cases with one name) only has
//! the field path. This walks the text by indentation to turn that path back
//! into a position, so every error can name the line. It understands the block
//! style scenario files are written in; for anything else it answers `None`
//! and the error is reported without a position.

/// One step of a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// The n-th item (0-based) of a sequence.
    Index(usize),
}

/// 1-based (line, column) of the value or key at `path`, if it can be found.
pub fn find(text: &str, path: &[Seg<'_>]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut end = lines.len();
    let mut min_indent = 0;
    let mut found = None;
    for seg in path {
        let (line, column, indent) = match *seg {
            Seg::Key(key) => find_key(&lines, start, end, min_indent, key)?,
            Seg::Index(n) => find_item(&lines, start, end, min_indent, n)?,
        };
        found = Some((line + 1, column + 1));
        // The child block runs until a line indented no deeper than this one.
        start = line;
        end = block_end(&lines, line, indent);
        min_indent = indent + 1;
        if let Seg::Index(_) = seg {
            // Keys of an item may sit on the item's own line after "- ".
            min_indent = indent;
        }
    }
    found
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

fn find_key(
    lines: &[&str],
    start: usize,
    end: usize,
    min_indent: usize,
    key: &str,
) -> Option<(usize, usize, usize)> {
    let mut block_indent = None;
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        if !is_content(line) {
            continue;
        }
        // A key may follow "- " on an item's first line.
        let mut col = indent_of(line);
        let mut rest = line.trim_start();
        while let Some(r) = rest.strip_prefix("- ") {
            col += 2 + (r.len() - r.trim_start().len());
            rest = r.trim_start();
        }
        if col < min_indent {
            continue;
        }
        match block_indent {
            None => block_indent = Some(col),
            Some(b) if col != b => continue,
            Some(_) => {}
        }
        if rest
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            return Some((i, col, col));
        }
    }
    None
}

fn find_item(
    lines: &[&str],
    start: usize,
    end: usize,
    min_indent: usize,
    n: usize,
) -> Option<(usize, usize, usize)> {
    let mut seen = 0;
    let mut item_indent = None;
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        let t = line.trim_start();
        if !t.starts_with("- ") && t != "-" {
            continue;
        }
        let col = indent_of(line);
        if col + 1 < min_indent {
            continue;
        }
        match item_indent {
            None => item_indent = Some(col),
            Some(c) if c != col => continue,
            Some(_) => {}
        }
        if seen == n {
            return Some((i, col, col));
        }
        seen += 1;
    }
    None
}

fn block_end(lines: &[&str], line: usize, indent: usize) -> usize {
    lines
        .iter()
        .enumerate()
        .skip(line + 1)
        .find(|(_, l)| is_content(l) && indent_of(l) <= indent && !l.trim_start().starts_with("- "))
        .map_or(lines.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: x\nserver:\n  delay: 20ms\ncases:\n  - name: a\n    executor: tasks\n    tasks: 0\n  # comment\n  - name: b\n    executor: rate\n    rate: 5/s\n";

    #[test]
    fn finds_top_level_and_nested_keys() {
        assert_eq!(find(TEXT, &[Seg::Key("name")]), Some((1, 1)));
        assert_eq!(
            find(TEXT, &[Seg::Key("server"), Seg::Key("delay")]),
            Some((3, 3))
        );
    }

    #[test]
    fn finds_fields_of_sequence_items() {
        let path = [Seg::Key("cases"), Seg::Index(0), Seg::Key("tasks")];
        assert_eq!(find(TEXT, &path), Some((7, 5)));
        let path = [Seg::Key("cases"), Seg::Index(1), Seg::Key("rate")];
        assert_eq!(find(TEXT, &path), Some((11, 5)));
        let path = [Seg::Key("cases"), Seg::Index(1), Seg::Key("name")];
        assert_eq!(find(TEXT, &path), Some((9, 5)));
    }

    #[test]
    fn missing_fields_are_none() {
        assert_eq!(find(TEXT, &[Seg::Key("url")]), None);
        assert_eq!(find(TEXT, &[Seg::Key("cases"), Seg::Index(5)]), None);
    }
}
