//! Human-readable durations: `250ms`, `3s`, `1.5s`, `2m`, `800us`.
//!
//! One grammar is shared by the server's flags, its YAML configuration and the
//! load client's scenarios, so a duration is written the same way everywhere.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a duration could not be parsed. The message names the allowed forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}; expected a non-negative number followed by a unit (ns, us, ms, s, m, h), e.g. 250ms, 1.5s")]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What in particular was wrong with it.
    pub reason: &'static str,
}

/// Parses `250ms`, `3s`, `1.5s`, `2m`, `800us`, `10ns`, `1h`; `0` alone is zero.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let text = input.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| err("the unit is missing"))?;
    let (number, unit) = text.split_at(split);
    if text.starts_with('-') {
        return Err(err("durations cannot be negative"));
    }
    if number.is_empty() {
        return Err(err("the number is missing"));
    }
    let value: f64 = number.parse().map_err(|_| err("the number is not valid"))?;
    let seconds_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(err("the unit is not one of ns, us, ms, s, m, h")),
    };
    let seconds = value * seconds_per_unit;
    // One year is far beyond any sensible delay or run length, and keeps the
    // conversion below from overflowing.
    if !seconds.is_finite() || seconds > 365.0 * 86_400.0 {
        return Err(err("the duration is too large (at most one year)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats a duration in the same grammar [`parse`] reads, choosing a unit
/// that keeps the number short (`200ms`, `1.5s`, `850us`).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_string()
    } else if (nanos >= 1_000_000_000 && nanos % 1_000_000 == 0) || nanos >= 10_000_000_000 {
        trim_float(d.as_secs_f64(), "s")
    } else if nanos >= 1_000_000 {
        trim_float(nanos as f64 / 1e6, "ms")
    } else if nanos >= 1_000 {
        trim_float(nanos as f64 / 1e3, "us")
    } else {
        format!("{nanos}ns")
    }
}

fn trim_float(value: f64, unit: &str) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// A [`Duration`] that reads and writes itself in the human grammar, for use
/// in configuration structs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl From<HumanDuration> for Duration {
    fn from(value: HumanDuration) -> Self {
        value.0
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum, so the error is raised at
        // the scalar itself and serde_yaml reports its exact line and column.
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = HumanDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 250ms or 1.5s")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse(v).map(HumanDuration).map_err(E::custom)
    }

    // A bare number is accepted only when it is zero; anything else must
    // carry a unit, because "100" could mean seconds or milliseconds.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("800us").unwrap(), Duration::from_micros(800));
        assert_eq!(parse("10ns").unwrap(), Duration::from_nanos(10));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse(" 0.2ms ").unwrap(), Duration::from_micros(200));
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        for (input, reason) in [
            ("", "the unit is missing"),
            ("100", "the unit is missing"),
            ("-5ms", "durations cannot be negative"),
            ("ms", "the number is missing"),
            ("1..2s", "the number is not valid"),
            ("5 parsecs", "the unit is not one of ns, us, ms, s, m, h"),
            ("99999999h", "the duration is too large (at most one year)"),
        ] {
            assert_eq!(parse(input).unwrap_err().reason, reason, "input {input:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["200ms", "1.5s", "850us", "3s", "0s", "20ns", "60s"] {
            let d = parse(text).unwrap();
            assert_eq!(format(d), text);
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
