//! HTTP/2 client connections, shared by groups of workers.
//!
//! With `protocol: http2` a worker does not own a connection: it holds an
//! [`H2Conn`], a handle on one of the case's connections, and up to
//! `streams_per_connection` workers share each connection, each with one
//! request (one stream) in flight at a time. So a case still has exactly
//! as many requests in flight as workers (the queueing model's N), spread
//! over `workers / streams_per_connection` connections. [`H2Pool`] hands
//! the handles out in order: the first `streams_per_connection` workers get
//! the first connection, the next ones the second, and so on.
//!
//! A connection opens on the first send of any of its workers (the others
//! wait for it) and is opened again, by the next worker to send, once it is
//! lost (closed, reset, GOAWAY). A failed connect, and a fresh connection
//! that fails before its first answer (a server that does not speak
//! HTTP/2), wait the same back-off as HTTP/1.1's (`crate::h1::backoff`).
//! A request that could not even start because its connection was already
//! gone (closed while idle, or after a graceful GOAWAY) is retried once on a
//! new connection, as HTTP/1.1 does with a kept-alive connection the server
//! closed. With `connection: per_request` every request opens a connection
//! of its own and closes it after the answer.
//!
//! The server's `SETTINGS_MAX_CONCURRENT_STREAMS` is respected: requests
//! past it wait inside the connection until a stream is free (that wait is
//! part of their latency, as a queue in the server would be). Until the
//! server's SETTINGS arrive the client may open up to 100 streams (the
//! `h2` crate's default, RFC 9113's recommended minimum); a stream the
//! server refuses with `REFUSED_STREAM` was not processed and is sent once
//! more on the same connection.
//!
//! Answers are classified like HTTP/1.1's: the status through
//! `ErrorKind::from_status`; a GOAWAY from the server is `h2_goaway`, a
//! stream reset by the server `h2_reset`, a protocol error the client
//! detects `invalid_response`, I/O errors as for HTTP/1.1. The first such
//! error of a case is kept, in words, in `Endpoint::first_error`.
//!
//! [`connect_io`] is the one place that makes the byte stream under a
//! connection; everything above it is generic over any
//! `AsyncRead + AsyncWrite` stream.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::h1::backoff;
use crate::http::{Endpoint, Outcome};
use crate::outcome::ErrorKind;
use crate::scenario::ConnectionMode;

/// Flow-control window the client grants each stream: answers up to this
/// size never wait for a window update. Received data is released at once.
const STREAM_WINDOW: u32 = 1024 * 1024;
/// Flow-control window the client grants each connection.
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// The request as HTTP/2 sends it, prepared once per case.
#[derive(Debug)]
pub struct H2Request {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

/// Headers HTTP/2 forbids (RFC 9113 section 8.2.2); dropped from the
/// scenario's request, whose framing they describe for HTTP/1.1 only.
const CONNECTION_HEADERS: [http::HeaderName; 4] = [
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    http::header::TE,
];

impl H2Request {
    /// The endpoint's request for HTTP/2: `:authority` is the target's
    /// (or the scenario's `host` header, if it sets one), `:scheme` http or https.
    pub fn new(endpoint: &Endpoint) -> std::io::Result<H2Request> {
        let spec = &endpoint.request;
        H2Request::from_parts(
            endpoint.scheme(),
            &endpoint.authority,
            &spec.method,
            &spec.path,
            spec.headers.iter().map(|(n, v)| (n.clone(), v.clone())),
            spec.body.clone(),
        )
    }

    /// A request for HTTP/2 from its parts: `:authority` is `authority`
    /// (or a `host` header's value, if one is given), `:scheme` http or https.
    pub fn from_parts(
        scheme: &str,
        authority: &str,
        method: &http::Method,
        path: &str,
        headers: impl Iterator<Item = (http::HeaderName, http::HeaderValue)>,
        body: Bytes,
    ) -> std::io::Result<H2Request> {
        let mut map = http::HeaderMap::new();
        let mut authority = authority.to_string();
        for (name, value) in headers {
            if name == http::header::HOST {
                if let Ok(host) = value.to_str() {
                    authority = host.to_string();
                }
            } else if !CONNECTION_HEADERS.contains(&name) && name.as_str() != "keep-alive" {
                map.append(name, value);
            }
        }
        let sends_body = matches!(
            *method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        );
        if !map.contains_key(http::header::CONTENT_LENGTH) && (sends_body || !body.is_empty()) {
            map.insert(http::header::CONTENT_LENGTH, body.len().into());
        }
        let uri = http::Uri::builder()
            .scheme(scheme)
            .authority(authority.as_str())
            .path_and_query(path)
            .build()
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("HTTP/2 request to {authority}{path}: {e}"),
                )
            })?;
        Ok(H2Request {
            method: method.clone(),
            uri,
            headers: map,
            body,
        })
    }

    fn request(&self) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Hands out the case's connection handles, `streams_per_connection` to a
/// connection (see the module documentation).
pub struct H2Pool {
    endpoint: Arc<Endpoint>,
    request: Arc<H2Request>,
    /// The connection new handles join, and how many have joined it.
    filling: Mutex<(Arc<Shared>, u32)>,
}

impl H2Pool {
    /// A pool for one case; no connection is open yet.
    pub fn new(endpoint: Arc<Endpoint>, request: H2Request) -> H2Pool {
        H2Pool {
            endpoint,
            request: Arc::new(request),
            filling: Mutex::new((Arc::default(), 0)),
        }
    }

    /// A handle for one more worker: on the connection being filled, or on
    /// a new one once that has `streams_per_connection` workers. With
    /// `connection: per_request` the handle opens a connection per request.
    pub fn conn(&self) -> H2Conn {
        let shared = match self.endpoint.connection {
            ConnectionMode::PerRequest => None,
            ConnectionMode::Reuse => {
                let mut filling = self.filling.lock().unwrap_or_else(PoisonError::into_inner);
                if filling.1 >= self.endpoint.streams_per_connection.get() {
                    *filling = (Arc::default(), 0);
                }
                filling.1 += 1;
                Some(filling.0.clone())
            }
        };
        H2Conn {
            endpoint: self.endpoint.clone(),
            request: self.request.clone(),
            shared,
            current: None,
            failed_connects: 0,
            connect_failed: false,
        }
    }
}

/// One connection shared by a group of workers.
#[derive(Default)]
struct Shared {
    /// Numbers the connections of this group, from 1.
    opened: AtomicU64,
    /// Number of the live connection; 0 when it is lost. A handle on any
    /// other number is stale. Read (one atomic load) on every send.
    live: AtomicU64,
    /// The live connection and its number; locked only to fetch it after
    /// a change, or to open a new one (the others wait meanwhile).
    conn: tokio::sync::Mutex<Option<(SendRequest<Bytes>, u64)>>,
}

impl Shared {
    /// Marks connection `number` lost, unless another one replaced it.
    fn lost(&self, number: u64) {
        let _ = self
            .live
            .compare_exchange(number, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// One worker's handle on a shared HTTP/2 connection (see [`H2Pool::conn`]).
pub struct H2Conn {
    endpoint: Arc<Endpoint>,
    request: Arc<H2Request>,
    /// `None` with `connection: per_request`.
    shared: Option<Arc<Shared>>,
    /// The connection this worker sends on, and its number in its group (0 with `per_request`).
    current: Option<(SendRequest<Bytes>, u64)>,
    /// Failed connects in a row, for the back-off.
    failed_connects: u32,
    /// Whether the current send failed to connect.
    connect_failed: bool,
}

/// Why an exchange failed, before it is classified.
enum Failure {
    /// The stream never started: the connection was gone already.
    NotSent(h2::Error),
    /// The stream failed, after the answer's head if the status is known.
    Stream(h2::Error, Option<u16>),
    /// Classified already.
    Kind(ErrorKind),
}

impl H2Conn {
    /// Sends `request` (one entry of the case's mix) once and reads the
    /// whole answer; later [`H2Conn::send`]s send it too.
    pub async fn send_request(&mut self, request: Arc<H2Request>) -> Outcome {
        self.request = request;
        self.send().await
    }

    /// Sends the request once and reads the whole answer.
    ///
    /// After a failed connect (or a fresh connection that failed before
    /// its first answer) the call waits before it returns, as
    /// `crate::h1::H1Conn::send` does.
    pub async fn send(&mut self) -> Outcome {
        let timeout = self.endpoint.request.timeout;
        self.connect_failed = false;
        let outcome = match tokio::time::timeout(timeout, self.exchange()).await {
            Ok(outcome) => outcome,
            // Dropping the stream resets it; the connection stays.
            Err(_) => Err((ErrorKind::RequestTimeout, None)),
        };
        if self.shared.is_none() {
            self.current = None;
        }
        if self.connect_failed {
            self.failed_connects = self.failed_connects.saturating_add(1);
            self.endpoint.backoffs.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff(self.failed_connects)).await;
        } else {
            self.failed_connects = 0;
        }
        outcome
    }

    async fn exchange(&mut self) -> Outcome {
        let fresh = self.connection().await?;
        match self.round_trip().await {
            Ok(status) => classify(status),
            Err(Failure::Stream(e, None)) if refused(&e) => {
                // Not processed (RFC 9113 section 8.7): a stream opened
                // before the server's SETTINGS lowered the stream limit.
                // Once more on the same connection, within the limit now.
                match self.round_trip().await {
                    Ok(status) => classify(status),
                    Err(failure) => Err(self.failed(failure, false)),
                }
            }
            Err(Failure::NotSent(_)) if !fresh => {
                // Closed while idle, or after a graceful GOAWAY: once more
                // on a new connection.
                self.drop_connection();
                self.connection().await?;
                match self.round_trip().await {
                    Ok(status) => classify(status),
                    Err(failure) => Err(self.failed(failure, true)),
                }
            }
            Err(failure) => Err(self.failed(failure, fresh)),
        }
    }

    /// Makes sure `current` is a live connection; `true` if this call
    /// opened it.
    async fn connection(&mut self) -> Result<bool, (ErrorKind, Option<u16>)> {
        let Some(shared) = self.shared.clone() else {
            self.current = Some((self.open(None).await?, 0));
            return Ok(true);
        };
        let live = shared.live.load(Ordering::Acquire);
        if matches!(&self.current, Some((_, number)) if *number == live) {
            return Ok(false);
        }
        self.current = None;
        let mut slot = shared.conn.lock().await;
        let live = shared.live.load(Ordering::Acquire);
        if let Some((send, number)) = slot.as_ref() {
            if *number == live {
                self.current = Some((send.clone(), live));
                return Ok(false);
            }
        }
        *slot = None;
        let number = shared.opened.fetch_add(1, Ordering::Relaxed) + 1;
        let send = self.open(Some((shared.clone(), number))).await?;
        shared.live.store(number, Ordering::Release);
        *slot = Some((send.clone(), number));
        drop(slot);
        self.current = Some((send, number));
        Ok(true)
    }

    /// Opens a connection and starts its driver task, which marks it lost
    /// in its group (`group`: the group and the connection's number) when
    /// it ends.
    async fn open(
        &mut self,
        group: Option<(Arc<Shared>, u64)>,
    ) -> Result<SendRequest<Bytes>, (ErrorKind, Option<u16>)> {
        let io = connect_io(&self.endpoint)
            .await
            .inspect_err(|_| self.connect_failed = true)
            .map_err(|kind| (kind, None))?;
        handshake(io, group).await.map_err(|e| {
            self.connect_failed = true;
            self.note(&e);
            (error_kind(&e), None)
        })
    }

    /// One request on `current`: status of the complete answer.
    async fn round_trip(&mut self) -> Result<u16, Failure> {
        let Some((send, _)) = self.current.as_mut() else {
            return Err(Failure::Kind(ErrorKind::Other));
        };
        poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(Failure::NotSent)?;
        let body = &self.request.body;
        let (response, mut upload) = send
            .send_request(self.request.request(), body.is_empty())
            .map_err(Failure::NotSent)?;
        if !body.is_empty() {
            upload
                .send_data(body.clone(), true)
                .map_err(|e| Failure::Stream(e, None))?;
        }
        let response = response.await.map_err(|e| Failure::Stream(e, None))?;
        let status = response.status().as_u16();
        let mut answer = response.into_body();
        while let Some(chunk) = answer.data().await {
            let chunk = chunk.map_err(|e| Failure::Stream(e, Some(status)))?;
            let _ = answer.flow_control().release_capacity(chunk.len());
        }
        Ok(status)
    }

    /// Classifies a failure; forgets the connection if it is lost, and
    /// backs off if it was `fresh` (opened by this send) and never worked.
    fn failed(&mut self, failure: Failure, fresh: bool) -> (ErrorKind, Option<u16>) {
        let (error, status) = match failure {
            Failure::Kind(kind) => return (kind, None),
            Failure::NotSent(e) => (e, None),
            Failure::Stream(e, status) => (e, status),
        };
        self.note(&error);
        let lost = !error.is_reset();
        if lost {
            self.drop_connection();
            if fresh && status.is_none() {
                self.connect_failed = true;
            }
        }
        (error_kind(&error), status)
    }

    /// Stops using the current connection, and tells its group it is lost.
    fn drop_connection(&mut self) {
        if let (Some((_, number)), Some(shared)) = (self.current.take(), &self.shared) {
            shared.lost(number);
        }
    }

    /// Keeps the case's first HTTP/2 error, in words.
    fn note(&self, error: &h2::Error) {
        self.endpoint.note_first(|| describe(error));
    }
}

/// The connected byte stream under a connection; the one place that makes
/// it: plain TCP, or TLS offering `h2` alone by ALPN (a server that does not
/// choose it is refused).
pub(crate) async fn connect_io(endpoint: &Endpoint) -> Result<crate::connect::Stream, ErrorKind> {
    let tls = endpoint.tls.as_deref();
    let opened =
        crate::connect::open_for(endpoint.addr, endpoint.request.connect_timeout, tls, true).await;
    let connected = match opened {
        Ok(connected) => connected,
        Err(e) => {
            endpoint.note_error(e.kind, || e.reason.clone());
            return Err(e.kind);
        }
    };
    if tls.is_some() && connected.alpn.as_deref() != Some(crate::connect::ALPN_H2) {
        endpoint.note_error(ErrorKind::TlsHandshake, || {
            "HTTP/2 over TLS: the server did not choose h2 by ALPN (does it speak HTTP/2?)".into()
        });
        return Err(ErrorKind::TlsHandshake);
    }
    Ok(connected.stream)
}

/// The HTTP/2 handshake (prior knowledge: the preface and SETTINGS go out
/// at once) on any byte stream; spawns the task that drives the
/// connection, which marks it lost in its group (`group`: the group and the
/// connection's number) when it ends.
async fn handshake<T>(
    io: T,
    group: Option<(Arc<Shared>, u64)>,
) -> Result<SendRequest<Bytes>, h2::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .enable_push(false)
        .handshake::<_, Bytes>(io)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
        if let Some((shared, number)) = group {
            shared.lost(number);
        }
    });
    Ok(send)
}

/// Whether the server refused a stream without processing it.
fn refused(error: &h2::Error) -> bool {
    error.is_reset() && error.is_remote() && error.reason() == Some(h2::Reason::REFUSED_STREAM)
}

fn classify(status: u16) -> Outcome {
    match ErrorKind::from_status(status) {
        None => Ok(status),
        Some(kind) => Err((kind, Some(status))),
    }
}

/// The kind of an HTTP/2 error (see the module documentation).
fn error_kind(error: &h2::Error) -> ErrorKind {
    if let Some(io) = error.get_io() {
        return match io.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe => ErrorKind::Reset,
            _ => ErrorKind::from_connect_error(io),
        };
    }
    match (error.is_go_away(), error.is_reset(), error.is_remote()) {
        (true, _, true) => ErrorKind::H2Goaway,
        (_, true, true) => ErrorKind::H2Reset,
        (true, _, false) | (_, true, false) => ErrorKind::InvalidResponse,
        _ => ErrorKind::Other,
    }
}

/// An HTTP/2 error in words, with a hint when the server seems not to
/// speak HTTP/2 at all.
fn describe(error: &h2::Error) -> String {
    let hint = match error.reason() {
        Some(h2::Reason::PROTOCOL_ERROR | h2::Reason::FRAME_SIZE_ERROR) if !error.is_remote() => {
            " (does the server speak HTTP/2 with prior knowledge, h2c? an HTTP/1.1-only server answers this way)"
        }
        _ => "",
    };
    format!("HTTP/2: {error}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::num::NonZeroU32;
    use std::time::Duration;

    use crate::scenario::{Protocol, RequestSpec};

    fn endpoint(addr: SocketAddr, streams: u32) -> Arc<Endpoint> {
        let request = RequestSpec {
            method: http::Method::GET,
            path: "/x".into(),
            headers: vec![],
            body: Bytes::new(),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
        };
        Arc::new(Endpoint {
            protocol: Protocol::Http2,
            streams_per_connection: NonZeroU32::new(streams).unwrap(),
            ..Endpoint::for_tests(addr, request)
        })
    }

    fn pool(ep: &Arc<Endpoint>) -> H2Pool {
        H2Pool::new(ep.clone(), H2Request::new(ep).unwrap())
    }

    /// An h2 server that answers requests in order: `Ok(status)` answers,
    /// `Err(reason)` resets the stream; after the script, a GOAWAY
    /// (NO_ERROR) closes the connection. Counts connections accepted.
    async fn scripted(
        script: Vec<Result<u16, h2::Reason>>,
    ) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(socket).await else {
                        return;
                    };
                    let mut script = script.into_iter();
                    while let Some(Ok((_request, mut respond))) = conn.accept().await {
                        match script.next() {
                            Some(Ok(status)) => {
                                let response =
                                    http::Response::builder().status(status).body(()).unwrap();
                                let mut body = respond.send_response(response, false).unwrap();
                                body.send_data(Bytes::from_static(b"hello"), true).unwrap();
                            }
                            Some(Err(reason)) => respond.send_reset(reason),
                            None => {
                                conn.graceful_shutdown();
                                respond.send_reset(h2::Reason::REFUSED_STREAM);
                            }
                        }
                    }
                    // Drive the connection to its end.
                    while conn.accept().await.is_some() {}
                });
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn statuses_resets_and_goaways_get_their_kinds() {
        let (addr, accepted) =
            scripted(vec![Ok(200), Ok(503), Err(h2::Reason::CANCEL), Ok(204)]).await;
        let ep = endpoint(addr, 1);
        let mut conn = pool(&ep).conn();
        assert_eq!(conn.send().await, Ok(200));
        assert_eq!(conn.send().await, Err((ErrorKind::Http5xx, Some(503))));
        assert_eq!(conn.send().await, Err((ErrorKind::H2Reset, None)));
        assert_eq!(
            conn.send().await,
            Ok(204),
            "a reset stream keeps the connection"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // The script is over: the server says GOAWAY.
        let outcome = conn.send().await;
        assert!(
            matches!(
                outcome,
                Err((ErrorKind::H2Goaway | ErrorKind::H2Reset, None))
            ),
            "{outcome:?}"
        );
        assert!(ep
            .first_error
            .get()
            .is_some_and(|e| e.starts_with("HTTP/2: ")));
        // Then a new connection serves again.
        assert_eq!(conn.send().await, Ok(200));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A server that allows 2 streams at once and answers after 50 ms:
    /// 6 workers on one connection all succeed, 2 at a time.
    #[tokio::test]
    async fn the_servers_stream_limit_is_respected() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::Builder::new()
                .max_concurrent_streams(2)
                .handshake::<_, Bytes>(socket)
                .await
                .unwrap();
            while let Some(Ok((_request, mut respond))) = conn.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let response = http::Response::builder().status(200).body(()).unwrap();
                    let _ = respond.send_response(response, true);
                });
            }
        });
        let ep = endpoint(addr, 6);
        let pool = pool(&ep);
        let started = std::time::Instant::now();
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let mut conn = pool.conn();
                tokio::spawn(async move { conn.send().await })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.await.unwrap(), Ok(200));
        }
        // Three rounds of two; without the limit one round would do.
        assert!(
            started.elapsed() >= Duration::from_millis(140),
            "{:?}",
            started.elapsed()
        );
    }

    /// A server that closes each connection gracefully (GOAWAY) once it
    /// has answered one request: the next send opens a new connection and
    /// succeeds, as HTTP/1.1 does after an idle keep-alive close.
    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced_without_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut conn = h2::server::handshake(socket).await.unwrap();
                    if let Some(Ok((_request, mut respond))) = conn.accept().await {
                        let response = http::Response::builder().status(200).body(()).unwrap();
                        let _ = respond.send_response(response, true);
                        conn.graceful_shutdown();
                    }
                    while conn.accept().await.is_some() {}
                });
            }
        });
        let ep = endpoint(addr, 1);
        let mut conn = pool(&ep).conn();
        for round in 1..=3 {
            assert_eq!(conn.send().await, Ok(200), "round {round}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(ep.backoffs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn handles_share_connections_in_groups() {
        let (addr, accepted) = scripted(vec![Ok(200); 100]).await;
        let ep = endpoint(addr, 3);
        let pool = pool(&ep);
        let mut conns: Vec<H2Conn> = (0..7).map(|_| pool.conn()).collect();
        for conn in &mut conns {
            assert_eq!(conn.send().await, Ok(200));
        }
        // 7 handles, 3 to a connection: 3 connections.
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_server_without_http2_is_an_invalid_response_with_a_hint() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut scratch = [0u8; 1024];
                let _ = socket.read(&mut scratch).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let ep = endpoint(addr, 1);
        let mut conn = pool(&ep).conn();
        let outcome = conn.send().await;
        assert_eq!(outcome, Err((ErrorKind::InvalidResponse, None)));
        let first = ep.first_error.get().cloned().unwrap_or_default();
        assert!(first.contains("h2c"), "{first}");
        assert_eq!(ep.backoffs.load(Ordering::SeqCst), 1, "backed off");
    }

    #[test]
    fn the_request_drops_connection_headers_and_takes_host_as_authority() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut ep = Arc::try_unwrap(endpoint(addr, 1)).unwrap();
        ep.request.method = http::Method::POST;
        ep.request.body = Bytes::from_static(b"{}");
        for (name, value) in [
            ("connection", "close"),
            ("host", "example.test"),
            ("accept", "*/*"),
        ] {
            ep.request.headers.push((
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            ));
        }
        let request = H2Request::new(&ep).unwrap().request();
        assert_eq!(request.uri().to_string(), "http://example.test/x");
        assert!(!request.headers().contains_key("connection"));
        assert!(!request.headers().contains_key("host"));
        assert_eq!(request.headers()["accept"], "*/*");
        assert_eq!(request.headers()["content-length"], "2");
    }
}
