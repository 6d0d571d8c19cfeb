//! Per-field rules of [`ServerConfig`](super::ServerConfig): how a field's
//! text is parsed, which values are allowed, and the message that says so.
//!
//! Each rule runs inside a serde visitor, so a YAML error points at the bad
//! value's line and column, and again in `validate`, so values set in code
//! or by flags meet the same rules with the same words.

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::duration::{self, HumanDuration};

/// The largest capacity accepted (far above what one process can serve).
const MAX_CAPACITY: usize = 1_000_000;

/// One field's parse and check.
pub(crate) trait Rule {
    /// The type stored in `ServerConfig`.
    type Value;
    /// The type stored in `Settings`.
    type Valid;
    /// What is allowed, in words; quoted in every error.
    const EXPECTED: &'static str;
    /// Parses the text of a YAML scalar or flag.
    fn parse(text: &str) -> Result<Self::Value, String>;
    /// Checks a value and converts it to its validated type.
    fn check(value: &Self::Value) -> Result<Self::Valid, String>;
}

/// The message for a value that breaks a rule.
fn not_allowed<R: Rule>(shown: impl fmt::Display) -> String {
    format!("{shown} is not allowed; expected {}", R::EXPECTED)
}

/// Parses a number, or says what is allowed.
fn number<R: Rule, T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| not_allowed::<R>(text))
}

/// A `deserialize_with` function applying rule `R` to an optional field.
pub(crate) fn field<'de, D, R>(deserializer: D) -> Result<Option<R::Value>, D::Error>
where
    D: Deserializer<'de>,
    R: Rule,
{
    Option::<Checked<R>>::deserialize(deserializer).map(|v| v.map(|c| c.0))
}

/// A value that passed rule `R`.
struct Checked<R: Rule>(R::Value);

impl<'de, R: Rule> Deserialize<'de> for Checked<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RuleVisitor::<R>(PhantomData))
    }
}

struct RuleVisitor<R>(PhantomData<R>);

impl<R: Rule> RuleVisitor<R> {
    fn apply<E: de::Error>(text: &str) -> Result<Checked<R>, E> {
        let value = R::parse(text).map_err(E::custom)?;
        R::check(&value).map_err(E::custom)?;
        Ok(Checked(value))
    }
}

impl<R: Rule> Visitor<'_> for RuleVisitor<R> {
    type Value = Checked<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(R::EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Self::apply(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::apply(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::apply(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::apply(&v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Self::apply(&v.to_string())
    }
}

/// `listen`: an IP address and port.
pub(crate) struct Listen;
impl Rule for Listen {
    type Value = SocketAddr;
    type Valid = SocketAddr;
    const EXPECTED: &'static str = "an IP:PORT address such as 127.0.0.1:8080";
    fn parse(text: &str) -> Result<SocketAddr, String> {
        number::<Self, _>(text)
    }
    fn check(value: &SocketAddr) -> Result<SocketAddr, String> {
        Ok(*value)
    }
}

/// Any duration.
pub(crate) struct Time;
impl Rule for Time {
    type Value = HumanDuration;
    type Valid = Duration;
    const EXPECTED: &'static str = "a duration such as 250ms or 1.5s";
    fn parse(text: &str) -> Result<HumanDuration, String> {
        duration::parse(text)
            .map(HumanDuration)
            .map_err(|e| e.to_string())
    }
    fn check(value: &HumanDuration) -> Result<Duration, String> {
        Ok(value.0)
    }
}

/// A duration above zero.
pub(crate) struct Positive;
impl Rule for Positive {
    type Value = HumanDuration;
    type Valid = Duration;
    const EXPECTED: &'static str = "a duration above 0, such as 10s";
    fn parse(text: &str) -> Result<HumanDuration, String> {
        Time::parse(text)
    }
    fn check(value: &HumanDuration) -> Result<Duration, String> {
        if value.0.is_zero() {
            return Err(not_allowed::<Self>(value));
        }
        Ok(value.0)
    }
}

/// `capacity`: at least one slot.
pub(crate) struct Capacity;
impl Rule for Capacity {
    type Value = usize;
    type Valid = NonZeroUsize;
    const EXPECTED: &'static str =
        "an integer from 1 to 1000000 (leave capacity out for unlimited)";
    fn parse(text: &str) -> Result<usize, String> {
        number::<Self, _>(text)
    }
    fn check(value: &usize) -> Result<NonZeroUsize, String> {
        NonZeroUsize::new(*value)
            .filter(|n| n.get() <= MAX_CAPACITY)
            .ok_or_else(|| not_allowed::<Self>(value))
    }
}

/// A count or a size in bytes.
pub(crate) struct Size;
impl Rule for Size {
    type Value = u64;
    type Valid = u64;
    const EXPECTED: &'static str = "a non-negative integer";
    fn parse(text: &str) -> Result<u64, String> {
        number::<Self, _>(text)
    }
    fn check(value: &u64) -> Result<u64, String> {
        Ok(*value)
    }
}

/// `error_rate`, `reset_rate`: a fraction.
pub(crate) struct Rate;
impl Rule for Rate {
    type Value = f64;
    type Valid = f64;
    const EXPECTED: &'static str = "a fraction from 0 to 1, such as 0.05";
    fn parse(text: &str) -> Result<f64, String> {
        number::<Self, _>(text)
    }
    fn check(value: &f64) -> Result<f64, String> {
        if (0.0..=1.0).contains(value) {
            Ok(*value)
        } else {
            Err(not_allowed::<Self>(value))
        }
    }
}

/// `reject_status`: the two statuses that mean "come back later".
pub(crate) struct RejectStatus;
impl Rule for RejectStatus {
    type Value = u16;
    type Valid = StatusCode;
    const EXPECTED: &'static str = "503 or 429";
    fn parse(text: &str) -> Result<u16, String> {
        number::<Self, _>(text)
    }
    fn check(value: &u16) -> Result<StatusCode, String> {
        match value {
            503 | 429 => StatusCode::from_u16(*value).map_err(|_| not_allowed::<Self>(value)),
            _ => Err(not_allowed::<Self>(value)),
        }
    }
}

/// `status`, `error_status`: a final HTTP status.
pub(crate) struct ResponseStatus;
impl Rule for ResponseStatus {
    type Value = u16;
    type Valid = StatusCode;
    const EXPECTED: &'static str = "an HTTP status from 200 to 599";
    fn parse(text: &str) -> Result<u16, String> {
        number::<Self, _>(text)
    }
    fn check(value: &u16) -> Result<StatusCode, String> {
        status_in_range(*value).ok_or_else(|| not_allowed::<Self>(value))
    }
}

/// A final status (200 to 599), the range every answer of this server uses.
pub(crate) fn status_in_range(code: u16) -> Option<StatusCode> {
    (200..=599)
        .contains(&code)
        .then(|| StatusCode::from_u16(code).ok())
        .flatten()
}

/// `content_type`: a valid header value.
pub(crate) struct ContentType;
impl Rule for ContentType {
    type Value = String;
    type Valid = HeaderValue;
    const EXPECTED: &'static str = "a header value of visible ASCII, such as text/plain";
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn check(value: &String) -> Result<HeaderValue, String> {
        let visible = !value.is_empty() && value.bytes().all(|b| (0x20..0x7f).contains(&b));
        visible
            .then(|| HeaderValue::from_str(value).ok())
            .flatten()
            .ok_or_else(|| not_allowed::<Self>(format_args!("{value:?}")))
    }
}

/// `backlog`: the listen queue length.
pub(crate) struct Backlog;
impl Rule for Backlog {
    type Value = u32;
    type Valid = u32;
    const EXPECTED: &'static str = "an integer from 1 to 65535";
    fn parse(text: &str) -> Result<u32, String> {
        number::<Self, _>(text)
    }
    fn check(value: &u32) -> Result<u32, String> {
        if (1..=65_535).contains(value) {
            Ok(*value)
        } else {
            Err(not_allowed::<Self>(value))
        }
    }
}

/// `max_header_size`: hyper's read buffer cannot be smaller than 8192.
pub(crate) struct HeaderSize;
impl Rule for HeaderSize {
    type Value = usize;
    type Valid = usize;
    const EXPECTED: &'static str = "an integer from 8192 to 1048576 (bytes)";
    fn parse(text: &str) -> Result<usize, String> {
        number::<Self, _>(text)
    }
    fn check(value: &usize) -> Result<usize, String> {
        if (8192..=1_048_576).contains(value) {
            Ok(*value)
        } else {
            Err(not_allowed::<Self>(value))
        }
    }
}

/// `error_every`, `reset_every`: every Nth request, N at least 1.
pub(crate) struct Every;
impl Rule for Every {
    type Value = u64;
    type Valid = std::num::NonZeroU64;
    const EXPECTED: &'static str = "an integer of 1 or more (every Nth request)";
    fn parse(text: &str) -> Result<u64, String> {
        number::<Self, _>(text)
    }
    fn check(value: &u64) -> Result<std::num::NonZeroU64, String> {
        std::num::NonZeroU64::new(*value).ok_or_else(|| not_allowed::<Self>(value))
    }
}

/// A route's or a pool's name: a stats key and a Prometheus label value.
pub(crate) struct Name;
impl Rule for Name {
    type Value = String;
    type Valid = String;
    const EXPECTED: &'static str =
        "1 to 64 visible ASCII characters other than \" and \\, such as reads or GET /api/*";
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn check(value: &String) -> Result<String, String> {
        let ok = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        ok.then(|| value.clone())
            .ok_or_else(|| not_allowed::<Self>(format_args!("{value:?}")))
    }
}

/// A route's `path`: a pattern for [`crate::routing::PathPattern`].
pub(crate) struct Pattern;
impl Rule for Pattern {
    type Value = String;
    type Valid = String;
    const EXPECTED: &'static str =
        "a path starting with / such as /api/*, /users/*/orders or /health";
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn check(value: &String) -> Result<String, String> {
        crate::routing::PathPattern::compile(value)
            .map(|_| value.clone())
            .map_err(|e| e.to_string())
    }
}

/// A route's `status`: one status, or weighted ones (`200:90,503:10`).
pub(crate) struct StatusMix;
impl Rule for StatusMix {
    type Value = String;
    type Valid = crate::routes::StatusChoice;
    const EXPECTED: &'static str =
        "an HTTP status from 200 to 599, or weighted statuses such as 200:90,503:10";
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn check(value: &String) -> Result<crate::routes::StatusChoice, String> {
        crate::routes::status(value).map_err(|_| not_allowed::<Self>(format_args!("{value:?}")))
    }
}

/// `tls`: how the server gets its certificate, when it is not given as
/// files (`tls_cert`, `tls_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// A certificate generated at start for localhost, 127.0.0.1 and ::1.
    SelfSigned,
}

/// The rule of `tls`.
pub(crate) struct Tls;
impl Rule for Tls {
    type Value = TlsMode;
    type Valid = TlsMode;
    const EXPECTED: &'static str = "self_signed (or leave tls out and give tls_cert and tls_key)";
    fn parse(text: &str) -> Result<TlsMode, String> {
        match text.trim() {
            "self_signed" => Ok(TlsMode::SelfSigned),
            other => Err(not_allowed::<Self>(format_args!("{other:?}"))),
        }
    }
    fn check(value: &TlsMode) -> Result<TlsMode, String> {
        Ok(*value)
    }
}

/// A file path (`tls_cert`, `tls_key`, `tls_write_cert`, `tls_client_ca`).
pub(crate) struct FilePath;
impl Rule for FilePath {
    type Value = std::path::PathBuf;
    type Valid = std::path::PathBuf;
    const EXPECTED: &'static str = "a file path";
    fn parse(text: &str) -> Result<std::path::PathBuf, String> {
        Ok(std::path::PathBuf::from(text))
    }
    fn check(value: &std::path::PathBuf) -> Result<std::path::PathBuf, String> {
        if value.as_os_str().is_empty() {
            return Err(not_allowed::<Self>("an empty path"));
        }
        Ok(value.clone())
    }
}
