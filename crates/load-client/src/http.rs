//! Sending the scenario's request: the endpoint every worker shares, the
//! outcome of one request, and the blocking client of the `sequential`
//! executor. The async executors send through [`crate::h1::H1Conn`], one
//! connection per worker.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::outcome::ErrorKind;
use crate::scenario::{ConnectionMode, RequestSpec};

/// The result of one request: the status of a success, or why it failed
/// (with the status when the server answered with an error).
pub type Outcome = Result<u16, (ErrorKind, Option<u16>)>;

/// Where requests go and what they look like; shared by all workers.
#[derive(Debug)]
pub struct Endpoint {
    /// Resolved server address.
    pub addr: SocketAddr,
    /// `host[:port]` for the Host header and absolute URIs.
    pub authority: String,
    /// The request to send.
    pub request: RequestSpec,
    /// Keep-alive or a connection per request.
    pub connection: ConnectionMode,
}

/// Walks an error's sources for an I/O or hyper error that names the kind.
fn classify_chain(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return Some(ErrorKind::from_connect_error(io));
        }
        if let Some(h) = inner.downcast_ref::<hyper::Error>() {
            if std::error::Error::source(h).is_none() {
                return Some(ErrorKind::from_hyper_error(h));
            }
        }
        source = inner.source();
    }
    None
}

/// The blocking client of the `sequential` executor.
pub struct Blocking {
    client: reqwest::blocking::Client,
    url: String,
    endpoint: Arc<Endpoint>,
}

impl Blocking {
    /// A blocking client (reqwest) for `endpoint`.
    pub fn new(endpoint: Arc<Endpoint>) -> Result<Blocking, String> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(endpoint.request.timeout)
            .connect_timeout(endpoint.request.connect_timeout)
            .tcp_nodelay(true)
            .no_proxy();
        if endpoint.connection == ConnectionMode::PerRequest {
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        let url = format!("http://{}{}", endpoint.authority, endpoint.request.path);
        Ok(Blocking {
            client,
            url,
            endpoint,
        })
    }

    /// Sends the request once and reads the whole response.
    pub fn send(&self) -> Outcome {
        let spec = &self.endpoint.request;
        let mut request = self
            .client
            .request(spec.method.clone(), &self.url)
            .body(spec.body.clone());
        for (name, value) in &spec.headers {
            request = request.header(name, value);
        }
        if self.endpoint.connection == ConnectionMode::PerRequest {
            request = request.header(http::header::CONNECTION, "close");
        }
        let response = request.send().map_err(|e| (classify_reqwest(&e), None))?;
        let status = response.status().as_u16();
        response
            .bytes()
            .map_err(|e| (classify_reqwest(&e), Some(status)))?;
        match ErrorKind::from_status(status) {
            None => Ok(status),
            Some(kind) => Err((kind, Some(status))),
        }
    }
}

fn classify_reqwest(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return if e.is_connect() {
            ErrorKind::ConnectTimeout
        } else {
            ErrorKind::RequestTimeout
        };
    }
    classify_chain(e).unwrap_or(ErrorKind::Other)
}
