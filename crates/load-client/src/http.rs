//! Sending the scenario's request: the endpoint every worker shares, the
//! outcome of one request, a worker's connection (`Conn`: its own
//! HTTP/1.1 connection, `crate::h1::H1Conn`, or a handle on an HTTP/2
//! connection it shares, `crate::http2::H2Conn`), and the blocking client
//! of the `sequential` executor.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use std::time::{Duration, Instant};

use crate::connect::TlsClient;
use crate::h1::H1Conn;
use crate::http2::{H2Conn, H2Pool, H2Request};
use crate::mix::{Mix, Payload, Pick};
use crate::outcome::ErrorKind;
use crate::scenario::{ConnectionMode, Protocol, RequestSpec};

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
    /// The request's timeouts (and, for a single request, the request).
    pub request: RequestSpec,
    /// What each send carries: the single request or a weighted mix.
    pub mix: Arc<Mix>,
    /// Keep-alive or a connection per request.
    pub connection: ConnectionMode,
    /// HTTP/1.1 or HTTP/2.
    pub protocol: Protocol,
    /// HTTP/2: workers (requests in flight) per connection.
    pub streams_per_connection: NonZeroU32,
    /// Connects delayed by the back-off after a failed connect, all workers
    /// together (see `crate::h1::backoff`).
    pub backoffs: AtomicU64,
    /// TLS for `https://` targets; `None` for plain HTTP.
    pub tls: Option<Arc<TlsClient>>,
    /// The first error any worker met, in words (kind and reason), for
    /// the line under the table. Written once, on an error path only.
    pub first_error: OnceLock<String>,
}

impl Endpoint {
    /// An endpoint for unit tests: `request` alone, keep-alive, HTTP/1.1,
    /// one stream per connection, plain TCP.
    #[cfg(test)]
    pub(crate) fn for_tests(addr: SocketAddr, request: RequestSpec) -> Endpoint {
        Endpoint {
            addr,
            authority: addr.to_string(),
            mix: Arc::new(crate::mix::Mix::single(&request)),
            request,
            connection: ConnectionMode::Reuse,
            protocol: Protocol::Http1,
            streams_per_connection: NonZeroU32::MIN,
            backoffs: Default::default(),
            tls: None,
            first_error: Default::default(),
        }
    }

    /// `https` when the target speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Keeps `kind: reason` as the case's first error, unless one is kept
    /// already. `reason` is only built when it is needed.
    pub fn note_error(&self, kind: ErrorKind, reason: impl FnOnce() -> String) {
        self.note_first(|| format!("{}: {}", kind.as_str(), reason()));
    }

    /// Keeps `text` as the case's first error, unless one is kept already;
    /// `text` is only built when it is needed. The one place that writes
    /// `first_error`.
    pub fn note_first(&self, text: impl FnOnce() -> String) {
        if self.first_error.get().is_none() {
            let _ = self.first_error.set(text());
        }
    }
}

/// Where the time of one request went, as its connection saw it. Filled
/// by the connection during a send; the executor adds the end time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// Connections opened during the send (0 on a reused connection; 2
    /// when a stale keep-alive connection had to be replaced).
    pub opened: u32,
    /// TCP connect time of the last connection opened during the send.
    pub connect: Option<Duration>,
    /// TLS handshake time of that connection.
    pub tls: Option<Duration>,
    /// From the first byte of the request written to the first byte of
    /// the response read (time to first byte).
    pub ttfb: Option<Duration>,
    /// When the first byte of the response arrived; the body phase runs
    /// from here to the end of the response.
    pub first_byte: Option<Instant>,
}

/// One worker's connection.
pub(crate) enum Conn {
    /// Its own HTTP/1.1 connection.
    H1(H1Conn),
    /// A handle on an HTTP/2 connection shared with other workers.
    H2(H2Conn),
}

/// No breakdown: an HTTP/2 send shares its connection, so its connect and
/// handshake are not its own.
const NO_TIMING: Timing = Timing {
    opened: 0,
    connect: None,
    tls: None,
    ttfb: None,
    first_byte: None,
};

impl Conn {
    /// Where the last send's time went (HTTP/1.1; nothing over HTTP/2).
    pub fn timing(&self) -> &Timing {
        match self {
            Conn::H1(conn) => conn.timing(),
            Conn::H2(_) => &NO_TIMING,
        }
    }

    /// Sends the request `pick` carries once and reads the whole response.
    pub async fn send(&mut self, pick: Pick) -> Outcome {
        match (self, pick.payload) {
            (Conn::H1(conn), Payload::H1(bytes)) => conn.send_request(bytes, pick.head).await,
            (Conn::H2(conn), Payload::H2(request)) => conn.send_request(request).await,
            // A case prepares its picks for its own protocol (`Mix::prepare`).
            _ => Err((ErrorKind::InvalidResponse, None)),
        }
    }
}

/// Makes the workers' connections for one case.
pub(crate) enum Connections {
    /// HTTP/1.1: each worker its own connection.
    H1(Arc<Endpoint>),
    /// HTTP/2: connections handed out `streams_per_connection` workers at
    /// a time.
    H2(H2Pool),
}

impl Connections {
    /// Connections for the endpoint's protocol.
    pub fn new(endpoint: Arc<Endpoint>) -> std::io::Result<Connections> {
        Ok(match endpoint.protocol {
            Protocol::Http1 => Connections::H1(endpoint),
            Protocol::Http2 => {
                let request = H2Request::new(&endpoint)?;
                Connections::H2(H2Pool::new(endpoint, request))
            }
        })
    }

    /// A new worker's connection (not open yet; each send brings its
    /// request).
    pub fn conn(&self) -> Conn {
        match self {
            Connections::H1(endpoint) => {
                Conn::H1(H1Conn::with_request(endpoint.clone(), Bytes::new()))
            }
            Connections::H2(pool) => Conn::H2(pool.conn()),
        }
    }
}

/// The client of the `sequential` executor: each [`Blocking::send_request`] blocks
/// the calling thread until the response is read, the way blocking code
/// does. Underneath it is the same exchange as the async executors' (a
/// [`Conn`]), driven on a one-thread runtime of its own, so every executor
/// frames, times and classifies an answer identically.
pub(crate) struct Blocking {
    runtime: tokio::runtime::Runtime,
    conn: Conn,
}

impl Blocking {
    /// A blocking client sending on `conn` (which opens on first use).
    pub fn new(conn: Conn) -> std::io::Result<Blocking> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Blocking { runtime, conn })
    }

    /// Where the last send's time went.
    pub fn timing(&self) -> &Timing {
        self.conn.timing()
    }

    /// Sends the request `pick` carries once and reads the whole response,
    /// blocking.
    pub fn send(&mut self, pick: Pick) -> Outcome {
        self.runtime.block_on(self.conn.send(pick))
    }
}
