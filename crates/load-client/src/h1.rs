//! A minimal HTTP/1.1 client connection for closed-loop workers.
//!
//! A closed-loop worker sends one request, reads one response, and sends the
//! next, always on its own connection. For that, a general client (a
//! connection task plus a channel per request, as hyper's client API has)
//! costs more CPU than the exchange itself. This module does the exchange
//! inline in the worker's task: the request is serialised once per case and
//! shared by every connection (see [`H1Conn::with_request`]), written with
//! one `write_all`, and the response head is parsed with `httparse` (the
//! parser hyper uses) straight from a reusable buffer. Bodies are read and
//! discarded, framed by `Content-Length`, chunked encoding, or the end of the
//! connection, so any HTTP/1.1 server works.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connect::{self, Stream};
use crate::http::{Endpoint, Outcome, Timing};
use crate::outcome::ErrorKind;
use crate::scenario::ConnectionMode;

/// Largest response head accepted; a bigger one is an error, not a stall.
const MAX_HEAD: usize = 64 * 1024;
/// Most header lines parsed in a response head.
const MAX_HEADERS: usize = 64;

/// Serialises the endpoint's request once, for every send. The executors
/// send through `crate::mix`, which writes the same bytes (its tests pin
/// that against this).
#[cfg(test)]
pub fn serialize_request(endpoint: &Endpoint) -> Bytes {
    let spec = &endpoint.request;
    let mut out = Vec::with_capacity(128 + spec.body.len());
    out.extend_from_slice(spec.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(spec.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(endpoint.authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &spec.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if endpoint.connection == ConnectionMode::PerRequest {
        out.extend_from_slice(b"connection: close\r\n");
    }
    let has_length = spec
        .headers
        .iter()
        .any(|(n, _)| n == http::header::CONTENT_LENGTH || n == http::header::TRANSFER_ENCODING);
    if !spec.body.is_empty() || (!has_length && method_sends_body(&spec.method)) {
        out.extend_from_slice(format!("content-length: {}\r\n", spec.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&spec.body);
    Bytes::from(out)
}

/// Whether a request of this method announces its (possibly empty) body.
pub(crate) fn method_sends_body(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    )
}

/// Why an exchange failed, before it is classified.
#[derive(Debug)]
enum Failure {
    /// The connection closed before a single byte of the response: on a
    /// reused connection this is the server closing an idle keep-alive.
    ClosedEarly,
    /// Classified already.
    Kind(ErrorKind, Option<u16>),
    /// TLS refused after the handshake (the server's verdict on our client
    /// certificate arrives with the first read under TLS 1.3).
    Tls(connect::ConnectError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if let Some(tls) = connect::tls_failure(&e) {
            return Failure::Tls(tls);
        }
        // A TLS peer that closes without close_notify: the end of the stream.
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Failure::Kind(ErrorKind::Reset, None);
        }
        Failure::Kind(ErrorKind::from_connect_error(&e), None)
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// One worker's own connection, opened on first use and reopened after it
/// is lost (or after every request with `per_request`).
pub struct H1Conn {
    endpoint: Arc<Endpoint>,
    request: Bytes,
    /// Whether `request` is a HEAD request (its answer has no body).
    head: bool,
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// Connect failures in a row, for the back-off.
    failed_connects: u32,
    /// Whether the current send failed to connect (or to shake hands).
    connect_failed: bool,
    /// Where the current send's time went.
    timing: Timing,
    /// Why the current send failed, when more is known than its kind.
    reason: Option<String>,
}

/// The first wait after a failed connect; it doubles with every failure in
/// a row up to [`MAX_BACKOFF`] and starts over after a successful connect.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(5);
/// The longest wait after failed connects.
pub const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// The wait after the `n`th connect failure in a row (`n >= 1`).
pub fn backoff(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

impl H1Conn {
    /// A connection that is not open yet; serialises the request itself
    /// (the executors share one serialisation: [`H1Conn::with_request`]).
    #[cfg(test)]
    pub fn new(endpoint: Arc<Endpoint>) -> H1Conn {
        let request = serialize_request(&endpoint);
        H1Conn::with_request(endpoint, request)
    }

    /// A connection that is not open yet, sending `request` until a send
    /// brings its own ([`H1Conn::send_request`]; the executors pass the
    /// bytes of the case's `crate::mix::Prepared`, serialised once per case
    /// for an entry without placeholders: a clone is a reference count).
    pub fn with_request(endpoint: Arc<Endpoint>, request: Bytes) -> H1Conn {
        H1Conn {
            request,
            head: endpoint.request.method == http::Method::HEAD,
            endpoint,
            stream: None,
            buf: Vec::new(),
            failed_connects: 0,
            connect_failed: false,
            timing: Timing::default(),
            reason: None,
        }
    }

    /// Sends `request` (one entry of the case's mix, see `crate::mix`)
    /// and reads the whole response; `head` says it is a HEAD request.
    pub async fn send_request(&mut self, request: Bytes, head: bool) -> Outcome {
        self.request = request;
        self.head = head;
        self.send().await
    }

    /// Where the last send's time went: connections opened, connect and
    /// TLS times, time to first byte, when the first byte came.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Sends the request once and reads the whole response.
    ///
    /// After a failed connect the call waits before it returns (see
    /// [`backoff`]), so a worker facing a dead server retries a few hundred
    /// times a second at most instead of spinning; the wait is part of that
    /// failed request's latency and counted in the endpoint's `backoffs`.
    /// A TLS failure counts as a failed connect.
    pub async fn send(&mut self) -> Outcome {
        let timeout = self.endpoint.request.timeout;
        self.connect_failed = false;
        self.timing = Timing::default();
        let outcome = match tokio::time::timeout(timeout, self.exchange()).await {
            Ok(outcome) => outcome,
            Err(_) => Err((ErrorKind::RequestTimeout, None)),
        };
        if let Err((kind, status)) = outcome {
            self.stream = None;
            if matches!(kind, ErrorKind::TlsHandshake | ErrorKind::TlsCertificate) {
                self.connect_failed = true;
            }
            let reason = self.reason.take();
            self.endpoint.note_error(kind, || {
                reason.unwrap_or_else(|| match status {
                    Some(status) => format!("status {status}"),
                    None => describe(kind).to_string(),
                })
            });
        }
        if !self.connect_failed {
            // Connected (or reused a connection) and not refused by TLS:
            // the back-off starts over.
            self.failed_connects = 0;
        } else {
            self.failed_connects = self.failed_connects.saturating_add(1);
            self.endpoint.backoffs.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff(self.failed_connects)).await;
        }
        outcome
    }

    async fn exchange(&mut self) -> Outcome {
        let reused = self.stream.is_some();
        if !reused {
            self.connect().await?;
        }
        match self.round_trip().await {
            Ok(status) => classify(status),
            Err(Failure::ClosedEarly) if reused => {
                // The server closed the idle connection: open a new one once.
                self.connect().await?;
                match self.round_trip().await {
                    Ok(status) => classify(status),
                    Err(failure) => Err(into_outcome(failure, &mut self.reason)),
                }
            }
            Err(failure) => Err(into_outcome(failure, &mut self.reason)),
        }
    }

    async fn connect(&mut self) -> Result<(), (ErrorKind, Option<u16>)> {
        self.stream = None;
        let ep = &self.endpoint;
        let connected = connect::open(ep.addr, ep.request.connect_timeout, ep.tls.as_deref()).await;
        let connected = match connected {
            Ok(connected) => connected,
            Err(e) => {
                self.connect_failed = true;
                self.reason = Some(e.reason);
                return Err((e.kind, None));
            }
        };
        self.timing.opened += 1;
        self.timing.connect = Some(connected.connect);
        self.timing.tls = connected.tls;
        self.stream = Some(connected.stream);
        Ok(())
    }

    async fn round_trip(&mut self) -> Result<u16, Failure> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Kind(ErrorKind::Other, None));
        };
        // Nothing was sent if the write fails, so it is safe to retry on a
        // fresh connection.
        let sent = Instant::now();
        stream
            .write_all(&self.request)
            .await
            .map_err(|_| Failure::ClosedEarly)?;
        self.buf.clear();
        let mut first_byte = None;
        let head = read_head(stream, &mut self.buf, &mut first_byte).await;
        if let Some(at) = first_byte {
            self.timing.first_byte = Some(at);
            self.timing.ttfb = Some(at.saturating_duration_since(sent));
        }
        let (status, head_len, framing, keep_alive) = head?;
        let framing = if self.head { Framing::None } else { framing };
        read_body(stream, &mut self.buf, head_len, framing)
            .await
            .map_err(|f| with_status(f, status))?;
        if !keep_alive
            || framing == Framing::UntilClose
            || self.endpoint.connection == ConnectionMode::PerRequest
        {
            self.stream = None;
        }
        Ok(status)
    }
}

fn classify(status: u16) -> Outcome {
    match ErrorKind::from_status(status) {
        None => Ok(status),
        Some(kind) => Err((kind, Some(status))),
    }
}

/// A failure as an outcome; a TLS failure's reason is kept for the
/// first-error message.
fn into_outcome(failure: Failure, reason: &mut Option<String>) -> (ErrorKind, Option<u16>) {
    match failure {
        Failure::ClosedEarly => (ErrorKind::Reset, None),
        Failure::Kind(kind, status) => (kind, status),
        Failure::Tls(e) => {
            *reason = Some(e.reason);
            (e.kind, None)
        }
    }
}

fn with_status(failure: Failure, status: u16) -> Failure {
    match failure {
        Failure::ClosedEarly => Failure::Kind(ErrorKind::Reset, Some(status)),
        Failure::Kind(kind, _) => Failure::Kind(kind, Some(status)),
        tls @ Failure::Tls(_) => tls,
    }
}

/// A kind in words, for a first-error message with nothing more to say.
fn describe(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RequestTimeout => "no complete response within the request timeout",
        ErrorKind::Reset => "the connection was reset or closed before a full response",
        ErrorKind::InvalidResponse => "the answer is not valid HTTP/1.1",
        _ => "failed",
    }
}

/// Reads into `buf` until `buf` holds more than before; EOF is an error.
async fn fill(stream: &mut Stream, buf: &mut Vec<u8>) -> Result<(), Failure> {
    // Start small (most answers are tiny and 10 000 connections may be
    // open at once); grow when a read could not fit. A connection's first
    // buffer is taken only once its answer is there to read, so requests
    // waiting for a slow server hold no buffer.
    if buf.capacity() - buf.len() < 512 {
        if let (Stream::Plain(tcp), 0) = (&*stream, buf.capacity()) {
            tcp.readable().await?;
        }
        buf.reserve(4 * 1024);
    }
    let n = stream.read_buf(buf).await?;
    if n == 0 {
        return Err(Failure::Kind(ErrorKind::Reset, None));
    }
    Ok(())
}

/// Reads and parses a response head (skipping 1xx interim responses).
/// Returns status, head length in `buf`, body framing and keep-alive.
/// `first_byte` is set when the first bytes of the answer arrive.
async fn read_head(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    first_byte: &mut Option<Instant>,
) -> Result<(u16, usize, Framing, bool), Failure> {
    loop {
        match parse_head(buf)? {
            Some((status, len, _, _)) if (100..200).contains(&status) && status != 101 => {
                buf.drain(..len);
            }
            Some(head) => return Ok(head),
            None if buf.len() > MAX_HEAD => return Err(invalid(None)),
            None => {
                let was_empty = buf.is_empty();
                match fill(stream, buf).await {
                    Err(Failure::Kind(ErrorKind::Reset, None)) if was_empty => {
                        return Err(Failure::ClosedEarly)
                    }
                    Err(e) => return Err(e),
                    Ok(()) if first_byte.is_none() => *first_byte = Some(Instant::now()),
                    Ok(()) => {}
                }
            }
        }
    }
}

/// A failure for an answer that breaks HTTP framing or syntax.
fn invalid(status: Option<u16>) -> Failure {
    Failure::Kind(ErrorKind::InvalidResponse, status)
}

/// Parses a complete head from `buf`, or `None` if more bytes are needed.
///
/// Refused as [`ErrorKind::InvalidResponse`]: a head that does not parse, a
/// status outside 100-599, `Content-Length` values that disagree (identical
/// repeats are accepted, RFC 9112 section 6.3), and `Content-Length`
/// together with `Transfer-Encoding` (the classic request-smuggling shape).
fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, Framing, bool)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(invalid(None)),
    };
    let status = response.code.unwrap_or(0);
    if !(100..=599).contains(&status) {
        return Err(invalid(Some(status)));
    }
    let mut keep_alive = response.version == Some(1);
    let mut length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            for value in h.value.split(|&b| b == b',') {
                let value = parse_length(value).ok_or(invalid(Some(status)))?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(invalid(Some(status)));
                }
                length = Some(value);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            chunked = contains_token(h.value, b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if contains_token(h.value, b"close") {
                keep_alive = false;
            } else if contains_token(h.value, b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    if transfer_encoding && length.is_some() {
        return Err(invalid(Some(status)));
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if transfer_encoding {
        Framing::UntilClose
    } else {
        length.map_or(Framing::UntilClose, Framing::Length)
    };
    Ok(Some((status, len, framing, keep_alive)))
}

/// A `Content-Length` value: ASCII digits only, surrounding blanks allowed.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

/// Reads and discards the body that starts at `buf[start..]`.
async fn read_body(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    start: usize,
    framing: Framing,
) -> Result<(), Failure> {
    match framing {
        Framing::None => Ok(()),
        Framing::Length(n) => skip(stream, buf, start, n).await,
        Framing::UntilClose => {
            buf.clear();
            loop {
                match fill(stream, buf).await {
                    Ok(()) => buf.clear(),
                    Err(Failure::Kind(ErrorKind::Reset, None)) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
        Framing::Chunked => read_chunked(stream, buf, start).await,
    }
}

/// Discards `n` bytes: those already in `buf[start..]`, then from the stream.
/// Returns with `buf` holding nothing of this response.
async fn skip(stream: &mut Stream, buf: &mut Vec<u8>, start: usize, n: u64) -> Result<(), Failure> {
    let have = (buf.len() - start) as u64;
    if have >= n {
        buf.drain(..start + n as usize);
        return Ok(());
    }
    let mut remaining = n - have;
    buf.clear();
    while remaining > 0 {
        fill(stream, buf).await?;
        let take = (buf.len() as u64).min(remaining);
        remaining -= take;
        buf.drain(..take as usize);
    }
    Ok(())
}

async fn read_chunked(stream: &mut Stream, buf: &mut Vec<u8>, start: usize) -> Result<(), Failure> {
    buf.drain(..start);
    loop {
        let (used, size) = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(invalid(None)),
                Ok(httparse::Status::Partial) => fill(stream, buf).await?,
                Err(_) => return Err(invalid(None)),
            }
        };
        if size == 0 {
            buf.drain(..used);
            return skip_trailers(stream, buf).await;
        }
        // The chunk's data and its closing CRLF.
        skip(stream, buf, used, size + 2).await?;
    }
}

/// Discards trailer lines up to and including the empty line.
async fn skip_trailers(stream: &mut Stream, buf: &mut Vec<u8>) -> Result<(), Failure> {
    loop {
        match buf.windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                buf.drain(..2);
                return Ok(());
            }
            Some(end) => {
                buf.drain(..end + 2);
            }
            None if buf.len() > MAX_HEAD => return Err(invalid(None)),
            None => fill(stream, buf).await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    use crate::scenario::RequestSpec;

    /// A server that answers each request (one read) with the next canned
    /// answer, closing the connection after the ones marked so.
    async fn scripted(answers: Vec<(&'static [u8], bool)>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            'accept: while let Ok((mut socket, _)) = listener.accept().await {
                let mut scratch = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut scratch).await else {
                        continue 'accept;
                    };
                    if n == 0 {
                        continue 'accept;
                    }
                    let Some((answer, close)) = answers.next() else {
                        return;
                    };
                    // Split the write to exercise partial reads.
                    let (a, b) = answer.split_at(answer.len() / 2);
                    let _ = socket.write_all(a).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let _ = socket.write_all(b).await;
                    if close {
                        continue 'accept;
                    }
                }
            }
        });
        addr
    }

    fn endpoint(addr: std::net::SocketAddr, method: http::Method) -> Arc<Endpoint> {
        let request = RequestSpec {
            method,
            path: "/x".into(),
            headers: vec![],
            body: Bytes::new(),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
        };
        Arc::new(Endpoint::for_tests(addr, request))
    }

    #[tokio::test]
    async fn reads_every_kind_of_framing_on_one_connection() {
        let addr = scripted(vec![
            (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n", false),
            (b"HTTP/1.1 204 No Content\r\n\r\n", false),
            (b"HTTP/1.1 503 Busy\r\ncontent-length: 4\r\n\r\nbusy", false),
            (b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end", true),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false),
        ])
        .await;
        let mut conn = H1Conn::new(endpoint(addr, http::Method::GET));
        assert_eq!(conn.send().await, Ok(200));
        assert_eq!(conn.send().await, Ok(201));
        assert_eq!(conn.send().await, Ok(204));
        assert_eq!(conn.send().await, Err((ErrorKind::Http5xx, Some(503))));
        assert_eq!(conn.send().await, Ok(200));
        assert!(conn.stream.is_none(), "closed after an until-close body");
        assert_eq!(conn.send().await, Ok(200));
    }

    #[tokio::test]
    async fn a_server_closing_an_idle_connection_is_retried_once() {
        let addr = scripted(vec![
            (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", true),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false),
        ])
        .await;
        let mut conn = H1Conn::new(endpoint(addr, http::Method::GET));
        assert_eq!(conn.send().await, Ok(200));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(conn.send().await, Ok(200));
    }

    #[tokio::test]
    async fn truncated_bodies_and_garbage_are_errors() {
        let addr = scripted(vec![(
            b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort",
            true,
        )])
        .await;
        let mut conn = H1Conn::new(endpoint(addr, http::Method::GET));
        assert_eq!(conn.send().await, Err((ErrorKind::Reset, Some(200))));

        let addr = scripted(vec![(b"SSH-2.0-OpenSSH\r\n\r\n", true)]).await;
        let mut conn = H1Conn::new(endpoint(addr, http::Method::GET));
        assert_eq!(conn.send().await, Err((ErrorKind::InvalidResponse, None)));
    }

    #[test]
    fn the_request_is_serialised_once_with_its_framing() {
        let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut ep = Arc::try_unwrap(endpoint(addr, http::Method::POST)).unwrap();
        ep.request.body = Bytes::from_static(b"{}");
        ep.request
            .headers
            .push((http::header::ACCEPT, http::HeaderValue::from_static("*/*")));
        let text = serialize_request(&ep);
        assert_eq!(
            &text[..],
            b"POST /x HTTP/1.1\r\nhost: 127.0.0.1:9\r\naccept: */*\r\ncontent-length: 2\r\n\r\n{}"
        );
    }
}
