//! Response bodies: empty, one buffer, or `n` bytes of a fixed pattern
//! streamed in 64 KiB slices of one static buffer, so a body of any size
//! costs no memory per request.
//!
//! A body may carry a guard that marks its connection busy until hyper has
//! finished with the body, so idle-connection timing starts after the last
//! byte, not when the handler returns.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::connection::Activity;

const CHUNK: usize = 64 * 1024;

/// `okokok…`: the bytes of every generated body.
static PATTERN: [u8; CHUNK] = {
    let mut bytes = [0u8; CHUNK];
    let mut i = 0;
    while i < CHUNK {
        bytes[i] = if i % 2 == 0 { b'o' } else { b'k' };
        i += 1;
    }
    bytes
};

/// The body of every answer this server sends.
#[derive(Debug)]
pub struct ResponseBody {
    kind: Kind,
    _activity: Option<Activity>,
}

#[derive(Debug)]
enum Kind {
    Once(Option<Bytes>),
    Pattern { remaining: u64 },
}

impl ResponseBody {
    /// No body.
    pub fn empty() -> Self {
        Self::once(Bytes::new())
    }

    /// One buffer.
    pub fn once(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ResponseBody {
            kind: Kind::Once((!bytes.is_empty()).then_some(bytes)),
            _activity: None,
        }
    }

    /// `len` bytes of the `okok…` pattern.
    pub fn pattern(len: u64) -> Self {
        ResponseBody {
            kind: Kind::Pattern { remaining: len },
            _activity: None,
        }
    }

    /// Keeps the connection counted as busy until the body is dropped.
    pub(crate) fn with_activity(mut self, activity: Activity) -> Self {
        self._activity = Some(activity);
        self
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match &mut self.get_mut().kind {
            Kind::Once(bytes) => bytes.take(),
            Kind::Pattern { remaining } => {
                let n = (*remaining).min(CHUNK as u64);
                *remaining -= n;
                // `n` is at most CHUNK, so the cast is exact.
                (n > 0).then(|| Bytes::from_static(&PATTERN[..n as usize]))
            }
        };
        Poll::Ready(frame.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Once(bytes) => bytes.is_none(),
            Kind::Pattern { remaining } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(match &self.kind {
            Kind::Once(bytes) => bytes.as_ref().map_or(0, |b| b.len() as u64),
            Kind::Pattern { remaining } => *remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn pattern_body_has_exactly_its_length() {
        for len in [0u64, 1, 2, 65_536, 200_001] {
            let bytes = ResponseBody::pattern(len)
                .collect()
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(bytes.len() as u64, len);
            assert!(bytes.iter().enumerate().all(|(i, b)| *b == PATTERN[i % 2]));
        }
        let two = ResponseBody::pattern(2).collect().await.unwrap().to_bytes();
        assert_eq!(&two[..], b"ok");
    }

    #[tokio::test]
    async fn once_and_empty() {
        let body = ResponseBody::once("hello");
        assert_eq!(body.size_hint().exact(), Some(5));
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"hello");
        assert!(ResponseBody::empty().is_end_stream());
    }
}
