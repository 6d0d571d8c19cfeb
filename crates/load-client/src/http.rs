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
    /// The first error of the case whose kind alone does not say enough
    /// (an HTTP/2 protocol error, GOAWAY or reset), in words.
    pub first_error: OnceLock<String>,
}

/// One worker's connection.
pub(crate) enum Conn {
    /// Its own HTTP/1.1 connection.
    H1(H1Conn),
    /// A handle on an HTTP/2 connection shared with other workers.
    H2(H2Conn),
}

impl Conn {
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

    /// Sends the request `pick` carries once and reads the whole response,
    /// blocking.
    pub fn send(&mut self, pick: Pick) -> Outcome {
        self.runtime.block_on(self.conn.send(pick))
    }
}
