//! Weighted request mixes: which request each send carries, and its bytes.
//!
//! A scenario sends one request (`request:`) or a mix (`requests:`), each
//! entry with a weight, and optionally fills `{{column}}` placeholders in
//! path, headers and body from a data file (`crate::data`). Validated, that
//! is a [`Mix`]; per case it is [`Mix::prepare`]d for the case's target
//! and connection mode into [`Prepared`]:
//!
//! - an entry without placeholders is serialised once, like the single
//!   request always was, and a send only clones its `Bytes`;
//! - an entry with placeholders keeps its serialisation split into literal
//!   parts and column numbers, so a send concatenates slices (one
//!   allocation), never parses.
//!
//! Every send takes a slot number from one counter shared by the case's
//! workers; the entry is drawn from the slot and the scenario's `seed`
//! (weights as integers; the draw is a hash, so the same slots give the
//! same entries whichever worker sends them) and the data row is
//! [`Order::row`] of the same slot. A plain single request skips the counter
//! altogether.
//!
//! Over HTTP/2 an entry is prepared as an `http2::H2Request` instead of bytes
//! (once without placeholders; its parts rendered per send with them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::data::{below, mix64, DataSet, Order};
use crate::http2::H2Request;
use crate::scenario::{ConnectionMode, Protocol, RequestSpec};

/// Most entries a `requests:` list may hold. Each one costs a latency
/// histogram (~190 KB) per runtime thread while a case runs.
pub const MAX_ENTRIES: usize = 64;
/// Largest weight of one entry.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// Largest `body_file`.
pub const MAX_BODY_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The seed when the scenario names none: runs are reproducible by default.
pub const DEFAULT_SEED: u64 = 1;

/// Text with `{{column}}` placeholders, split into literal parts and
/// column numbers of the scenario's data file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    Column(usize),
}

impl Template {
    /// Literal bytes, no placeholders.
    pub fn literal(bytes: impl Into<Vec<u8>>) -> Template {
        let bytes = bytes.into();
        Template {
            parts: if bytes.is_empty() {
                Vec::new()
            } else {
                vec![Part::Literal(bytes)]
            },
        }
    }

    /// Parses `{{column}}` placeholders (spaces inside the braces are
    /// ignored); every column must be one of `data`'s. The error says what
    /// is wrong and what is allowed.
    pub fn parse(text: &str, data: Option<&DataSet>) -> Result<Template, TemplateError> {
        let mut template = Template::default();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            template.push_literal(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
                text: text.to_string(),
            })?;
            let name = after[..close].trim();
            let Some(data) = data else {
                return Err(TemplateError::NoData {
                    name: name.to_string(),
                });
            };
            let column = data.column(name).ok_or_else(|| TemplateError::NoColumn {
                name: name.to_string(),
                file: data.file().display().to_string(),
                columns: data.columns().join(", "),
            })?;
            template.parts.push(Part::Column(column));
            rest = &after[close + 2..];
        }
        template.push_literal(rest);
        Ok(template)
    }

    fn push_literal(&mut self, text: &str) {
        if !text.is_empty() {
            self.parts.push(Part::Literal(text.as_bytes().to_vec()));
        }
    }

    /// The columns it uses.
    pub fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Column(c) => Some(*c),
            Part::Literal(_) => None,
        })
    }

    /// The text with every placeholder replaced by `with`, for validating
    /// the literal parts.
    pub fn sample(&self, with: &str) -> String {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(b) => out.extend_from_slice(b),
                Part::Column(_) => out.extend_from_slice(with.as_bytes()),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn len(&self, data: Option<&DataSet>, row: usize) -> usize {
        self.parts
            .iter()
            .map(|p| match (p, data) {
                (Part::Literal(b), _) => b.len(),
                (Part::Column(c), Some(d)) => d.cell(row, *c).len(),
                (Part::Column(_), None) => 0,
            })
            .sum()
    }

    fn render(&self, out: &mut Vec<u8>, data: Option<&DataSet>, row: usize) {
        for part in &self.parts {
            match (part, data) {
                (Part::Literal(b), _) => out.extend_from_slice(b),
                (Part::Column(c), Some(d)) => out.extend_from_slice(d.cell(row, *c).as_bytes()),
                (Part::Column(_), None) => {}
            }
        }
    }

    fn append(&mut self, other: &Template) {
        for part in &other.parts {
            match (part, self.parts.last_mut()) {
                (Part::Literal(b), Some(Part::Literal(last))) => last.extend_from_slice(b),
                (part, _) => self.parts.push(part.clone()),
            }
        }
    }

    fn append_bytes(&mut self, bytes: &[u8]) {
        self.append(&Template::literal(bytes));
    }
}

/// A placeholder that cannot be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` with no `}}` after it.
    #[error(
        "`{{{{` without a closing `}}}}` in {text:?}; a placeholder is written {{{{column}}}}"
    )]
    Unclosed {
        /// The text as written.
        text: String,
    },
    /// A placeholder in a scenario without `data:`.
    #[error("placeholder {{{{{name}}}}} needs a `data:` file whose column {name:?} fills it")]
    NoData {
        /// The column named.
        name: String,
    },
    /// A placeholder naming a column the data file does not have.
    #[error(
        "placeholder {{{{{name}}}}}: {file} has no column {name:?}; its columns are: {columns}"
    )]
    NoColumn {
        /// The column named.
        name: String,
        /// The data file.
        file: String,
        /// Its columns, comma-separated.
        columns: String,
    },
}

/// One entry of a mix, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Unique within the mix, `[A-Za-z0-9_.-]`; empty for the single
    /// `request:`.
    pub name: String,
    /// Relative weight, 1 to [`MAX_WEIGHT`].
    pub weight: u32,
    /// HTTP method.
    pub method: http::Method,
    /// Path and query.
    pub path: Template,
    /// The path as written, placeholders included (for `run.json`).
    pub path_text: String,
    /// Extra headers, in file order.
    pub headers: Vec<(http::HeaderName, Template)>,
    /// The body (empty for none).
    pub body: Template,
}

/// The requests a scenario sends, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// One entry (`request:`) or the `requests:` list.
    pub entries: Vec<Entry>,
    /// The `data:` file, when there is one.
    pub data: Option<Arc<DataSet>>,
    /// Which row each send takes.
    pub order: Order,
    /// Seeds the entry draw and the `random`/`shuffle` orders.
    pub seed: u64,
    /// Whether results are kept per entry (`requests:` was used).
    pub per_request: bool,
}

impl Mix {
    /// The single request of a `request:` block.
    pub fn single(spec: &RequestSpec) -> Mix {
        Mix {
            entries: vec![Entry {
                name: String::new(),
                weight: 1,
                method: spec.method.clone(),
                path: Template::literal(spec.path.as_bytes()),
                path_text: spec.path.clone(),
                headers: spec
                    .headers
                    .iter()
                    .map(|(n, v)| (n.clone(), Template::literal(v.as_bytes())))
                    .collect(),
                body: Template::literal(spec.body.to_vec()),
            }],
            data: None,
            order: Order::default(),
            seed: DEFAULT_SEED,
            per_request: false,
        }
    }

    /// The entries' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Ready to send for one case: every entry serialised for `authority`,
    /// `connection` and `protocol`, once, or split into parts when it has
    /// placeholders. Fails only when an entry cannot be an HTTP/2 request.
    pub fn prepare(
        &self,
        scheme: &'static str,
        authority: &str,
        connection: ConnectionMode,
        protocol: Protocol,
    ) -> std::io::Result<Prepared> {
        let data = self.data.as_deref();
        let wires: Vec<Wire> = match protocol {
            Protocol::Http1 => self
                .entries
                .iter()
                .map(|e| Wire::new(e, authority, connection, data))
                .collect(),
            Protocol::Http2 => self
                .entries
                .iter()
                .map(|e| Wire::h2(e, scheme, authority))
                .collect::<std::io::Result<_>>()?,
        };
        let mut cumulative = Vec::with_capacity(self.entries.len());
        let mut total = 0u64;
        for e in &self.entries {
            total += u64::from(e.weight.max(1));
            cumulative.push(total);
        }
        let fixed =
            wires.len() == 1 && matches!(wires[0].bytes, Serialised::Fixed(_) | Serialised::H2(_));
        Ok(Prepared {
            wires,
            cumulative,
            total,
            data: self.data.clone(),
            order: self.order,
            seed: self.seed,
            per_request: self.per_request,
            fixed,
            next: AtomicU64::new(0),
        })
    }
}

/// One entry on the wire.
#[derive(Debug)]
struct Wire {
    bytes: Serialised,
    head: bool,
}

#[derive(Debug)]
enum Serialised {
    /// No placeholders: the request, serialised once.
    Fixed(Bytes),
    /// Placeholders: the head up to the framing, and the body.
    Parts {
        head: Template,
        body: Template,
        /// Whether `content-length` is written even for an empty body.
        length_always: bool,
    },
    /// HTTP/2, no placeholders: the request, prepared once.
    H2(Arc<H2Request>),
    /// HTTP/2 with placeholders: the entry, rendered per send.
    H2Parts {
        entry: Box<Entry>,
        scheme: &'static str,
        authority: String,
    },
}

impl Wire {
    /// The entry as HTTP/2 sends it.
    fn h2(e: &Entry, scheme: &'static str, authority: &str) -> std::io::Result<Wire> {
        let placeholders = e.path.columns().next().is_some()
            || e.body.columns().next().is_some()
            || e.headers.iter().any(|(_, v)| v.columns().next().is_some());
        let bytes = if placeholders {
            Serialised::H2Parts {
                entry: Box::new(e.clone()),
                scheme,
                authority: authority.to_string(),
            }
        } else {
            Serialised::H2(Arc::new(render_h2(e, scheme, authority, None, 0)?))
        };
        Ok(Wire {
            bytes,
            head: e.method == http::Method::HEAD,
        })
    }

    fn new(e: &Entry, authority: &str, connection: ConnectionMode, data: Option<&DataSet>) -> Wire {
        let mut head = Template::literal(e.method.as_str().as_bytes());
        head.append_bytes(b" ");
        head.append(&e.path);
        head.append_bytes(b" HTTP/1.1\r\nhost: ");
        head.append_bytes(authority.as_bytes());
        head.append_bytes(b"\r\n");
        for (name, value) in &e.headers {
            head.append_bytes(name.as_str().as_bytes());
            head.append_bytes(b": ");
            head.append(value);
            head.append_bytes(b"\r\n");
        }
        if connection == ConnectionMode::PerRequest {
            head.append_bytes(b"connection: close\r\n");
        }
        let has_length = e.headers.iter().any(|(n, _)| {
            n == http::header::CONTENT_LENGTH || n == http::header::TRANSFER_ENCODING
        });
        let length_always = !has_length && crate::h1::method_sends_body(&e.method);
        let placeholders = head.columns().next().is_some() || e.body.columns().next().is_some();
        let bytes = if placeholders {
            Serialised::Parts {
                head,
                body: e.body.clone(),
                length_always,
            }
        } else {
            Serialised::Fixed(Bytes::from(render(&head, &e.body, length_always, data, 0)))
        };
        Wire {
            bytes,
            head: e.method == http::Method::HEAD,
        }
    }
}

/// The request's bytes: the head, the framing, the body. The buffer is
/// sized exactly, so `Bytes::from` takes it over without a second
/// allocation.
fn render(
    head: &Template,
    body: &Template,
    length_always: bool,
    data: Option<&DataSet>,
    row: usize,
) -> Vec<u8> {
    const LENGTH: &[u8] = b"content-length: ";
    let body_len = body.len(data, row);
    let mut digits = [0u8; 20];
    let digits = decimal(body_len, &mut digits);
    let framing = if body_len > 0 || length_always {
        LENGTH.len() + digits.len() + 2
    } else {
        0
    };
    let mut out = Vec::with_capacity(head.len(data, row) + framing + 2 + body_len);
    head.render(&mut out, data, row);
    if framing > 0 {
        out.extend_from_slice(LENGTH);
        out.extend_from_slice(digits);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    body.render(&mut out, data, row);
    out
}

/// The entry as an HTTP/2 request, its placeholders filled from `row`.
fn render_h2(
    e: &Entry,
    scheme: &str,
    authority: &str,
    data: Option<&DataSet>,
    row: usize,
) -> std::io::Result<H2Request> {
    let text = |t: &Template| {
        let mut out = Vec::with_capacity(t.len(data, row));
        t.render(&mut out, data, row);
        out
    };
    let path = String::from_utf8(text(&e.path)).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "a path that is not UTF-8")
    })?;
    let mut headers = Vec::with_capacity(e.headers.len());
    for (name, value) in &e.headers {
        let value = http::HeaderValue::from_bytes(&text(value)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("header {name}: not a valid header value"),
            )
        })?;
        headers.push((name.clone(), value));
    }
    H2Request::from_parts(
        scheme,
        authority,
        &e.method,
        &path,
        headers.into_iter(),
        Bytes::from(text(&e.body)),
    )
}

/// `n` in decimal digits, written into the end of `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// What one send carries.
#[derive(Debug, Clone)]
pub struct Pick {
    /// The entry's position in the mix.
    pub index: usize,
    /// The request, for the case's protocol.
    pub payload: Payload,
    /// Whether it is a HEAD request (its answer has no body).
    pub head: bool,
}

/// The request of one send, for the case's protocol.
#[derive(Debug, Clone)]
pub enum Payload {
    /// HTTP/1.1: the request on the wire.
    H1(Bytes),
    /// HTTP/2: the request's parts.
    H2(Arc<H2Request>),
    /// HTTP/2: the placeholders made a request HTTP/2 cannot carry (a path
    /// or header the data file's row breaks); counted as an error.
    Unsendable,
}

/// A mix ready to send for one case, shared by its workers.
#[derive(Debug)]
pub struct Prepared {
    wires: Vec<Wire>,
    cumulative: Vec<u64>,
    total: u64,
    data: Option<Arc<DataSet>>,
    order: Order,
    seed: u64,
    per_request: bool,
    /// One entry without placeholders: no draw, no counter.
    fixed: bool,
    /// The next send's slot.
    next: AtomicU64,
}

impl Prepared {
    /// Whether results are kept per entry.
    pub fn per_request(&self) -> bool {
        self.per_request
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.wires.len()
    }

    /// Whether the mix has no entry (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.wires.is_empty()
    }

    /// The request for the next send.
    pub fn pick(&self) -> Pick {
        if self.fixed {
            return self.at(0, 0);
        }
        let slot = self.next.fetch_add(1, Ordering::Relaxed);
        self.at(self.entry(slot), slot)
    }

    /// The entry that slot `slot` draws.
    fn entry(&self, slot: u64) -> usize {
        if self.wires.len() == 1 {
            return 0;
        }
        let x = below(mix64(self.seed, slot), self.total);
        self.cumulative.partition_point(|&c| c <= x)
    }

    fn at(&self, index: usize, slot: u64) -> Pick {
        let wire = &self.wires[index];
        let row = |data: Option<&DataSet>| {
            data.map_or(0, |d| {
                self.order.row(self.seed, slot, d.rows() as u64) as usize
            })
        };
        let payload = match &wire.bytes {
            Serialised::Fixed(bytes) => Payload::H1(bytes.clone()),
            Serialised::Parts {
                head,
                body,
                length_always,
            } => {
                let data = self.data.as_deref();
                let row = row(data);
                Payload::H1(Bytes::from(render(head, body, *length_always, data, row)))
            }
            Serialised::H2(request) => Payload::H2(request.clone()),
            Serialised::H2Parts {
                entry,
                scheme,
                authority,
            } => {
                let data = self.data.as_deref();
                match render_h2(entry, scheme, authority, data, row(data)) {
                    Ok(request) => Payload::H2(Arc::new(request)),
                    Err(_) => Payload::Unsendable,
                }
            }
        };
        Pick {
            index,
            payload,
            head: wire.head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Format;
    use std::path::Path;

    /// The bytes an HTTP/1.1 pick carries.
    fn wire(pick: &Pick) -> Bytes {
        match &pick.payload {
            Payload::H1(bytes) => bytes.clone(),
            other => panic!("not an HTTP/1.1 pick: {other:?}"),
        }
    }

    fn users() -> Arc<DataSet> {
        Arc::new(
            DataSet::parse(
                Path::new("users.csv"),
                b"user,id\nada,1\nbob,22\ncy,333\n",
                Format::Csv,
            )
            .unwrap(),
        )
    }

    fn entry(name: &str, weight: u32, path: &str, data: Option<&DataSet>) -> Entry {
        Entry {
            name: name.into(),
            weight,
            method: http::Method::GET,
            path: Template::parse(path, data).unwrap(),
            path_text: path.into(),
            headers: Vec::new(),
            body: Template::default(),
        }
    }

    /// The single request goes out exactly as `h1::serialize_request`
    /// writes it, whatever its method, headers, body and connection mode.
    #[test]
    fn a_single_request_is_serialised_as_h1_does() {
        for (method, body, per_request) in [
            (http::Method::GET, "", false),
            (http::Method::POST, "", true),
            (http::Method::PUT, "{\"a\":1}", false),
            (http::Method::HEAD, "", true),
        ] {
            let spec = RequestSpec {
                method: method.clone(),
                path: "/a?b=c".into(),
                headers: vec![(
                    http::HeaderName::from_static("x-k"),
                    http::HeaderValue::from_static("v"),
                )],
                body: Bytes::from(body),
                timeout: std::time::Duration::from_secs(1),
                connect_timeout: std::time::Duration::from_secs(1),
            };
            let connection = if per_request {
                ConnectionMode::PerRequest
            } else {
                ConnectionMode::Reuse
            };
            let endpoint = crate::http::Endpoint {
                connection,
                ..crate::http::Endpoint::for_tests("127.0.0.1:1".parse().unwrap(), spec.clone())
            };
            let prepared = Mix::single(&spec)
                .prepare("http", "127.0.0.1:1", connection, Protocol::Http1)
                .unwrap();
            let pick = prepared.pick();
            assert_eq!(
                wire(&pick),
                crate::h1::serialize_request(&endpoint),
                "{method}"
            );
            assert_eq!(pick.head, method == http::Method::HEAD);
            assert!(prepared.fixed);
        }
    }

    #[test]
    fn placeholders_fill_path_headers_and_body_with_their_length() {
        let data = users();
        let mut e = entry("login", 1, "/u/{{ user }}?id={{id}}", Some(&data));
        e.method = http::Method::POST;
        e.headers = vec![(
            http::HeaderName::from_static("x-user"),
            Template::parse("{{user}}", Some(&data)).unwrap(),
        )];
        e.body = Template::parse("{\"id\":{{id}}}", Some(&data)).unwrap();
        let mix = Mix {
            entries: vec![e],
            data: Some(data),
            order: Order::Sequential,
            seed: 7,
            per_request: true,
        };
        let prepared = mix
            .prepare("http", "h", ConnectionMode::Reuse, Protocol::Http1)
            .unwrap();
        let sent: Vec<String> = (0..4)
            .map(|_| String::from_utf8(wire(&prepared.pick()).to_vec()).unwrap())
            .collect();
        assert_eq!(
            sent[1],
            "POST /u/bob?id=22 HTTP/1.1\r\nhost: h\r\nx-user: bob\r\ncontent-length: 9\r\n\r\n{\"id\":22}"
        );
        assert!(sent[0].starts_with("POST /u/ada?id=1 "));
        assert!(sent[2].ends_with("{\"id\":333}"));
        assert!(sent[3].starts_with("POST /u/ada?id=1 "), "wraps around");
    }

    #[test]
    fn rendered_requests_fill_their_buffer_exactly() {
        let data = users();
        let body = Template::parse("{\"id\":{{id}}}", Some(&data)).unwrap();
        let head = Template::parse("POST /u/{{user}} HTTP/1.1\r\n", Some(&data)).unwrap();
        for row in 0..3 {
            for length_always in [false, true] {
                let out = render(&head, &body, length_always, Some(&data), row);
                assert_eq!(out.len(), out.capacity(), "row {row}");
            }
            let empty = render(&head, &Template::default(), false, Some(&data), row);
            assert_eq!(empty.len(), empty.capacity());
            assert!(!String::from_utf8(empty).unwrap().contains("content-length"));
        }
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1_234_567, &mut buf), b"1234567");
        assert_eq!(
            decimal(usize::MAX, &mut buf),
            usize::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn bad_placeholders_say_what_is_allowed() {
        let data = users();
        assert_eq!(
            Template::parse("/u/{{name}}", Some(&data))
                .unwrap_err()
                .to_string(),
            "placeholder {{name}}: users.csv has no column \"name\"; its columns are: user, id"
        );
        assert_eq!(
            Template::parse("/u/{{user", Some(&data))
                .unwrap_err()
                .to_string(),
            "`{{` without a closing `}}` in \"/u/{{user\"; a placeholder is written {{column}}"
        );
        assert_eq!(
            Template::parse("/u/{{user}}", None)
                .unwrap_err()
                .to_string(),
            "placeholder {{user}} needs a `data:` file whose column \"user\" fills it"
        );
    }

    #[test]
    fn weights_split_the_sends_and_the_draw_is_reproducible() {
        let mix = |seed| Mix {
            entries: vec![
                entry("a", 70, "/a", None),
                entry("b", 20, "/b", None),
                entry("c", 10, "/c", None),
            ],
            data: None,
            order: Order::Sequential,
            seed,
            per_request: true,
        };
        let draws = |seed| {
            let p = mix(seed)
                .prepare("http", "h", ConnectionMode::Reuse, Protocol::Http1)
                .unwrap();
            (0..10_000).map(|_| p.pick().index).collect::<Vec<_>>()
        };
        let first = draws(3);
        assert_eq!(first, draws(3));
        assert_ne!(first, draws(4));
        let mut counts = [0u32; 3];
        for i in &first {
            counts[*i] += 1;
        }
        for (count, weight) in counts.iter().zip([70.0, 20.0, 10.0]) {
            let share = f64::from(*count) / 100.0;
            assert!((share - weight).abs() < 2.0, "{counts:?}");
        }
    }
}
