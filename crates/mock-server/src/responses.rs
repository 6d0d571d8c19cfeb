//! Building the answers: the configured one, httpbin-style ones, refusals,
//! fault answers, and the reserved `/__stats` and `/metrics` pages.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::ResponseBody;
use crate::metrics;
use crate::stats::StatsSnapshot;

fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain; charset=utf-8")
}

fn application_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

fn build(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(value) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// The configured answer: `body_size` bytes of `okok…`.
pub fn configured(
    status: StatusCode,
    content_type: &HeaderValue,
    body_size: u64,
) -> Response<ResponseBody> {
    build(
        status,
        Some(content_type.clone()),
        ResponseBody::pattern(body_size),
    )
}

/// A status with no body (`/status/{code}`).
pub fn empty(status: StatusCode) -> Response<ResponseBody> {
    build(status, None, ResponseBody::empty())
}

/// A plain-text message.
pub fn text(status: StatusCode, message: impl Into<String>) -> Response<ResponseBody> {
    let mut message = message.into();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    build(status, Some(text_plain()), ResponseBody::once(message))
}

/// `n` bytes of binary body (`/bytes/{n}`).
pub fn bytes(n: u64) -> Response<ResponseBody> {
    let octets = HeaderValue::from_static("application/octet-stream");
    build(StatusCode::OK, Some(octets), ResponseBody::pattern(n))
}

/// The answer chosen by `error_rate`.
pub fn fault(status: StatusCode) -> Response<ResponseBody> {
    text(status, "error injected by mock-server (error_rate)")
}

/// A refusal (queue full, or queue timeout) with `Retry-After` in whole
/// seconds, rounded up.
pub fn refusal(status: StatusCode, retry_after: Duration) -> Response<ResponseBody> {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = text(status, "the server is at capacity; retry later");
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `/__stats`: the counters as JSON.
pub fn stats(snapshot: &StatsSnapshot) -> Response<ResponseBody> {
    let body = serde_json::to_vec(snapshot).unwrap_or_default();
    build(
        StatusCode::OK,
        Some(application_json()),
        ResponseBody::once(body),
    )
}

/// Any value as JSON (the control API's answers).
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<ResponseBody> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    build(status, Some(application_json()), ResponseBody::once(body))
}

/// `/metrics`: the counters in Prometheus text format.
pub fn metrics(snapshot: &StatsSnapshot) -> Response<ResponseBody> {
    let content_type = HeaderValue::from_static(metrics::CONTENT_TYPE);
    build(
        StatusCode::OK,
        Some(content_type),
        ResponseBody::once(metrics::render(snapshot)),
    )
}

/// `/get` and `/delay`: an httpbin-style JSON echo of the request.
pub fn echo(parts: &http::request::Parts, peer: std::net::SocketAddr) -> Response<ResponseBody> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let echo = json!({
        "args": query_args(parts.uri.query().unwrap_or("")),
        "headers": headers,
        "method": parts.method.as_str(),
        "origin": peer.ip().to_string(),
        "url": url(parts),
    });
    let body = serde_json::to_vec_pretty(&echo).unwrap_or_default();
    build(
        StatusCode::OK,
        Some(application_json()),
        ResponseBody::once(body),
    )
}

fn url(parts: &http::request::Parts) -> String {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            let host = parts.headers.get(HOST)?;
            Some(String::from_utf8_lossy(host.as_bytes()).into_owned())
        })
        .unwrap_or_default();
    format!("http://{host}{path}")
}

/// Query parameters; a repeated name gives a list, as httpbin does.
fn query_args(query: &str) -> BTreeMap<String, Value> {
    let mut args: BTreeMap<String, Value> = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name), Value::String(decode(value)));
        match args.get_mut(&name) {
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                args.insert(name, value);
            }
        }
    }
    args
}

/// Percent-decoding with `+` as space; malformed escapes are kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (other, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_decoded_like_httpbin() {
        let args = query_args("a=1&b=hello+world&c=%41%zz&a=2&flag");
        assert_eq!(args["a"], json!(["1", "2"]));
        assert_eq!(args["b"], json!("hello world"));
        assert_eq!(args["c"], json!("A%zz"));
        assert_eq!(args["flag"], json!(""));
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%e2%82%ac"), "€");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = refusal(StatusCode::TOO_MANY_REQUESTS, Duration::from_millis(1500));
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        let r = refusal(StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO);
        assert_eq!(r.headers()[RETRY_AFTER], "0");
    }
}
