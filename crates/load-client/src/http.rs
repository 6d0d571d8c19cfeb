//! Sending the scenario's request: the endpoint every worker shares, the
//! outcome of one request, and the blocking client of the `sequential`
//! executor. Every executor sends through `crate::h1::H1Conn`, one
//! connection per worker.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::connect::TlsClient;
use crate::h1::H1Conn;
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
    /// Keeps `kind: reason` as the case's first error, unless one is kept
    /// already. `reason` is only built when it is needed.
    pub fn note_error(&self, kind: ErrorKind, reason: impl FnOnce() -> String) {
        if self.first_error.get().is_none() {
            let _ = self
                .first_error
                .set(format!("{}: {}", kind.as_str(), reason()));
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

/// The client of the `sequential` executor: each [`Blocking::send`] blocks
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

    /// Sends the request once and reads the whole response, blocking.
    pub fn send(&mut self) -> Outcome {
        self.runtime.block_on(self.conn.send())
    }

    /// Where the last send's time went.
    pub fn timing(&self) -> &Timing {
        self.conn.timing()
    }
}
