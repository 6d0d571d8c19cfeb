//! What became of one request: a success or an error of a named kind.
//!
//! Errors are counted by kind, never dropped. The kinds are the columns of
//! `summary.csv`, so the order and names here are part of its contract.

use std::io;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The server refused the TCP connection (nothing listening, or backlog full).
    ConnectRefused,
    /// The TCP connection was not established in time.
    ConnectTimeout,
    /// The response did not arrive within the request timeout.
    RequestTimeout,
    /// The connection was reset or closed before a full response.
    Reset,
    /// The client ran out of file descriptors (EMFILE/ENFILE).
    TooManyOpenFiles,
    /// The client ran out of local ports (EADDRNOTAVAIL), typically from
    /// connections per request piling up in TIME_WAIT.
    PortsExhausted,
    /// The server answered 4xx.
    Http4xx,
    /// The server answered 5xx.
    Http5xx,
    /// The answer broke HTTP: a status outside 100-599, conflicting
    /// `Content-Length` headers, `Content-Length` beside `Transfer-Encoding`,
    /// a head that does not parse or is too large, a bad chunk size; over
    /// HTTP/2, any protocol error the client detects (a server that does not
    /// speak HTTP/2 ends here), with the reason in the case's first error.
    InvalidResponse,
    /// HTTP/2: the server's GOAWAY ended the connection before this
    /// request's answer (the request was past the last stream the server
    /// said it would process, or the server closed with an error code).
    H2Goaway,
    /// HTTP/2: the server reset this request's stream (RST_STREAM, e.g.
    /// `REFUSED_STREAM` or `CANCEL`); the connection lives on.
    H2Reset,
    /// The TLS handshake failed: the server does not speak TLS, no common
    /// protocol version or cipher, an alert, or no handshake in time.
    TlsHandshake,
    /// A certificate was refused: the server's (untrusted, expired, not
    /// valid for the name) or ours (the server wants a client certificate
    /// or did not accept the one sent).
    TlsCertificate,
    /// Still in flight when the case was interrupted or hit its time limit.
    Aborted,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Every kind, in CSV column order.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::RequestTimeout,
        ErrorKind::Reset,
        ErrorKind::TooManyOpenFiles,
        ErrorKind::PortsExhausted,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::InvalidResponse,
        ErrorKind::H2Goaway,
        ErrorKind::H2Reset,
        ErrorKind::TlsHandshake,
        ErrorKind::TlsCertificate,
        ErrorKind::Aborted,
        ErrorKind::Other,
    ];

    /// Stable snake_case name, used in CSV headers (`err_<name>`) and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::TooManyOpenFiles => "too_many_open_files",
            ErrorKind::PortsExhausted => "ports_exhausted",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::H2Goaway => "h2_goaway",
            ErrorKind::H2Reset => "h2_reset",
            ErrorKind::TlsHandshake => "tls_handshake",
            ErrorKind::TlsCertificate => "tls_certificate",
            ErrorKind::Aborted => "aborted",
            ErrorKind::Other => "other",
        }
    }

    /// Position in [`ErrorKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Classifies an HTTP status; `None` for success (100-399). A status
    /// outside 100-599 is not HTTP: [`ErrorKind::InvalidResponse`].
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        match status {
            100..=399 => None,
            400..=499 => Some(ErrorKind::Http4xx),
            500..=599 => Some(ErrorKind::Http5xx),
            _ => Some(ErrorKind::InvalidResponse),
        }
    }

    /// Classifies an I/O error from connecting.
    pub fn from_connect_error(e: &io::Error) -> ErrorKind {
        match e.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => return ErrorKind::TooManyOpenFiles,
            Some(libc::EADDRNOTAVAIL) => return ErrorKind::PortsExhausted,
            _ => {}
        }
        match e.kind() {
            io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
            _ => ErrorKind::Other,
        }
    }
}

/// Error counts by kind; cheap to copy and merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts(pub [u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    /// Adds one error of `kind`.
    pub fn add(&mut self, kind: ErrorKind) {
        self.0[kind.index()] += 1;
    }

    /// Adds `n` errors of `kind`.
    pub fn add_many(&mut self, kind: ErrorKind, n: u64) {
        self.0[kind.index()] += n;
    }

    /// Count for one kind.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    /// All errors together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counts into this one.
    pub fn merge(&mut self, other: &ErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// Non-zero kinds with their counts, for messages.
    pub fn nonzero(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .iter()
            .map(|&k| (k, self.get(k)))
            .filter(|&(_, n)| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_into_client_and_server_errors() {
        assert_eq!(ErrorKind::from_status(200), None);
        assert_eq!(ErrorKind::from_status(302), None);
        assert_eq!(ErrorKind::from_status(429), Some(ErrorKind::Http4xx));
        assert_eq!(ErrorKind::from_status(503), Some(ErrorKind::Http5xx));
        for odd in [0, 99, 600, 999] {
            assert_eq!(
                ErrorKind::from_status(odd),
                Some(ErrorKind::InvalidResponse)
            );
        }
    }

    #[test]
    fn os_errors_map_to_their_kinds() {
        let e = |code| io::Error::from_raw_os_error(code);
        assert_eq!(
            ErrorKind::from_connect_error(&e(libc::EMFILE)),
            ErrorKind::TooManyOpenFiles
        );
        assert_eq!(
            ErrorKind::from_connect_error(&e(libc::EADDRNOTAVAIL)),
            ErrorKind::PortsExhausted
        );
        assert_eq!(
            ErrorKind::from_connect_error(&e(libc::ECONNREFUSED)),
            ErrorKind::ConnectRefused
        );
        assert_eq!(
            ErrorKind::from_connect_error(&e(libc::ECONNRESET)),
            ErrorKind::Reset
        );
    }

    #[test]
    fn counts_merge_and_total() {
        let mut a = ErrorCounts::default();
        a.add(ErrorKind::Reset);
        let mut b = ErrorCounts::default();
        b.add(ErrorKind::Reset);
        b.add(ErrorKind::Http5xx);
        a.merge(&b);
        assert_eq!(a.get(ErrorKind::Reset), 2);
        assert_eq!(a.total(), 3);
        assert_eq!(a.nonzero().count(), 2);
    }
}
