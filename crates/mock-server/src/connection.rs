//! One accepted connection: served by hyper-util's auto builder (HTTP/1.1
//! with keep-alive, or HTTP/2 cleartext), watched for idleness, drained on
//! shutdown, and closed or reset on request of the service.
//!
//! The watchdog closes a connection that has no request in flight for
//! `idle_timeout`, or that has not sent a single request within
//! `header_timeout` (a client that connects and stays silent never reaches
//! hyper's own header timer, which starts once HTTP/1 is detected).
//!
//! A reset sets `SO_LINGER` to zero on the socket at once, from the handler,
//! so that whichever way the connection is then dropped, the close sends a
//! RST. The raw descriptor is kept behind a lock that the driver clears
//! before the socket is closed, so it is never used after that.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::server::Shared;
use crate::service;

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
    /// Milliseconds after `epoch` of the last request start or end.
    last_active_ms: AtomicU64,
    /// Wakes the driver to close the connection now.
    kill: Notify,
    /// The socket's descriptor while the socket is open; `None` after.
    fd: Mutex<Option<RawFd>>,
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
            kill: Notify::new(),
            fd: Mutex::new(Some(fd)),
        }
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Activity {
        self.in_flight.fetch_add(1, Relaxed);
        self.requests.fetch_add(1, Relaxed);
        self.touch();
        Activity(Arc::clone(self))
    }

    /// Closes the connection without an answer (FIN).
    pub fn close(&self) {
        self.kill.notify_one();
    }

    /// Resets the connection (RST): zero linger time, then close.
    pub fn reset(&self) {
        let fd = self.fd.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fd) = *fd {
            // SAFETY: the descriptor is in the map only while the socket is
            // open: the driver clears it, under this lock, before the socket
            // is closed, and we hold the lock until setsockopt returns.
            set_zero_linger(unsafe { BorrowedFd::borrow_raw(fd) });
        }
        drop(fd);
        self.kill.notify_one();
    }

    /// Called by the driver before the socket is closed.
    fn forget_fd(&self) {
        *self.fd.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(ms, Relaxed);
    }

    /// The next moment the connection could have been idle too long: never
    /// later than the real deadline, whatever requests come meanwhile, so the
    /// watchdog needs no wake-up per request.
    fn next_check(&self, limits: Limits) -> Instant {
        let now = Instant::now();
        let soonest = now + limits.idle;
        if self.in_flight.load(Relaxed) > 0 {
            soonest
        } else if self.requests.load(Relaxed) == 0 {
            (self.epoch + limits.header).min(soonest)
        } else {
            self.last_active() + limits.idle
        }
    }

    /// Whether the connection has been idle too long now.
    fn is_expired(&self, limits: Limits) -> bool {
        let now = Instant::now();
        if self.in_flight.load(Relaxed) > 0 {
            false
        } else if self.requests.load(Relaxed) == 0 {
            now >= self.epoch + limits.header
        } else {
            now >= self.last_active() + limits.idle
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
}

impl Limits {
    fn new(header: Duration, idle: Duration) -> Self {
        Limits {
            header: header.min(MAX_TIMEOUT),
            idle: idle.min(MAX_TIMEOUT),
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
/// killed by the service, or is drained at shutdown.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut drain: watch::Receiver<bool>,
) {
    let state = Arc::new(ConnState::new(peer, stream.as_raw_fd()));
    let service = {
        let (shared, state) = (Arc::clone(&shared), Arc::clone(&state));
        service_fn(move |req| service::handle(Arc::clone(&shared), Arc::clone(&state), req))
    };
    let conn = shared.http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // Declared after `conn`, so dropped before it: the descriptor is
    // forgotten before the socket closes.
    let _forget = ForgetFd(&state);
    let limits = Limits::new(shared.settings.header_timeout, shared.settings.idle_timeout);
    let check = tokio::time::sleep_until(state.next_check(limits));
    tokio::pin!(check);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            () = state.kill.notified() => return, // Dropping `conn` closes the socket.
            _ = drain.wait_for(|stop| *stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = check.as_mut(), if !closing => {
                if state.is_expired(limits) {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                } else {
                    check.as_mut().reset(state.next_check(limits));
                }
            }
        }
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
