//! Threshold checks: `p99 < 250ms`, `p50 <= 1.2 * model`, `error_rate < 1%`,
//! `throughput > 900/s`, `rejected == 0`. Each is parsed once into a typed
//! [`Check`] and evaluated against a case's [`CaseResult`] into a [`Verdict`].
//!
//! # Grammar
//!
//! ```text
//! check  = METRIC OP VALUE
//! OP     = "<" | "<=" | ">" | ">=" | "==" | "!="
//! VALUE  = NUMBER [UNIT] | [NUMBER "*"] "model"
//! NUMBER = digits ["." digits]          (no sign, no exponent)
//! ```
//!
//! Spaces between the parts are optional. Each metric takes one kind of
//! value, and a mismatch is a parse error that says what is allowed:
//!
//! | metric                                       | meaning                              | value                                 |
//! |----------------------------------------------|--------------------------------------|---------------------------------------|
//! | `p50` `p90` `p99` `p99.9` `mean` `min` `max` | latency of successful requests       | duration `800us` `250ms` `1.5s`; model |
//! | `wall`                                       | wall time of the measured phase      | duration; model                       |
//! | `throughput`                                 | successful requests per second       | `900/s` or `900`; model               |
//! | `error_rate`                                 | failed / sent requests               | `1%` `0.5%`, or a fraction `0.01`     |
//! | `requests` `ok` `errors`                     | client counters                      | whole number: `0`, `12`               |
//! | `skipped` `late`                             | open-loop sends skipped / made late  | whole number                          |
//! | `rejected` `dropped` `timed_out`             | counted by the embedded server       | whole number                          |
//!
//! The metrics, their kinds and how each is read from a result are those of
//! [`crate::metric`], the vocabulary `compare` and the run table share.
//!
//! `model` is the queueing model's expectation for the case (see
//! `crate::model`): its mean latency for the latency metrics, its
//! throughput for `throughput`, its wall time for `wall`. `1.2 * model` is a
//! multiple of it. Model-relative checks hold on fast and slow machines
//! alike, so prefer them in CI.
//!
//! # Missing data fails
//!
//! A check whose metric cannot be measured fails, with actual `n/a (reason)`:
//! latency when no request succeeded, `error_rate` when none was sent,
//! server counters and `model` when the target is not the embedded server,
//! `wall` against `model` for an open-loop case (the model has no wall time
//! there). A check never passes for lack of data.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::metric::{Kind, Metric, Missing, Value};
pub use crate::results::verdicts::{checks_csv, Verdict};
use crate::results::CaseResult;

/// A parsed threshold check, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    text: String,
    /// For a check on one entry of a request mix: the entry's name.
    request: Option<String>,
    metric: Metric,
    op: Op,
    bound: Bound,
}

/// Why a check expression could not be parsed. Displays as
/// `check "<expr>": at column N: <what was wrong and what is allowed>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("check {expr:?}: at column {column}: {message}")]
pub struct CheckError {
    /// The expression as written.
    pub expr: String,
    /// 1-based character position of the problem.
    pub column: usize,
    /// What was wrong, and what was expected.
    pub message: String,
}

/// Parses a check expression.
pub fn parse(expr: &str) -> Result<Check, CheckError> {
    Parser::new(expr).check()
}

impl FromStr for Check {
    type Err = CheckError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Check {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Check {
    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The same check on one entry of a request mix (`{request: NAME,
    /// check: EXPR}` in a scenario): evaluated against that entry's row.
    pub fn for_request(mut self, request: &str) -> Check {
        self.request = Some(request.to_string());
        self
    }

    /// The mix entry this check is on, if any.
    pub fn request(&self) -> Option<&str> {
        self.request.as_deref()
    }

    /// Evaluates the check against one case's result (for a per-request
    /// check, against the entry's row among `result.parts`; missing, it
    /// fails).
    pub fn evaluate(&self, result: &CaseResult) -> Verdict {
        let Some(request) = &self.request else {
            return self.evaluate_row(result, self.text.clone());
        };
        let expr = format!("{request}: {}", self.text);
        match result.parts.iter().find(|p| &p.request == request) {
            Some(part) => Verdict {
                case: result.case.clone(),
                ..self.evaluate_row(part, expr)
            },
            None => Verdict {
                case: result.case.clone(),
                repetition: result.repetition,
                expr,
                passed: false,
                actual: format!("n/a (no row for request {request:?})"),
                threshold: self
                    .bound
                    .describe(&self.bound.resolve(self.metric, result)),
            },
        }
    }

    fn evaluate_row(&self, result: &CaseResult, expr: String) -> Verdict {
        let threshold = self.bound.resolve(self.metric, result);
        let actual = self.metric.value(result);
        let passed = match (&actual, &threshold) {
            (Ok(a), Ok(t)) => a.compare(t).is_some_and(|ord| self.op.holds(ord)),
            _ => false,
        };
        Verdict {
            case: result.case.clone(),
            repetition: result.repetition,
            expr,
            passed,
            actual: match actual {
                Ok(q) => q.to_string(),
                Err(reason) => format!("n/a ({reason})"),
            },
            threshold: self.bound.describe(&threshold),
        }
    }
}

/// The right-hand side of a check.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Fixed(Value),
    /// `factor * model`; `model` alone is a factor of 1.
    Model(f64),
}

impl Bound {
    fn resolve(self, metric: Metric, r: &CaseResult) -> Result<Value, Missing> {
        match self {
            Bound::Fixed(q) => Ok(q),
            Bound::Model(factor) => metric
                .model(r)?
                .scale(factor)
                .ok_or(Missing::ModelOutOfRange),
        }
    }

    fn describe(self, resolved: &Result<Value, Missing>) -> String {
        let value = match resolved {
            Ok(q) => q.to_string(),
            Err(reason) => format!("n/a ({reason})"),
        };
        match self {
            Bound::Fixed(_) => value,
            Bound::Model(1.0) => format!("model = {value}"),
            Bound::Model(factor) => format!("{factor} × model = {value}"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
        }
    }
}

const OPS: &str = "<, <=, >, >=, ==, !=";

/// A hand-written parser over the characters of one expression, so errors
/// can point at a column.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> CheckError {
        CheckError {
            expr: self.text.to_string(),
            column: at + 1,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes characters while `keep` holds and returns them.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn check(mut self) -> Result<Check, CheckError> {
        self.skip_spaces();
        let metric = self.metric()?;
        self.skip_spaces();
        let op = self.op()?;
        self.skip_spaces();
        let bound = self.bound(metric)?;
        self.skip_spaces();
        if self.peek().is_some() {
            let rest: String = self.chars[self.pos..].iter().collect();
            return Err(self.error(self.pos, format!("unexpected {rest:?} after the value")));
        }
        Ok(Check {
            request: None,
            text: self.text.trim().to_string(),
            metric,
            op,
            bound,
        })
    }

    fn metric(&mut self) -> Result<Metric, CheckError> {
        let start = self.pos;
        let word = self.take_while(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let names = || names(Metric::ALL.into_iter());
        if word.is_empty() {
            return Err(self.error(start, format!("expected a metric, one of {}", names())));
        }
        Metric::from_name(&word).ok_or_else(|| {
            self.error(
                start,
                format!("unknown metric {word:?}; expected one of {}", names()),
            )
        })
    }

    fn op(&mut self) -> Result<Op, CheckError> {
        let start = self.pos;
        let text = self.take_while(|c| matches!(c, '<' | '>' | '=' | '!'));
        let message = match text.as_str() {
            "<" => return Ok(Op::Lt),
            "<=" => return Ok(Op::Le),
            ">" => return Ok(Op::Gt),
            ">=" => return Ok(Op::Ge),
            "==" => return Ok(Op::Eq),
            "!=" => return Ok(Op::Ne),
            "=" => {
                format!("\"=\" is not an operator; use \"==\" to test equality (operators: {OPS})")
            }
            "" => format!("expected an operator ({OPS}), found {}", self.found()),
            other => format!("unknown operator {other:?}; expected one of {OPS}"),
        };
        Err(self.error(start, message))
    }

    /// The next character for messages: `'x'` or `the end`.
    fn found(&self) -> String {
        self.peek()
            .map_or("the end".to_string(), |c| format!("{c:?}"))
    }

    fn bound(&mut self, metric: Metric) -> Result<Bound, CheckError> {
        let start = self.pos;
        if self.peek().is_none() {
            return Err(self.error(start, format!("expected a value: {}", allowed(metric))));
        }
        if self.keyword("model") {
            return self.model(metric, start, 1.0);
        }
        let number = self.number(metric)?;
        self.skip_spaces();
        if self.peek() == Some('*') {
            self.pos += 1;
            self.skip_spaces();
            let at = self.pos;
            if !self.keyword("model") {
                return Err(self.error(at, "expected \"model\" after \"*\""));
            }
            return self.model(metric, start, number.value);
        }
        let unit_at = self.pos;
        let unit = self.take_while(|c| !c.is_whitespace());
        let unit_at = if unit.is_empty() { start } else { unit_at };
        self.quantity(metric, &number, &unit, unit_at)
            .map(Bound::Fixed)
    }

    /// Consumes `word` if it comes next as a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        let end = self.pos + word.chars().count();
        let matches = self.chars.len() >= end
            && self.chars[self.pos..end].iter().copied().eq(word.chars())
            && !self
                .chars
                .get(end)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_');
        if matches {
            self.pos = end;
        }
        matches
    }

    fn model(&self, metric: Metric, start: usize, factor: f64) -> Result<Bound, CheckError> {
        if !metric.has_model() {
            let with = names(Metric::ALL.into_iter().filter(|m| m.has_model()));
            return Err(self.error(
                start,
                format!(
                    "{} has no model value; \"model\" is allowed only for {with}",
                    metric.name(),
                ),
            ));
        }
        Ok(Bound::Model(factor))
    }

    fn number(&mut self, metric: Metric) -> Result<Number, CheckError> {
        let start = self.pos;
        let text = self.take_while(|c| c.is_ascii_digit() || c == '.');
        let valid = !text.is_empty()
            && text.chars().filter(|&c| c == '.').count() <= 1
            && !text.starts_with('.')
            && !text.ends_with('.');
        if !valid {
            let found = if !text.is_empty() {
                format!("{text:?}")
            } else if self.peek().is_some_and(char::is_alphabetic) {
                format!("{:?}", self.take_while(|c| c.is_alphanumeric() || c == '_'))
            } else {
                self.found()
            };
            return Err(self.error(
                start,
                format!(
                    "expected a non-negative number, found {found}; {}",
                    allowed(metric)
                ),
            ));
        }
        let value: f64 = text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| self.error(start, format!("{text:?} is not a number in range")))?;
        Ok(Number {
            value,
            whole: !text.contains('.'),
            at: start,
        })
    }

    /// Validates NUMBER UNIT against the metric's kind.
    fn quantity(
        &self,
        metric: Metric,
        n: &Number,
        unit: &str,
        at: usize,
    ) -> Result<Value, CheckError> {
        let misfit = || {
            let what = if unit.is_empty() {
                format!("{} needs a unit", metric.name())
            } else if Unit::of(unit).is_some() {
                format!("unit {unit:?} does not fit {}", metric.name())
            } else {
                format!("unknown unit {unit:?}")
            };
            self.error(at, format!("{what}; {}", allowed(metric)))
        };
        let unit = Unit::of(unit).ok_or_else(misfit)?;
        match (metric.kind(), unit) {
            (Kind::Duration, Unit::Seconds(scale)) => {
                let nanos = (n.value * scale * 1e9).round();
                if nanos > u64::MAX as f64 {
                    return Err(self.error(n.at, "the duration is too large"));
                }
                Ok(Value::Duration(Duration::from_nanos(nanos as u64)))
            }
            (Kind::Rate, Unit::PerSecond | Unit::None) => Ok(Value::Rate(n.value)),
            (Kind::Fraction, Unit::Percent) => Ok(Value::Fraction(n.value / 100.0)),
            (Kind::Fraction, Unit::None) if n.value <= 1.0 => Ok(Value::Fraction(n.value)),
            (Kind::Fraction, Unit::None) => Err(self.error(
                n.at,
                format!(
                    "a bare error rate is a fraction between 0 and 1; write {}% for percent",
                    n.value
                ),
            )),
            (Kind::Count, Unit::None) if n.whole && n.value <= u64::MAX as f64 => {
                Ok(Value::Count(n.value as u64))
            }
            (Kind::Count, Unit::None) => Err(self.error(
                n.at,
                format!("{} is a count; {}", metric.name(), allowed(metric)),
            )),
            _ => Err(misfit()),
        }
    }
}

/// A number as written, with where it started.
struct Number {
    value: f64,
    whole: bool,
    at: usize,
}

/// A unit suffix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// A duration unit, in seconds per unit.
    Seconds(f64),
    PerSecond,
    Percent,
    None,
}

impl Unit {
    fn of(text: &str) -> Option<Unit> {
        Some(match text {
            "us" | "µs" => Unit::Seconds(1e-6),
            "ms" => Unit::Seconds(1e-3),
            "s" => Unit::Seconds(1.0),
            "/s" => Unit::PerSecond,
            "%" => Unit::Percent,
            "" => Unit::None,
            _ => return None,
        })
    }
}

/// Metric names separated by commas, for error messages.
fn names(metrics: impl Iterator<Item = Metric>) -> String {
    metrics.map(Metric::name).collect::<Vec<_>>().join(", ")
}

/// What a metric's value may look like, for error messages.
fn allowed(metric: Metric) -> String {
    let name = metric.name();
    match metric.kind() {
        Kind::Duration => format!(
            "{name} takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"
        ),
        Kind::Rate => format!(
            "{name} takes a rate, expected /s or a bare number (e.g. 900/s) or a multiple of model (e.g. 0.9 * model)"
        ),
        Kind::Fraction => {
            format!("{name} takes a percentage (e.g. 1%) or a fraction between 0 and 1 (e.g. 0.01)")
        }
        Kind::Count => format!("{name} takes a whole number without a unit (e.g. 0)"),
    }
}

/// The verdicts as aligned text lines, e.g.
/// `PASS  fast-case  p99 < 250ms          (actual 212ms)` or
/// `FAIL  fast-case  p50 <= 1.2 * model   (actual 300ms, 1.2 × model = 240ms)`.
pub fn render(verdicts: &[Verdict]) -> String {
    let rows: Vec<[String; 4]> = verdicts
        .iter()
        .map(|v| {
            let case = if v.repetition > 1 {
                format!("{} #{}", v.case, v.repetition)
            } else {
                v.case.clone()
            };
            let detail = if v.threshold.contains("model") {
                format!("(actual {}, {})", v.actual, v.threshold)
            } else {
                format!("(actual {})", v.actual)
            };
            let status = if v.passed { "PASS" } else { "FAIL" };
            [status.to_string(), case, v.expr.clone(), detail]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (case_w, expr_w) = (width(1), width(2));
    rows.iter()
        .map(|[status, case, expr, detail]| {
            format!("{status}  {case:<case_w$}  {expr:<expr_w$}  {detail}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Expectation;
    use crate::outcome::{ErrorCounts, ErrorKind};
    use crate::results::{Latency, ServerView};
    use std::collections::BTreeMap;

    /// A closed-loop case on the embedded server: 1000 sent, 996 ok, 4 resets,
    /// p50 200ms, model latency 200ms at 25/s.
    fn result() -> CaseResult {
        let mut errors = ErrorCounts::default();
        for _ in 0..4 {
            errors.add(ErrorKind::Reset);
        }
        CaseResult {
            scenario: "s".into(),
            case: "five".into(),
            base_case: "five".into(),
            repetition: 1,
            executor: "tasks".into(),
            runtime: "multi_thread".into(),
            connection: "reuse".into(),
            protocol: "http1".into(),
            streams_per_connection: 1,
            concurrency: Some(5),
            target_rate: None,
            requests: 1000,
            ok: 996,
            errors,
            statuses: BTreeMap::from([(200, 996)]),
            wall_seconds: 40.5,
            throughput: 24.6,
            achieved_rate: 24.7,
            late_sends: 2,
            skipped_sends: 3,
            connect_backoffs: 0,
            phases: Default::default(),
            first_error: None,
            latency: Some(Latency {
                min: 200_100,
                mean: 201_500.4,
                p50: 200_700,
                p90: 203_000,
                p99: 212_000,
                p999: 230_000,
                max: 250_000,
            }),
            service: None,
            server: Some(ServerView {
                received: 1000,
                peak_in_service: 5,
                peak_queued: 0,
                rejected: 0,
                dropped: 4,
                timed_out: 1,
                connections: 3,
            }),
            model: Some(Expectation {
                throughput: 25.0,
                latency: Duration::from_millis(200),
                wall: Some(Duration::from_secs(40)),
                utilisation: None,
            }),
            interrupted: false,
            request: String::new(),
            parts: Vec::new(),
        }
    }

    /// The same case against an external server: no server view, no model.
    fn external() -> CaseResult {
        CaseResult {
            server: None,
            model: None,
            ..result()
        }
    }

    fn verdict(expr: &str, r: &CaseResult) -> (bool, String, String) {
        let check = parse(expr).unwrap_or_else(|e| panic!("{e}"));
        let v = check.evaluate(r);
        (v.passed, v.actual, v.threshold)
    }

    #[test]
    fn every_metric_reads_its_field() {
        let r = result();
        let cases = [
            ("p50 < 201ms", true, "200.7ms"),
            ("p90 < 203ms", false, "203ms"),
            ("p99 <= 212ms", true, "212ms"),
            ("p99.9 < 231ms", true, "230ms"),
            ("mean < 202ms", true, "201.5ms"),
            ("min >= 200ms", true, "200.1ms"),
            ("max < 250ms", false, "250ms"),
            ("wall < 41s", true, "40.5s"),
            ("throughput > 24/s", true, "24.6/s"),
            ("error_rate < 0.5%", true, "0.40%"),
            ("requests == 1000", true, "1000"),
            ("ok == 996", true, "996"),
            ("errors == 4", true, "4"),
            ("skipped == 3", true, "3"),
            ("late == 2", true, "2"),
            ("rejected == 0", true, "0"),
            ("dropped == 4", true, "4"),
            ("timed_out == 1", true, "1"),
        ];
        for (expr, passed, actual) in cases {
            let (p, a, _) = verdict(expr, &r);
            assert_eq!((p, a.as_str()), (passed, actual), "{expr}");
        }
    }

    #[test]
    fn every_operator_on_equal_smaller_and_larger_thresholds() {
        let r = result(); // requests = 1000
        let cases = [
            ("<", [false, false, true]),
            ("<=", [true, false, true]),
            (">", [false, true, false]),
            (">=", [true, true, false]),
            ("==", [true, false, false]),
            ("!=", [false, true, true]),
        ];
        for (op, expected) in cases {
            for (threshold, want) in ["1000", "999", "1001"].iter().zip(expected) {
                let expr = format!("requests {op} {threshold}");
                assert_eq!(verdict(&expr, &r).0, want, "{expr}");
            }
        }
    }

    #[test]
    fn units_scale_values() {
        let r = result(); // p99 = 212ms
        for expr in [
            "p99 < 213ms",
            "p99 < 0.213s",
            "p99 < 212001us",
            "p99<213ms",
            "p99 < 212001µs",
        ] {
            assert!(verdict(expr, &r).0, "{expr}");
        }
        for expr in ["p99 < 212ms", "p99 < 0.2s", "p99 < 212000us"] {
            assert!(!verdict(expr, &r).0, "{expr}");
        }
        // error rate 0.4%: percent and bare fraction agree.
        assert!(verdict("error_rate <= 0.4%", &r).0);
        assert!(verdict("error_rate <= 0.004", &r).0);
        assert!(!verdict("error_rate < 0.4%", &r).0);
        // throughput 24.6/s: with or without the unit.
        assert!(verdict("throughput > 24.5", &r).0);
        assert!(verdict("throughput > 24.5/s", &r).0);
    }

    #[test]
    fn thresholds_show_resolved_model_values() {
        let r = result();
        let cases = [
            ("p50 <= 1.2 * model", true, "1.2 × model = 240ms"),
            ("p50 < model", false, "model = 200ms"),
            ("mean <= 1.01*model", true, "1.01 × model = 202ms"),
            ("p99 < 1.05 * model", false, "1.05 × model = 210ms"),
            ("throughput >= 0.9 * model", true, "0.9 × model = 22.5/s"),
            ("throughput >= model", false, "model = 25.0/s"),
            ("wall <= 1.1 * model", true, "1.1 × model = 44s"),
            ("p99 < 250ms", true, "250ms"),
        ];
        for (expr, passed, threshold) in cases {
            let (p, _, t) = verdict(expr, &r);
            assert_eq!((p, t.as_str()), (passed, threshold), "{expr}");
        }
    }

    #[test]
    fn missing_data_fails_with_a_reason() {
        let no_latency = CaseResult {
            latency: None,
            ok: 0,
            ..result()
        };
        let nothing_sent = CaseResult {
            requests: 0,
            ok: 0,
            errors: ErrorCounts::default(),
            ..result()
        };
        let open_loop = CaseResult {
            model: result().model.map(|m| Expectation { wall: None, ..m }),
            ..result()
        };
        let zero_delay = CaseResult {
            model: result().model.map(|m| Expectation {
                throughput: f64::INFINITY,
                ..m
            }),
            ..result()
        };
        let cases = [
            ("p99 < 1s", &no_latency, "n/a (no request succeeded)", "1s"),
            (
                "error_rate < 1%",
                &nothing_sent,
                "n/a (no request was sent)",
                "1.00%",
            ),
            (
                "rejected == 0",
                &external(),
                "n/a (no server view: the target is not the embedded server)",
                "0",
            ),
            (
                "dropped == 0",
                &external(),
                "n/a (no server view: the target is not the embedded server)",
                "0",
            ),
            (
                "timed_out == 0",
                &external(),
                "n/a (no server view: the target is not the embedded server)",
                "0",
            ),
            (
                "p50 < 2 * model",
                &external(),
                "200.7ms",
                "2 × model = n/a (no model: the target is not the embedded server, or the server has routes or pools)",
            ),
            (
                "wall < 2 * model",
                &open_loop,
                "40.5s",
                "2 × model = n/a (the model has no wall time for an open-loop case)",
            ),
            (
                "throughput > 0.5 * model",
                &zero_delay,
                "24.6/s",
                "0.5 × model = n/a (the model's throughput is unbounded (zero delay))",
            ),
        ];
        for (expr, r, actual, threshold) in cases {
            let v = parse(expr).unwrap().evaluate(r);
            assert!(!v.passed, "{expr} must fail");
            assert_eq!(
                (v.actual.as_str(), v.threshold.as_str()),
                (actual, threshold),
                "{expr}"
            );
        }
        // `!=` must not turn missing data into a pass either.
        assert!(!verdict("p99 != 1s", &no_latency).0);
    }

    #[test]
    fn bad_input_says_where_and_what_is_allowed() {
        let cases = [
            ("", "check \"\": at column 1: expected a metric, one of p50, p90, p99, p99.9, mean, min, max, wall, throughput, error_rate, requests, ok, errors, skipped, late, rejected, dropped, timed_out"),
            ("p95 < 1s", "check \"p95 < 1s\": at column 1: unknown metric \"p95\"; expected one of p50, p90, p99, p99.9, mean, min, max, wall, throughput, error_rate, requests, ok, errors, skipped, late, rejected, dropped, timed_out"),
            ("p99 250ms", "check \"p99 250ms\": at column 5: expected an operator (<, <=, >, >=, ==, !=), found '2'"),
            ("p99", "check \"p99\": at column 4: expected an operator (<, <=, >, >=, ==, !=), found the end"),
            ("p99 = 250ms", "check \"p99 = 250ms\": at column 5: \"=\" is not an operator; use \"==\" to test equality (operators: <, <=, >, >=, ==, !=)"),
            ("p99 => 250ms", "check \"p99 => 250ms\": at column 5: unknown operator \"=>\"; expected one of <, <=, >, >=, ==, !="),
            ("p99 <", "check \"p99 <\": at column 6: expected a value: p99 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("p99 < 250xs", "check \"p99 < 250xs\": at column 10: unknown unit \"xs\"; p99 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("p99 < 250", "check \"p99 < 250\": at column 7: p99 needs a unit; p99 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("p99 < 2%", "check \"p99 < 2%\": at column 8: unit \"%\" does not fit p99; p99 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("p99 < -1ms", "check \"p99 < -1ms\": at column 7: expected a non-negative number, found '-'; p99 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("p99 < 1.2.3ms", "check \"p99 < 1.2.3ms\": at column 7: expected a non-negative number, found \"1.2.3\"; p99 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("throughput > 900ms", "check \"throughput > 900ms\": at column 17: unit \"ms\" does not fit throughput; throughput takes a rate, expected /s or a bare number (e.g. 900/s) or a multiple of model (e.g. 0.9 * model)"),
            ("error_rate < 1/s", "check \"error_rate < 1/s\": at column 15: unit \"/s\" does not fit error_rate; error_rate takes a percentage (e.g. 1%) or a fraction between 0 and 1 (e.g. 0.01)"),
            ("error_rate < 5", "check \"error_rate < 5\": at column 14: a bare error rate is a fraction between 0 and 1; write 5% for percent"),
            ("error_rate < model", "check \"error_rate < model\": at column 14: error_rate has no model value; \"model\" is allowed only for p50, p90, p99, p99.9, mean, min, max, wall, throughput"),
            ("rejected == 0.5", "check \"rejected == 0.5\": at column 13: rejected is a count; rejected takes a whole number without a unit (e.g. 0)"),
            ("rejected < 2 * model", "check \"rejected < 2 * model\": at column 12: rejected has no model value; \"model\" is allowed only for p50, p90, p99, p99.9, mean, min, max, wall, throughput"),
            ("dropped == 1ms", "check \"dropped == 1ms\": at column 13: unit \"ms\" does not fit dropped; dropped takes a whole number without a unit (e.g. 0)"),
            ("p50 < 1.2 * modle", "check \"p50 < 1.2 * modle\": at column 13: expected \"model\" after \"*\""),
            ("p50 < models", "check \"p50 < models\": at column 7: expected a non-negative number, found \"models\"; p50 takes a duration, expected one of us, ms, s (e.g. 250ms) or a multiple of model (e.g. 1.2 * model)"),
            ("p99 < 250ms and more", "check \"p99 < 250ms and more\": at column 13: unexpected \"and more\" after the value"),
        ];
        for (expr, message) in cases {
            let err = parse(expr).expect_err(expr);
            assert_eq!(err.to_string(), message, "{expr}");
        }
    }

    #[test]
    fn text_is_kept_and_surrounding_spaces_trimmed() {
        let check: Check = "  p99 <= 1.2*model ".parse().unwrap();
        assert_eq!(check.text(), "p99 <= 1.2*model");
        assert_eq!(check.to_string(), "p99 <= 1.2*model");
        let from_yaml: Vec<Check> = serde_yaml::from_str("[\"rejected == 0\"]").unwrap();
        assert_eq!(from_yaml[0].text(), "rejected == 0");
        let bad = serde_yaml::from_str::<Vec<Check>>("[\"rejected == x\"]").unwrap_err();
        assert!(bad.to_string().contains("at column 13"), "{bad}");
    }

    #[test]
    fn verdicts_render_as_text_and_csv() {
        let r = result();
        let second = CaseResult {
            repetition: 2,
            case: "a-longer-case".into(),
            ..external()
        };
        let verdicts = vec![
            parse("p99 < 250ms").unwrap().evaluate(&r),
            parse("p50 <= 0.9 * model").unwrap().evaluate(&r),
            parse("rejected == 0").unwrap().evaluate(&second),
        ];
        insta::assert_snapshot!("render", render(&verdicts));
        let csv = String::from_utf8(checks_csv(&verdicts)).unwrap();
        insta::assert_snapshot!("checks_csv", csv);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn parsing_near_valid_input_never_panics(
            metric in "(p50|p99.9|throughput|error_rate|rejected|wall|x)",
            op in "(<|<=|==|!=|=|>>)",
            value in "[0-9.]{0,25}(ms|us|s|/s|%|xs|)( ?\\* ?model)?",
        ) {
            let r = result();
            if let Ok(check) = parse(&format!("{metric} {op} {value}")) {
                let _ = check.evaluate(&r);
                let _ = check.evaluate(&external());
            }
        }
    }
}
