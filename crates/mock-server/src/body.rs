//! Response bodies: empty, one buffer, or `n` bytes of a fixed pattern
//! streamed in 64 KiB slices of one static buffer, so a body of any size
//! costs no memory per request.
//!
//! A body can be paced (`bandwidth`, `chunk_size` with `chunk_interval`,
//! `stall_after` with `stall_for`): it then sends each frame when it is
//! due, on a tokio timer. With a bandwidth of B bytes/s a frame of n
//! bytes goes out when the bytes before it *and* it have had their time,
//! so the last byte leaves `size / B` after the start, not one frame
//! early. A stall sends nothing for `stall_for` after `stall_after` bytes,
//! then fails the body: hyper closes the connection mid-body.
//!
//! A body may carry a guard that marks its connection busy until hyper has
//! finished with the body, so idle-connection timing starts after the last
//! byte, not when the handler returns.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::config::Pace;
use crate::connection::Activity;

/// Frames of a body paced by bandwidth alone go out at least this often.
const PACE_TICK: Duration = Duration::from_millis(20);

/// A stalled body ends with this error (hyper then closes the connection).
#[derive(Debug, thiserror::Error)]
#[error("the body stalled after {0} bytes (stall_after) and was cut off")]
pub struct Broken(u64);

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
    Paced(Box<Paced>),
}

/// A body sent slowly: its bytes, what was sent, and the next frame's time.
#[derive(Debug)]
struct Paced {
    /// The whole body (a buffer, or the pattern).
    source: Source,
    len: u64,
    sent: u64,
    pace: Pace,
    /// When the first frame was asked for.
    start: Option<tokio::time::Instant>,
    /// When the last frame went out.
    last: Option<tokio::time::Instant>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the stall has been served (then the body fails).
    stalled: bool,
}

#[derive(Debug)]
enum Source {
    Bytes(Bytes),
    Pattern,
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

    /// The same bytes, sent at `pace`.
    pub(crate) fn paced(self, pace: Pace) -> Self {
        let (source, len) = match self.kind {
            Kind::Once(bytes) => {
                let bytes = bytes.unwrap_or_default();
                let len = bytes.len() as u64;
                (Source::Bytes(bytes), len)
            }
            Kind::Pattern { remaining } => (Source::Pattern, remaining),
            Kind::Paced(p) => {
                return ResponseBody {
                    kind: Kind::Paced(p),
                    ..self
                }
            }
        };
        ResponseBody {
            kind: Kind::Paced(Box::new(Paced {
                source,
                len,
                sent: 0,
                pace,
                start: None,
                last: None,
                sleep: None,
                stalled: false,
            })),
            _activity: self._activity,
        }
    }

    /// Keeps the connection counted as busy until the body is dropped.
    pub(crate) fn with_activity(mut self, activity: Activity) -> Self {
        self._activity = Some(activity);
        self
    }
}

impl Paced {
    /// The next frame's length (before any stall) and when it is due.
    fn next(&mut self, now: tokio::time::Instant) -> (u64, tokio::time::Instant) {
        let p = self.pace;
        let start = *self.start.get_or_insert(now);
        let mut n = (self.len - self.sent).min(CHUNK as u64);
        if let Some(chunk) = p.chunk_size {
            n = n.min(chunk.get());
        }
        if let Some(at) = p.stall_after.filter(|at| *at > self.sent) {
            n = n.min(at - self.sent);
        }
        let mut due = start;
        if let Some(rate) = p.bandwidth {
            // Small enough frames that one goes out every PACE_TICK or so.
            let per_tick = (rate.get() as f64 * PACE_TICK.as_secs_f64()).ceil() as u64;
            n = n.min(per_tick.max(1));
            let seconds = (self.sent + n) as f64 / rate.get() as f64;
            due = start + Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX / 4);
        }
        if let (Some(last), Some(_)) = (self.last, p.chunk_size) {
            due = due.max(last + p.chunk_interval);
        }
        (n, due)
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Broken>>> {
        loop {
            if let Some(sleep) = &mut self.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
                if self.stalled {
                    return Poll::Ready(Some(Err(Broken(self.sent))));
                }
            } else {
                let now = tokio::time::Instant::now();
                if self.sent >= self.len {
                    return Poll::Ready(None);
                }
                if self.pace.stall_after == Some(self.sent) && !self.stalled {
                    self.stalled = true;
                    let until = now + self.pace.stall_for;
                    self.sleep = Some(Box::pin(tokio::time::sleep_until(until)));
                    continue;
                }
                let (n, due) = self.next(now);
                if due > now {
                    self.sleep = Some(Box::pin(tokio::time::sleep_until(due)));
                    continue;
                }
                return Poll::Ready(Some(Ok(Frame::data(self.take(n, now)))));
            }
            // The sleep ended: send the frame that was waiting.
            let now = tokio::time::Instant::now();
            let (n, _) = self.next(now);
            return Poll::Ready(Some(Ok(Frame::data(self.take(n, now)))));
        }
    }

    fn take(&mut self, n: u64, now: tokio::time::Instant) -> Bytes {
        let from = self.sent;
        self.sent += n;
        self.last = Some(now);
        // `n` is at most CHUNK, so the casts are exact.
        match &self.source {
            Source::Bytes(bytes) => bytes.slice(from as usize..(from + n) as usize),
            Source::Pattern => {
                let skew = (from % 2) as usize;
                let mut frame = Bytes::from_static(&PATTERN[..]);
                if skew == 1 && n as usize == CHUNK {
                    // One byte short, so the pattern stays in step.
                    self.sent -= 1;
                    return frame.slice(1..CHUNK);
                }
                frame = frame.slice(skew..skew + n as usize);
                frame
            }
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Broken;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Broken>>> {
        let frame = match &mut self.get_mut().kind {
            Kind::Paced(paced) => return paced.poll_frame(cx),
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
            Kind::Paced(p) => p.sent >= p.len,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(match &self.kind {
            Kind::Once(bytes) => bytes.as_ref().map_or(0, |b| b.len() as u64),
            Kind::Pattern { remaining } => *remaining,
            Kind::Paced(p) => p.len - p.sent,
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
