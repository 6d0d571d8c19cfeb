//! Sending the scenario's request: the endpoint every worker shares, the
//! outcome of one request, and the blocking client of the `sequential`
//! executor. Every executor sends through `crate::h1::H1Conn`, one
//! connection per worker.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;

use crate::h1::H1Conn;
use crate::mix::Mix;
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
    /// The request's timeouts (and, for a single request, the request).
    pub request: RequestSpec,
    /// What each send carries: the single request or a weighted mix.
    pub mix: Arc<Mix>,
    /// Keep-alive or a connection per request.
    pub connection: ConnectionMode,
    /// Connects delayed by the back-off after a failed connect, all workers
    /// together (see `crate::h1::backoff`).
    pub backoffs: AtomicU64,
}

/// The client of the `sequential` executor: each [`Blocking::send_request`] blocks
/// the calling thread until the response is read, the way blocking code
/// does. Underneath it is the same HTTP/1.1 exchange as the async
/// executors' (`H1Conn`), driven on a one-thread runtime of its own, so
/// every executor frames, times and classifies an answer identically.
pub(crate) struct Blocking {
    runtime: tokio::runtime::Runtime,
    conn: H1Conn,
}

impl Blocking {
    /// A blocking client sending on `conn` (which opens on first use).
    pub fn new(conn: H1Conn) -> std::io::Result<Blocking> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Blocking { runtime, conn })
    }

    /// Sends `request` once and reads the whole response, blocking;
    /// `head` says it is a HEAD request.
    pub fn send_request(&mut self, request: Bytes, head: bool) -> Outcome {
        self.runtime.block_on(self.conn.send_request(request, head))
    }
}
