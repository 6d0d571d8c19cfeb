//! Scenario files: the YAML schema, `--set` overrides, validation and sweep
//! expansion.
//!
//! Loading happens in two stages. Serde reads the text into the `Raw*` types,
//! which mirror the file and reject unknown fields and wrong types (serde_yaml
//! reports line and column). Validation then turns them into [`Scenario`] and
//! [`Case`], types that cannot hold an invalid value, and expands sweeps
//! (`tasks: [1, 5, 50]`, `rate: [500/s, 1000/s]`) into one case per value.

use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use mock_server::duration::HumanDuration;
use mock_server::{ServerConfig, Settings};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::locate;

/// A scenario file that could not be used: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field path, e.g. `cases[2].tasks`; empty for the whole file.
    pub field: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Which executor a case runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// A plain loop with a blocking client, no async runtime.
    Sequential,
    /// One async task sending requests one after another.
    SingleTask,
    /// N concurrent async tasks (closed loop).
    Tasks,
    /// Every request launched at once as its own task.
    Unbounded,
    /// Open loop at a fixed total rate.
    Rate,
}

impl ExecutorKind {
    /// The name used in YAML, tables and CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Sequential => "sequential",
            ExecutorKind::SingleTask => "single_task",
            ExecutorKind::Tasks => "tasks",
            ExecutorKind::Unbounded => "unbounded",
            ExecutorKind::Rate => "rate",
        }
    }
}

/// Which tokio runtime an async case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeKind {
    /// One thread, one event loop: the classic async lesson.
    CurrentThread,
    /// One worker thread per core.
    #[default]
    MultiThread,
}

/// Whether requests share kept-alive connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// Keep-alive: each worker reuses its connection (or a pooled one).
    #[default]
    Reuse,
    /// A fresh TCP connection for every request.
    PerRequest,
}

/// Which HTTP version the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.1: one request at a time on each connection.
    #[default]
    Http1,
    /// HTTP/2; over `http://` with prior knowledge (h2c): up to
    /// `streams_per_connection` requests share one connection at once.
    Http2,
}

impl Protocol {
    /// The name used in YAML, tables and CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
        }
    }
}

/// A total request rate, written `2000/s`, `120/m` or a plain number (per second).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate {
    per_second: f64,
}

impl Rate {
    /// Requests per second; always finite and positive.
    pub fn per_second(self) -> f64 {
        self.per_second
    }

    /// The lowest rate accepted: one request every 1000 s.
    pub const MIN_PER_SECOND: f64 = 0.001;
    /// The highest rate accepted.
    pub const MAX_PER_SECOND: f64 = 10_000_000.0;

    /// A rate of `per_second` requests a second, if it is between
    /// [`Rate::MIN_PER_SECOND`] and [`Rate::MAX_PER_SECOND`], so the interval
    /// between sends and the number of sends always fit their types.
    pub fn new(per_second: f64) -> Option<Rate> {
        (per_second.is_finite()
            && (Self::MIN_PER_SECOND..=Self::MAX_PER_SECOND).contains(&per_second))
        .then_some(Rate { per_second })
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (number, scale) = if let Some(n) = text.strip_suffix("/s") {
            (n, 1.0)
        } else if let Some(n) = text.strip_suffix("/m") {
            (n, 1.0 / 60.0)
        } else {
            (text, 1.0)
        };
        number
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|n| Rate::new(n * scale))
            .ok_or_else(|| {
                format!(
                    "invalid rate {s:?}: expected a number of requests per second such as 2000/s, 120/m or 500, from 0.001/s to 10000000/s"
                )
            })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", trim_number(self.per_second))
    }
}

fn trim_number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor::new("a rate such as 2000/s", |text: &str| {
            text.parse::<Rate>()
        }))
    }
}

/// Reads a scalar (string or number) through a text parser. Errors are
/// raised at the scalar itself, so serde_yaml reports its line and column.
struct ScalarVisitor<F> {
    expecting: &'static str,
    parse: F,
}

impl<F> ScalarVisitor<F> {
    fn new(expecting: &'static str, parse: F) -> Self {
        ScalarVisitor { expecting, parse }
    }
}

impl<T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'_> for ScalarVisitor<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Requests or time not recorded before a case's measurement starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Warmup {
    /// No warm-up.
    #[default]
    None,
    /// This many requests in total, spread over the case's workers.
    Requests(NonZeroU64),
    /// Run for this long.
    Time(Duration),
}

impl FromStr for Warmup {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "invalid warmup {text:?}: expected a whole number of requests (0 to {MAX_REQUESTS}) or a duration (0 to {})",
                mock_server::duration::format(MAX_WARMUP_TIME)
            )
        };
        if let Ok(n) = text.trim().parse::<u64>() {
            if n > MAX_REQUESTS {
                return Err(invalid());
            }
            return Ok(NonZeroU64::new(n).map_or(Warmup::None, Warmup::Requests));
        }
        match mock_server::duration::parse(text) {
            Ok(d) if d.is_zero() => Ok(Warmup::None),
            Ok(d) if d <= MAX_WARMUP_TIME => Ok(Warmup::Time(d)),
            _ => Err(invalid()),
        }
    }
}

/// Most requests a count in a scenario may name (per case, per task, or
/// of warm-up), so every product and sum of counts fits a `u64`.
pub const MAX_REQUESTS: u64 = 1_000_000_000;
/// Longest warm-up given as a duration.
pub const MAX_WARMUP_TIME: Duration = Duration::from_secs(3600);
/// Longest case duration.
pub const MAX_CASE_TIME: Duration = Duration::from_secs(86_400);
/// Longest request or connect timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Largest scenario file read.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting of YAML collections accepted.
pub const MAX_DEPTH: usize = 64;

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor::new(
            "a number of requests (100) or a duration (2s)",
            |text: &str| text.parse::<Warmup>(),
        ))
    }
}

/// One value or a list of them (a sweep).
#[derive(Debug, Clone, PartialEq)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<'de, T: FromStr<Err = String>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

/// Reads one scalar or a sequence of them, each through `T::from_str`, so
/// an error points at the offending element.
struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);

/// One element of a sweep list, parsed from its scalar text.
struct Element<T>(T);

impl<'de, T: FromStr<Err = String>> Deserialize<'de> for Element<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor::new("a single value", |t: &str| {
            t.parse::<T>()
        }))
        .map(Element)
    }
}

impl<'de, T: FromStr<Err = String>> serde::de::Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a single value or a list of values (a sweep)")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Element(item)) = seq.next_element::<Element<T>>()? {
            items.push(item);
        }
        Ok(OneOrMany::Many(items))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        v.parse().map(OneOrMany::One).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.visit_str(&v.to_string())
    }
}

/// A task count as written in a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TaskCount(u32);

impl FromStr for TaskCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<u32>().map(TaskCount).map_err(|_| {
            format!("invalid task count {s:?}: expected a whole number from 1 to 100000")
        })
    }
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    server: Option<ServerConfig>,
    url: Option<String>,
    protocol: Option<Protocol>,
    streams_per_connection: Option<u32>,
    request: Option<RawRequest>,
    requests: Option<Vec<RawEntry>>,
    data: Option<RawData>,
    seed: Option<u64>,
    tls: Option<RawTls>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    checks: Vec<RawCheck>,
    cases: Vec<RawCase>,
}

/// One entry of a `requests:` mix as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    weight: Option<u32>,
    method: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_file: Option<String>,
}

/// A `data:` block as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    file: String,
    #[serde(default)]
    order: crate::data::Order,
    format: Option<crate::data::Format>,
}

/// A check as written: an expression for the whole case, or one for a
/// single entry of the mix.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawCheck {
    Case(String),
    Request(RawRequestCheck),
}

/// `{request: NAME, check: EXPR}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequestCheck {
    request: String,
    check: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    method: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    timeout: Option<HumanDuration>,
    connect_timeout: Option<HumanDuration>,
}

/// The `tls:` block as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
    server_name: Option<String>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    runtime: Option<RuntimeKind>,
    connection: Option<ConnectionMode>,
    warmup: Option<Warmup>,
    max_in_flight: Option<u32>,
    timeout: Option<HumanDuration>,
    connect_timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    executor: ExecutorKind,
    requests: Option<u64>,
    tasks: Option<OneOrMany<TaskCount>>,
    requests_per_task: Option<u64>,
    duration: Option<HumanDuration>,
    rate: Option<OneOrMany<Rate>>,
    max_in_flight: Option<u32>,
    runtime: Option<RuntimeKind>,
    connection: Option<ConnectionMode>,
    protocol: Option<Protocol>,
    streams_per_connection: Option<u32>,
    warmup: Option<Warmup>,
    #[serde(default)]
    checks: Vec<RawCheck>,
    search: Option<RawSearch>,
}

/// A case's `search:` block as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    over: SearchOver,
    from: Option<ScalarText>,
    #[serde(default)]
    objective: Vec<String>,
    precision: Option<ScalarText>,
    step_duration: Option<HumanDuration>,
    max_steps: Option<u64>,
    confirm: Option<bool>,
}

/// A scalar (string or number) kept as its text, parsed once the
/// surrounding fields say how.
#[derive(Debug, Clone)]
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor::new("a single value", |t: &str| {
            Ok::<_, String>(ScalarText(t.to_string()))
        }))
    }
}

/// What a search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOver {
    /// The open loop's total rate (executor `rate`).
    Rate,
    /// The number of concurrent tasks (executor `tasks`).
    Tasks,
}

impl SearchOver {
    /// The name used in YAML and `run.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchOver::Rate => "rate",
            SearchOver::Tasks => "tasks",
        }
    }

    /// The executor a search over this runs with.
    pub fn executor(self) -> ExecutorKind {
        match self {
            SearchOver::Rate => ExecutorKind::Rate,
            SearchOver::Tasks => ExecutorKind::Tasks,
        }
    }

    /// The lowest and highest load a search over this may try.
    pub fn bounds(self) -> (f64, f64) {
        match self {
            SearchOver::Rate => (Rate::MIN_PER_SECOND, Rate::MAX_PER_SECOND),
            SearchOver::Tasks => (1.0, f64::from(MAX_TASKS)),
        }
    }
}

/// An adaptive search for the highest load that meets an objective (see
/// `crate::search`). The case's shape is the first step's.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// What the search varies.
    pub over: SearchOver,
    /// The first load tried: requests per second, or a task count.
    pub from: f64,
    /// Every step must pass all of these to count as passing.
    pub objective: Vec<crate::checks::Check>,
    /// Stop when `(fail - pass) / pass` is at most this (a fraction, > 0).
    pub precision: f64,
    /// How long each step measures.
    pub step_duration: Duration,
    /// Most steps run, re-runs included.
    pub max_steps: NonZeroU32,
    /// Whether a failing step is re-run once before it is believed.
    pub confirm: bool,
}

/// Most tasks a case may run.
pub const MAX_TASKS: u32 = 100_000;
/// Most HTTP/2 streams per connection a scenario may ask for.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 10_000;
/// Most steps a search may run.
pub const MAX_SEARCH_STEPS: u32 = 100;
/// Default search precision: 5%.
pub const DEFAULT_PRECISION: f64 = 0.05;
/// Default length of a search step.
pub const DEFAULT_STEP_DURATION: Duration = Duration::from_secs(10);
/// Default number of steps of a search.
pub const DEFAULT_MAX_STEPS: u32 = 20;

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// The mock server, started inside the client on 127.0.0.1 with a free port.
    Embedded(Box<Settings>),
    /// Any HTTP server.
    Url(http::Uri),
}

/// The TLS side of a scenario whose target speaks TLS (an `https://` URL,
/// or an embedded server with `tls:`): its `tls:` block read and checked,
/// certificates parsed.
#[derive(Debug, Clone)]
pub struct ScenarioTls {
    /// Roots, client identity, server name, `insecure`, ready for
    /// `connect::TlsClient`.
    pub options: crate::connect::TlsOptions,
    /// `tls.ca` as written (for `run.json`).
    pub ca: Option<String>,
    /// `tls.client_cert` as written (for `run.json`).
    pub client_cert: Option<String>,
    /// `tls.server_name` as written.
    pub server_name: Option<String>,
}

/// The request every case sends.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    /// HTTP method.
    pub method: http::Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Extra headers, in file order.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Request body; empty for none.
    pub body: bytes::Bytes,
    /// Per-request timeout (response headers and body).
    pub timeout: Duration,
    /// Timeout for establishing a TCP connection.
    pub connect_timeout: Duration,
}

/// How much work a closed-loop worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This many requests.
    Requests(NonZeroU64),
    /// As many requests as fit in this time.
    Time(Duration),
}

/// What a case does: the executor and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Blocking loop, one request after another.
    Sequential(Amount),
    /// One async task, one request after another.
    SingleTask(Amount),
    /// `tasks` concurrent tasks, each doing `per_task`.
    Tasks {
        /// Number of concurrent tasks.
        tasks: NonZeroU32,
        /// Work per task.
        per_task: Amount,
    },
    /// All requests launched at once.
    Unbounded {
        /// Number of requests.
        requests: NonZeroU64,
    },
    /// Open loop at a fixed total rate.
    Rate {
        /// Total rate for the case.
        rate: Rate,
        /// How long to send for.
        duration: Duration,
        /// Most requests outstanding at once; past it sends wait and turn late.
        max_in_flight: NonZeroU32,
    },
}

impl Shape {
    /// The executor this shape runs with.
    pub fn executor(&self) -> ExecutorKind {
        match self {
            Shape::Sequential(_) => ExecutorKind::Sequential,
            Shape::SingleTask(_) => ExecutorKind::SingleTask,
            Shape::Tasks { .. } => ExecutorKind::Tasks,
            Shape::Unbounded { .. } => ExecutorKind::Unbounded,
            Shape::Rate { .. } => ExecutorKind::Rate,
        }
    }

    /// Requests in flight at most (closed loop); `None` for the open loop.
    pub fn concurrency(&self) -> Option<u64> {
        match self {
            Shape::Sequential(_) | Shape::SingleTask(_) => Some(1),
            Shape::Tasks { tasks, .. } => Some(u64::from(tasks.get())),
            Shape::Unbounded { requests } => Some(requests.get()),
            Shape::Rate { .. } => None,
        }
    }

    /// The target rate of an open-loop case.
    pub fn rate(&self) -> Option<Rate> {
        match self {
            Shape::Rate { rate, .. } => Some(*rate),
            _ => None,
        }
    }

    /// Requests the case will send in total, when known in advance.
    pub fn planned_requests(&self) -> Option<u64> {
        match *self {
            Shape::Sequential(Amount::Requests(n)) | Shape::SingleTask(Amount::Requests(n)) => {
                Some(n.get())
            }
            Shape::Tasks {
                tasks,
                per_task: Amount::Requests(n),
            } => Some(u64::from(tasks.get()).saturating_mul(n.get())),
            Shape::Unbounded { requests } => Some(requests.get()),
            Shape::Rate { rate, duration, .. } => {
                Some((rate.per_second() * duration.as_secs_f64()).ceil() as u64)
            }
            _ => None,
        }
    }

    /// How long the case is planned to run, for time-bounded cases.
    pub fn planned_time(&self) -> Option<Duration> {
        match *self {
            Shape::Sequential(Amount::Time(d))
            | Shape::SingleTask(Amount::Time(d))
            | Shape::Tasks {
                per_task: Amount::Time(d),
                ..
            }
            | Shape::Rate { duration: d, .. } => Some(d),
            _ => None,
        }
    }
}

/// One case, after sweep expansion: everything needed to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Unique name within the scenario; safe as a file name.
    pub name: String,
    /// The name in the file before sweep expansion (what `--set` and `--only` match too).
    pub base_name: String,
    /// Executor and parameters.
    pub shape: Shape,
    /// Runtime for async executors (ignored by `sequential`).
    pub runtime: RuntimeKind,
    /// Connection reuse.
    pub connection: ConnectionMode,
    /// HTTP/1.1 or HTTP/2.
    pub protocol: Protocol,
    /// HTTP/2: how many requests share one connection at once (always 1
    /// for HTTP/1.1 and for `connection: per_request`).
    pub streams_per_connection: NonZeroU32,
    /// Warm-up before measurement.
    pub warmup: Warmup,
    /// Threshold checks for this case (scenario-wide ones first).
    pub checks: Vec<crate::checks::Check>,
    /// When set, the case is a search: `run` runs it step by step from
    /// [`Case::shape`], each step a case of its own.
    pub search: Option<Search>,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name, from the file or its stem; safe as a file name.
    pub name: String,
    /// Free text from the file.
    pub description: Option<String>,
    /// The file it came from.
    pub source: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub source_sha256: String,
    /// Where the load goes.
    pub target: Target,
    /// TLS, when the target speaks it; `None` for plain HTTP.
    pub tls: Option<ScenarioTls>,
    /// The request to send (for a mix: its first entry as written) and
    /// the timeouts.
    pub request: RequestSpec,
    /// What each send carries: the single request, or the weighted mix
    /// with its data.
    pub mix: std::sync::Arc<crate::mix::Mix>,
    /// Cases in order, sweeps expanded.
    pub cases: Vec<Case>,
}

/// Loads, overrides, validates and expands a scenario file.
///
/// `overrides` are `path=value` pairs as given to `--set`; `only` keeps the
/// cases whose name or base name is listed (all when empty).
///
/// A path of `-` reads the scenario from standard input; errors then name
/// `<stdin>` and the scenario's default name is `stdin`.
pub fn load(path: &Path, overrides: &[String], only: &[String]) -> Result<Scenario, ScenarioError> {
    let stdin = path == Path::new("-");
    let shown = if stdin { Path::new(STDIN_NAME) } else { path };
    let fail = |message: String| ScenarioError {
        file: shown.to_path_buf(),
        position: None,
        field: String::new(),
        message,
    };
    let mut bytes = Vec::new();
    let read = if stdin {
        use std::io::Read;
        std::io::stdin()
            .lock()
            .take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| {
            use std::io::Read;
            f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)
        })
    };
    read.map_err(|e| fail(format!("cannot read the file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(shown, &text, overrides, only)
}

/// How standard input is named in messages and `run.json`.
pub const STDIN_NAME: &str = "<stdin>";

/// Like [`load`], from text already read.
pub fn parse(
    path: &Path,
    text: &str,
    overrides: &[String],
    only: &[String],
) -> Result<Scenario, ScenarioError> {
    let ctx = Context { file: path, text };
    check_size_and_depth(text).map_err(|(position, message)| ScenarioError {
        file: path.to_path_buf(),
        position,
        field: String::new(),
        message,
    })?;
    let raw: RawScenario = serde_yaml::from_str(text).map_err(|e| ctx.serde_error(&e))?;
    let raw = if overrides.is_empty() {
        raw
    } else {
        apply_overrides(&ctx, overrides)?
    };
    let mut scenario = ctx.validate(raw)?;
    if !only.is_empty() {
        for wanted in only {
            if !scenario
                .cases
                .iter()
                .any(|c| &c.name == wanted || &c.base_name == wanted)
            {
                let names: Vec<&str> = scenario.cases.iter().map(|c| c.name.as_str()).collect();
                return Err(ctx.error(
                    None,
                    "--only",
                    format!(
                        "no case named {wanted:?}; the cases are: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        scenario
            .cases
            .retain(|c| only.contains(&c.name) || only.contains(&c.base_name));
    }
    Ok(scenario)
}

fn apply_overrides(ctx: &Context<'_>, overrides: &[String]) -> Result<RawScenario, ScenarioError> {
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(ctx.text).map_err(|e| ctx.serde_error(&e))?;
    for item in overrides {
        crate::overrides::apply(&mut value, item)
            .map_err(|message| ctx.error(None, &format!("--set {item}"), message))?;
    }
    serde_yaml::from_value(value.clone()).map_err(|e| {
        // `from_value` errors carry no field path; reading the merged
        // document back as text gives the same error with its path.
        let located = serde_yaml::to_string(&value)
            .ok()
            .and_then(|text| serde_yaml::from_str::<RawScenario>(&text).err())
            .map(|e| e.to_string())
            .unwrap_or_else(|| e.to_string());
        let (field, message) = split_field(&strip_location(&located));
        ctx.error(None, &field, format!("after --set overrides: {message}"))
    })
}

/// Splits serde_yaml's "path.to[1].field: message" into its two parts.
fn split_field(message: &str) -> (String, String) {
    match message.split_once(": ") {
        Some((f, m)) if !f.contains(' ') => (f.to_string(), m.to_string()),
        _ => (String::new(), message.to_string()),
    }
}

fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

struct Context<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Context<'_> {
    fn error(
        &self,
        path: Option<&[locate::Seg<'_>]>,
        field: &str,
        message: String,
    ) -> ScenarioError {
        ScenarioError {
            file: self.file.to_path_buf(),
            position: path.and_then(|p| locate::find(self.text, p)),
            field: field.to_string(),
            message,
        }
    }

    fn serde_error(&self, e: &serde_yaml::Error) -> ScenarioError {
        let full = e.to_string();
        let (field, message) = split_field(&strip_location(&full));
        ScenarioError {
            file: self.file.to_path_buf(),
            position: e.location().map(|l| (l.line(), l.column())),
            field,
            message,
        }
    }

    fn validate(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        use locate::Seg;
        let name = match raw.name {
            Some(n) => {
                check_name(&n).map_err(|m| self.error(Some(&[Seg::Key("name")]), "name", m))?;
                n
            }
            None => sanitized_stem(self.file),
        };
        let target = self.target(raw.server, raw.url)?;
        let tls = self.tls(raw.tls, &target)?;
        let url_path = match &target {
            Target::Url(uri) => url_path(uri),
            Target::Embedded(_) => None,
        };
        let basic = |request: &mut RequestSpec| {
            if let Target::Url(uri) = &target {
                add_basic_auth(uri, request);
            }
        };
        let (request, mix) = match (raw.request, raw.requests) {
            (Some(_), Some(_)) => return Err(self.error(
                Some(&[Seg::Key("requests")]),
                "requests",
                "give either `request:` (one request) or `requests:` (a weighted mix), not both"
                    .into(),
            )),
            (request, None) => {
                if raw.data.is_some() {
                    return Err(self.error(
                        Some(&[Seg::Key("data")]),
                        "data",
                        "`data:` fills placeholders in the entries of `requests:`; write the request as a one-entry `requests:` list".into(),
                    ));
                }
                for key in ["timeout", "connect_timeout"] {
                    let given = match key {
                        "timeout" => raw.defaults.timeout.is_some(),
                        _ => raw.defaults.connect_timeout.is_some(),
                    };
                    if given {
                        return Err(self.error(
                            Some(&[Seg::Key("defaults"), Seg::Key(key)]),
                            &format!("defaults.{key}"),
                            format!("with `request:`, give `{key}` there; `defaults.{key}` is for `requests:` mixes"),
                        ));
                    }
                }
                let mut request = self.request(request.unwrap_or_default(), url_path)?;
                basic(&mut request);
                let mut mix = crate::mix::Mix::single(&request);
                mix.seed = raw.seed.unwrap_or(crate::mix::DEFAULT_SEED);
                (request, mix)
            }
            (None, Some(entries)) => {
                let mut mix = self.mix(entries, raw.data, url_path)?;
                mix.seed = raw.seed.unwrap_or(crate::mix::DEFAULT_SEED);
                if let Target::Url(uri) = &target {
                    for entry in &mut mix.entries {
                        add_basic_auth_to_entry(uri, entry);
                    }
                }
                let mut request = self.mix_request(&mix, &raw.defaults)?;
                basic(&mut request);
                (request, mix)
            }
        };
        let names = if mix.per_request {
            mix.names()
        } else {
            Vec::new()
        };
        if raw.cases.is_empty() {
            return Err(self.error(
                Some(&[Seg::Key("cases")]),
                "cases",
                "a scenario needs at least one case".into(),
            ));
        }
        let scenario_checks = self.checks(&raw.checks, &[Seg::Key("checks")], "checks", &names)?;
        let mut cases = Vec::new();
        for (i, case) in raw.cases.into_iter().enumerate() {
            let top = TopLevel {
                defaults: &raw.defaults,
                checks: &scenario_checks,
                protocol: raw.protocol,
                streams_per_connection: raw.streams_per_connection,
                requests: &names,
            };
            cases.extend(self.case(i, case, &top)?);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, case) in cases.iter().enumerate() {
            if !seen.insert(case.name.clone()) {
                return Err(self.error(
                    Some(&[Seg::Key("cases"), Seg::Index(i)]),
                    "cases",
                    format!(
                        "two cases are named {:?}; case names must be unique",
                        case.name
                    ),
                ));
            }
        }
        Ok(Scenario {
            name,
            description: raw.description,
            source: self.file.to_path_buf(),
            source_sha256: sha256_hex(self.text.as_bytes()),
            target,
            tls,
            request,
            mix: std::sync::Arc::new(mix),
            cases,
        })
    }

    /// Parses check expressions; an error names the list and the entry.
    /// A per-request check must name one of `requests` (the mix's entries).
    fn checks(
        &self,
        raw: &[RawCheck],
        path: &[locate::Seg<'_>],
        field: &str,
        requests: &[String],
    ) -> Result<Vec<crate::checks::Check>, ScenarioError> {
        raw.iter()
            .enumerate()
            .map(|(i, raw)| {
                let mut at = path.to_vec();
                at.push(locate::Seg::Index(i));
                let fail = |m: String| {
                    let mut err = self.error(Some(&at), &format!("{field}[{i}]"), m);
                    if err.position.is_none() {
                        err.position = locate::find(self.text, path);
                    }
                    err
                };
                match raw {
                    RawCheck::Case(text) => crate::checks::parse(text).map_err(|e| fail(e.to_string())),
                    RawCheck::Request(RawRequestCheck { request, check }) => {
                        if !requests.contains(request) {
                            return Err(fail(if requests.is_empty() {
                                format!("a check for request {request:?} needs a `requests:` mix with an entry of that name")
                            } else {
                                format!("no request named {request:?}; the requests are: {}", requests.join(", "))
                            }));
                        }
                        crate::checks::parse(check)
                            .map(|c| c.for_request(request))
                            .map_err(|e| fail(e.to_string()))
                    }
                }
            })
            .collect()
    }

    fn target(
        &self,
        server: Option<ServerConfig>,
        url: Option<String>,
    ) -> Result<Target, ScenarioError> {
        use locate::Seg;
        match (server, url) {
            (Some(_), Some(_)) => Err(self.error(
                Some(&[Seg::Key("url")]),
                "url",
                "give either `server:` (the embedded mock server) or `url:` (an external server), not both".into(),
            )),
            (None, None) => Err(self.error(
                None,
                "",
                "the scenario has no target: add `server:` (the embedded mock server) or `url: http://127.0.0.1:PORT/`".into(),
            )),
            (Some(config), None) => {
                let mut config = config;
                config.listen = Some("127.0.0.1:0".parse().expect("literal address"));
                config
                    .validate()
                    .map(|s| Target::Embedded(Box::new(s)))
                    .map_err(|e| match e {
                        // A rule across fields: named at its field when the
                        // file has it, else at `server:`.
                        mock_server::ConfigError::Invalid { field, message } => {
                            let mut located =
                                self.error(Some(&[Seg::Key("server"), Seg::Key(field)]), "", message);
                            if located.position.is_none() {
                                located.position = locate::find(self.text, &[Seg::Key("server")]);
                            }
                            located.field = format!("server.{field}");
                            located
                        }
                        other => self.error(Some(&[Seg::Key("server")]), "server", other.to_string()),
                    })
            }
            (None, Some(url)) => parse_url(&url)
                .map(Target::Url)
                .map_err(|m| self.error(Some(&[Seg::Key("url")]), "url", m)),
        }
    }

    /// The `tls:` block, for a target that speaks TLS; refused for one that
    /// does not. Certificate files are read and parsed here, so a bad one
    /// is a located error before anything runs. Relative paths are taken
    /// from the current folder, like the server's `tls_cert`.
    fn tls(
        &self,
        raw: Option<RawTls>,
        target: &Target,
    ) -> Result<Option<ScenarioTls>, ScenarioError> {
        use locate::Seg;
        let (speaks_tls, embedded) = match target {
            Target::Url(uri) => (uri.scheme_str() == Some("https"), false),
            Target::Embedded(settings) => (settings.tls.is_some(), true),
        };
        if !speaks_tls {
            return match raw {
                None => Ok(None),
                Some(_) => Err(self.error(
                    Some(&[Seg::Key("tls")]),
                    "tls",
                    if embedded {
                        "the embedded server speaks plain HTTP: add `tls: self_signed` to `server:` (or remove `tls:`)".into()
                    } else {
                        "the target is http://, which has no TLS: use an https:// url (or remove `tls:`)".into()
                    },
                )),
            };
        }
        let raw = raw.unwrap_or_default();
        let at = |key| [Seg::Key("tls"), Seg::Key(key)];
        let err = |key: &'static str, message: String| {
            self.error(Some(&at(key)), &format!("tls.{key}"), message)
        };
        let file_error = |key: &'static str, e: mock_server::tls::TlsError| {
            let text = e.to_string();
            // The server's reader names its field first; ours is in the field path.
            let text = text.strip_prefix(&format!("tls.{key} ")).unwrap_or(&text);
            err(key, text.to_string())
        };
        if raw.insecure && raw.ca.is_some() {
            return Err(err(
                "ca",
                "insecure: true checks no certificate, so `ca` would not be used; give one of the two".into(),
            ));
        }
        let mut options = crate::connect::TlsOptions {
            system_roots: !embedded,
            insecure: raw.insecure,
            ..Default::default()
        };
        if let Some(ca) = &raw.ca {
            options.extra_roots = mock_server::tls::read_certs("tls.ca", Path::new(ca))
                .map_err(|e| file_error("ca", e))?;
        }
        options.client_identity = match (&raw.client_cert, &raw.client_key) {
            (Some(cert), Some(key)) => Some(crate::connect::ClientIdentity {
                certs: mock_server::tls::read_certs("tls.client_cert", Path::new(cert))
                    .map_err(|e| file_error("client_cert", e))?,
                key: mock_server::tls::read_key("tls.client_key", Path::new(key))
                    .map_err(|e| file_error("client_key", e))?,
            }),
            (Some(_), None) => {
                return Err(err(
                    "client_cert",
                    "client_cert needs client_key (its private key, PEM) for mutual TLS".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(err(
                    "client_key",
                    "client_key needs client_cert (the certificate chain, PEM) for mutual TLS"
                        .into(),
                ))
            }
            (None, None) => None,
        };
        if let Some(name) = &raw.server_name {
            let parsed = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| {
                err(
                    "server_name",
                    format!("{name:?} is not a valid TLS server name: expected a DNS name such as api.example.com, or an IP address"),
                )
            })?;
            options.server_name = Some(parsed);
        }
        Ok(Some(ScenarioTls {
            options,
            ca: raw.ca,
            client_cert: raw.client_cert,
            server_name: raw.server_name,
        }))
    }

    /// The request; its path comes from `request.path` or else from the
    /// URL (`url_path`), and the two must not disagree.
    fn request(
        &self,
        raw: RawRequest,
        url_path: Option<String>,
    ) -> Result<RequestSpec, ScenarioError> {
        use locate::Seg;
        let at = |key| [Seg::Key("request"), Seg::Key(key)];
        let method = match raw.method {
            None => http::Method::GET,
            Some(m) => http::Method::from_bytes(m.as_bytes()).map_err(|_| {
                self.error(
                    Some(&at("method")),
                    "request.method",
                    format!("invalid method {m:?}: expected an HTTP method such as GET, POST, PUT, DELETE"),
                )
            })?,
        };
        let path = match (raw.path, url_path) {
            (Some(path), Some(from_url)) if path != from_url => {
                return Err(self.error(
                    Some(&at("path")),
                    "request.path",
                    format!(
                        "{path:?} disagrees with the path of `url:` ({from_url:?}); give the path in one place"
                    ),
                ))
            }
            (Some(path), _) => path,
            (None, Some(from_url)) => from_url,
            (None, None) => "/".to_string(),
        };
        if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
            return Err(self.error(
                Some(&at("path")),
                "request.path",
                format!("invalid path {path:?}: expected a path starting with `/`, e.g. /api/items?id=3"),
            ));
        }
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            let field = format!("request.headers.{name}");
            let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                self.error(Some(&at("headers")), &field, "invalid header name".into())
            })?;
            let header_value = http::HeaderValue::from_str(&value).map_err(|_| {
                self.error(
                    Some(&at("headers")),
                    &field,
                    "invalid header value: visible ASCII characters only".into(),
                )
            })?;
            headers.push((header_name, header_value));
        }
        let timeout = raw.timeout.map_or(Duration::from_secs(30), Duration::from);
        let connect_timeout = raw
            .connect_timeout
            .map_or(Duration::from_secs(5), Duration::from);
        for (key, value) in [("timeout", timeout), ("connect_timeout", connect_timeout)] {
            if value.is_zero() || value > MAX_TIMEOUT {
                return Err(self.error(
                    Some(&at(key)),
                    &format!("request.{key}"),
                    format!(
                        "must be greater than zero and at most {}",
                        mock_server::duration::format(MAX_TIMEOUT)
                    ),
                ));
            }
        }
        Ok(RequestSpec {
            method,
            path,
            headers,
            body: raw.body.map(bytes::Bytes::from).unwrap_or_default(),
            timeout,
            connect_timeout,
        })
    }

    fn case(
        &self,
        index: usize,
        raw: RawCase,
        top: &TopLevel<'_>,
    ) -> Result<Vec<Case>, ScenarioError> {
        let (defaults, scenario_checks, requests) = (top.defaults, top.checks, top.requests);
        let rules = CaseRules {
            ctx: self,
            index,
            name: &raw.name,
        };
        check_name(&raw.name).map_err(|m| rules.err("name", m))?;
        rules.forbid_unused(&raw)?;
        let connection = raw.connection.or(defaults.connection).unwrap_or_default();
        let (protocol, streams_per_connection) = rules.protocol(&raw, top, connection)?;
        let search = match &raw.search {
            Some(search) => Some(rules.search(&raw, search)?),
            None => None,
        };
        let shapes = match &search {
            Some(search) => vec![rules.search_shape(&raw, defaults, search)?],
            None => rules.shapes(&raw, defaults)?,
        };
        let sweep = shapes.len() > 1;
        use locate::Seg;
        let own = self.checks(
            &raw.checks,
            &[Seg::Key("cases"), Seg::Index(index), Seg::Key("checks")],
            &format!("cases[{index}].checks"),
            requests,
        )?;
        let checks: Vec<_> = scenario_checks.iter().cloned().chain(own).collect();
        Ok(shapes
            .into_iter()
            .map(|shape| Case {
                name: if sweep {
                    sweep_name(&raw.name, &shape)
                } else {
                    raw.name.clone()
                },
                base_name: raw.name.clone(),
                shape,
                runtime: raw.runtime.or(defaults.runtime).unwrap_or_default(),
                connection,
                protocol,
                streams_per_connection,
                warmup: raw.warmup.or(defaults.warmup).unwrap_or_default(),
                checks: checks.clone(),
                search: search.clone(),
            })
            .collect())
    }
}

/// Validation of a `requests:` mix and its `data:` file.
impl Context<'_> {
    /// The directory relative file names in the scenario start from.
    fn base_dir(&self) -> PathBuf {
        if self.file == Path::new(STDIN_NAME) {
            return PathBuf::from(".");
        }
        self.file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    fn data(&self, raw: RawData) -> Result<crate::data::DataSet, ScenarioError> {
        let path = self.base_dir().join(&raw.file);
        crate::data::DataSet::load(&path, raw.format).map_err(|e| self.data_error(e.to_string()))
    }

    /// An error about the data file, at `data.file` (or `data:` when the
    /// block is written in flow style).
    fn data_error(&self, message: String) -> ScenarioError {
        use locate::Seg;
        let mut err = self.error(
            Some(&[Seg::Key("data"), Seg::Key("file")]),
            "data.file",
            message,
        );
        if err.position.is_none() {
            err.position = locate::find(self.text, &[Seg::Key("data")]);
        }
        err
    }

    fn mix(
        &self,
        raw: Vec<RawEntry>,
        data: Option<RawData>,
        url_path: Option<String>,
    ) -> Result<crate::mix::Mix, ScenarioError> {
        use crate::mix::{MAX_ENTRIES, MAX_WEIGHT};
        use locate::Seg;
        if raw.is_empty() || raw.len() > MAX_ENTRIES {
            return Err(self.error(
                Some(&[Seg::Key("requests")]),
                "requests",
                format!(
                    "a mix needs 1 to {MAX_ENTRIES} entries, found {}",
                    raw.len()
                ),
            ));
        }
        let order = data.as_ref().map(|d| d.order).unwrap_or_default();
        let data = data.map(|d| self.data(d)).transpose()?;
        let mut entries: Vec<crate::mix::Entry> = Vec::new();
        for (i, e) in raw.into_iter().enumerate() {
            let at = |key: &'static str| [Seg::Key("requests"), Seg::Index(i), Seg::Key(key)];
            let fail = |key: &'static str, message: String| {
                let mut err = self.error(Some(&at(key)), &format!("requests[{i}].{key}"), message);
                if err.position.is_none() {
                    err.position = locate::find(self.text, &at(key)[..2]);
                }
                err
            };
            check_name(&e.name).map_err(|m| fail("name", m))?;
            if entries.iter().any(|x| x.name == e.name) {
                return Err(fail(
                    "name",
                    format!(
                        "two requests are named {:?}; request names must be unique",
                        e.name
                    ),
                ));
            }
            let weight = e.weight.unwrap_or(1);
            if weight == 0 || weight > MAX_WEIGHT {
                return Err(fail(
                    "weight",
                    format!("weight {weight}: must be a whole number from 1 to {MAX_WEIGHT}"),
                ));
            }
            let method = match &e.method {
                None => http::Method::GET,
                Some(m) => http::Method::from_bytes(m.as_bytes()).map_err(|_| {
                    fail("method", format!("invalid method {m:?}: expected an HTTP method such as GET, POST, PUT, DELETE"))
                })?,
            };
            let path_text = e
                .path
                .clone()
                .or_else(|| url_path.clone())
                .unwrap_or_else(|| "/".into());
            let path = crate::mix::Template::parse(&path_text, data.as_ref())
                .map_err(|m| fail("path", m.to_string()))?;
            let sample = path.sample("x");
            if !sample.starts_with('/') || sample.parse::<http::uri::PathAndQuery>().is_err() {
                return Err(fail(
                    "path",
                    format!("invalid path {path_text:?}: expected a path starting with `/`, e.g. /api/items?id={{{{id}}}}"),
                ));
            }
            let mut headers = Vec::new();
            for (name, value) in &e.headers {
                let header_name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| fail("headers", format!("invalid header name {name:?}")))?;
                let template = crate::mix::Template::parse(value, data.as_ref())
                    .map_err(|m| fail("headers", format!("{name}: {m}")))?;
                if http::HeaderValue::from_str(&template.sample("x")).is_err() {
                    return Err(fail(
                        "headers",
                        format!("{name}: invalid header value: visible ASCII characters only"),
                    ));
                }
                headers.push((header_name, template));
            }
            let body = match (&e.body, &e.body_file) {
                (Some(_), Some(_)) => {
                    return Err(fail(
                        "body_file",
                        "give either `body` or `body_file`, not both".into(),
                    ))
                }
                (Some(text), None) => crate::mix::Template::parse(text, data.as_ref())
                    .map_err(|m| fail("body", m.to_string()))?,
                (None, Some(file)) => self
                    .body_file(file, data.as_ref())
                    .map_err(|m| fail("body_file", m))?,
                (None, None) => crate::mix::Template::default(),
            };
            let entry = crate::mix::Entry {
                name: e.name,
                weight,
                method,
                path,
                path_text,
                headers,
                body,
            };
            if let Some(data) = &data {
                self.check_cells(i, &entry, data)?;
            }
            entries.push(entry);
        }
        Ok(crate::mix::Mix {
            entries,
            data: data.map(std::sync::Arc::new),
            order,
            seed: crate::mix::DEFAULT_SEED,
            per_request: true,
        })
    }

    /// A `body_file`, relative to the scenario file: text with
    /// placeholders, or any other bytes as they are.
    fn body_file(
        &self,
        file: &str,
        data: Option<&crate::data::DataSet>,
    ) -> Result<crate::mix::Template, String> {
        use std::io::Read;
        let path = self.base_dir().join(file);
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| {
                f.take(crate::mix::MAX_BODY_FILE_BYTES + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if bytes.len() as u64 > crate::mix::MAX_BODY_FILE_BYTES {
            return Err(format!(
                "{} is larger than {} MiB, the most a body file may hold",
                path.display(),
                crate::mix::MAX_BODY_FILE_BYTES >> 20
            ));
        }
        match String::from_utf8(bytes) {
            Ok(text) => crate::mix::Template::parse(&text, data)
                .map_err(|m| format!("{}: {m}", path.display())),
            Err(e) => Ok(crate::mix::Template::literal(e.into_bytes())),
        }
    }

    /// Every cell a placeholder in a path or a header takes must fit
    /// there, so no send can build an invalid request: refused at load,
    /// naming the data file's line.
    fn check_cells(
        &self,
        index: usize,
        entry: &crate::mix::Entry,
        data: &crate::data::DataSet,
    ) -> Result<(), ScenarioError> {
        let path_columns: Vec<usize> = entry.path.columns().collect();
        let header_columns: Vec<usize> = entry
            .headers
            .iter()
            .flat_map(|(_, t)| t.columns())
            .collect();
        for row in 0..data.rows() {
            for (&column, place, fits) in path_columns
                .iter()
                .map(|c| (c, "a path", path_cell_fits as fn(&str) -> bool))
                .chain(
                    header_columns
                        .iter()
                        .map(|c| (c, "a header", header_cell_fits as fn(&str) -> bool)),
                )
            {
                let cell = data.cell(row, column);
                if !fits(cell) {
                    // A header's value may be a credential: never echoed.
                    let value = if place == "a path" {
                        format!("{cell:?}")
                    } else {
                        "a value".to_string()
                    };
                    return Err(self.data_error(
                        format!(
                            "{}:{}: column {:?} holds {value}, which cannot go in {place} (requests[{index}], {:?}): paths take visible ASCII without spaces or `#` (percent-encode the rest), headers visible ASCII",
                            data.file().display(),
                            data.line(row),
                            data.columns()[column],
                            entry.name,
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The scenario's `request` for a mix: its first entry as written
    /// (for `run.json` and the URL shown), with the mix's timeouts.
    fn mix_request(
        &self,
        mix: &crate::mix::Mix,
        defaults: &RawDefaults,
    ) -> Result<RequestSpec, ScenarioError> {
        let first = &mix.entries[0];
        let raw = RawRequest {
            method: Some(first.method.to_string()),
            path: Some(first.path.sample("x")),
            headers: BTreeMap::new(),
            body: None,
            timeout: defaults.timeout,
            connect_timeout: defaults.connect_timeout,
        };
        let mut request = self.request(raw, None).map_err(|mut e| {
            e.field = e.field.replace("request.", "defaults.");
            e.position = None;
            e
        })?;
        request.path.clone_from(&first.path_text);
        Ok(request)
    }
}

fn path_cell_fits(cell: &str) -> bool {
    cell.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'#')
}

fn header_cell_fits(cell: &str) -> bool {
    http::HeaderValue::from_str(cell).is_ok()
}

/// The URL's credentials as `Authorization: Basic` on one mix entry
/// (unless it sets `Authorization` itself).
fn add_basic_auth_to_entry(uri: &http::Uri, entry: &mut crate::mix::Entry) {
    let mut spec = RequestSpec {
        method: entry.method.clone(),
        path: "/".into(),
        headers: Vec::new(),
        body: bytes::Bytes::new(),
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
    };
    if entry
        .headers
        .iter()
        .any(|(n, _)| n == http::header::AUTHORIZATION)
    {
        return;
    }
    add_basic_auth(uri, &mut spec);
    for (name, value) in spec.headers {
        entry
            .headers
            .push((name, crate::mix::Template::literal(value.as_bytes())));
    }
}

/// A precision as written: `5%` or a fraction `0.05`; from 0.1% to 100%.
fn parse_precision(text: &str) -> Option<f64> {
    let text = text.trim();
    let fraction = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => text.parse::<f64>().ok()?,
    };
    (fraction.is_finite() && (0.001..=1.0).contains(&fraction)).then_some(fraction)
}

/// The name of a search's step: `NAME-step3-800rps`, `NAME-step3-8tasks`.
pub fn search_step_name(base: &str, step: u32, shape: &Shape) -> String {
    match shape {
        Shape::Tasks { tasks, .. } => format!("{base}-step{step}-{tasks}tasks"),
        other => sweep_name(&format!("{base}-step{step}"), other),
    }
}

fn sweep_name(base: &str, shape: &Shape) -> String {
    match shape {
        Shape::Rate { rate, .. } => format!("{base}-{}rps", trim_number(rate.per_second())),
        Shape::Tasks { tasks, .. } => format!("{base}-{tasks}"),
        _ => base.to_string(),
    }
}

/// What the scenario's top level says that every case inherits.
struct TopLevel<'a> {
    defaults: &'a RawDefaults,
    checks: &'a [crate::checks::Check],
    protocol: Option<Protocol>,
    streams_per_connection: Option<u32>,
    /// The mix's entry names (empty for a single request).
    requests: &'a [String],
}

struct CaseRules<'a> {
    ctx: &'a Context<'a>,
    index: usize,
    name: &'a str,
}

impl CaseRules<'_> {
    fn err(&self, key: &str, message: String) -> ScenarioError {
        use locate::Seg;
        let path = [Seg::Key("cases"), Seg::Index(self.index), Seg::Key(key)];
        let mut e = self.ctx.error(
            Some(&path),
            &format!("cases[{}].{key}", self.index),
            format!("(case {:?}) {message}", self.name),
        );
        if e.position.is_none() {
            e.position = locate::find(self.ctx.text, &path[..2]);
        }
        e
    }

    /// The case's protocol and streams per connection: its own, else the
    /// scenario's. More than one stream needs `protocol: http2` and
    /// kept-alive connections; an error points at whichever field set it.
    fn protocol(
        &self,
        raw: &RawCase,
        top: &TopLevel<'_>,
        connection: ConnectionMode,
    ) -> Result<(Protocol, NonZeroU32), ScenarioError> {
        use locate::Seg;
        let protocol = raw.protocol.or(top.protocol).unwrap_or_default();
        let (streams, in_case) = match (raw.streams_per_connection, top.streams_per_connection) {
            (Some(n), _) => (n, true),
            (None, Some(n)) => (n, false),
            (None, None) => return Ok((protocol, NonZeroU32::MIN)),
        };
        let err = |message: String| {
            if in_case {
                self.err("streams_per_connection", message)
            } else {
                self.ctx.error(
                    Some(&[Seg::Key("streams_per_connection")]),
                    "streams_per_connection",
                    format!("(case {:?}) {message}", self.name),
                )
            }
        };
        let streams = NonZeroU32::new(streams)
            .filter(|n| n.get() <= MAX_STREAMS_PER_CONNECTION)
            .ok_or_else(|| {
                err(format!(
                    "{streams}: must be between 1 and {MAX_STREAMS_PER_CONNECTION}"
                ))
            })?;
        if streams.get() > 1 && protocol == Protocol::Http1 {
            return Err(err(format!(
                "{streams} streams need `protocol: http2`; HTTP/1.1 sends one request at a time on a connection"
            )));
        }
        if streams.get() > 1 && connection == ConnectionMode::PerRequest {
            return Err(err(format!(
                "{streams} streams need `connection: reuse`; with `per_request` every request has a connection of its own"
            )));
        }
        Ok((protocol, streams))
    }

    /// Fields that belong to other executors are errors, not silently ignored.
    fn forbid_unused(&self, raw: &RawCase) -> Result<(), ScenarioError> {
        let allowed: &[&str] = match raw.executor {
            ExecutorKind::Sequential | ExecutorKind::SingleTask => &["requests", "duration"],
            ExecutorKind::Tasks => &["tasks", "requests_per_task", "duration"],
            ExecutorKind::Unbounded => &["requests"],
            ExecutorKind::Rate => &["rate", "duration", "max_in_flight"],
        };
        let present = [
            ("requests", raw.requests.is_some()),
            ("tasks", raw.tasks.is_some()),
            ("requests_per_task", raw.requests_per_task.is_some()),
            ("duration", raw.duration.is_some()),
            ("rate", raw.rate.is_some()),
            ("max_in_flight", raw.max_in_flight.is_some()),
        ];
        for (field, is_set) in present {
            if is_set && !allowed.contains(&field) {
                return Err(self.err(
                    field,
                    format!(
                        "`{field}` does not apply to the {} executor; it takes: {}",
                        raw.executor.as_str(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn amount(
        &self,
        requests_key: &str,
        requests: Option<u64>,
        duration: Option<HumanDuration>,
    ) -> Result<Amount, ScenarioError> {
        match (requests, duration) {
            (Some(_), Some(_)) => Err(self.err(
                "duration",
                format!("give either `{requests_key}` or `duration`, not both"),
            )),
            (None, None) => Err(self.err(
                requests_key,
                format!("missing: give `{requests_key}` (a count) or `duration` (e.g. 10s)"),
            )),
            (Some(n), None) => NonZeroU64::new(n)
                .filter(|n| n.get() <= MAX_REQUESTS)
                .map(Amount::Requests)
                .ok_or_else(|| {
                    self.err(
                        requests_key,
                        format!("must be between 1 and {MAX_REQUESTS}"),
                    )
                }),
            (None, Some(d)) => self.case_time(d).map(Amount::Time),
        }
    }

    /// A case's duration: more than zero, at most [`MAX_CASE_TIME`].
    fn case_time(&self, d: HumanDuration) -> Result<Duration, ScenarioError> {
        if d.0.is_zero() || d.0 > MAX_CASE_TIME {
            return Err(self.err(
                "duration",
                format!(
                    "must be greater than zero and at most {}",
                    mock_server::duration::format(MAX_CASE_TIME)
                ),
            ));
        }
        Ok(d.0)
    }

    fn shapes(&self, raw: &RawCase, defaults: &RawDefaults) -> Result<Vec<Shape>, ScenarioError> {
        Ok(match raw.executor {
            ExecutorKind::Sequential => {
                vec![Shape::Sequential(self.amount(
                    "requests",
                    raw.requests,
                    raw.duration,
                )?)]
            }
            ExecutorKind::SingleTask => {
                vec![Shape::SingleTask(self.amount(
                    "requests",
                    raw.requests,
                    raw.duration,
                )?)]
            }
            ExecutorKind::Tasks => self.task_shapes(raw)?,
            ExecutorKind::Unbounded => {
                let requests = raw.requests.ok_or_else(|| {
                    self.err(
                        "requests",
                        "missing: how many requests to launch at once".into(),
                    )
                })?;
                let requests = NonZeroU64::new(requests)
                    .filter(|n| n.get() <= 1_000_000)
                    .ok_or_else(|| self.err("requests", "must be between 1 and 1000000".into()))?;
                vec![Shape::Unbounded { requests }]
            }
            ExecutorKind::Rate => self.rate_shapes(raw, defaults)?,
        })
    }

    fn task_shapes(&self, raw: &RawCase) -> Result<Vec<Shape>, ScenarioError> {
        let counts = raw
            .tasks
            .clone()
            .ok_or_else(|| {
                self.err(
                    "tasks",
                    "missing: the number of tasks, or a list of them for a sweep".into(),
                )
            })?
            .into_vec();
        let per_task = self.amount("requests_per_task", raw.requests_per_task, raw.duration)?;
        if counts.is_empty() {
            return Err(self.err("tasks", "the sweep list is empty".into()));
        }
        counts
            .into_iter()
            .map(|TaskCount(n)| {
                NonZeroU32::new(n)
                    .filter(|n| n.get() <= 100_000)
                    .map(|tasks| Shape::Tasks { tasks, per_task })
                    .ok_or_else(|| {
                        self.err("tasks", format!("{n} tasks: must be between 1 and 100000"))
                    })
            })
            .collect()
    }

    /// An error inside the case's `search:` block, at `key` (and the
    /// list entry `index`, for the objective).
    fn search_err(&self, key: &str, index: Option<usize>, message: String) -> ScenarioError {
        use locate::Seg;
        let mut path = vec![
            Seg::Key("cases"),
            Seg::Index(self.index),
            Seg::Key("search"),
            Seg::Key(key),
        ];
        let mut field = format!("cases[{}].search.{key}", self.index);
        if let Some(i) = index {
            path.push(Seg::Index(i));
            field.push_str(&format!("[{i}]"));
        }
        let mut e = self.ctx.error(
            Some(&path),
            &field,
            format!("(case {:?}) {message}", self.name),
        );
        if e.position.is_none() {
            e.position = locate::find(self.ctx.text, &path[..3]);
        }
        e
    }

    /// Validates a `search:` block: its executor, load, objective and bounds.
    fn search(&self, raw: &RawCase, search: &RawSearch) -> Result<Search, ScenarioError> {
        let over = search.over;
        if raw.executor != over.executor() {
            return Err(self.search_err(
                "over",
                None,
                format!(
                    "a search over {} needs executor `{}`, not `{}`; searches are: over: rate (executor rate), over: tasks (executor tasks)",
                    over.as_str(),
                    over.executor().as_str(),
                    raw.executor.as_str()
                ),
            ));
        }
        for (field, is_set) in [
            ("rate", raw.rate.is_some()),
            ("tasks", raw.tasks.is_some()),
            ("duration", raw.duration.is_some()),
            ("requests_per_task", raw.requests_per_task.is_some()),
        ] {
            if is_set {
                return Err(self.err(
                    field,
                    format!("`{field}` does not apply to a search: the search sets the load from `search.from` and each step lasts `search.step_duration`"),
                ));
            }
        }
        let from = self.search_from(over, search.from.as_ref())?;
        if search.objective.is_empty() {
            return Err(self.search_err(
                "objective",
                None,
                "missing: the checks every step must pass, e.g. [p99 < 200ms, error_rate < 0.1%]"
                    .into(),
            ));
        }
        let objective = search
            .objective
            .iter()
            .enumerate()
            .map(|(i, text)| {
                crate::checks::parse(text)
                    .map_err(|e| self.search_err("objective", Some(i), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let precision = match &search.precision {
            None => DEFAULT_PRECISION,
            Some(ScalarText(text)) => parse_precision(text)
                .ok_or_else(|| self.search_err("precision", None, format!("invalid precision {text:?}: expected a percentage from 0.1% to 100% (5%) or a fraction from 0.001 to 1 (0.05)")))?,
        };
        let step_duration = search.step_duration.map_or(DEFAULT_STEP_DURATION, |d| d.0);
        if step_duration.is_zero() || step_duration > MAX_CASE_TIME {
            return Err(self.search_err(
                "step_duration",
                None,
                format!(
                    "must be greater than zero and at most {}",
                    mock_server::duration::format(MAX_CASE_TIME)
                ),
            ));
        }
        let max_steps = search.max_steps.unwrap_or(u64::from(DEFAULT_MAX_STEPS));
        let max_steps = u32::try_from(max_steps)
            .ok()
            .filter(|n| *n <= MAX_SEARCH_STEPS)
            .and_then(NonZeroU32::new)
            .ok_or_else(|| {
                self.search_err(
                    "max_steps",
                    None,
                    format!("{max_steps} steps: must be between 1 and {MAX_SEARCH_STEPS}"),
                )
            })?;
        Ok(Search {
            over,
            from,
            objective,
            precision,
            step_duration,
            max_steps,
            confirm: search.confirm.unwrap_or(true),
        })
    }

    /// The first load of a search: a rate, or a whole number of tasks.
    fn search_from(
        &self,
        over: SearchOver,
        from: Option<&ScalarText>,
    ) -> Result<f64, ScenarioError> {
        let Some(ScalarText(text)) = from else {
            return Err(self.search_err(
                "from",
                None,
                match over {
                    SearchOver::Rate => "missing: the first rate to try, e.g. 100/s",
                    SearchOver::Tasks => "missing: the first number of tasks to try, e.g. 4",
                }
                .into(),
            ));
        };
        match over {
            SearchOver::Rate => text.parse::<Rate>().map(Rate::per_second),
            SearchOver::Tasks => text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_TASKS).contains(n))
                .map(f64::from)
                .ok_or_else(|| {
                    format!("invalid task count {text:?}: expected a whole number from 1 to {MAX_TASKS}")
                }),
        }
        .map_err(|m| self.search_err("from", None, m))
    }

    /// The first step of a search as a shape; `run` changes its load.
    fn search_shape(
        &self,
        raw: &RawCase,
        defaults: &RawDefaults,
        search: &Search,
    ) -> Result<Shape, ScenarioError> {
        Ok(match search.over {
            SearchOver::Rate => Shape::Rate {
                rate: Rate::new(search.from)
                    .ok_or_else(|| self.search_err("from", None, "rate out of range".into()))?,
                duration: search.step_duration,
                max_in_flight: self.max_in_flight(raw, defaults)?,
            },
            SearchOver::Tasks => Shape::Tasks {
                tasks: NonZeroU32::new(search.from as u32)
                    .ok_or_else(|| self.search_err("from", None, "no tasks".into()))?,
                per_task: Amount::Time(search.step_duration),
            },
        })
    }

    fn max_in_flight(
        &self,
        raw: &RawCase,
        defaults: &RawDefaults,
    ) -> Result<NonZeroU32, ScenarioError> {
        let max_in_flight = raw
            .max_in_flight
            .or(defaults.max_in_flight)
            .unwrap_or(10_000);
        NonZeroU32::new(max_in_flight)
            .filter(|n| n.get() <= 1_000_000)
            .ok_or_else(|| self.err("max_in_flight", "must be between 1 and 1000000".into()))
    }

    fn rate_shapes(
        &self,
        raw: &RawCase,
        defaults: &RawDefaults,
    ) -> Result<Vec<Shape>, ScenarioError> {
        let rates = raw
            .rate
            .clone()
            .ok_or_else(|| {
                self.err(
                    "rate",
                    "missing: a total rate such as 2000/s, or a list for a sweep".into(),
                )
            })?
            .into_vec();
        if rates.is_empty() {
            return Err(self.err("rate", "the sweep list is empty".into()));
        }
        let duration = raw.duration.ok_or_else(|| {
            self.err("duration", "missing: how long to send for, e.g. 10s".into())
        })?;
        let duration = HumanDuration(self.case_time(duration)?);
        let max_in_flight = self.max_in_flight(raw, defaults)?;
        Ok(rates
            .into_iter()
            .map(|rate| Shape::Rate {
                rate,
                duration: duration.0,
                max_in_flight,
            })
            .collect())
    }
}

/// Refuses a file too large or nested too deeply before the YAML parser sees
/// it: the parser's time grows with the square of the nesting, so a
/// hostile file could otherwise stall a run for minutes. One pass, linear in
/// the text. The depth counted is block nesting (indentation and `- `
/// entries) plus flow nesting (`[` and `{` that open a value); block
/// scalars (`|`, `>`) are skipped.
fn check_size_and_depth(text: &str) -> Result<(), (Option<(usize, usize)>, String)> {
    if text.len() > MAX_FILE_BYTES {
        return Err((
            None,
            format!(
                "the file is {} bytes; a scenario may be at most {MAX_FILE_BYTES} bytes",
                text.len()
            ),
        ));
    }
    let too_deep = |line: usize, column: usize| {
        Err((
            Some((line, column)),
            format!("nesting deeper than {MAX_DEPTH} levels; a scenario needs a handful"),
        ))
    };
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut scalar_block: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|&&b| b == b' ').count();
        let rest = &bytes[indent..];
        if let Some(parent) = scalar_block {
            if rest.is_empty() || indent > parent {
                continue;
            }
            scalar_block = None;
        }
        if rest.is_empty() || rest[0] == b'#' {
            continue;
        }
        if flow == 0 {
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // `- - - x`: every entry marker opens one more level.
            let mut at = 0;
            if indents.len() > MAX_DEPTH {
                return too_deep(number + 1, indent + 1);
            }
            while rest[at..].starts_with(b"- ") {
                indents.push(indent + at + 2);
                if indents.len() > MAX_DEPTH {
                    return too_deep(number + 1, indent + at + 1);
                }
                at += 2;
                while rest.get(at) == Some(&b' ') {
                    at += 1;
                }
            }
        }
        let mut quote: Option<u8> = None;
        let mut previous = b' ';
        for (i, &b) in rest.iter().enumerate() {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'#' if previous == b' ' => break,
                    b'"' | b'\'' if matches!(previous, b' ' | b'[' | b'{' | b',' | b':') => {
                        quote = Some(b)
                    }
                    // A bracket opens a collection where a value starts:
                    // after a blank, or after another opener or a comma
                    // inside a flow collection; `/a[1]` is a plain scalar.
                    b'[' | b'{'
                        if previous == b' '
                            || (flow > 0 && matches!(previous, b'[' | b'{' | b',' | b':')) =>
                    {
                        flow += 1;
                        if indents.len() + flow > MAX_DEPTH {
                            return too_deep(number + 1, indent + i + 1);
                        }
                    }
                    b']' | b'}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            if b != b' ' || quote.is_none() {
                previous = b;
            }
        }
        if flow == 0 {
            let trimmed = line.trim_end();
            let indicator =
                trimmed.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
            if indicator.ends_with('|') || indicator.ends_with('>') {
                scalar_block = Some(indent);
            }
        }
    }
    Ok(())
}

/// Names become file names: keep them to a safe alphabet.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: use 1 to 64 characters from A-Z a-z 0-9 - _ . (not starting with a dot), because names become file names"
        ))
    }
}

fn sanitized_stem(path: &Path) -> String {
    if path == Path::new(STDIN_NAME) {
        return "stdin".to_string();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "scenario".to_string()
    } else {
        clean
    }
}

fn parse_url(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url.parse().map_err(|_| {
        format!("invalid URL {url:?}: expected http://HOST:PORT/ or https://HOST:PORT/")
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!(
            "invalid URL {url:?}: only http:// and https:// are supported"
        ));
    }
    if uri.host().is_none() {
        return Err(format!("invalid URL {url:?}: the host is missing"));
    }
    Ok(uri)
}

/// The path and query a URL names, or `None` for a bare `/` (which leaves
/// the path to `request.path`).
fn url_path(uri: &http::Uri) -> Option<String> {
    uri.path_and_query()
        .map(|pq| pq.as_str().to_string())
        .filter(|pq| pq != "/")
}

/// `http://user:password@host/` sends `Authorization: Basic …`, as curl
/// does, unless the request names its own `Authorization` header.
fn add_basic_auth(uri: &http::Uri, request: &mut RequestSpec) {
    use base64::Engine as _;
    let Some((userinfo, _)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return;
    };
    if request
        .headers
        .iter()
        .any(|(name, _)| name == http::header::AUTHORIZATION)
    {
        return;
    }
    let token = base64::engine::general_purpose::STANDARD.encode(percent_decode(userinfo));
    if let Ok(mut value) = http::HeaderValue::from_str(&format!("Basic {token}")) {
        value.set_sensitive(true);
        request.headers.push((http::header::AUTHORIZATION, value));
    }
}

/// `%XX` escapes decoded (a `%` not followed by two hex digits stays).
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The URL a scenario's requests go to: the target's scheme and authority
/// with the request's path and query, exactly as sent.
pub fn loaded_url(uri: &http::Uri, path: &str) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map_or("", |a| a.as_str());
    format!("{scheme}://{authority}{path}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Scenario, ScenarioError> {
        parse(Path::new("t.yaml"), text, &[], &[])
    }

    const BASE: &str = "server:\n  delay: 20ms\ncases:\n";

    #[test]
    fn sweep_expands_into_one_case_per_value() {
        let s = parse_str(&format!(
            "{BASE}  - name: sweep\n    executor: tasks\n    tasks: [1, 5, 50]\n    requests_per_task: 3\n"
        ))
        .unwrap();
        let names: Vec<_> = s.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["sweep-1", "sweep-5", "sweep-50"]);
        assert_eq!(s.cases[2].shape.planned_requests(), Some(150));
    }

    #[test]
    fn rate_sweep_names_and_rates() {
        let s = parse_str(&format!(
            "{BASE}  - name: open\n    executor: rate\n    rate: [500/s, 1000, 60/m]\n    duration: 2s\n"
        ))
        .unwrap();
        let names: Vec<_> = s.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["open-500rps", "open-1000rps", "open-1rps"]);
        assert_eq!(s.cases[0].shape.planned_requests(), Some(1000));
    }

    #[test]
    fn overrides_change_fields_by_case_name() {
        let text = format!(
            "{BASE}  - name: t\n    executor: tasks\n    tasks: 5\n    requests_per_task: 1\n"
        );
        let s = parse(
            Path::new("t.yaml"),
            &text,
            &["cases.t.tasks=7".into(), "server.capacity=3".into()],
            &[],
        )
        .unwrap();
        assert_eq!(s.cases[0].shape.concurrency(), Some(7));
        match s.target {
            Target::Embedded(settings) => assert_eq!(settings.capacity.map(|c| c.get()), Some(3)),
            Target::Url(_) => panic!("expected the embedded server"),
        }
    }

    #[test]
    fn only_filters_and_rejects_unknown_names() {
        let text = format!(
            "{BASE}  - name: a\n    executor: single_task\n    requests: 1\n  - name: b\n    executor: single_task\n    requests: 1\n"
        );
        let s = parse(Path::new("t.yaml"), &text, &[], &["b".into()]).unwrap();
        assert_eq!(s.cases.len(), 1);
        let e = parse(Path::new("t.yaml"), &text, &[], &["zz".into()]).unwrap_err();
        assert!(e.message.contains("no case named \"zz\""), "{e}");
    }

    #[test]
    fn rate_text_forms() {
        assert_eq!("2000/s".parse::<Rate>().unwrap().per_second(), 2000.0);
        assert_eq!("120/m".parse::<Rate>().unwrap().per_second(), 2.0);
        assert!("0/s".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert!("-5".parse::<Rate>().is_err());
    }

    #[test]
    fn names_that_could_escape_the_results_folder_are_refused() {
        for bad in ["../x", "a/b", ".hidden", "", "nul\0", "tab\t"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("500-tasks_v1.2").is_ok());
    }

    #[test]
    fn the_url_path_and_query_are_the_request_path() {
        let url = |u: &str, path: &str| {
            parse_str(&format!(
                "url: {u}\n{path}cases:\n  - {{name: a, executor: single_task, requests: 1}}\n"
            ))
        };
        let s = url("http://127.0.0.1:9/api/users?x=1", "").unwrap();
        assert_eq!(s.request.path, "/api/users?x=1");
        let Target::Url(uri) = &s.target else {
            panic!("a URL target")
        };
        assert_eq!(
            loaded_url(uri, &s.request.path),
            "http://127.0.0.1:9/api/users?x=1"
        );
        // A bare URL leaves the path to request.path; the same path twice is fine.
        assert_eq!(
            url("http://127.0.0.1:9/", "request: {path: /b}\n")
                .unwrap()
                .request
                .path,
            "/b"
        );
        assert_eq!(url("http://127.0.0.1:9", "").unwrap().request.path, "/");
        assert_eq!(
            url("http://127.0.0.1:9/b", "request: {path: /b}\n")
                .unwrap()
                .request
                .path,
            "/b"
        );
        let s = url("http://user:pa%20ss@127.0.0.1:9/", "").unwrap();
        assert_eq!(
            s.request.headers,
            [(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static("Basic dXNlcjpwYSBzcw==")
            )]
        );
        let e = url("http://127.0.0.1:9/a?x=1", "request:\n  path: /b\n").unwrap_err();
        assert_eq!(e.field, "request.path");
        assert!(
            e.message
                .contains("disagrees with the path of `url:` (\"/a?x=1\")"),
            "{e}"
        );
        assert_eq!(e.position, Some((3, 3)), "{e}");
    }

    #[test]
    fn numbers_are_bounded_so_derived_durations_fit() {
        let case = |fields: &str| {
            parse_str(&format!("{BASE}  - {{name: a, {fields}}}\n"))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        for bad in [
            "executor: rate, rate: 1e-20/s, duration: 1s",
            "executor: rate, rate: 0.0001/s, duration: 1s",
            "executor: rate, rate: 1000/s, duration: 25h",
            "executor: single_task, requests: 1000000001",
            "executor: tasks, tasks: 2, requests_per_task: 1000000001",
            "executor: single_task, duration: 0s",
            "executor: single_task, requests: 1, warmup: 1000000001",
            "executor: single_task, requests: 1, warmup: 2h",
        ] {
            let e = case(bad).expect_err(bad);
            assert!(e.contains("t.yaml:4:"), "{bad}: {e}");
        }
        for good in [
            "executor: rate, rate: 0.001/s, duration: 24h",
            "executor: rate, rate: 10000000/s, duration: 1s",
            "executor: single_task, requests: 1000000000, warmup: 1h",
        ] {
            case(good).expect(good);
        }
        let e = parse_str(&format!(
            "request: {{timeout: 2h}}\n{BASE}  - {{name: a, executor: single_task, requests: 1}}\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "request.timeout", "{e}");
    }

    #[test]
    fn deep_or_huge_files_are_refused_before_parsing() {
        let deep_flow = format!("cases: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
        let deep_block = format!("cases:\n{}x\n", "- ".repeat(200_000));
        let deep_indent: String = (1..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        for (text, at) in [
            (deep_flow, (1, 71)),
            (deep_block, (2, 127)),
            (format!("cases:\n{deep_indent}"), (65, 65)),
        ] {
            let e = parse_str(&text).unwrap_err();
            assert!(e.message.contains("nesting deeper than 64"), "{e}");
            assert_eq!(e.position, Some(at));
        }
        let huge = format!("description: {}\n", "x".repeat(MAX_FILE_BYTES));
        let e = parse_str(&huge).unwrap_err();
        assert!(e.message.contains("at most 4194304 bytes"), "{e}");
        // Brackets inside scalars, quotes and block scalars are not nesting.
        let fine = format!(
            "description: '{}'\nrequest:\n  path: /a[[[[[b\n  body: |\n{}{BASE}  - {{name: a, executor: single_task, requests: 1}}\n",
            "[".repeat(100),
            (0..100).map(|i| format!("    {}{{\n", " ".repeat(i))).collect::<String>()
        );
        parse_str(&fine).unwrap();
    }

    #[test]
    fn a_bad_override_value_names_its_field() {
        let text = format!("{BASE}  - {{name: a, executor: single_task, requests: 1}}\n");
        let e = parse(
            Path::new("t.yaml"),
            &text,
            &["server.capacity=abc".into()],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "server.capacity", "{e}");
        let e = parse(
            Path::new("t.yaml"),
            &text,
            &["cases.a.requests=many".into()],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "cases[0].requests", "{e}");
    }

    #[test]
    fn a_search_case_reads_its_objective_and_bounds() {
        let s = parse_str(&format!(
            "{BASE}  - name: find\n    executor: rate\n    max_in_flight: 50\n    warmup: 1s\n    search:\n      over: rate\n      from: 100/s\n      objective: [p99 < 200ms, error_rate < 0.1%]\n      precision: 2%\n      step_duration: 3s\n      max_steps: 12\n"
        ))
        .unwrap();
        let case = &s.cases[0];
        let search = case.search.as_ref().expect("a search");
        assert_eq!(search.over, SearchOver::Rate);
        assert_eq!(search.from, 100.0);
        let objective: Vec<_> = search.objective.iter().map(|c| c.text()).collect();
        assert_eq!(objective, ["p99 < 200ms", "error_rate < 0.1%"]);
        assert!((search.precision - 0.02).abs() < 1e-12);
        assert_eq!(search.step_duration, Duration::from_secs(3));
        assert_eq!(search.max_steps.get(), 12);
        assert!(search.confirm);
        assert_eq!(case.shape.rate().map(Rate::per_second), Some(100.0));
        assert_eq!(case.shape.planned_time(), Some(Duration::from_secs(3)));
        assert_eq!(
            search_step_name("find", 3, &case.shape),
            "find-step3-100rps"
        );

        let s = parse_str(&format!(
            "{BASE}  - {{name: t, executor: tasks, search: {{over: tasks, from: 4, objective: [p99 < 1s], confirm: false}}}}\n"
        ))
        .unwrap();
        let search = s.cases[0].search.as_ref().expect("a search");
        assert_eq!((search.from, search.confirm), (4.0, false));
        assert_eq!(search.precision, DEFAULT_PRECISION);
        assert_eq!(search.max_steps.get(), DEFAULT_MAX_STEPS);
        assert_eq!(search.step_duration, DEFAULT_STEP_DURATION);
        assert_eq!(s.cases[0].shape.concurrency(), Some(4));
        assert_eq!(
            search_step_name("t", 2, &s.cases[0].shape),
            "t-step2-4tasks"
        );
    }

    #[test]
    fn a_bad_search_names_its_field_and_what_is_allowed() {
        let search = |executor: &str, fields: &str| {
            parse_str(&format!(
                "{BASE}  - name: s\n    executor: {executor}\n    search: {{{fields}}}\n"
            ))
            .expect_err(fields)
        };
        for (executor, fields, field, message) in [
            (
                "sequential",
                "over: rate, from: 1, objective: [p99 < 1s]",
                "cases[0].search.over",
                "needs executor `rate`, not `sequential`",
            ),
            (
                "tasks",
                "over: rate, from: 1, objective: [p99 < 1s]",
                "cases[0].search.over",
                "needs executor `rate`, not `tasks`",
            ),
            (
                "rate",
                "over: rate, objective: [p99 < 1s]",
                "cases[0].search.from",
                "missing: the first rate",
            ),
            (
                "rate",
                "over: rate, from: 0/s, objective: [p99 < 1s]",
                "cases[0].search.from",
                "from 0.001/s to 10000000/s",
            ),
            (
                "tasks",
                "over: tasks, from: 2.5, objective: [p99 < 1s]",
                "cases[0].search.from",
                "whole number from 1 to 100000",
            ),
            (
                "tasks",
                "over: tasks, from: 100001, objective: [p99 < 1s]",
                "cases[0].search.from",
                "whole number from 1 to 100000",
            ),
            (
                "rate",
                "over: rate, from: 1",
                "cases[0].search.objective",
                "missing: the checks every step must pass",
            ),
            (
                "rate",
                "over: rate, from: 1, objective: [p99 < 1s, p99 < fast]",
                "cases[0].search.objective[1]",
                "check \"p99 < fast\"",
            ),
            (
                "rate",
                "over: rate, from: 1, objective: [p99 < 1s], precision: 0%",
                "cases[0].search.precision",
                "from 0.1% to 100%",
            ),
            (
                "rate",
                "over: rate, from: 1, objective: [p99 < 1s], precision: 2",
                "cases[0].search.precision",
                "from 0.1% to 100%",
            ),
            (
                "rate",
                "over: rate, from: 1, objective: [p99 < 1s], step_duration: 0s",
                "cases[0].search.step_duration",
                "greater than zero",
            ),
            (
                "rate",
                "over: rate, from: 1, objective: [p99 < 1s], max_steps: 0",
                "cases[0].search.max_steps",
                "between 1 and 100",
            ),
            (
                "rate",
                "over: rate, from: 1, objective: [p99 < 1s], max_steps: 101",
                "cases[0].search.max_steps",
                "between 1 and 100",
            ),
            (
                "rate",
                "over: load, from: 1, objective: [p99 < 1s]",
                "cases[0].search.over",
                "unknown variant `load`",
            ),
        ] {
            let e = search(executor, fields);
            assert_eq!(e.field, field, "{fields}: {e}");
            assert!(e.message.contains(message), "{fields}: {e}");
            assert_eq!(e.position.map(|p| p.0), Some(6), "{fields}: {e}");
        }
        // A search sets the load and the step length itself.
        let e = parse_str(&format!(
            "{BASE}  - name: s\n    executor: rate\n    rate: 10/s\n    search: {{over: rate, from: 1, objective: [p99 < 1s]}}\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "cases[0].rate", "{e}");
        assert!(e.message.contains("does not apply to a search"), "{e}");
    }
}
