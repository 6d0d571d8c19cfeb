//! One accepted connection: HTTP/1.1 with keep-alive, or HTTP/2 (told
//! from a cleartext client's first bytes, read without consuming them, or
//! from ALPN over TLS), served by hyper's connection for that protocol
//! alone, watched for idleness, drained on shutdown, and closed or reset on
//! request of the service. The task of a cleartext HTTP/1.1 connection
//! holds HTTP/1.1's state only (under 2 KB): HTTP/2 and TLS state, several
//! kilobytes each, are boxed on the connections that use them.
//!
//! The watchdog is a small task of its own beside the connection's task. It
//! closes a connection that has no request in flight for too long: for
//! HTTP/1 the smaller of `header_timeout` and `idle_timeout` after the last
//! response (the server is then waiting for a request head), for HTTP/2
//! `idle_timeout`, and for a connection that has not sent a single request
//! `header_timeout` after it was accepted. It also starts the graceful close
//! at shutdown. A graceful close can wait for ever on a silent client (hyper's
//! HTTP/2 GOAWAY waits for the ack of a PING), so once it has begun the
//! watchdog drops the connection after the same timeout again without a
//! request in flight. (A stalled request body is bounded by the service,
//! not here: a request in flight keeps its connection open.) It talks to
//! the connection's task through an atomic command and a stored waker, so
//! the connection's task, woken once or twice per request, polls nothing
//! but hyper's connection and one atomic load: no timer is armed or reset
//! per request (hyper's own header timer, which allocated and registered a
//! timer for every request, is off).
//!
//! The watchdog also cuts off a client that does not read: once the
//! connection's writes have made no progress for `write_timeout` (noted by
//! [`WatchedStream`](crate::stream::WatchedStream)), whether or not a
//! request is in flight, the connection is reset and counted in
//! `write_timeouts`. It checks at least every `write_timeout`, and once it
//! has seen a stall, at the stall's deadline, so the cut comes
//! `write_timeout` after the stall began.
//!
//! A reset sets `SO_LINGER` to zero on the socket at once, from the handler,
//! so that whichever way the connection is then dropped, the close sends a
//! RST. The raw descriptor is kept behind a lock that the driver clears
//! before the socket is closed, so it is never used after that.

use std::future::Future;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::server::Shared;
use crate::service;
use crate::stream::WatchedStream;

/// Longest header or idle timeout applied (longer values are treated as this).
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

/// What the service and the watchdog know about one connection.
#[derive(Debug)]
pub struct ConnState {
    /// The client's address.
    pub peer: SocketAddr,
    epoch: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds after `epoch` of the last request end.
    last_active_ms: AtomicU64,
    /// 0 while writes make progress; else 1 + milliseconds after `epoch`
    /// of the first write that found the send buffer full.
    write_stalled_ms: AtomicU64,
    /// Whether the connection speaks HTTP/2 (known from its first request).
    h2: AtomicBool,
    /// What the driver should do next: [`RUN`], [`CLOSE_GRACEFULLY`] or [`KILL`].
    command: AtomicU8,
    /// The driver's waker, woken when `command` changes.
    driver: Mutex<Option<Waker>>,
    /// The socket's descriptor while the socket is open; `None` after.
    fd: Mutex<Option<RawFd>>,
}

/// Driver command: keep serving.
const RUN: u8 = 0;
/// Driver command: close once the requests in flight are answered.
const CLOSE_GRACEFULLY: u8 = 1;
/// Driver command: close now, without answering.
const KILL: u8 = 2;

/// How the watchdog ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Close gracefully (idle too long, or shutdown).
    Close,
    /// Close now, without answering.
    Kill,
    /// Reset and count: the client has read nothing for `write_timeout`.
    Stalled,
}

/// Marks a request in flight on its connection until dropped.
#[derive(Debug)]
pub struct Activity(Arc<ConnState>);

impl ConnState {
    fn new(peer: SocketAddr, fd: RawFd) -> Self {
        ConnState {
            peer,
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_active_ms: AtomicU64::new(0),
            write_stalled_ms: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            command: AtomicU8::new(RUN),
            driver: Mutex::new(None),
            fd: Mutex::new(Some(fd)),
        }
    }

    /// Counts a request as in flight until the returned guard is dropped.
    /// `h2` says whether it came over HTTP/2. While a request is in flight
    /// the watchdog never closes the connection, so the start needs no
    /// timestamp; the end does (see [`Activity`]).
    pub fn begin(self: &Arc<Self>, h2: bool) -> Activity {
        self.in_flight.fetch_add(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        if h2 && !self.h2.load(Relaxed) {
            self.h2.store(true, Relaxed);
        }
        Activity(Arc::clone(self))
    }

    /// Closes the connection without an answer (FIN).
    pub fn close(&self) {
        self.command(KILL);
    }

    /// Tells the driver what to do next and wakes it. A kill is never
    /// downgraded to a graceful close.
    fn command(&self, command: u8) {
        self.command.fetch_max(command, Ordering::AcqRel);
        let driver = self.driver.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = driver.as_ref() {
            waker.wake_by_ref();
        }
    }

    /// Stores the driver's waker if it is not the one stored already.
    fn register(&self, waker: &Waker, known: &mut Option<Waker>) {
        if known.as_ref().is_some_and(|k| k.will_wake(waker)) {
            return;
        }
        *known = Some(waker.clone());
        *self.driver.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
    }

    /// Resets the connection (RST): zero linger time, then close.
    pub fn reset(&self) {
        let fd = self.fd.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fd) = *fd {
            // SAFETY: the descriptor is in the map only while the socket is
            // open: the driver clears it, under this lock, before the socket
            // is closed, and we hold the lock until setsockopt returns.
            #[allow(unsafe_code)]
            set_zero_linger(unsafe { BorrowedFd::borrow_raw(fd) });
        }
        drop(fd);
        self.command(KILL);
    }

    /// Called by the driver before the socket is closed.
    fn forget_fd(&self) {
        *self.fd.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn touch(&self) {
        self.last_active_ms.store(self.elapsed_ms(), Relaxed);
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Called when a write finds the send buffer full; notes the moment
    /// unless a stall is already running.
    pub(crate) fn write_stalled(&self) {
        if self.write_stalled_ms.load(Relaxed) == 0 {
            self.write_stalled_ms.store(self.elapsed_ms() + 1, Relaxed);
        }
    }

    /// Called when a write made progress: the stall, if any, is over.
    pub(crate) fn write_progressed(&self) {
        if self.write_stalled_ms.load(Relaxed) != 0 {
            self.write_stalled_ms.store(0, Relaxed);
        }
    }

    /// When the running write stall reaches `write_timeout`; `None` if
    /// writes are making progress.
    fn write_deadline(&self, limits: Limits) -> Option<Instant> {
        match self.write_stalled_ms.load(Relaxed) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1) + limits.write),
        }
    }

    /// Whether writes have made no progress for `write_timeout`.
    fn is_write_stalled(&self, limits: Limits) -> bool {
        self.write_deadline(limits)
            .is_some_and(|deadline| deadline <= Instant::now())
    }

    /// How long the connection may stay without a request in flight after
    /// its last response: for HTTP/1 the server is then waiting for the next
    /// request head, so `header_timeout` applies too.
    fn between_requests(&self, limits: Limits) -> Duration {
        if self.h2.load(Relaxed) {
            limits.idle
        } else {
            limits.idle.min(limits.header)
        }
    }

    /// The next moment the connection could have been idle too long: never
    /// later than the real deadline, whatever requests come meanwhile, so the
    /// watchdog needs no wake-up per request.
    fn next_check(&self, limits: Limits) -> Instant {
        let now = Instant::now();
        let soonest = now + self.between_requests(limits);
        let idle = if self.in_flight.load(Relaxed) > 0 {
            soonest
        } else if self.requests.load(Relaxed) == 0 {
            (self.epoch + limits.header).min(soonest)
        } else {
            self.last_active() + self.between_requests(limits)
        };
        // A stall that begins after this check is seen at the next one
        // (within `write`), which then waits for the stall's own deadline.
        let write = self.write_deadline(limits).unwrap_or(now + limits.write);
        idle.min(write)
    }

    /// Whether the connection has been idle too long now.
    fn is_expired(&self, limits: Limits) -> bool {
        let now = Instant::now();
        if self.in_flight.load(Relaxed) > 0 {
            false
        } else if self.requests.load(Relaxed) == 0 {
            now >= self.epoch + limits.header
        } else {
            now >= self.last_active() + self.between_requests(limits)
        }
    }

    /// How to close a connection that has been idle too long. One that
    /// never completed a request head is killed: hyper counts an HTTP/1
    /// connection as busy until its first request, so a graceful close would
    /// wait for a head that may never come (what hyper's header timer did
    /// too: drop it without an answer). Otherwise nothing is in flight and
    /// the graceful close is immediate.
    fn expiry(&self) -> Ending {
        if self.requests.load(Relaxed) == 0 {
            Ending::Kill
        } else {
            Ending::Close
        }
    }

    fn last_active(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_active_ms.load(Relaxed))
    }
}

/// The watchdog's time limits, capped at one year so that adding them to an
/// instant cannot overflow.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    idle: Duration,
    write: Duration,
}

impl Limits {
    fn new(settings: &crate::config::Settings) -> Self {
        Limits {
            header: settings.header_timeout.min(MAX_TIMEOUT),
            idle: settings.idle_timeout.min(MAX_TIMEOUT),
            write: settings.write_timeout.min(MAX_TIMEOUT),
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Serves one connection until it ends, is closed by the watchdog, is
/// killed by the service, or is drained at shutdown. The protocol comes
/// first, within `header_timeout`: over cleartext from the client's first
/// bytes (HTTP/2 when they are its connection preface), over TLS from the
/// handshake's ALPN (`h2`; otherwise HTTP/1.1, as RFC 9113 asks HTTP/2
/// over TLS to be negotiated by ALPN).
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    drain: watch::Receiver<bool>,
) {
    let state = Arc::new(ConnState::new(peer, stream.as_raw_fd()));
    if shared.tls.is_some() {
        // Boxed: TLS state is large, and a cleartext connection's task
        // should not carry it.
        return Box::pin(serve_tls(stream, state, shared, drain)).await;
    }
    // The watchdog bounds the wait for the first bytes too: no request
    // within `header_timeout` (or a shutdown) ends the connection.
    let watchdog = spawn_watchdog(&state, &shared, drain);
    let protocol = match until_ended(&state, sniff(&stream)).await {
        Some(Ok(protocol)) => protocol,
        Some(Err(e)) => {
            tracing::debug!(%peer, "connection failed before its first request: {e}");
            return;
        }
        None => return,
    };
    let io = WatchedStream::new(stream, Arc::clone(&state));
    drive(io, protocol, state, &shared, watchdog).await;
}

/// [`serve`] over TLS: the handshake, then the protocol ALPN chose.
async fn serve_tls(
    stream: TcpStream,
    state: Arc<ConnState>,
    shared: Arc<Shared>,
    drain: watch::Receiver<bool>,
) {
    let Some(tls) = &shared.tls else { return };
    let peer = state.peer;
    let limit = shared.settings.header_timeout.min(MAX_TIMEOUT);
    let io = WatchedStream::new(stream, Arc::clone(&state));
    let stream = match tokio::time::timeout(limit, tls.acceptor.accept(io)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no TLS handshake within header_timeout");
            return;
        }
    };
    let protocol = match stream.get_ref().1.alpn_protocol() {
        Some(crate::tls::ALPN_H2) => Protocol::Http2,
        _ => Protocol::Http1,
    };
    let watchdog = spawn_watchdog(&state, &shared, drain);
    drive(stream, protocol, state, &shared, watchdog).await;
}

/// Starts the connection's watchdog; it is aborted when the guard drops.
fn spawn_watchdog(
    state: &Arc<ConnState>,
    shared: &Arc<Shared>,
    drain: watch::Receiver<bool>,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(watchdog(
        Arc::clone(state),
        Arc::clone(shared),
        drain,
    )))
}

/// Polls `work` until it ends, or `None` once the watchdog or the service
/// asks the connection to end: before the first request nothing is in
/// flight, so a graceful close is a close.
async fn until_ended<F: Future>(state: &ConnState, work: F) -> Option<F::Output> {
    tokio::pin!(work);
    let mut known_waker = None;
    std::future::poll_fn(|cx| {
        state.register(cx.waker(), &mut known_waker);
        if state.command.load(Ordering::Acquire) != RUN {
            return Poll::Ready(None);
        }
        work.as_mut().poll(cx).map(Some)
    })
    .await
}

/// What a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// HTTP/2's connection preface (RFC 9113, section 3.4): a cleartext client
/// that opens with it speaks HTTP/2 with prior knowledge.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol of a connection whose first bytes are `first`, or `None`
/// while they are a beginning of the HTTP/2 preface. No bytes at all (the
/// client closed) go to HTTP/1, which sees the close.
fn classify(first: &[u8]) -> Option<Protocol> {
    let n = first.len().min(H2_PREFACE.len());
    if first[..n] != H2_PREFACE[..n] || first.is_empty() {
        Some(Protocol::Http1)
    } else if n == H2_PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

/// Waits for the client's first bytes and tells the protocol from them
/// without consuming them (`MSG_PEEK`), so hyper reads them as sent. After
/// a part of the preface, waits for more bytes; a client that closes after
/// one goes to HTTP/1, which answers the bytes it got.
async fn sniff(stream: &TcpStream) -> std::io::Result<Protocol> {
    let mut first = [0u8; H2_PREFACE.len()];
    loop {
        let ready = stream.ready(Interest::READABLE).await?;
        // The close stays ready for ever: it ends the wait for more bytes.
        let closed = ready.is_read_closed();
        // A partial preface answers WouldBlock, which clears the readiness
        // seen here, so the next wait is for more bytes.
        let sniffed = stream.try_io(Interest::READABLE, || {
            let n = peek(stream, &mut first)?;
            match classify(&first[..n]) {
                Some(protocol) => Ok(protocol),
                None if closed => Ok(Protocol::Http1),
                None => Err(std::io::ErrorKind::WouldBlock.into()),
            }
        });
        match sniffed {
            Ok(protocol) => return Ok(protocol),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Copies up to `buf.len()` of the bytes received on `stream` into `buf`
/// without consuming them.
#[allow(unsafe_code)]
fn peek(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: socket2's `peek` (like its `recv`) never writes uninitialised
    // bytes into the buffer, so lending initialised bytes to it as
    // `MaybeUninit` cannot make them uninitialised.
    let buf = unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [MaybeUninit<u8>]) };
    socket2::SockRef::from(stream).peek(buf)
}

/// Runs hyper's connection for `protocol` on `io`, with the watchdog
/// (`watchdog`) beside it. An HTTP/2 connection's state is several kilobytes, so it is
/// boxed: the task of an HTTP/1 connection, the common case, holds only
/// HTTP/1's.
async fn drive<I>(
    io: I,
    protocol: Protocol,
    state: Arc<ConnState>,
    shared: &Arc<Shared>,
    watchdog: AbortOnDrop,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = state.peer;
    let service = {
        let (shared, state) = (Arc::clone(shared), Arc::clone(&state));
        service_fn(move |req| service::handle(Arc::clone(&shared), Arc::clone(&state), req))
    };
    let io = TokioIo::new(io);
    let result = match protocol {
        Protocol::Http1 => {
            let conn = shared.http1.serve_connection(io, service);
            watched(conn, |c| c.graceful_shutdown(), state, watchdog).await
        }
        Protocol::Http2 => {
            let conn = Box::pin(shared.http2.serve_connection(io, service));
            watched(
                conn,
                |c| c.get_mut().as_mut().graceful_shutdown(),
                state,
                watchdog,
            )
            .await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// Polls hyper's connection `conn` until it ends or the watchdog or the
/// service ends it: `close` starts a graceful close, a kill drops it. The
/// watchdog's guard is a parameter, so it is aborted only after `conn` is
/// dropped.
async fn watched<C>(
    conn: C,
    close: fn(Pin<&mut C>),
    state: Arc<ConnState>,
    _watchdog: AbortOnDrop,
) -> hyper::Result<()>
where
    C: Future<Output = hyper::Result<()>>,
{
    tokio::pin!(conn);
    // Declared after `conn`, so dropped before it: the descriptor is
    // forgotten before the socket closes.
    let _forget = ForgetFd(&state);
    let mut known_waker = None;
    let mut closing = false;
    std::future::poll_fn(|cx| {
        state.register(cx.waker(), &mut known_waker);
        match state.command.load(Ordering::Acquire) {
            KILL => return Poll::Ready(Ok(())), // Dropping `conn` closes the socket.
            CLOSE_GRACEFULLY if !closing => {
                closing = true;
                close(conn.as_mut());
            }
            _ => {}
        }
        conn.as_mut().poll(cx)
    })
    .await
}

/// Asks the connection to close gracefully once it has been idle too long
/// (see the module docs) or once shutdown begins, resets it once its writes
/// have stalled for `write_timeout`, then holds the drain receiver until it
/// is aborted along with the connection.
async fn watchdog(state: Arc<ConnState>, shared: Arc<Shared>, mut drain: watch::Receiver<bool>) {
    let limits = Limits::new(&shared.settings);
    let check = tokio::time::sleep_until(state.next_check(limits));
    tokio::pin!(check);
    let ending = loop {
        tokio::select! {
            // A dropped sender means the server is gone: close too.
            _ = drain.wait_for(|stop| *stop) => break Ending::Close,
            () = check.as_mut() => {
                if state.is_write_stalled(limits) {
                    break Ending::Stalled;
                }
                if state.is_expired(limits) {
                    break state.expiry();
                }
                check.as_mut().reset(state.next_check(limits));
            }
        }
    };
    let stalled = match ending {
        Ending::Stalled => true,
        Ending::Kill => false,
        Ending::Close => {
            state.command(CLOSE_GRACEFULLY);
            drop_if_still_open(&state, limits).await
        }
    };
    if stalled {
        cut_off_stalled_reader(&state, &shared);
    }
    state.command(KILL);
    std::future::pending::<()>().await;
}

/// Resets a connection whose client stopped reading, and counts it. The
/// reset (rather than a FIN after the unsent bytes) frees the kernel's send
/// buffer at once.
fn cut_off_stalled_reader(state: &ConnState, shared: &Shared) {
    shared.runtime.layout.total.count_write_timeout();
    tracing::debug!(peer = %state.peer, "client read nothing for write_timeout; resetting");
    state.reset();
}

/// Returns once a connection that is closing gracefully has had no request
/// in flight for `limit` (the time allowed between requests), counted from
/// the start of the close or the end of its last request, whichever is
/// later: `false` then. A well-behaved connection is gone long before
/// (hyper closes an idle HTTP/1 connection at once, and an HTTP/2 one after
/// a round trip); this bounds a client that never answers the PING hyper's
/// HTTP/2 GOAWAY sends, or never finishes a request head. A request in
/// flight is never cut off here (it is bounded by its own limits, and at
/// shutdown by the grace period), unless the client stops reading: once
/// writes have stalled for `write_timeout`, this returns `true` at once.
async fn drop_if_still_open(state: &ConnState, limits: Limits) -> bool {
    let limit = state.between_requests(limits);
    let began = Instant::now();
    let mut deadline = began + limit;
    loop {
        let write = state
            .write_deadline(limits)
            .unwrap_or(Instant::now() + limits.write);
        tokio::time::sleep_until(deadline.min(write)).await;
        if state.is_write_stalled(limits) {
            return true;
        }
        let now = Instant::now();
        deadline = if state.in_flight.load(Relaxed) > 0 {
            now + limit
        } else {
            state.last_active().max(began) + limit
        };
        if deadline <= now {
            return false;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Clears the connection's descriptor when dropped.
struct ForgetFd<'a>(&'a ConnState);

impl Drop for ForgetFd<'_> {
    fn drop(&mut self) {
        self.0.forget_fd();
    }
}

/// Makes the next close of this socket send a RST instead of a FIN.
fn set_zero_linger(fd: BorrowedFd<'_>) {
    let socket = socket2::SockRef::from(&fd);
    if let Err(e) = socket.set_linger(Some(Duration::ZERO)) {
        tracing::debug!("could not set SO_LINGER 0: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_tell_the_protocol() {
        assert_eq!(classify(H2_PREFACE), Some(Protocol::Http2));
        let with_frame = [H2_PREFACE, &[0, 0, 0, 4]].concat();
        assert_eq!(classify(&with_frame), Some(Protocol::Http2));
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http1));
        assert_eq!(classify(b"POST"), Some(Protocol::Http1));
        assert_eq!(classify(b"PRI * HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(classify(b""), Some(Protocol::Http1));
        for n in 1..H2_PREFACE.len() {
            assert_eq!(classify(&H2_PREFACE[..n]), None, "{n} bytes of the preface");
        }
    }
}
