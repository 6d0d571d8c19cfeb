//! `--start-at TIME`: the wall-clock instant every shard waits for before
//! its first case's measured phase, so shards started at different times
//! (pods scheduled one by one) send one schedule.
//!
//! TIME is RFC 3339 (`2026-11-30T12:00:00Z`, fractional seconds and a
//! `+HH:MM` offset allowed) or `+DURATION` from now (`+30s`, `+2m`).
//! The rules, checked once against the clock when the run starts:
//! - an instant more than [`MAX_LATE`] in the past is refused: a shard that
//!   late would turn its whole lateness into latency, and most likely the
//!   instant is a stale value from an earlier job;
//! - an instant up to [`MAX_LATE`] in the past is accepted: the shard starts
//!   its open-loop schedule at the instant anyway (the sends it missed go
//!   out late and count their lateness as latency) and reports the skew;
//! - an instant more than [`MAX_AHEAD`] ahead is refused unless
//!   `--allow-distant-start` is given (a typo in the date, hours of idle pods).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most an instant may lie in the past.
pub const MAX_LATE: Duration = Duration::from_secs(60);
/// The most an instant may lie ahead without `--allow-distant-start`.
pub const MAX_AHEAD: Duration = Duration::from_secs(3600);

/// Why `--start-at` was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartAtError {
    /// Not RFC 3339 nor `+DURATION`.
    #[error("--start-at {input:?}: {reason}; expected an RFC 3339 UTC time such as 2026-11-30T12:00:00Z (fractions and +HH:MM offsets allowed) or +DURATION from now such as +30s")]
    Syntax {
        /// The text given.
        input: String,
        /// What was wrong.
        reason: String,
    },
    /// More than [`MAX_LATE`] in the past.
    #[error("--start-at {input}: that instant was {late:.1}s ago, more than the {}s a late shard may start after it; give a time in the future (e.g. +30s)", MAX_LATE.as_secs())]
    TooLate {
        /// The text given.
        input: String,
        /// Seconds since the instant.
        late: f64,
    },
    /// More than [`MAX_AHEAD`] ahead.
    #[error("--start-at {input}: that instant is {ahead:.0}s away, more than {}s; pass --allow-distant-start if you mean it", MAX_AHEAD.as_secs())]
    TooFar {
        /// The text given.
        input: String,
        /// Seconds until the instant.
        ahead: f64,
    },
}

/// Parses TIME and applies the rules against `now`.
pub fn resolve(
    input: &str,
    now: SystemTime,
    allow_distant: bool,
) -> Result<SystemTime, StartAtError> {
    let at = parse(input, now)?;
    match at.duration_since(now) {
        Ok(ahead) if ahead > MAX_AHEAD && !allow_distant => Err(StartAtError::TooFar {
            input: input.to_string(),
            ahead: ahead.as_secs_f64(),
        }),
        Ok(_) => Ok(at),
        Err(e) if e.duration() > MAX_LATE => Err(StartAtError::TooLate {
            input: input.to_string(),
            late: e.duration().as_secs_f64(),
        }),
        Err(_) => Ok(at),
    }
}

/// Parses RFC 3339 or `+DURATION` (relative to `now`), without the rules.
pub fn parse(input: &str, now: SystemTime) -> Result<SystemTime, StartAtError> {
    let syntax = |reason: &str| StartAtError::Syntax {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let text = input.trim();
    if let Some(rest) = text.strip_prefix('+') {
        let d = mock_server::duration::parse(rest).map_err(|e| syntax(e.reason))?;
        return Ok(now + d);
    }
    let secs = rfc3339_seconds(text).map_err(syntax)?;
    let whole = secs.floor();
    if !(0.0..=253_402_300_799.0).contains(&whole) {
        return Err(syntax("the year must be between 1970 and 9999"));
    }
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    Ok(UNIX_EPOCH + Duration::new(whole as u64, nanos))
}

/// Seconds since the epoch of an RFC 3339 date-time.
fn rfc3339_seconds(text: &str) -> Result<f64, &'static str> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err("too short for YYYY-MM-DDTHH:MM:SSZ");
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, &'static str> {
        let s = text.get(range).ok_or("not ASCII")?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err("a digit was expected");
        }
        s.parse().map_err(|_| "a number was expected")
    };
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return Err("the layout is not YYYY-MM-DDTHH:MM:SS");
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err("no such date");
    }
    if h > 23 || mi > 59 || s > 60 {
        return Err("no such time of day");
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err("a fraction needs digits after the dot");
        }
        fraction = format!("0.{}", &frac[..digits])
            .parse()
            .map_err(|_| "bad fraction")?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return Err("the time must end in Z or an offset +HH:MM");
            }
            let hh: i64 = rest[1..3].parse().map_err(|_| "bad offset")?;
            let mm: i64 = rest[4..6].parse().map_err(|_| "bad offset")?;
            if hh > 23 || mm > 59 {
                return Err("bad offset");
            }
            let sign = if ob[0] == b'-' { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset;
    Ok(secs as f64 + fraction)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An instant as RFC 3339 with milliseconds, UTC (`run.json`'s `start_at`).
pub fn format_millis(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = crate::results::run_json::rfc3339(since.as_secs());
    format!(
        "{}.{:03}Z",
        whole.trim_end_matches('Z'),
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    #[test]
    fn parses_rfc3339_and_relative_times() {
        let now = at(1_764_000_000, 0);
        assert_eq!(
            parse("2025-11-24T16:01:40Z", now).unwrap(),
            at(1_764_000_100, 0)
        );
        assert_eq!(
            parse("2025-11-24T16:01:40.250Z", now).unwrap(),
            at(1_764_000_100, 250)
        );
        assert_eq!(
            parse("2025-11-24T17:01:40+01:00", now).unwrap(),
            at(1_764_000_100, 0)
        );
        assert_eq!(
            parse("2000-02-29T00:00:00Z", now).unwrap(),
            at(951_782_400, 0)
        );
        assert_eq!(parse("+30s", now).unwrap(), at(1_764_000_030, 0));
        assert_eq!(parse("+1.5m", now).unwrap(), at(1_764_000_090, 0));
        assert_eq!(
            format_millis(at(1_764_000_100, 250)),
            "2025-11-24T16:01:40.250Z"
        );
        for bad in [
            "2025-11-24 16:01:40",
            "2025-13-24T16:01:40Z",
            "2025-02-29T16:01:40Z",
            "2025-11-24T16:01:40",
            "2025-11-24T16:01:40+1",
            "2025-11-24T16:01:40.Z",
            "tomorrow",
            "+30",
            "+-3s",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse(bad, now).is_err(), "{bad}");
        }
        let err = parse("+30", now).unwrap_err().to_string();
        assert!(err.contains("expected an RFC 3339 UTC time"), "{err}");
    }

    #[test]
    fn the_rules_refuse_stale_and_distant_instants() {
        let now = at(1_764_000_000, 0);
        assert_eq!(resolve("+30s", now, false).unwrap(), at(1_764_000_030, 0));
        // A little late is run (the lateness becomes latency)...
        assert!(resolve("2025-11-24T16:00:00Z", at(1_764_000_000 + 10, 0), false).is_ok());
        // ...a minute and more is refused.
        let err = resolve("2025-11-24T16:00:00Z", at(1_764_000_000 + 61, 0), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("was 61.0s ago, more than the 60s"), "{err}");
        let err = resolve("+2h", now, false).unwrap_err().to_string();
        assert!(
            err.contains("7200s away, more than 3600s; pass --allow-distant-start"),
            "{err}"
        );
        assert!(resolve("+2h", now, true).is_ok());
    }
}
