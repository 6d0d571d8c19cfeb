//! Sending the scenario's request: a worker's own HTTP/1.1 connection, a
//! shared connection pool, and the blocking client of the `sequential`
//! executor. All three classify failures into [`ErrorKind`]s.
//!
//! Closed-loop workers each own one connection ([`crate::h1::H1Conn`]), like
//! wrk's connections: no pool, no lock, nothing shared on the hot path.
//! Executors that launch requests independently of each other (`unbounded`,
//! `rate`) share hyper's pooled client ([`Pool`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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

impl Endpoint {
    fn build(&self, absolute: bool) -> http::Request<Full<Bytes>> {
        let spec = &self.request;
        let uri = if absolute {
            format!("http://{}{}", self.authority, spec.path)
        } else {
            spec.path.clone()
        };
        let mut builder = http::Request::builder()
            .method(spec.method.clone())
            .uri(uri)
            .header(http::header::HOST, self.authority.as_str());
        for (name, value) in &spec.headers {
            builder = builder.header(name, value);
        }
        if self.connection == ConnectionMode::PerRequest {
            builder = builder.header(http::header::CONNECTION, "close");
        }
        // The parts were validated when the scenario was loaded.
        builder
            .body(Full::new(spec.body.clone()))
            .unwrap_or_else(|_| http::Request::new(Full::new(Bytes::new())))
    }
}

/// Reads a response to its end and classifies it.
async fn finish(response: http::Response<hyper::body::Incoming>) -> Outcome {
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        if let Err(e) = frame {
            return Err((ErrorKind::from_hyper_error(&e), Some(status)));
        }
    }
    match ErrorKind::from_status(status) {
        None => Ok(status),
        Some(kind) => Err((kind, Some(status))),
    }
}

/// A pooled client shared by independently launched requests.
#[derive(Clone)]
pub struct Pool {
    endpoint: Arc<Endpoint>,
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Pool {
    /// A pool for `endpoint`; with `per_request` no connection is kept idle.
    pub fn new(endpoint: Arc<Endpoint>) -> Pool {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(endpoint.request.connect_timeout));
        let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        builder.pool_idle_timeout(Duration::from_secs(30));
        if endpoint.connection == ConnectionMode::PerRequest {
            builder.pool_max_idle_per_host(0);
        }
        Pool {
            client: builder.build(connector),
            endpoint,
        }
    }

    /// Sends the request once and reads the whole response.
    pub async fn send(&self) -> Outcome {
        let request = self.endpoint.build(true);
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| (classify_pool_error(&e), None))?;
            finish(response).await
        };
        match tokio::time::timeout(self.endpoint.request.timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err((ErrorKind::RequestTimeout, None)),
        }
    }
}

fn classify_pool_error(e: &hyper_util::client::legacy::Error) -> ErrorKind {
    classify_chain(e).unwrap_or(ErrorKind::Other)
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
