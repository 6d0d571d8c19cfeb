//! The server: binding the listener, the accept loop, graceful shutdown, and
//! [`EmbeddedServer`], which runs all of it on a tokio runtime of its own.
//!
//! The runtime lives on a dedicated control thread that runs the accept
//! loop; connections run on the runtime's worker threads. Because the
//! runtime is created, driven and dropped on that thread, the server can be
//! started, stopped and dropped from anywhere, including from inside another
//! tokio runtime, and the two never share a scheduler.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::blocking::BlockingPool;
use crate::config::{Mode, Settings, MAX_BLOCKING_THREADS};
use crate::connection;
use crate::live::Runtime;
use crate::routes::Limits;
use crate::stats::StatsSnapshot;
use crate::timer::PreciseTimer;
use crate::tls::ServerTls;
use crate::trim::{self, Connections};

/// First pause after a failed `accept`; doubled on each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause after a failed `accept`.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long the runtime may take to drop what is left after the drain.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Everything the connections share: settings, counters, slots, and the
/// hyper builders.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The settings the server started with. Only the fields that cannot
    /// change at run time are read from here; the others from `runtime`.
    pub(crate) settings: Settings,
    /// Routing, admission units, counters and the run-time settings.
    pub(crate) runtime: Runtime,
    pub(crate) pool: Option<BlockingPool>,
    /// The high-resolution timer that ends async-mode delays.
    pub(crate) timer: PreciseTimer,
    /// Base seed of the per-request generators.
    pub(crate) seed: u64,
    /// HTTP/1.1, for cleartext connections that do not open with HTTP/2's
    /// preface and TLS ones where ALPN chose `http/1.1` or nothing.
    pub(crate) http1: http1::Builder,
    /// HTTP/2: cleartext with prior knowledge, or chosen by ALPN over TLS.
    pub(crate) http2: http2::Builder<TokioExecutor>,
    /// HTTPS, when configured.
    pub(crate) tls: Option<ServerTls>,
    /// Notified whenever a connection ends, so a paused accept loop can
    /// retry as soon as a file descriptor is free again.
    connection_closed: Notify,
    /// Open connections, to give memory back when a crowd of them leaves.
    connections: Connections,
    /// Notified when the schedule restarts.
    pub(crate) schedule_restarted: Notify,
}

impl Shared {
    fn new(settings: Settings) -> io::Result<Self> {
        let pool = match settings.mode {
            Mode::Blocking => {
                let threads = settings.capacity.map_or(1, |n| n.get());
                Some(BlockingPool::start(threads.min(MAX_BLOCKING_THREADS))?)
            }
            Mode::Async => None,
        };
        let tls = match &settings.tls {
            Some(tls) => Some(ServerTls::new(tls)?),
            None => None,
        };
        Ok(Shared {
            runtime: Runtime::new(&settings),
            seed: settings.seed.unwrap_or_else(rand::random),
            http1: http1_builder(&settings),
            http2: http2_builder(&settings),
            tls,
            pool,
            timer: PreciseTimer::start()?,
            settings,
            connection_closed: Notify::new(),
            connections: Connections::default(),
            schedule_restarted: Notify::new(),
        })
    }

    /// Restarts the schedule from now (see
    /// [`EmbeddedServer::restart_schedule`]).
    pub(crate) fn restart_schedule(&self) {
        self.runtime.restart();
        self.schedule_restarted.notify_waiters();
    }

    /// The caps on httpbin parameters.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_delay: self.settings.max_delay,
            max_body: self.settings.max_body,
        }
    }
}

/// HTTP/1.1: keep-alive, header size limit; the header timeout is the
/// connection watchdog's.
fn http1_builder(s: &Settings) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        // half_close stays off: a FIN while a request is in flight means the
        // client left (counted as cancelled); see "Timeouts, precisely".
        .half_close(false)
        // The connection's watchdog enforces header_timeout; hyper's own
        // timer would arm, allocate and drop a timer for every request.
        .header_read_timeout(None)
        // hyper panics below 8192; validation keeps the value above it.
        .max_buf_size(s.max_header_size.max(8192));
    builder
}

/// HTTP/2 with the same header size limit.
fn http2_builder(s: &Settings) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(s.max_header_size).unwrap_or(u32::MAX));
    builder
}

/// Creates the listening socket with an explicit backlog.
fn bind(settings: &Settings) -> io::Result<std::net::TcpListener> {
    let addr = settings.listen;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let backlog = i32::try_from(settings.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// A running server on a runtime of its own. Dropping it stops it as
/// [`shutdown`](Self::shutdown) with no grace period would.
pub struct EmbeddedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<Option<Duration>>,
    thread: Option<JoinHandle<StatsSnapshot>>,
}

impl std::fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// The counters of an [`EmbeddedServer`], readable from any thread.
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsHandle").finish_non_exhaustive()
    }
}

impl StatsHandle {
    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.runtime.snapshot()
    }

    /// Sets the peaks back to the current values (see
    /// [`EmbeddedServer::reset_peaks`]).
    pub fn reset_peaks(&self) {
        self.shared.runtime.reset_peaks();
    }

    /// Restarts the schedule (see [`EmbeddedServer::restart_schedule`]).
    pub fn restart_schedule(&self) {
        self.shared.restart_schedule();
    }
}

impl EmbeddedServer {
    /// Binds `settings.listen` (pass `127.0.0.1:0` for a free port) and
    /// serves on a runtime of its own with `worker_threads` OS threads, so
    /// the caller's runtime and the server's never share a scheduler.
    pub fn start(settings: Settings, worker_threads: usize) -> io::Result<EmbeddedServer> {
        let listener = bind(&settings)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(settings)?);
        let (stop, stop_rx) = watch::channel(None);
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("mock-server".into())
                .spawn(move || run(listener, shared, worker_threads, stop_rx, ready_tx))?
        };
        let server = EmbeddedServer {
            addr,
            shared,
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(server),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other(
                "the server thread ended before it was ready",
            )),
        }
    }

    /// The bound address (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https` when the server speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The server's TLS certificate (self-signed or read from its file),
    /// for a client to trust; `None` for plain HTTP.
    pub fn tls_certificate(&self) -> Option<&rustls::pki_types::CertificateDer<'static>> {
        self.shared.tls.as_ref().map(|t| &t.certificate)
    }

    /// The counters now (per route and pool too), and the run-time
    /// changes since the schedule's start.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.runtime.snapshot()
    }

    /// Sets peak_in_service / peak_queued back to the current values, so the
    /// next measured case sees its own peaks.
    pub fn reset_peaks(&self) {
        self.shared.runtime.reset_peaks();
    }

    /// Goes back to the settings the server started with and starts the
    /// schedule (`schedule:`) again from now, clearing the record of
    /// changes: the load client calls it as each case starts, so phases
    /// are timed from the case's start.
    pub fn restart_schedule(&self) {
        self.shared.restart_schedule();
    }

    /// Applies a run-time change (a JSON merge patch of the configuration,
    /// as `PATCH /__admin/config` takes); a refused change changes nothing.
    pub fn patch(&self, patch: &serde_json::Value) -> Result<(), crate::ConfigError> {
        self.shared.runtime.patch(patch, "api".into(), None)
    }

    /// A handle on the counters that can move to another thread, for a
    /// caller that must read them at a moment of its own choosing (the load
    /// client reads them when a case's warm-up ends).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Stops accepting, drains in-flight requests up to `grace`, stops the
    /// runtime, returns the final stats. Requests still running after
    /// `grace` are cut off and counted as cancelled.
    pub fn shutdown(mut self, grace: Duration) -> StatsSnapshot {
        self.stop_and_join(grace)
    }

    fn stop_and_join(&mut self, grace: Duration) -> StatsSnapshot {
        let _ = self.stop.send(Some(grace));
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(snapshot)) => snapshot,
            _ => self.shared.runtime.snapshot(),
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_and_join(Duration::ZERO);
        }
    }
}

/// The control thread: builds the runtime, serves until told to stop, then
/// drops the runtime and the blocking pool and returns the final counters.
fn run(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    worker_threads: usize,
    stop: watch::Receiver<Option<Duration>>,
    ready: mpsc::Sender<io::Result<()>>,
) -> StatsSnapshot {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .thread_name("mock-server-worker")
        .enable_all()
        .build();
    let listener = runtime.and_then(|runtime| {
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        Ok((runtime, listener))
    });
    match listener {
        Ok((runtime, listener)) => {
            let _ = ready.send(Ok(()));
            // The accept loop has this thread to itself, so a burst of
            // connections is taken in as fast as it comes, beside the
            // workers serving them.
            runtime.block_on(serve(listener, Arc::clone(&shared), stop));
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
    if let Some(pool) = &shared.pool {
        pool.stop();
    }
    shared.timer.stop();
    shared.runtime.snapshot()
}

/// Accepts until told to stop, then drains the connections for at most the
/// grace period.
async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let (drain_tx, drain_rx) = watch::channel(false);
    if !shared.runtime.schedule().is_empty() {
        tokio::spawn(crate::schedule::run(Arc::clone(&shared)));
    }
    let grace = accept_until_stopped(&listener, &shared, &drain_rx, &mut stop).await;
    drop(listener);
    drop(drain_rx);
    tracing::info!("shutting down: draining connections for at most {grace:?}");
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(grace, drain_tx.closed()).await;
    if drained.is_err() {
        let open = drain_tx.receiver_count();
        tracing::warn!("grace period over; cutting off {open} connection(s)");
    }
}

/// The accept loop. Errors (too many open files, ...) are logged and
/// followed by a pause that doubles up to one second and ends early when a
/// connection closes; they never stop the loop. Returns the grace period.
async fn accept_until_stopped(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    drain: &watch::Receiver<bool>,
    stop: &mut watch::Receiver<Option<Duration>>,
) -> Duration {
    let mut backoff = FIRST_BACKOFF;
    let mut paused_until: Option<Instant> = None;
    loop {
        tokio::select! {
            grace = stop.wait_for(Option::is_some) => {
                // A dropped sender (the EmbeddedServer is gone) means: stop now.
                return grace.ok().and_then(|g| *g).unwrap_or(Duration::ZERO);
            }
            accepted = listener.accept(), if paused_until.is_none() => match accepted {
                Ok((stream, peer)) => {
                    backoff = FIRST_BACKOFF;
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection_task(stream, peer, Arc::clone(shared), drain.clone()));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}; pausing accepts for {backoff:?}");
                    paused_until = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
            () = sleep_until(paused_until), if paused_until.is_some() => paused_until = None,
            () = shared.connection_closed.notified(), if paused_until.is_some() => paused_until = None,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Serves one connection, then tells a paused accept loop that a file
/// descriptor is free, and gives memory back if a crowd of connections
/// has just left (see the `trim` module).
async fn connection_task(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    drain: watch::Receiver<bool>,
) {
    shared.connections.opened();
    shared.runtime.layout.total.count_connection();
    connection::serve(stream, peer, Arc::clone(&shared), drain).await;
    shared.connection_closed.notify_waiters();
    if shared.connections.closed() {
        tokio::task::spawn_blocking(trim::release_free_memory);
    }
}
