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
    /// Wakes the driver to recompute the idle deadline.
    activity: Notify,
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
            activity: Notify::new(),
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

    /// When the connection will have been idle too long, if nothing happens.
    fn idle_deadline(&self, header_timeout: Duration, idle_timeout: Duration) -> Instant {
        if self.in_flight.load(Relaxed) > 0 {
            return Instant::now() + idle_timeout;
        }
        let limit = if self.requests.load(Relaxed) == 0 {
            header_timeout
        } else {
            idle_timeout
        };
        self.epoch + Duration::from_millis(self.last_active_ms.load(Relaxed)) + limit
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Relaxed);
        self.0.activity.notify_one();
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
    let (header_timeout, idle_timeout) = (shared.settings.header_timeout, shared.settings.idle_timeout);
    let mut closing = false;
    loop {
        let deadline = state.idle_deadline(header_timeout, idle_timeout);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            () = state.kill.notified() => return, // Dropping `conn` closes the socket.
            () = state.activity.notified() => {} // Recompute the deadline.
            _ = drain.wait_for(|stop| *stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline), if !closing => {
                if state.idle_deadline(header_timeout, idle_timeout) <= Instant::now() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
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
