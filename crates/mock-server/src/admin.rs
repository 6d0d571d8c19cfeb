//! The control API: `GET /__admin/config` (the settings in force, as JSON
//! in the configuration's shape), `PATCH /__admin/config` (a JSON merge
//! patch, validated by the file's rules: a refused change answers 400 with
//! the same message and changes nothing), `POST /__admin/reset` (zeroes
//! the counters).
//!
//! It answers loopback peers only (403 otherwise), not at all with
//! `admin: off` (404), and with `admin_token` set only requests that carry
//! `Authorization: Bearer <token>` (401 otherwise; compared in constant
//! time, never logged or echoed). Its requests are not counted.

use std::net::SocketAddr;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::body::ResponseBody;
use crate::config::{AdminMode, Secret};
use crate::connection::ConnState;
use crate::responses;
use crate::server::Shared;

/// Every control-API path starts with this.
pub(crate) const PREFIX: &str = "/__admin/";

/// The largest patch accepted.
const MAX_PATCH: usize = 1024 * 1024;

/// Answers one control-API request.
pub(crate) async fn handle(
    shared: &Shared,
    conn: &ConnState,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let settings = &shared.settings;
    if settings.admin == AdminMode::Off {
        return responses::text(StatusCode::NOT_FOUND, "the control API is off (admin: off)");
    }
    if !peer_allowed(conn.peer) {
        return responses::text(
            StatusCode::FORBIDDEN,
            "the control API answers loopback clients only",
        );
    }
    if let Some(token) = &settings.admin_token {
        if !authorized(req.headers(), token) {
            let mut response = responses::text(
                StatusCode::UNAUTHORIZED,
                "the control API needs the header Authorization: Bearer <admin_token>",
            );
            let challenge = HeaderValue::from_static("Bearer");
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
            return response;
        }
    }
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/__admin/config") => config(shared),
        (Method::PATCH, "/__admin/config") => patch(shared, req).await,
        (Method::POST, "/__admin/reset") => {
            shared.runtime.reset();
            responses::json(StatusCode::OK, &serde_json::json!({"reset": true}))
        }
        (_, "/__admin/config" | "/__admin/reset") => responses::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET or PATCH on /__admin/config, POST on /__admin/reset",
        ),
        _ => responses::text(
            StatusCode::NOT_FOUND,
            "the control API has /__admin/config (GET, PATCH) and /__admin/reset (POST)",
        ),
    }
}

/// Whether a peer may use the control API: loopback only (an IPv4
/// loopback written as IPv6 too).
pub(crate) fn peer_allowed(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn authorized(headers: &HeaderMap, token: &Secret) -> bool {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    same_bytes(given, token.0.as_bytes())
}

/// Compares two byte strings in time that depends on their lengths only,
/// not on where they first differ.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

fn config(shared: &Shared) -> Response<ResponseBody> {
    let live = shared.runtime.load();
    responses::json(StatusCode::OK, &live.settings.to_config())
}

async fn patch(shared: &Shared, req: Request<Incoming>) -> Response<ResponseBody> {
    let limit = shared.settings.header_timeout;
    let body = tokio::time::timeout(limit, Limited::new(req.into_body(), MAX_PATCH).collect());
    let bytes = match body.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return responses::text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a patch is at most {MAX_PATCH} bytes of JSON"),
            )
        }
        Err(_) => {
            return responses::text(
                StatusCode::REQUEST_TIMEOUT,
                "the patch did not arrive within header_timeout",
            )
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return responses::text(
                StatusCode::BAD_REQUEST,
                format!("the patch is not JSON: {e}"),
            )
        }
    };
    match shared.runtime.patch(&value, "admin".into(), None) {
        Ok(()) => config(shared),
        Err(e) => responses::text(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_are_allowed() {
        let ok = [
            "127.0.0.1:5",
            "127.8.9.10:5",
            "[::1]:5",
            "[::ffff:127.0.0.1]:5",
        ];
        for peer in ok {
            assert!(peer_allowed(peer.parse().unwrap()), "{peer}");
        }
        let refused = [
            "10.0.0.1:5",
            "192.168.1.2:5",
            "[2001:db8::1]:5",
            "[::ffff:10.0.0.1]:5",
            "0.0.0.0:5",
        ];
        for peer in refused {
            assert!(!peer_allowed(peer.parse().unwrap()), "{peer}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_bytes(b"s3cret", b"s3cret"));
        assert!(!same_bytes(b"s3cret", b"s3creT"));
        assert!(!same_bytes(b"s3cre", b"s3cret"));
        assert!(!same_bytes(b"", b"s3cret"));
        assert!(same_bytes(b"", b""));
        let mut headers = HeaderMap::new();
        let token = Secret("abc".into());
        assert!(!authorized(&headers, &token));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(authorized(&headers, &token));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(!authorized(&headers, &token));
    }
}
