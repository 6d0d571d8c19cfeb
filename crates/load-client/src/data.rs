//! A scenario's `data:` file: rows whose columns fill `{{column}}`
//! placeholders in the requests of a mix (see `crate::mix`).
//!
//! The file is read once, when the scenario is loaded: CSV with a header
//! row, or JSON lines of flat objects. Memory is bounded: at most
//! [`MAX_DATA_BYTES`] of file, [`MAX_ROWS`] rows, [`MAX_CELLS`] cells and
//! [`MAX_LINE_BYTES`] per line; the text is kept in one string and every
//! cell is a range into it, so a loaded file costs its size plus 8 bytes a
//! cell (and 4 a row for its line number). Anything wrong (an empty file, a
//! ragged row, bytes that are not UTF-8, a line too long, a missing column)
//! is a [`DataError`] naming the file, the line and what is allowed.
//!
//! Which row a send uses is [`Order::row`]: a pure function of the send's
//! slot number, the scenario's seed and the row count, so the workers of a
//! case share nothing but the slot counter.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Largest data file read.
pub const MAX_DATA_BYTES: u64 = 64 * 1024 * 1024;
/// Most rows a data file may hold.
pub const MAX_ROWS: usize = 1_000_000;
/// Most cells (rows × columns) a data file may hold.
pub const MAX_CELLS: usize = 8_000_000;
/// Longest line (one CSV record or one JSON object).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A data file that cannot be used: which file, which line (when one is to
/// blame), and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DataError {
    /// The data file.
    pub file: PathBuf,
    /// 1-based line, when one line is to blame.
    pub line: Option<u64>,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How a data file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One flat JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
}

impl Format {
    /// The format a file name implies: `.csv`, `.jsonl` or `.ndjson`.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// Which row each send takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Rows in file order, wrapping around at the end.
    #[default]
    Sequential,
    /// A row drawn at random for every send (with replacement).
    Random,
    /// Every row once per pass, in a seeded random order that changes from
    /// pass to pass.
    Shuffle,
}

impl Order {
    /// The row that send number `slot` takes, of `rows` (> 0).
    pub fn row(self, seed: u64, slot: u64, rows: u64) -> u64 {
        match self {
            Order::Sequential => slot % rows,
            Order::Random => below(mix64(seed ^ RANDOM_SALT, slot), rows),
            Order::Shuffle => {
                let pass = slot / rows;
                permute(slot % rows, rows, mix64(seed ^ SHUFFLE_SALT, pass))
            }
        }
    }
}

const RANDOM_SALT: u64 = 0x5241_4e44_4f4d_0001;
const SHUFFLE_SALT: u64 = 0x5348_5546_464c_0002;

/// A well-mixed 64-bit value from a key and a counter (SplitMix64's
/// finaliser over their combination).
pub fn mix64(key: u64, counter: u64) -> u64 {
    let mut z = key
        .wrapping_add(counter.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `hash` scaled into `0..n` (multiply-high: no modulo bias worth naming).
pub fn below(hash: u64, n: u64) -> u64 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u64
}

/// A bijection of `0..n` keyed by `key`: a four-round Feistel network over
/// the smallest even power of two that holds `n`, walking the cycle until
/// the value lands inside `0..n` (at most a few steps on average).
fn permute(x: u64, n: u64, key: u64) -> u64 {
    let bits = (64 - (n.max(2) - 1).leading_zeros()).max(2);
    let bits = bits + bits % 2;
    let half = bits / 2;
    let mask = (1u64 << half) - 1;
    let mut v = x;
    loop {
        let (mut left, mut right) = (v >> half, v & mask);
        for round in 0..4u64 {
            let f = mix64(key ^ round, right) & mask;
            (left, right) = (right, left ^ f);
        }
        v = (left << half) | right;
        if v < n {
            return v;
        }
    }
}

/// A loaded data file: its columns and rows, text kept in one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSet {
    file: PathBuf,
    columns: Vec<String>,
    text: String,
    /// `rows × columns` ranges into `text`, row by row.
    cells: Vec<(u32, u32)>,
    /// The file line each row starts on.
    lines: Vec<u32>,
}

impl DataSet {
    /// Reads `file` in `format` (its extension's when `None`).
    pub fn load(file: &Path, format: Option<Format>) -> Result<DataSet, DataError> {
        let fail = |line: Option<u64>, message: String| DataError {
            file: file.to_path_buf(),
            line,
            message,
        };
        let format = format.or_else(|| Format::from_extension(file)).ok_or_else(|| {
            fail(
                None,
                "cannot tell the format from the file name: name it .csv, .jsonl or .ndjson, or give `format: csv` or `format: jsonl`".into(),
            )
        })?;
        let mut bytes = Vec::new();
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_DATA_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| fail(None, format!("cannot read the file: {e}")))?;
        if bytes.len() as u64 > MAX_DATA_BYTES {
            return Err(fail(
                None,
                format!(
                    "larger than {} MiB, the most a data file may hold",
                    MAX_DATA_BYTES >> 20
                ),
            ));
        }
        Self::parse(file, &bytes, format)
    }

    /// Parses a data file's bytes; `file` is only used in messages.
    pub fn parse(file: &Path, bytes: &[u8], format: Format) -> Result<DataSet, DataError> {
        let mut set = DataSet {
            file: file.to_path_buf(),
            columns: Vec::new(),
            text: String::new(),
            cells: Vec::new(),
            lines: Vec::new(),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            let expected = match format {
                Format::Csv => "a header row and at least one data row",
                Format::Jsonl => "at least one JSON object, one per line",
            };
            return Err(set.error(None, format!("the file is empty; expected {expected}")));
        }
        match format {
            Format::Csv => set.read_csv(bytes)?,
            Format::Jsonl => set.read_jsonl(bytes)?,
        }
        if set.lines.is_empty() {
            return Err(set.error(None, "no data rows after the header".into()));
        }
        Ok(set)
    }

    fn error(&self, line: Option<u64>, message: String) -> DataError {
        DataError {
            file: self.file.clone(),
            line,
            message,
        }
    }

    /// The data file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Column names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Position of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Number of data rows (at least one).
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The file line row `row` is on.
    pub fn line(&self, row: usize) -> u64 {
        u64::from(self.lines[row])
    }

    /// One cell's text.
    pub fn cell(&self, row: usize, column: usize) -> &str {
        let (start, end) = self.cells[row * self.columns.len() + column];
        &self.text[start as usize..end as usize]
    }

    fn set_header(&mut self, names: Vec<String>, line: u64) -> Result<(), DataError> {
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(self.error(Some(line), format!("column {} has no name", i + 1)));
            }
            if names[..i].contains(name) {
                return Err(self.error(
                    Some(line),
                    format!("two columns are named {name:?}; column names must be unique"),
                ));
            }
        }
        self.columns = names;
        Ok(())
    }

    /// Appends one row; `fields` are in column order.
    fn push_row<'a>(
        &mut self,
        line: u64,
        fields: impl Iterator<Item = &'a str>,
    ) -> Result<(), DataError> {
        if self.lines.len() >= MAX_ROWS {
            return Err(self.error(
                Some(line),
                format!("more than {MAX_ROWS} rows, the most a data file may hold"),
            ));
        }
        if self.cells.len() + self.columns.len() > MAX_CELLS {
            return Err(self.error(
                Some(line),
                format!(
                    "more than {MAX_CELLS} cells (rows × columns), the most a data file may hold"
                ),
            ));
        }
        for field in fields {
            let start = self.text.len() as u32;
            self.text.push_str(field);
            self.cells.push((start, self.text.len() as u32));
        }
        self.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
        Ok(())
    }

    fn read_csv(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(bytes);
        let header = reader
            .byte_headers()
            .map_err(|e| self.csv_error(&e))?
            .clone();
        let header_len: usize = header.iter().map(<[u8]>::len).sum();
        if header_len > MAX_LINE_BYTES {
            return Err(self.too_long(1));
        }
        let names = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                std::str::from_utf8(name)
                    .map(|n| n.trim().to_string())
                    .map_err(|e| self.not_utf8(1, &format!("column {} of the header", i + 1), &e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.set_header(names, 1)?;
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) => return Err(self.csv_error(&e)),
            }
            let line = record.position().map_or(0, |p| p.line());
            if record.as_slice().len() > MAX_LINE_BYTES {
                return Err(self.too_long(line));
            }
            let mut fields = Vec::with_capacity(record.len());
            for (i, field) in record.iter().enumerate() {
                let text = std::str::from_utf8(field).map_err(|e| {
                    self.not_utf8(line, &format!("column {:?}", self.columns[i]), &e)
                })?;
                fields.push(text);
            }
            self.push_row(line, fields.into_iter())?;
        }
    }

    fn csv_error(&self, e: &csv::Error) -> DataError {
        match e.kind() {
            csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } => self.error(
                pos.as_ref().map(csv::Position::line),
                format!(
                    "this row has {len} fields but the header has {expected_len}; every row needs one field per column (quote a field that holds a comma)"
                ),
            ),
            _ => self.error(
                e.position().map(csv::Position::line),
                format!("not valid CSV: {e}"),
            ),
        }
    }

    fn too_long(&self, line: u64) -> DataError {
        self.error(
            Some(line),
            format!("the line is longer than {MAX_LINE_BYTES} bytes, the most a line may hold"),
        )
    }

    fn not_utf8(&self, line: u64, what: &str, e: &std::str::Utf8Error) -> DataError {
        self.error(
            Some(line),
            format!(
                "{what} is not UTF-8 text (invalid byte at offset {}); save the file as UTF-8",
                e.valid_up_to()
            ),
        )
    }

    fn read_jsonl(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index as u64 + 1;
            if raw.len() > MAX_LINE_BYTES {
                return Err(self.too_long(line));
            }
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = std::str::from_utf8(raw).map_err(|e| self.not_utf8(line, "the line", &e))?;
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| {
                    self.error(
                        Some(line),
                        format!("not a JSON object ({e}); expected one flat object per line, e.g. {{\"user\": \"ada\", \"id\": 7}}"),
                    )
                })?;
            if self.columns.is_empty() {
                self.set_header(object.keys().cloned().collect(), line)?;
            }
            let mut fields = Vec::with_capacity(self.columns.len());
            for column in &self.columns {
                let value = object.get(column).ok_or_else(|| {
                    self.error(
                        Some(line),
                        format!(
                            "missing column {column:?}; every line needs the keys of the first: {}",
                            self.columns.join(", ")
                        ),
                    )
                })?;
                fields.push(self.scalar(line, column, value)?);
            }
            if let Some(extra) = object.keys().find(|k| !self.columns.contains(k)) {
                return Err(self.error(
                    Some(line),
                    format!(
                        "column {extra:?} is not in the first line; every line needs the same keys: {}",
                        self.columns.join(", ")
                    ),
                ));
            }
            self.push_row(line, fields.iter().map(String::as_str))?;
        }
        Ok(())
    }

    fn scalar(
        &self,
        line: u64,
        column: &str,
        value: &serde_json::Value,
    ) -> Result<String, DataError> {
        use serde_json::Value;
        Ok(match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            Value::Array(_) | Value::Object(_) => {
                return Err(self.error(
                    Some(line),
                    format!("column {column:?} holds a nested value; only strings, numbers, booleans and null can fill a placeholder"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &[u8]) -> Result<DataSet, DataError> {
        DataSet::parse(Path::new("users.csv"), text, Format::Csv)
    }

    fn jsonl(text: &[u8]) -> Result<DataSet, DataError> {
        DataSet::parse(Path::new("users.jsonl"), text, Format::Jsonl)
    }

    #[test]
    fn csv_and_json_lines_read_alike() {
        let a = csv(b"user,id\nada,1\n\"b,c\",2\n").unwrap();
        let b =
            jsonl(b"{\"id\": 1, \"user\": \"ada\"}\n\n{\"id\": 2, \"user\": \"b,c\"}\n").unwrap();
        for set in [&a, &b] {
            assert_eq!(set.rows(), 2);
            let user = set.column("user").unwrap();
            let id = set.column("id").unwrap();
            assert_eq!(set.cell(0, user), "ada");
            assert_eq!(set.cell(1, user), "b,c");
            assert_eq!(set.cell(1, id), "2");
        }
        assert_eq!(a.line(1), 3);
        assert_eq!(b.line(1), 3);
    }

    #[test]
    fn hostile_files_get_located_errors() {
        let cases: [(Result<DataSet, DataError>, &str); 9] = [
            (csv(b""), "users.csv: the file is empty; expected a header row and at least one data row"),
            (csv(b"user,id\n"), "users.csv: no data rows after the header"),
            (csv(b"user,id\nada,1\nbob\n"), "users.csv:3: this row has 1 fields but the header has 2; every row needs one field per column (quote a field that holds a comma)"),
            (csv(b"user,id\nada,1\nb\xffb,2\n"), "users.csv:3: column \"user\" is not UTF-8 text (invalid byte at offset 1); save the file as UTF-8"),
            (csv(b"user,user\na,b\n"), "users.csv:1: two columns are named \"user\"; column names must be unique"),
            (jsonl(b"{\"a\": 1}\n{\"b\": 2}\n"), "users.jsonl:2: missing column \"a\"; every line needs the keys of the first: a"),
            (jsonl(b"{\"a\": [1]}\n"), "users.jsonl:1: column \"a\" holds a nested value; only strings, numbers, booleans and null can fill a placeholder"),
            (jsonl(b"{\"a\": 1}\n\xfe\n"), "users.jsonl:2: the line is not UTF-8 text (invalid byte at offset 0); save the file as UTF-8"),
            (jsonl(b"[1]\n"), "users.jsonl:1: not a JSON object (invalid type: sequence, expected a map at line 1 column 0); expected one flat object per line, e.g. {\"user\": \"ada\", \"id\": 7}"),
        ];
        for (result, expected) in cases {
            assert_eq!(result.unwrap_err().to_string(), expected);
        }
        let mut huge = b"user\nada\n".to_vec();
        huge.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        huge.push(b'\n');
        assert_eq!(
            csv(&huge).unwrap_err().to_string(),
            "users.csv:3: the line is longer than 65536 bytes, the most a line may hold"
        );
        let huge_json = [
            b"{\"a\": \"".to_vec(),
            vec![b'x'; MAX_LINE_BYTES],
            b"\"}".to_vec(),
        ]
        .concat();
        assert_eq!(
            jsonl(&huge_json).unwrap_err().to_string(),
            "users.jsonl:1: the line is longer than 65536 bytes, the most a line may hold"
        );
    }

    #[test]
    fn shuffle_covers_every_row_once_per_pass_and_passes_differ() {
        for rows in [1u64, 2, 3, 7, 64, 1000] {
            let mut passes = Vec::new();
            for pass in 0..3 {
                let order: Vec<u64> = (0..rows)
                    .map(|i| Order::Shuffle.row(42, pass * rows + i, rows))
                    .collect();
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..rows).collect::<Vec<_>>(), "{rows} rows");
                passes.push(order);
            }
            if rows >= 7 {
                assert_ne!(passes[0], passes[1], "{rows} rows: same order twice");
            }
        }
    }

    #[test]
    fn random_rows_are_reproducible_and_spread() {
        let draw = |seed| {
            (0..1000)
                .map(|i| Order::Random.row(seed, i, 10))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let mut counts = [0; 10];
        for row in draw(1) {
            counts[row as usize] += 1;
        }
        assert!(
            counts.iter().all(|&n| (60..=140).contains(&n)),
            "{counts:?}"
        );
        assert_eq!(
            (0..5)
                .map(|i| Order::Sequential.row(9, i, 3))
                .collect::<Vec<_>>(),
            [0, 1, 2, 0, 1]
        );
    }
}
