//! Routing: which endpoint a request path names, with its parameters parsed
//! and capped. A plain `match` on the path; no path can make it panic.
//!
//! Every path not listed below gets the configured behaviour. The
//! httpbin-compatible endpoints go through admission like any other path;
//! the reserved `/__stats` and `/metrics` bypass it and are not counted.

use std::time::Duration;

use http::StatusCode;
use rand::Rng;

use crate::config::rules::status_in_range;

/// Weighted status lists longer than this are refused.
const MAX_WEIGHTS: usize = 64;

/// What a path asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Any other path: the configured answer.
    Default,
    /// `/delay/{seconds}`: this delay instead of a draw from the model.
    Delay(Duration),
    /// `/status/{code}` or `/status/{code}:{weight},...`.
    Status(StatusChoice),
    /// `/bytes/{n}`: a body of this many bytes.
    Bytes(u64),
    /// `/get`: a JSON echo of the request.
    Get,
    /// `/__stats`: the counters as JSON (reserved).
    Stats,
    /// `/metrics`: the counters in Prometheus text format (reserved).
    Metrics,
}

impl Route {
    /// Whether the answer echoes the request (`/get`, `/delay/...`), so
    /// the request's head must be kept until it is written.
    pub fn echoes(&self) -> bool {
        matches!(self, Route::Get | Route::Delay(_))
    }
}

/// The status (or weighted statuses) asked for by `/status/...`.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusChoice {
    /// Always this status.
    One(StatusCode),
    /// Each status with a probability proportional to its weight; the total
    /// is above zero.
    Weighted(Vec<(StatusCode, u32)>),
}

/// A path whose parameters are not valid; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path {path:?}: {reason}")]
pub struct BadPath {
    /// The path as received.
    pub path: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

/// The caps on httpbin parameters.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest `/delay`.
    pub max_delay: Duration,
    /// Largest `/bytes`.
    pub max_body: u64,
}

impl Route {
    /// Whether the route bypasses admission and counting.
    pub fn is_reserved(&self) -> bool {
        matches!(self, Route::Stats | Route::Metrics)
    }
}

/// Finds the route for a path (without its query string).
pub fn route(path: &str, limits: Limits) -> Result<Route, BadPath> {
    let bad = |reason: String| BadPath {
        path: path.to_string(),
        reason,
    };
    if let Some(seconds) = path.strip_prefix("/delay/") {
        return delay(seconds, limits.max_delay)
            .map(Route::Delay)
            .map_err(bad);
    }
    if let Some(codes) = path.strip_prefix("/status/") {
        return status(codes).map(Route::Status).map_err(bad);
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return bytes(n, limits.max_body).map(Route::Bytes).map_err(bad);
    }
    Ok(match path {
        "/get" => Route::Get,
        "/__stats" => Route::Stats,
        "/metrics" => Route::Metrics,
        _ => Route::Default,
    })
}

fn delay(text: &str, cap: Duration) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            format!("{text:?} is not a number of seconds; expected /delay/{{seconds}} such as /delay/1.5")
        })?;
    Ok(Duration::try_from_secs_f64(seconds).map_or(cap, |d| d.min(cap)))
}

fn bytes(text: &str, cap: u64) -> Result<u64, String> {
    text.parse::<u64>().map(|n| n.min(cap)).map_err(|_| {
        format!("{text:?} is not a byte count; expected /bytes/{{n}} such as /bytes/1024")
    })
}

/// Parses `{code}` or `{code}:{weight},...` (also a route's `status`).
pub(crate) fn status(text: &str) -> Result<StatusChoice, String> {
    if !text.contains([':', ',']) {
        return code(text).map(StatusChoice::One);
    }
    let weights = text
        .split(',')
        .map(weighted_code)
        .collect::<Result<Vec<_>, _>>()?;
    if weights.len() > MAX_WEIGHTS {
        return Err(format!("at most {MAX_WEIGHTS} weighted codes are allowed"));
    }
    if weights.iter().all(|(_, w)| *w == 0) {
        return Err("the weights add up to 0; at least one must be above 0".into());
    }
    Ok(StatusChoice::Weighted(weights))
}

fn weighted_code(item: &str) -> Result<(StatusCode, u32), String> {
    let (code_text, weight_text) = item.split_once(':').unwrap_or((item, "1"));
    let weight = weight_text.parse().map_err(|_| {
        format!("{weight_text:?} is not a weight; expected CODE:WEIGHT pairs such as /status/200:90,503:10")
    })?;
    Ok((code(code_text)?, weight))
}

fn code(text: &str) -> Result<StatusCode, String> {
    text.parse()
        .ok()
        .and_then(status_in_range)
        .ok_or_else(|| {
            format!(
                "{text:?} is not a status code; expected /status/{{code}} with a code from 200 to 599, \
                 or weighted codes such as /status/200:90,503:10"
            )
        })
}

impl std::fmt::Display for StatusChoice {
    /// The form a route's `status` is written in: `200`, or `200:90,503:10`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusChoice::One(code) => write!(f, "{}", code.as_u16()),
            StatusChoice::Weighted(weights) => {
                for (i, (code, weight)) in weights.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(f, "{sep}{}:{weight}", code.as_u16())?;
                }
                Ok(())
            }
        }
    }
}

impl StatusChoice {
    /// Picks the status for one request.
    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> StatusCode {
        match self {
            StatusChoice::One(code) => *code,
            StatusChoice::Weighted(weights) => {
                let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut ticket = rng.gen_range(0..total.max(1));
                for (code, weight) in weights {
                    let weight = u64::from(*weight);
                    if ticket < weight {
                        return *code;
                    }
                    ticket -= weight;
                }
                weights.last().map_or(StatusCode::OK, |(code, _)| *code)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const LIMITS: Limits = Limits {
        max_delay: Duration::from_secs(10),
        max_body: 1000,
    };

    fn ok(path: &str) -> Route {
        route(path, LIMITS).unwrap()
    }

    fn reason(path: &str) -> String {
        route(path, LIMITS).unwrap_err().reason
    }

    #[test]
    fn routes_every_endpoint() {
        assert_eq!(ok("/"), Route::Default);
        assert_eq!(ok("/anything/else"), Route::Default);
        assert_eq!(ok("/delay/1.5"), Route::Delay(Duration::from_millis(1500)));
        assert_eq!(ok("/delay/99999"), Route::Delay(Duration::from_secs(10)));
        assert_eq!(ok("/delay/1e300"), Route::Delay(Duration::from_secs(10)));
        assert_eq!(ok("/bytes/10"), Route::Bytes(10));
        assert_eq!(ok("/bytes/99999999999"), Route::Bytes(1000));
        assert_eq!(
            ok("/status/418"),
            Route::Status(StatusChoice::One(StatusCode::IM_A_TEAPOT))
        );
        assert_eq!(
            ok("/status/200:90,503:10"),
            Route::Status(StatusChoice::Weighted(vec![
                (StatusCode::OK, 90),
                (StatusCode::SERVICE_UNAVAILABLE, 10)
            ]))
        );
        assert_eq!(ok("/get"), Route::Get);
        assert!(ok("/__stats").is_reserved());
        assert!(ok("/metrics").is_reserved());
    }

    #[test]
    fn bad_parameters_say_what_is_allowed() {
        assert!(reason("/status/abc").starts_with("\"abc\" is not a status code"));
        assert!(reason("/status/99").contains("from 200 to 599"));
        assert!(reason("/status/200:x").starts_with("\"x\" is not a weight"));
        assert!(reason("/status/200:0,503:0").contains("add up to 0"));
        assert!(reason("/status/").contains("is not a status code"));
        assert!(reason("/delay/-1").contains("is not a number of seconds"));
        assert!(reason("/delay/NaN").contains("is not a number of seconds"));
        assert!(reason("/bytes/-1").contains("is not a byte count"));
        let long = format!("/status/{}", vec!["200:1"; 65].join(","));
        assert!(reason(&long).contains("at most 64"));
    }

    #[test]
    fn weighted_choice_follows_the_weights() {
        let Route::Status(choice) = ok("/status/200:90,503:10") else {
            panic!("not a status route");
        };
        let mut rng = SmallRng::seed_from_u64(3);
        let errors = (0..10_000)
            .filter(|_| choice.pick(&mut rng) == StatusCode::SERVICE_UNAVAILABLE)
            .count();
        assert!((800..1200).contains(&errors), "{errors}");
    }
}
